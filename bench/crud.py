"""CRUD throughput of mhs-fhir against a bare Starlette + SQLite "ceiling", in one run.

What it measures
----------------
Two servers run side by side as real processes on free loopback ports, each uvicorn with one
worker, uvloop and the server's HTTP protocol (``fhir_server.serving``: httptools, a header
deadline, a connection's writes of one event-loop turn sent as one):

* **server**: ``mhs-fhir serve --database-url sqlite:///<tmp>/bench.db --log-level warning``;
* **ceiling**: ``bench/ceiling_app.py``, a bare Starlette app that stores the same JSON in one
  SQLite table with the same pragmas and nearly the same connection strategy (reads on the
  event-loop thread, writes through one writer thread with group commit; the server's writer
  is a process). It is the cost of HTTP + ASGI + SQLite with none of the server's own layers,
  so ``server / ceiling`` is the share of the achievable throughput the server keeps.

Each gets a pool of ``--pool`` Patients (created through its own API) and a warm-up. Then:

1. ``--rounds`` rounds of four fixed-duration phases, interleaved so that machine noise hits
   both alike: server reads, ceiling reads, server creates, ceiling creates. A phase is
   ``--connections`` clients (32), each sending its next request as soon as the last is
   answered (closed loop, so the server is saturated): reads ``GET /fhir/Patient/{random pool
   id}``, creates ``POST /fhir/Patient`` with one ~1.8 KB Patient (the R4 example Patient
   without its id and narrative). The load generator is ``wrk -t1`` (``bench/crud.lua``) in
   its own process, or, without wrk, ``bench/loadgen.py`` (httpx) in its own process.
2. Paced reads: the same 32 clients, each pausing after every response so that the load stays
   under ``--paced-rate`` req/s: the latency of a server that is not saturated.
3. Memory: the server takes ``--creates`` creates (100k) in chunks of ``--sample-every``
   (10k); its VmRSS, RssAnon and RssFile are read from ``/proc/<pid>/status`` after each
   chunk, summed with its SQLite writer process's. The ceiling then takes
   ``--control-creates`` as a control: SQLite's page cache (``PAGE_CACHE_BYTES`` per
   connection, in both) grows with the pages written until full, then RSS must stay flat.

How to read the output
----------------------
* ``req/s``: responses per second over the phase; ``p50``/``p99``/``max``: latency as the
  client saw it, in ms. In a closed loop, mean latency = clients / throughput (Little's law),
  so at 32 clients a p99 under 10 ms needs well over 3,200 req/s;
* ``srv CPU``: CPU time of the process under test and its child processes / wall time (100% =
  one core; the server's Python work is bound to one core by the GIL, its SQLite writer
  process adds its own; the ceiling's writer is a thread);
  ``cli CPU``: the same for the load generator; ``other CPU``: everything else on the machine
  (other tenants), the noise: the machine has 2 cores, so 100% other leaves one;
* with ``--rounds`` > 1 each figure is the median over rounds (``max``: the maximum), and a
  ratio is the median of the per-round ratios (server and ceiling of a round ran back to back);
* targets: reads >= 70% of the ceiling, creates >= 50%, server p99 read < 10 ms (at 32
  saturating clients), and server RSS flat over the create phase: RssAnon growing at most
  ``--rss-slope`` bytes per create over the 2nd half of the phase ("n/a" when the database
  was still smaller than the SQLite page cache then, as in ``--quick``). Each prints PASS or
  FAIL; the exit status is 0 either way: this is a report. Absolute numbers depend on the
  noisy 2-core machine; the ratios are what matter.

``.venv/bin/python bench/crud.py --quick`` is a smoke run (2 s phases, 5k creates, ~1 min);
the default run takes 9 to 13 minutes, most of it the 100k creates of the memory phase at the
server's create rate (about 2,000/s on the 2-core machine); ``--creates 50000`` saves about half
of that (RSS plateaus within the first 20k). See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import orjson

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # run as a script: this worktree's code comes first
    sys.path.insert(0, str(ROOT))

from fhir_server.storage.sqlite import PAGE_CACHE_BYTES  # noqa: E402

DEFAULT_PATIENT = Path("/work/shared/data/fhir-r4-examples/Patient-example.json")
FHIR_JSON = "application/fhir+json"
CLK_TCK = os.sysconf("SC_CLK_TCK")

READ_SHARE_TARGET = 0.70
CREATE_SHARE_TARGET = 0.50
READ_P99_TARGET_MS = 10.0

# Used when the R4 example Patient is not on this machine: the same kind of content.
FALLBACK_PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [
        {
            "use": "usual",
            "type": {
                "coding": [
                    {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}
                ]
            },
            "system": "urn:oid:1.2.36.146.595.217.0.1",
            "value": "12345",
            "period": {"start": "2001-05-06"},
            "assigner": {"display": "Acme Healthcare"},
        }
    ],
    "active": True,
    "name": [
        {"use": "official", "family": "Chalmers", "given": ["Peter", "James"]},
        {"use": "usual", "given": ["Jim"]},
        {
            "use": "maiden",
            "family": "Windsor",
            "given": ["Peter", "James"],
            "period": {"end": "2002"},
        },
    ],
    "telecom": [
        {"use": "home"},
        {"system": "phone", "value": "(03) 5555 6473", "use": "work", "rank": 1},
        {"system": "phone", "value": "(03) 3410 5613", "use": "mobile", "rank": 2},
        {"system": "phone", "value": "(03) 5555 8834", "use": "old", "period": {"end": "2014"}},
    ],
    "gender": "male",
    "birthDate": "1974-12-25",
    "deceasedBoolean": False,
    "address": [
        {
            "use": "home",
            "type": "both",
            "text": "534 Erewhon St PeasantVille, Rainbow, Vic  3999",
            "line": ["534 Erewhon St"],
            "city": "PleasantVille",
            "district": "Rainbow",
            "state": "Vic",
            "postalCode": "3999",
            "period": {"start": "1974-12-25"},
        }
    ],
    "contact": [
        {
            "relationship": [
                {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}
                    ]
                }
            ],
            "name": {"family": "du Marché", "given": ["Bénédicte"]},
            "telecom": [{"system": "phone", "value": "+33 (237) 998327"}],
            "address": {
                "use": "home",
                "type": "both",
                "line": ["534 Erewhon St"],
                "city": "PleasantVille",
                "district": "Rainbow",
                "state": "Vic",
                "postalCode": "3999",
                "period": {"start": "1974-12-25"},
            },
            "gender": "female",
            "period": {"start": "2012"},
        }
    ],
    "managingOrganization": {"reference": "Organization/1"},
}


# -- measurements --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Phase:
    """One load-generator run against one process."""

    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu: float  # CPU seconds of the process under test / wall seconds
    client_cpu: float  # CPU seconds of the load generator / wall seconds
    other_cpu: float  # CPU seconds of everything else on the machine / wall seconds

    @property
    def rate(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the server's SQLite writer process), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # ended meanwhile
            continue
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


@dataclass(frozen=True, slots=True)
class Memory:
    """From /proc/<pid>/status of a process and its descendants, summed, in MiB."""

    rss: float
    anon: float
    file: float

    @staticmethod
    def of(pid: int) -> Memory:
        fields: dict[str, float] = {"VmRSS": 0.0, "RssAnon": 0.0, "RssFile": 0.0}
        for member in process_tree(pid):
            try:
                status = Path(f"/proc/{member}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                key, _, value = line.partition(":")
                if key in fields:
                    fields[key] += int(value.split()[0]) / 1024.0  # kB -> MiB
        return Memory(fields["VmRSS"], fields["RssAnon"], fields["RssFile"])


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) and its descendants, from
    /proc/<pid>/stat."""
    total = 0.0
    for member in process_tree(pid):
        try:
            stat = Path(f"/proc/{member}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    return total


def machine_busy_seconds() -> float:
    """CPU time all cores spent not idle since boot, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- the processes under test --------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Target:
    """A server process: mhs-fhir or the ceiling."""

    name: str
    command: list[str]
    port: int
    log_path: Path
    db_path: Path
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    ids: list[str] = field(default_factory=list)
    ids_file: Path | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            self.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            cwd=ROOT,
        )
        log.close()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.base_url}/metadata").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} not ready after {timeout:.0f} s:\n{self.log_tail()}")

    def loaded(self, library: str) -> bool:
        """Whether the process has mapped a shared object whose path contains ``library``."""
        try:
            maps = Path(f"/proc/{self.pid}/maps").read_text()
        except OSError:
            return False
        return any(library in line and ".so" in line for line in maps.splitlines())

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def server_target(workdir: Path) -> Target:
    exe = shutil.which("mhs-fhir", path=str(Path(sys.executable).parent)) or shutil.which(
        "mhs-fhir"
    )
    if exe is None:
        raise SystemExit("mhs-fhir is not installed (pip install -e . in the virtualenv)")
    port = free_port()
    db = workdir / "bench.db"
    return Target(
        name="server",
        command=[
            exe,
            "serve",
            "--insecure-no-auth",
            "--port",
            str(port),
            "--database-url",
            f"sqlite:///{db}",
            "--log-level",
            "warning",
        ],
        port=port,
        log_path=workdir / "server.log",
        db_path=db,
    )


def ceiling_target(workdir: Path, commit: str) -> Target:
    port = free_port()
    return Target(
        name="ceiling",
        command=[
            sys.executable,
            str(BENCH_DIR / "ceiling_app.py"),
            "--port",
            str(port),
        ],
        port=port,
        log_path=workdir / "ceiling.log",
        db_path=workdir / "ceiling.db",
        env={
            "CEILING_DB": str(workdir / "ceiling.db"),
            "CEILING_COMMIT": commit,
            "CEILING_BASE_URL": f"http://127.0.0.1:{port}/fhir",
        },
    )


# -- load ----------------------------------------------------------------------------------


async def create_pool(base_url: str, body: bytes, count: int, connections: int) -> list[str]:
    """Create ``count`` Patients through the API; their ids."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
    ids: list[str] = []
    todo = iter(range(count))
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60.0) as client:

        async def worker() -> None:
            for _ in todo:
                response = await client.post("/Patient", content=body, headers=headers)
                if response.status_code != 201:
                    raise RuntimeError(
                        f"create answered {response.status_code}: {response.text[:500]}"
                    )
                ids.append(orjson.loads(response.content)["id"])

        await asyncio.gather(*(worker() for _ in range(connections)))
    return ids


@dataclass(frozen=True, slots=True)
class LoadGen:
    """How load is generated: wrk (preferred) or the httpx loadgen, each its own process."""

    kind: str  # "wrk" or "httpx"
    connections: int
    body_file: Path

    def describe(self) -> str:
        if self.kind == "wrk":
            version = subprocess.run(
                ["wrk", "--version"], capture_output=True, text=True, check=False
            ).stdout.split("\n")[0]
            return (
                f"{version.split(' [')[0] or 'wrk'}: -t1 -c{self.connections} "
                f"(bench/crud.lua), own process"
            )
        return (
            f"bench/loadgen.py: httpx {metadata.version('httpx')}, {self.connections} workers, "
            f"each its own AsyncClient with 1 connection ({self.connections} in all), own process"
        )

    def command(
        self, target: Target, mode: str, seconds: float, limit: int, pause_ms: int
    ) -> list[str]:
        file = target.ids_file if mode == "read" else self.body_file
        assert file is not None
        if self.kind == "wrk":
            return [
                "wrk",
                "-t1",
                f"-c{self.connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(BENCH_DIR / "crud.lua"),
                target.base_url,
                "--",
                mode,
                str(file),
                str(limit),
                str(pause_ms),
            ]
        return [
            sys.executable,
            str(BENCH_DIR / "loadgen.py"),
            target.base_url,
            mode,
            str(file),
            "--connections",
            str(self.connections),
            "--seconds",
            str(seconds),
            "--limit",
            str(limit),
            "--pause-ms",
            str(pause_ms),
        ]

    def run(
        self, target: Target, mode: str, *, seconds: float, limit: int = 0, pause_ms: int = 0
    ) -> Phase:
        """One phase: ``seconds`` long, or ``limit`` responses; ``pause_ms`` paces each client."""
        command = self.command(target, mode, seconds, limit, pause_ms)
        server_before, client_before = cpu_seconds(target.pid), children_cpu_seconds()
        machine_before = machine_busy_seconds()
        started = time.perf_counter()
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        assert proc.stdout is not None
        assert proc.stderr is not None
        out: list[str] = []
        for line in proc.stdout:
            out.append(line)
            if line.startswith("WRK_LIMIT"):
                # wrk's main thread sleeps out -d even after the Lua thread stopped.
                proc.send_signal(signal.SIGINT)
        err = proc.stderr.read()
        returncode = proc.wait()
        wall = time.perf_counter() - started
        server_cpu = cpu_seconds(target.pid) - server_before
        client_cpu = children_cpu_seconds() - client_before
        other_cpu = max(0.0, machine_busy_seconds() - machine_before - server_cpu - client_cpu)
        marker = "WRK_RESULT " if self.kind == "wrk" else "LOADGEN_RESULT "
        lines = [line for line in out if line.startswith(marker)]
        if returncode != 0 or not lines:
            raise RuntimeError(
                f"load generator failed ({returncode}): {' '.join(command)}\n"
                f"{''.join(out)[-2000:]}\n{err[-2000:]}"
            )
        result = json.loads(lines[-1][len(marker) :])
        seconds_run = result["duration_us"] / 1e6
        return Phase(
            requests=int(result["requests"]),
            seconds=seconds_run,
            errors=int(result["errors"]) + int(result["status_errors"]),
            p50_ms=result["p50_us"] / 1000.0,
            p99_ms=result["p99_us"] / 1000.0,
            max_ms=result["max_us"] / 1000.0,
            server_cpu=server_cpu / wall,
            client_cpu=client_cpu / wall,
            other_cpu=other_cpu / wall,
        )


# -- report --------------------------------------------------------------------------------


def say(text: str = "") -> None:
    print(text, flush=True)


def progress(text: str) -> None:
    print(f"  .. {text}", file=sys.stderr, flush=True)


def verdict(ok: bool | None) -> str:
    return "n/a " if ok is None else "PASS" if ok else "FAIL"


def phase_row(label: str, p: Phase) -> str:
    return (
        f"  {label:<16} {p.rate:>9.0f} {p.p50_ms:>8.2f} {p.p99_ms:>8.2f} {p.max_ms:>8.1f} "
        f"{p.errors:>6d} {p.server_cpu * 100:>7.0f}% {p.client_cpu * 100:>7.0f}% "
        f"{p.other_cpu * 100:>8.0f}%"
    )


PHASE_HEADER = (
    f"  {'':<16} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} "
    f"{'errors':>6} {'srv CPU':>8} {'cli CPU':>8} {'other CPU':>9}"
)


def load_patient(path: Path) -> tuple[bytes, str]:
    """The create body (compact JSON) and where it came from."""
    if path.is_file():
        patient = orjson.loads(path.read_bytes())
        patient.pop("id", None)
        patient.pop("text", None)
        patient.pop("meta", None)
        return orjson.dumps(patient), f"{path} without id and text"
    return orjson.dumps(FALLBACK_PATIENT), "built-in Patient (the R4 example was not found)"


def machine_lines() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools", "orjson")
    )
    return [
        f"  nproc {os.cpu_count()}  ({cpu}); {platform.platform()}",
        f"  Python {platform.python_version()} ({platform.python_implementation()}) "
        f"{sys.executable}; SQLite {sqlite3.sqlite_version}",
        f"  {versions}",
    ]


# -- the run -------------------------------------------------------------------------------


@dataclass
class Results:
    phases: dict[tuple[str, str], list[Phase]] = field(default_factory=dict)

    def add(self, target: str, mode: str, phase: Phase) -> None:
        self.phases.setdefault((target, mode), []).append(phase)

    def median_phase(self, target: str, mode: str) -> Phase:
        ps = self.phases[(target, mode)]
        return Phase(
            requests=round(median([p.requests for p in ps])),
            seconds=median([p.seconds for p in ps]),
            errors=sum(p.errors for p in ps),
            p50_ms=median([p.p50_ms for p in ps]),
            p99_ms=median([p.p99_ms for p in ps]),
            max_ms=max(p.max_ms for p in ps),
            server_cpu=median([p.server_cpu for p in ps]),
            client_cpu=median([p.client_cpu for p in ps]),
            other_cpu=median([p.other_cpu for p in ps]),
        )

    def ratio(self, mode: str) -> float:
        """Median over rounds of server rate / ceiling rate of the same round."""
        pairs = zip(self.phases[("server", mode)], self.phases[("ceiling", mode)], strict=True)
        return median([s.rate / c.rate if c.rate else 0.0 for s, c in pairs])


def run(args: argparse.Namespace) -> None:
    body, body_source = load_patient(args.patient)
    client_kind = args.client
    if client_kind == "auto":
        client_kind = "wrk" if shutil.which("wrk") else "httpx"
    if client_kind == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--client wrk: wrk is not installed (apt-get install -y wrk)")

    say("== mhs-fhir CRUD benchmark (bench/crud.py) ==")
    say("machine:")
    for line in machine_lines():
        say(line)

    with tempfile.TemporaryDirectory(prefix="mhs-fhir-bench-") as tmp:
        workdir = Path(tmp)
        body_file = workdir / "patient.json"
        body_file.write_bytes(body)
        loadgen = LoadGen(client_kind, args.connections, body_file)
        server = server_target(workdir)
        ceiling = ceiling_target(workdir, args.ceiling_commit)
        targets = (server, ceiling)
        try:
            for target in targets:
                progress(f"starting {target.name}: {' '.join(target.command)}")
                target.start()
            for target in targets:
                target.wait_ready()
            impl = {
                t.name: "uvloop "
                + ("yes" if t.loaded("uvloop") else "NO")
                + ", httptools "
                + ("yes" if t.loaded("httptools") else "NO")
                for t in targets
            }
            say("settings:")
            say(f"  load generator   {loadgen.describe()}")
            say(
                f"  concurrency      {args.connections} clients, closed loop; phases "
                f"{args.seconds:g} s x {args.rounds} round(s), warm-up {args.warmup:g} s each"
            )
            say(f"  read pool        {args.pool} Patients per target, GET a random one")
            say(f"  create body      {len(body)} bytes: {body_source}")
            say(
                f"  memory phase     {args.creates} creates on the server"
                + (
                    f", then {args.control_creates} on the ceiling (control)"
                    if args.control_creates
                    else ""
                )
                + f", RSS every {args.sample_every}; flat = RssAnon slope over the 2nd half"
                f" <= {args.rss_slope:g} bytes/create"
            )
            say(f"  server           {' '.join(server.command)}")
            say(f"                   pid {server.pid}, 1 worker; mapped: {impl['server']}")
            say(
                "  ceiling          bench/ceiling_app.py (Starlette), 1 uvicorn worker with the"
                " server's HTTP protocol and options"
            )
            say(
                f"                   pid {ceiling.pid}; mapped: {impl['ceiling']}; "
                f"writes: one writer thread, {args.ceiling_commit} commit"
            )
            say(f"  data             {workdir} (deleted at exit)")

            for target in targets:
                progress(f"{target.name}: creating {args.pool} Patients for the read pool")
                target.ids = asyncio.run(
                    create_pool(target.base_url, body, args.pool, args.connections)
                )
                target.ids_file = workdir / f"{target.name}-ids.txt"
                target.ids_file.write_text("\n".join(target.ids) + "\n")
            for target in targets:
                for mode in ("read", "create"):
                    progress(f"{target.name}: warm-up {mode} {args.warmup:g} s")
                    loadgen.run(target, mode, seconds=args.warmup)

            results = Results()
            say("")
            say(f"== throughput at {args.connections} concurrent clients ==")
            for round_no in range(1, args.rounds + 1):
                say(f" round {round_no}/{args.rounds}:")
                say(PHASE_HEADER)
                for mode in ("read", "create"):
                    for target in targets:
                        progress(f"round {round_no}: {target.name} {mode} {args.seconds:g} s")
                        phase = loadgen.run(target, mode, seconds=args.seconds)
                        results.add(target.name, mode, phase)
                        say(phase_row(f"{mode} {target.name}", phase))
            if args.rounds > 1:
                say(f" median of {args.rounds} rounds:")
                say(PHASE_HEADER)
                for mode in ("read", "create"):
                    for target in targets:
                        say(
                            phase_row(
                                f"{mode} {target.name}", results.median_phase(target.name, mode)
                            )
                        )

            paced = paced_reads(args, loadgen, targets)
            server_mem = memory_phase(args, loadgen, server, args.creates)
            ceiling_mem = (
                memory_phase(args, loadgen, ceiling, args.control_creates)
                if args.control_creates
                else None
            )
            report(args, results, paced, server_mem, ceiling_mem)
        finally:
            for target in targets:
                target.stop()


def paced_reads(
    args: argparse.Namespace, loadgen: LoadGen, targets: Sequence[Target]
) -> dict[str, Phase]:
    """Reads with each client pausing between requests: latency below saturation."""
    if args.paced_rate <= 0:
        return {}
    pause_ms = max(1, round(args.connections * 1000 / args.paced_rate))
    say("")
    say(
        f"== reads at a paced load: {args.connections} clients, each pausing {pause_ms} ms"
        f" after a response (<= {args.connections * 1000 / pause_ms:.0f} req/s) =="
    )
    say(PHASE_HEADER)
    out: dict[str, Phase] = {}
    for target in targets:
        progress(f"{target.name}: paced read {args.seconds:g} s")
        out[target.name] = loadgen.run(target, "read", seconds=args.seconds, pause_ms=pause_ms)
        say(phase_row(f"read {target.name}", out[target.name]))
    return out


@dataclass(frozen=True, slots=True)
class MemorySample:
    creates: int  # creates of this phase answered so far
    memory: Memory
    db_mib: float  # database file + WAL
    rate: float  # creates/s of the chunk that ended here (0 for the first sample)


@dataclass(frozen=True, slots=True)
class MemoryRun:
    """RSS over a long create phase. ``slope``: RssAnon bytes per create over the 2nd half."""

    samples: list[MemorySample]
    slope: float
    conclusive: bool  # the DB outgrew the SQLite page cache before the 2nd half began

    def flat(self, limit: float) -> bool | None:
        """Whether RssAnon grew at most ``limit`` bytes per create; None if not conclusive."""
        return self.slope <= limit if self.conclusive else None


SQLITE_CACHE_MIB = PAGE_CACHE_BYTES / 2**20  # on each connection, server and ceiling


def db_mib(target: Target) -> float:
    total = 0
    for suffix in ("", "-wal"):
        path = Path(f"{target.db_path}{suffix}")
        if path.exists():
            total += path.stat().st_size
    return total / (1024 * 1024)


def memory_phase(
    args: argparse.Namespace, loadgen: LoadGen, target: Target, creates: int
) -> MemoryRun:
    """``creates`` creates on ``target`` in chunks, sampling its memory after each."""
    say("")
    say(f"== {target.name} memory over {creates} creates (/proc/{target.pid}/status) ==")
    say(
        f"  {'creates':>8} {'VmRSS MiB':>10} {'RssAnon':>9} {'RssFile':>9} {'DB MiB':>8} "
        f"{'creates/s':>10}"
    )
    samples: list[MemorySample] = []

    def sample(done: int, rate: float) -> None:
        s = MemorySample(done, Memory.of(target.pid), db_mib(target), rate)
        samples.append(s)
        m = s.memory
        shown = f"{rate:>10.0f}" if rate else f"{'':>10}"
        say(f"  {done:>8d} {m.rss:>10.1f} {m.anon:>9.1f} {m.file:>9.1f} {s.db_mib:>8.1f} {shown}")

    sample(0, 0.0)
    done = 0
    while done < creates:
        chunk = min(args.sample_every, creates - done)
        progress(f"{target.name}: creates {done}..{done + chunk}")
        # The duration is only an upper bound: the client stops after `chunk` responses.
        phase = loadgen.run(target, "create", seconds=3600.0, limit=chunk)
        if phase.errors:
            say(f"  !! {phase.errors} failed creates in this chunk")
        done += phase.requests
        time.sleep(0.2)  # requests in flight when the client stopped finish
        sample(done, phase.rate)

    # Flat: RssAnon (Python heap and SQLite page caches) grows no faster than --rss-slope
    # bytes per create over the 2nd half. SQLite's page cache legitimately grows with the
    # pages written until it holds SQLITE_CACHE_MIB, so the verdict needs a DB larger than
    # that when the 2nd half starts.
    half = [s for s in samples if s.creates >= samples[-1].creates / 2]
    first, last = half[0], half[-1]
    span = last.creates - first.creates
    slope = (last.memory.anon - first.memory.anon) * 1024 * 1024 / span if span > 0 else 0.0
    return MemoryRun(samples, slope, conclusive=first.db_mib >= SQLITE_CACHE_MIB and span > 0)


def report(
    args: argparse.Namespace,
    results: Results,
    paced: dict[str, Phase],
    server_mem: MemoryRun,
    ceiling_mem: MemoryRun | None,
) -> None:
    read_ratio, create_ratio = results.ratio("read"), results.ratio("create")
    server_read = results.median_phase("server", "read")
    say("")
    say("== summary ==")
    say(f"  {'':<8} {'server':>36}   {'ceiling':>36}")
    for mode in ("read", "create"):
        cells = []
        for name in ("server", "ceiling"):
            p = results.median_phase(name, mode)
            cells.append(f"{p.rate:>7.0f}/s  p50 {p.p50_ms:6.2f} ms  p99 {p.p99_ms:6.2f} ms")
        say(f"  {mode + 's':<8} {cells[0]:>36}   {cells[1]:>36}")
    for run in (server_mem, ceiling_mem):
        if run is None:
            continue
        before, after = run.samples[0].memory, run.samples[-1].memory
        name = "server " if run is server_mem else "ceiling"
        say(
            f"  {name} RSS {before.rss:6.1f} MiB before, {after.rss:6.1f} MiB after "
            f"{run.samples[-1].creates} creates (RssAnon {before.anon:.1f} -> {after.anon:.1f}"
            f" MiB; {run.slope:+.0f} B/create over the 2nd half)"
        )
    say("")
    say("== targets ==")
    flat = server_mem.flat(args.rss_slope)
    flat_figure = (
        f"RssAnon {server_mem.slope:+.0f} B/create over the 2nd half (target <= {args.rss_slope:g})"
    )
    if flat is None:
        flat_figure += (
            f"; n/a: the DB was under the {SQLITE_CACHE_MIB:g} MiB SQLite cache at the 2nd"
            " half (use more --creates)"
        )
    checks: list[tuple[str, str, bool | None]] = [
        (
            "read share of ceiling",
            f"{read_ratio:6.1%}  (target >= {READ_SHARE_TARGET:.0%})",
            read_ratio >= READ_SHARE_TARGET,
        ),
        (
            "create share of ceiling",
            f"{create_ratio:6.1%}  (target >= {CREATE_SHARE_TARGET:.0%})",
            create_ratio >= CREATE_SHARE_TARGET,
        ),
        (
            f"server read p99 @{args.connections}",
            f"{server_read.p99_ms:6.2f} ms  (target < {READ_P99_TARGET_MS:g} ms)",
            server_read.p99_ms < READ_P99_TARGET_MS,
        ),
        ("server RSS flat", flat_figure, flat),
    ]
    for name, figure, ok in checks:
        say(f"  {verdict(ok)}  {name:<26} {figure}")
    if paced:
        say(
            "  info  read p99 below saturation  "
            + ", ".join(f"{name} {p.p99_ms:.2f} ms at {p.rate:.0f}/s" for name, p in paced.items())
            + f" (paced, {args.connections} clients; the target above is at saturation)"
        )
    busiest = max(p.client_cpu for ps in results.phases.values() for p in ps)
    if busiest > 0.5:
        say(
            f"  note: the load generator used up to {busiest:.0%} of a core: on 2 cores the"
            " figures may be client-bound (install wrk)"
        )
    errors = sum(p.errors for ps in results.phases.values() for p in ps)
    if errors:
        say(f"  note: {errors} requests failed during the measured phases")
    passed = sum(ok is True for _, _, ok in checks)
    judged = sum(ok is not None for _, _, ok in checks)
    say(f"  {passed}/{judged} targets met" + (" (1 not judged)" if judged < len(checks) else ""))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/crud.py",
        description="Reads/s and creates/s of mhs-fhir vs a bare Starlette+SQLite ceiling, "
        "latency percentiles and server memory over many creates. See the module docstring "
        "and bench/README.md for how to read the output.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each phase")
    parser.add_argument("--warmup", type=float, default=3.0, help="warm-up per target and mode")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds of the 4 phases; figures are medians"
    )
    parser.add_argument("--creates", type=int, default=100_000, help="creates of the RSS phase")
    parser.add_argument("--sample-every", type=int, default=10_000, help="creates per RSS sample")
    parser.add_argument("--pool", type=int, default=1000, help="Patients read from")
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients")
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "httpx"],
        default="auto",
        help="load generator: wrk if installed (auto), or bench/loadgen.py",
    )
    parser.add_argument(
        "--ceiling-commit",
        choices=["group", "single"],
        default="group",
        help="ceiling writer: one commit per batch of waiting writes (as the server) or per write",
    )
    parser.add_argument(
        "--rss-slope",
        type=float,
        default=100.0,
        help="largest RssAnon growth, bytes per create over the 2nd half, that counts as flat",
    )
    parser.add_argument(
        "--paced-rate",
        type=float,
        default=1000.0,
        help="also measure read latency with the clients paced to at most this many req/s "
        "in all (0: skip)",
    )
    parser.add_argument(
        "--control-creates",
        type=int,
        default=30_000,
        help="creates of the control RSS phase on the ceiling, which tells SQLite's page cache "
        "(grows in both) from the server's own heap (0: skip)",
    )
    parser.add_argument(
        "--patient", type=Path, default=DEFAULT_PATIENT, help="Patient JSON to post (id dropped)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: --seconds 2 --warmup 1 --rounds 1 --creates 5000 --sample-every 1000 "
        "--control-creates 2000",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.seconds, args.warmup, args.rounds = 2.0, 1.0, 1
        args.creates, args.sample_every, args.control_creates = 5000, 1000, 2000
    for name in ("seconds", "rounds", "creates", "sample_every", "pool", "connections"):
        if getattr(args, name) <= 0:
            parser.error(f"--{name.replace('_', '-')} must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    started = time.monotonic()
    run(parse_args(argv))
    say(f"  (run took {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
