"""Soak: a realistic mixed workload against a live mhs-fhir for ``--minutes`` (default 30),
checking that it stays error-free, that its latency does not drift and that its memory is
flat, all measured as ratios inside one run (the 2 cores are shared and noisy).

What runs
---------
* **server**: ``mhs-fhir serve --insecure-no-auth`` as its own process (this worktree's code,
  ``bench/search.py``'s ``Server``) on a fresh copy, in a temporary directory, of
  ``bench/search.py``'s generated beneficiary population (``--size`` resources, default 10k:
  per Patient 6 Appointments, 6 Communications, 3 MedicationRequests, 4 Observations; built
  once and cached under ``--cache-dir``).
* **portal clients** (``--clients`` asyncio workers in this process, one keep-alive
  connection each, paced to ``--rate`` requests/s in all), each request about a random
  Patient of the population, by weight:

  ==============================  =================================================  ======
  interaction                     request                                            weight
  ==============================  =================================================  ======
  ``read Patient``                ``GET Patient/X``                                  20
  ``appointments``                ``GET Appointment?patient=X&date=ge<today>&_sort=date``  15
  ``message thread``              ``GET Communication?topic=<thread>&_sort=sent``    12
  ``medications``                 ``GET MedicationRequest?patient=X&status=active``  10
  ``observations``                ``GET Observation?patient=X&code=<loinc>&_sort=-date``   13
  ``send message``                ``POST Communication`` (a thread of X, sent now)   15
  ``book appointment``            ``POST Appointment`` (booked, 1-60 days ahead)     10
  ``cancel appointment``          ``PUT Appointment/Y`` with If-Match (one it booked)  5
  ==============================  =================================================  ======

* **background eligibility import**: in a loop, ``mhs-fhir generate eligibility
  --families F --seed S`` (a new seed each time, so every run imports new people and the
  store grows) then ``mhs-fhir import eligibility`` on the same database file, as a nightly
  DEERS feed would run next to the serving process, then ``--import-pause`` seconds of rest.

What it reports
---------------
Per ``--window`` (default 60 s): requests, errors, p50/p99 latency per interaction (ms, as
the client saw it), the server's RSS (``VmRSS`` of ``/proc/<pid>/status``, with ``RssAnon``
and ``RssFile``) at the end of the window, and the share of it during which an import ran.
At the end: total errors (an HTTP status >= 400, a timeout or a connection error: none is
expected, as each client only changes what it created; a crashed import counts too), the
p99 of the last 5 minutes over the first 5 (runs under 10 minutes: the last fifth over the
first fifth) per interaction, for reads, for writes and for all, and the RSS growth from the
end of the warm-up to the end of the run.

Targets (PASS/FAIL; exit status 0 either way, this is a report): 0 errors; p99 last/first
<= 1.5 for reads and for writes (all requests pooled is printed, not judged: writes that
meet an import's transaction wait hundreds of ms for it and reads do not, so the pooled p99
jumps with how much of a span an import covered); RSS growth < 10%. Runs shorter than 10
minutes hold one or two import cycles per span: their ratios are a check of the mechanics,
not a verdict.

``.venv/bin/python bench/soak.py --minutes 1`` is a quick check (about 2 minutes with set-up);
``.venv/bin/python bench/soak.py`` the full 30 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # run as a script: this worktree's fhir_server comes first
    sys.path.insert(0, str(ROOT))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import search as search_bench  # noqa: E402
import search_data as data  # noqa: E402
from access import copy_database  # noqa: E402

FHIR_JSON = "application/fhir+json"
HEADERS = {"accept": FHIR_JSON, "content-type": FHIR_JSON}
THREAD_SYSTEM = "urn:mhs-fhir:soak:thread"
MAX_ERRORS = 0
P99_RATIO_MAX = 1.5
RSS_GROWTH_MAX = 0.10
WEIGHTS = {
    "read Patient": 20,
    "appointments": 15,
    "message thread": 12,
    "medications": 10,
    "observations": 13,
    "send message": 15,
    "book appointment": 10,
    "cancel appointment": 5,
}
say = search_bench.say
percentile = search_bench.percentile
verdict = search_bench.verdict


# -- what the run records --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # seconds since the measured part began (negative: warm-up)
    name: str
    ms: float
    ok: bool


@dataclass(frozen=True, slots=True)
class RssSample:
    at: float
    vm_rss: int  # bytes
    rss_anon: int
    rss_file: int


@dataclass(frozen=True, slots=True)
class ImportRun:
    started: float
    ended: float
    families: int
    seed: int
    exit_code: int
    tail: str
    crashed: bool = False  # a traceback in its output

    @property
    def failed(self) -> bool:
        """Crashed or stopped (exit 1 alone means "some records were rejected")."""
        return self.crashed or self.exit_code not in (0, 1)


@dataclass
class Record:
    """Everything measured, appended to by the clients and the sampling threads."""

    t0: float = field(default_factory=time.monotonic)
    samples: list[Sample] = field(default_factory=list)
    rss: list[RssSample] = field(default_factory=list)
    imports: list[ImportRun] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        return time.monotonic() - self.t0

    def add(self, name: str, started: float, ok: bool, why: str = "") -> None:
        ms = (time.monotonic() - started) * 1000
        self.samples.append(Sample(started - self.t0, name, ms, ok))
        if not ok:
            with self.lock:
                if len(self.failures) < 20:
                    self.failures.append(f"{name}: {why[:300]}")


def read_rss(pid: int) -> tuple[int, int, int]:
    """VmRSS, RssAnon, RssFile of ``pid`` in bytes (/proc/<pid>/status)."""
    fields: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0]) * 1024
    return fields.get("VmRSS", 0), fields.get("RssAnon", 0), fields.get("RssFile", 0)


def sample_rss(pid: int, record: Record, stop: threading.Event, every: float = 1.0) -> None:
    while not stop.wait(every):
        try:
            vm, anon, file = read_rss(pid)
        except OSError:
            return
        record.rss.append(RssSample(record.now(), vm, anon, file))


# -- the background eligibility import -------------------------------------------------------


def cli(*args: str) -> list[str]:
    """``mhs-fhir ARGS`` with this worktree's code (as bench/search.py's Server runs it)."""
    exe = shutil.which("mhs-fhir", path=str(Path(sys.executable).parent))
    head = [exe] if exe else [sys.executable, "-m", "fhir_server.cli"]
    return [*head, *args]


def cli_env() -> dict[str, str]:
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("MHS_FHIR_")},
        "PYTHONPATH": path,
    }


def import_loop(
    *,
    work: Path,
    database_url: str,
    base_url: str,
    families: int,
    pause: float,
    record: Record,
    stop: threading.Event,
) -> None:
    """Generate and import a new extract, rest, again, until ``stop``."""
    seed = 1000
    while not stop.is_set():
        seed += 1
        extract = work / f"eligibility-{seed}.txt"
        started = record.now()
        generated = subprocess.run(
            cli(
                "generate",
                "eligibility",
                "--families",
                str(families),
                "--seed",
                str(seed),
                "--out",
                str(extract),
            ),
            env=cli_env(),
            cwd=ROOT,
            capture_output=True,
            text=True,
        )
        if generated.returncode != 0:
            record.imports.append(
                ImportRun(started, record.now(), families, seed, -1, generated.stderr[-300:])
            )
            return
        process = subprocess.Popen(
            cli(
                "import",
                "eligibility",
                str(extract),
                "--database-url",
                database_url,
                "--base-url",
                base_url,
                "--quiet",
            ),
            env=cli_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        while process.poll() is None:
            if stop.wait(0.2):
                process.terminate()  # as Ctrl-C: committed batches stay, the rest is not written
        output = process.stdout.read() if process.stdout else ""
        code, crashed = process.wait(), "Traceback (most recent call last)" in output
        record.imports.append(
            ImportRun(started, record.now(), families, seed, code, output[-400:], crashed)
        )
        extract.unlink(missing_ok=True)
        stop.wait(pause)


# -- the portal clients ----------------------------------------------------------------------


@dataclass
class Client:
    """One portal client: what it has booked and which threads it has written to."""

    rng: random.Random
    patients: Sequence[data.PatientInfo]
    practitioners: Sequence[str]
    booked: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    threads: list[str] = field(default_factory=list)

    def patient(self) -> data.PatientInfo:
        return self.rng.choice(self.patients)

    def pick(self, names: Sequence[str], cumulative: Sequence[int]) -> str:
        return names[bisect.bisect_right(cumulative, self.rng.randrange(cumulative[-1]))]


def _instant(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def message(client: Client, patient: data.PatientInfo, thread: str) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "status": "completed",
        "subject": {"reference": f"Patient/{patient.id}"},
        "topic": {"coding": [{"system": THREAD_SYSTEM, "code": thread}], "text": "Soak thread"},
        "sent": _instant(dt.datetime.now(dt.UTC)),
        "recipient": [{"reference": f"Patient/{patient.id}"}],
        "sender": {"reference": f"Practitioner/{client.rng.choice(client.practitioners)}"},
        "payload": [{"contentString": client.rng.choice(data.MESSAGES)}],
    }


def appointment(client: Client, patient: data.PatientInfo) -> dict[str, Any]:
    day = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    start = day + dt.timedelta(days=client.rng.randint(1, 60), hours=client.rng.randint(0, 8))
    return {
        "resourceType": "Appointment",
        "status": "booked",
        "description": "Soak visit",
        "start": _instant(start),
        "end": _instant(start + dt.timedelta(minutes=20)),
        "minutesDuration": 20,
        "participant": [
            {"actor": {"reference": f"Patient/{patient.id}"}, "status": "accepted"},
            {
                "actor": {"reference": f"Practitioner/{client.rng.choice(client.practitioners)}"},
                "status": "accepted",
            },
        ],
    }


async def one_request(http: httpx.AsyncClient, client: Client, name: str, record: Record) -> None:
    """Send one request of kind ``name``; record its latency and whether it went right."""
    patient = client.patient()
    today = dt.date.today().isoformat()
    started = time.monotonic()
    expected = 200
    if name == "read Patient":
        request = http.build_request("GET", f"Patient/{patient.id}")
    elif name == "appointments":
        params = {"patient": patient.id, "date": f"ge{today}", "_sort": "date"}
        request = http.build_request("GET", "Appointment", params=params)
    elif name == "message thread":
        thread = client.rng.choice(client.threads) if client.threads else f"t-{patient.id}"
        params = {"topic": f"{THREAD_SYSTEM}|{thread}", "_sort": "sent"}
        request = http.build_request("GET", "Communication", params=params)
    elif name == "medications":
        params = {"patient": patient.id, "status": "active"}
        request = http.build_request("GET", "MedicationRequest", params=params)
    elif name == "observations":
        code = client.rng.choice(data.VITALS)[0]
        params = {"patient": patient.id, "code": f"http://loinc.org|{code}", "_sort": "-date"}
        request = http.build_request("GET", "Observation", params=params)
    elif name == "send message":
        thread = f"t-{patient.id}"
        if thread not in client.threads:
            client.threads.append(thread)
        request = http.build_request("POST", "Communication", json=message(client, patient, thread))
        expected = 201
    elif name == "book appointment" or not client.booked:
        name = "book appointment"
        request = http.build_request("POST", "Appointment", json=appointment(client, patient))
        expected = 201
    else:  # cancel one this client booked
        id, version, body = client.booked.pop(client.rng.randrange(len(client.booked)))
        cancelled = {**body, "id": id, "status": "cancelled", "cancelationReason": {"text": "soak"}}
        request = http.build_request(
            "PUT", f"Appointment/{id}", json=cancelled, headers={"if-match": f'W/"{version}"'}
        )
    try:
        response = await http.send(request)
    except httpx.HTTPError as exc:
        record.add(name, started, False, f"{type(exc).__name__}: {exc}")
        return
    ok = response.status_code == expected
    record.add(name, started, ok, f"{response.status_code} {response.text}")
    if ok and name == "book appointment":
        stored = response.json()
        client.booked.append((stored["id"], int(stored["meta"]["versionId"]), stored))


async def run_clients(
    base_url: str,
    clients: Sequence[Client],
    *,
    rate: float,
    until: float,
    record: Record,
) -> None:
    names = list(WEIGHTS)
    cumulative: list[int] = []
    for name in names:
        cumulative.append((cumulative[-1] if cumulative else 0) + WEIGHTS[name])
    interval = len(clients) / rate

    async def worker(client: Client, offset: float) -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(
            base_url=base_url + "/", headers=HEADERS, limits=limits, timeout=30.0
        ) as http:
            due = time.monotonic() + offset
            while time.monotonic() < until:
                await one_request(http, client, client.pick(names, cumulative), record)
                due += interval
                delay = due - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                else:
                    due = time.monotonic()  # behind schedule: do not burst to catch up

    await asyncio.gather(
        *(worker(client, index * interval / len(clients)) for index, client in enumerate(clients))
    )


# -- the report ------------------------------------------------------------------------------


def ms(values: Sequence[float], q: float) -> str:
    return f"{percentile(values, q):7.1f}" if values else "      -"


def window_lines(record: Record, window: float, measured: float) -> list[str]:
    lines = []
    names = list(WEIGHTS)
    head = "  min  reqs  errs  " + "  ".join(f"{n[:12]:>12} p50/p99" for n in names)
    lines.append(head + "     VmRSS MB (anon + file)  import busy")
    windows = max(1, int(-(-measured // window)))
    for w in range(windows):
        low, high = w * window, min((w + 1) * window, measured)
        inside = [s for s in record.samples if low <= s.at < high]
        cells = []
        for name in names:
            values = [s.ms for s in inside if s.name == name]
            cells.append(f"{ms(values, 0.5)}/{ms(values, 0.99).strip():>7}")
        rss = [r for r in record.rss if r.at < high]
        memory = "-"
        if rss:
            last = rss[-1]
            memory = (
                f"{last.vm_rss / 2**20:6.0f} ({last.rss_anon / 2**20:.0f} +"
                f" {last.rss_file / 2**20:.0f})"
            )
        busy = import_share(record, low, high)
        errors = sum(1 for s in inside if not s.ok)
        lines.append(
            f"  {w + 1:>3} {len(inside):>5} {errors:>5}  "
            + "  ".join(f"{c:>20}" for c in cells)
            + f"  {memory:>24}  {busy:>10.0%}"
        )
    return lines


READS = ("read Patient", "appointments", "message thread", "medications", "observations")
WRITES = ("send message", "book appointment", "cancel appointment")


def import_share(record: Record, low: float, high: float) -> float:
    """The part of [low, high) during which a background import (or its generation) ran."""
    busy = sum(max(0.0, min(high, run.ended) - max(low, run.started)) for run in record.imports)
    return busy / (high - low) if high > low else 0.0


def ratio_lines(record: Record, span: float, measured: float) -> tuple[list[str], float]:
    """p99 of the last ``span`` seconds over the first: per interaction, reads, writes and
    all of them; the verdict's figure is the worse of the reads' and the writes' ratio.

    Not the ratio of all requests pooled: writes that meet an import's transaction wait for
    it (hundreds of ms) while reads do not, so the pooled p99 jumps between the reads' and
    the writes' tail with how much of a span an import happened to cover."""
    first = [s for s in record.samples if 0 <= s.at < span]
    last = [s for s in record.samples if measured - span <= s.at < measured]
    head = ("interaction", "n first", "n last", "p99 first", "p99 last", "ratio")
    lines = ["  {:<20} {:>8} {:>7} {:>10} {:>9} {:>6}".format(*head)]
    worst = 0.0
    groups: list[tuple[str, tuple[str, ...]]] = [(name, (name,)) for name in WEIGHTS]
    groups += [("reads", READS), ("writes", WRITES), ("all", tuple(WEIGHTS))]
    for label, names in groups:
        a = [s.ms for s in first if s.name in names]
        b = [s.ms for s in last if s.name in names]
        if not a or not b:
            continue
        ratio = percentile(b, 0.99) / percentile(a, 0.99)
        if label in ("reads", "writes"):
            worst = max(worst, ratio)
        lines.append(
            f"  {label:<20} {len(a):>8} {len(b):>7} {percentile(a, 0.99):>10.1f}"
            f" {percentile(b, 0.99):>9.1f} {ratio:>6.2f}"
        )
    lines.append(
        f"  an import ran {import_share(record, 0, span):.0%} of the first span and"
        f" {import_share(record, measured - span, measured):.0%} of the last"
        " (writes wait for its transactions: compare spans with similar shares)"
    )
    return lines, worst


def report(args: argparse.Namespace, record: Record, measured: float, db: Path) -> None:
    say()
    say(f"== per {args.window:.0f} s window (latency in ms, client side) ==")
    for line in window_lines(record, args.window, measured):
        say(line)
    measured_samples = [s for s in record.samples if 0 <= s.at < measured]
    errors = sum(1 for s in measured_samples if not s.ok)
    warmup_errors = sum(1 for s in record.samples if s.at < 0 and not s.ok)
    span = 300.0 if measured >= 600 else measured / 5
    say()
    say(f"== p99 of the last {span:.0f} s over the first {span:.0f} s ==")
    lines, worst = ratio_lines(record, span, measured)
    for line in lines:
        say(line)
    baseline = [r for r in record.rss if r.at <= 0]
    end = [r for r in record.rss if r.at <= measured]
    growth = float("nan")
    say()
    if baseline and end:
        start_rss, final_rss = baseline[-1], end[-1]
        peak = max(r.vm_rss for r in end)
        growth = (final_rss.vm_rss - start_rss.vm_rss) / start_rss.vm_rss
        anon_growth = (final_rss.rss_anon - start_rss.rss_anon) / max(1, start_rss.rss_anon)
        say(
            f"RSS after warm-up {start_rss.vm_rss / 2**20:.0f} MB, at the end"
            f" {final_rss.vm_rss / 2**20:.0f} MB (peak {peak / 2**20:.0f} MB):"
            f" growth {growth:+.1%} (RssAnon {anon_growth:+.1%},"
            f" RssFile {start_rss.rss_file / 2**20:.0f} -> {final_rss.rss_file / 2**20:.0f} MB)"
        )
    runs = [r for r in record.imports if r.exit_code != -15]  # not the one stopped at the end
    finished = [r for r in runs if not r.failed]
    failed = [r for r in runs if r.failed and 0 <= r.ended < measured]
    say(
        f"eligibility imports (generate + import): {len(runs)} runs of {args.import_families}"
        f" families, {len(finished)} completed, {len(failed)} failed; mean"
        f" {sum(r.ended - r.started for r in finished) / max(1, len(finished)):.1f} s each;"
        f" database {search_bench.file_mb(db):.0f} MB at the end"
    )
    for run in failed[:3]:
        tail = run.tail.strip().splitlines()[-1:] or [""]
        say(f"  import seed {run.seed} failed (exit {run.exit_code}): {tail[0]}")
    say(
        f"requests measured: {len(measured_samples):,} ({len(measured_samples) / measured:.1f}/s);"
        f" errors during warm-up: {warmup_errors}"
    )
    for failure in record.failures[:10]:
        say(f"  error: {failure}")
    say()
    say("== targets ==")
    errors += len(failed)
    say(
        f"  errors = {errors} ({len(failed)} failed imports; target {MAX_ERRORS})".ljust(68)
        + verdict(errors <= MAX_ERRORS)
    )
    say(
        f"  p99 last/first = {worst:.2f} (reads or writes; target <= {P99_RATIO_MAX})".ljust(68)
        + verdict(worst <= P99_RATIO_MAX)
    )
    say(
        f"  RSS growth = {growth:+.1%} (target < {RSS_GROWTH_MAX:.0%})".ljust(68)
        + verdict(growth < RSS_GROWTH_MAX)
    )


# -- the run ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/soak.py",
        description=(__doc__ or "").split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="measured minutes")
    parser.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring")
    parser.add_argument("--window", type=float, default=60.0, help="report window, seconds")
    parser.add_argument("--size", type=int, default=10_000, help="resources stored at the start")
    parser.add_argument("--clients", type=int, default=8, help="portal clients (connections)")
    parser.add_argument("--rate", type=float, default=60.0, help="requests/s of all clients")
    parser.add_argument("--import-families", type=int, default=200, help="families per import")
    parser.add_argument("--import-pause", type=float, default=20.0, help="rest between imports, s")
    parser.add_argument("--no-import", action="store_true", help="no background import")
    parser.add_argument("--seed", type=int, default=1, help="data and workload seed")
    parser.add_argument(
        "--cache-dir", type=Path, default=Path("/tmp/mhs-bench"), help="built data sets"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    say(
        f"soak: {args.minutes:g} min measured after {args.warmup:g} s of warm-up,"
        f" {args.clients} clients at {args.rate:g} req/s, {args.size:,} resources to start"
    )
    ds = search_bench.ensure_data_set(
        args.size,
        seed=args.seed,
        cache_dir=args.cache_dir,
        batch=2000,
        workers=max(1, (os.cpu_count() or 2) - 1),
        rebuild=False,
    )
    practitioners = [data.practitioner_id(args.seed, i) for i in range(ds.layout.practitioners)]
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mhs-soak-", dir=args.cache_dir) as tmp:
        work = Path(tmp)
        db = work / "soak.db"
        copy_database(ds.path, db)
        server = search_bench.Server(f"sqlite:///{db}", work / "server.log")
        search_bench.mark_indexed(db, server.base_url)
        with server:
            assert server.proc is not None
            say(f"server pid {server.proc.pid} at {server.base_url}; database {db}")
            record = Record()
            stop = threading.Event()
            threads = [
                threading.Thread(
                    target=sample_rss, args=(server.proc.pid, record, stop), daemon=True
                )
            ]
            if not args.no_import:
                threads.append(
                    threading.Thread(
                        target=import_loop,
                        kwargs={
                            "work": work,
                            "database_url": server.database_url,
                            "base_url": server.base_url,
                            "families": args.import_families,
                            "pause": args.import_pause,
                            "record": record,
                            "stop": stop,
                        },
                        daemon=True,
                    )
                )
            measured = args.minutes * 60
            rng = random.Random(args.seed)
            clients = [
                Client(random.Random(rng.random()), ds.patients, practitioners)
                for _ in range(args.clients)
            ]
            record.t0 = time.monotonic() + args.warmup
            for thread in threads:
                thread.start()
            progress = threading.Thread(
                target=_progress, args=(record, measured, args.window, stop), daemon=True
            )
            progress.start()
            try:
                asyncio.run(
                    run_clients(
                        server.base_url,
                        clients,
                        rate=args.rate,
                        until=record.t0 + measured,
                        record=record,
                    )
                )
            finally:
                stop.set()
                for thread in threads:
                    thread.join(timeout=60)
            if server.proc.poll() is not None:
                say(f"the server exited ({server.proc.returncode}):\n{server.log_tail()}")
        report(args, record, measured, db)
    return 0


def _progress(record: Record, measured: float, window: float, stop: threading.Event) -> None:
    """A line on stderr at the end of every window, so a long run shows it is alive."""
    shown = 0
    while not stop.wait(1.0):
        done = int(record.now() // window)
        if done > shown and record.now() <= measured + 1:
            shown = done
            inside = [s for s in record.samples if (done - 1) * window <= s.at < done * window]
            errors = sum(1 for s in inside if not s.ok)
            rss = record.rss[-1].vm_rss / 2**20 if record.rss else 0.0
            print(
                f"  [{done * window / 60:5.1f} min] {len(inside)} requests, {errors} errors,"
                f" p99 {percentile([s.ms for s in inside], 0.99):.1f} ms,"
                f" RSS {rss:.0f} MB, {len(record.imports)} imports",
                file=sys.stderr,
                flush=True,
            )


if __name__ == "__main__":
    sys.exit(main())
