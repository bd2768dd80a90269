-- wrk script for bench/crud.py: FHIR reads of a pool of Patients, or creates of one Patient.
--
--   wrk -t1 -c32 -d10s -s bench/crud.lua URL -- read IDS_FILE [LIMIT [PAUSE_MS]]
--   wrk -t1 -c32 -d10s -s bench/crud.lua URL -- create BODY_FILE [LIMIT [PAUSE_MS]]
--
-- URL is the FHIR base, e.g. http://127.0.0.1:8080/fhir.
--
-- read:   GET {path}/Patient/{id}, id drawn at random from IDS_FILE (one id a line).
-- create: POST {path}/Patient with the bytes of BODY_FILE as application/fhir+json.
-- LIMIT:  stop after that many responses: the thread stops and prints "WRK_LIMIT"; wrk's main
--         thread still sleeps out -d, so the caller sends SIGINT on that line (crud.py does).
-- PAUSE_MS: each connection waits that long after a response before its next request, which
--         caps the load at connections * 1000 / PAUSE_MS requests/s (0: no pause).
-- done() prints one line "WRK_RESULT {json}" that crud.py parses; latencies in microseconds.

local pool = {}
local seen = 0
local limit = 0

function init(args)
  local mode, file = args[1], args[2]
  limit = tonumber(args[3] or "0")
  local pause = tonumber(args[4] or "0")
  if mode == "read" then
    for id in io.lines(file) do
      pool[#pool + 1] = wrk.format("GET", wrk.path .. "/Patient/" .. id,
        { ["Accept"] = "application/fhir+json" })
    end
  elseif mode == "create" then
    local f = assert(io.open(file, "rb"))
    local body = f:read("*a")
    f:close()
    pool[1] = wrk.format("POST", wrk.path .. "/Patient",
      { ["Accept"] = "application/fhir+json", ["Content-Type"] = "application/fhir+json" }, body)
  else
    error("mode must be read or create, not " .. tostring(mode))
  end
  if pause > 0 then
    delay = function()
      return pause
    end
  end
  if limit > 0 then
    -- Defined only when needed: without a response() wrk skips parsing headers and bodies.
    response = function(status, headers, body)
      seen = seen + 1
      if seen == limit then
        io.write("WRK_LIMIT\n")
        io.flush()
        wrk.thread:stop()
      end
    end
  end
end

function request()
  return pool[math.random(#pool)]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %d, "duration_us": %d, "errors": %d, "status_errors": %d,'
    .. ' "p50_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50.0), latency:percentile(99.0), latency.mean, latency.max))
end
