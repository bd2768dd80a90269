"""Eligibility import throughput and memory: ``mhs-fhir import eligibility`` on generated
extracts of 10k and 100k families, extrapolated to the issue's target.

What it measures
----------------
1. **Extracts**: fixed-width DEERS-style extracts from ``mappings.eligibility.generator``
   (``generate_file``; about 3.5 records a family: adds, then some changes and terminations),
   cached under ``--cache-dir`` by families, seed, format and a hash of the generator, layout
   and writer code (``--regenerate`` to force).
2. **Startup**: the command on a one-family extract and a fresh database, the best of three:
   interpreter, imports, schema and search-index set-up and the first use of the FHIR models
   (loaded lazily), the fixed cost of every run.
3. **Per size, on a fresh database**: ``python -m fhir_server.cli import eligibility FILE
   --database-url sqlite:///<tmp>/import.db -q`` as a real process (this worktree's code).
   Wall time (process start to exit), records/s (extract records / wall time), versions
   written (counted in the database afterwards: every resource version, Provenance
   included) and peak RSS: the kernel's ``ru_maxrss`` of the process (``os.wait4``, the same
   as its final ``VmHWM``), with the largest ``RssAnon`` (heap, SQLite page cache) and
   ``RssFile`` (code, SQLite's mmap of the database) seen by polling ``/proc/<pid>/status``
   every 0.1 s. Then the same command again on the same database, every record unchanged:
   wall time, records/s, versions written (should be 0) and peak RSS. Between the two, the
   time of the comparison's lookup in-process on that store: ``Patient?identifier=`` with 1,
   100 and 250 DoD IDs (the loader sends such searches for each resource type of each batch,
   in chunks of ``mappings.imports.LOOKUP_CHUNK``).
   An import still running after ``--budget`` seconds is stopped (SIGINT, as Ctrl-C; SIGKILL
   30 s later): its figures are then partial, the records committed (the last line named by
   the newest Provenance: each committed batch writes one) over the time it ran, and the
   second import of that size is skipped.
4. **Profile**: one import in-process under cProfile, of ``--profile-families`` families
   on a fresh database, the way ``mappings/cli.py`` runs it (reader -> ``import_records``,
   without the progress bar), then a second import of the same file (nothing changes): per
   run, the time of each phase (comparison searches, transaction, validation, index rows,
   waiting for the writer, reading, mapping), the top 25 (second run: 15) functions by
   cumulative time and the first run's top 15 by own time, so the next engineer sees where
   the time goes. cProfile slows Python code about 2x,
   the shares are what matter; it sees only the event-loop thread, which also runs the SQL of
   each transaction (inserts, index rows: the store lends it the writer's connection); the
   commits (``synchronous=FULL``, on the writer thread) and the comparison's searches (the
   read pool) show up as time waiting in ``select.epoll.poll``.

Extrapolation and targets (PASS/FAIL; the exit status is 0 either way, this is a report)
--------------------------------------------------------------------------------------------
The issue's target: **a 1,000,000-record extract in under 10 minutes** (1,667 records/s on
average) **with peak memory under 500 MB** (10^6 bytes).

* time: the largest run's time, continued to 1,000,000 records at the rate measured between
  the two largest sizes (the marginal rate: it already includes whatever slowing the larger
  store brought). The report also gives ``T(n) = startup + a*n + b*n^2`` through the two
  largest sizes (``b >= 0``: a per-record cost still growing linearly with the records
  stored), a pessimistic bound that amplifies noise; the verdict uses the marginal rate;
* memory: peak RSS at 1,000,000 records as ``RssAnon`` + ``RssFile``, each linear in records
  through the two largest sizes but capped at what SQLite can hold per connection (the
  import's connections are counted in ``/proc/<pid>/fd``: the writer, the reader and the read
  pool): ``RssAnon`` at the heap at startup + SQLite's page caches (the writer's
  ``BULK_WRITER_CACHE_BYTES``, ``PAGE_CACHE_BYTES`` for each other connection) (the Python
  heap itself stays flat during an import: tracemalloc, 8 vs 40 batches, +0.1 MB),
  ``RssFile`` at the mapped code + SQLite's ``mmap_size`` per connection (database pages
  mapped by a connection count in RSS until the mapping is full; none since the store maps
  nothing). Both sizes come from ``fhir_server.storage.sqlite``. The plain linear fit of
  ``ru_maxrss`` is shown too.

Run ``.venv/bin/python bench/import_eligibility.py --quick`` for a smoke run (1k and 5k
families, about 3-4 minutes). The default (10k and 100k families, about 35k and 350k records)
stops the 100k import at ``--budget`` (600 s) at today's speed: about 20 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import io
import os
import platform
import pstats
import re
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import orjson

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # run as a script: this worktree's code comes first
    sys.path.insert(0, str(ROOT))

from fhir_server.indexing.reindex import ensure_index  # noqa: E402
from fhir_server.interactions.context import Context  # noqa: E402
from fhir_server.interactions.search import search  # noqa: E402
from fhir_server.storage import open_store  # noqa: E402
from fhir_server.storage.sqlite import (  # noqa: E402
    BULK_WRITER_CACHE_BYTES,
    MMAP_BYTES,
    PAGE_CACHE_BYTES,
)
from ig.naming import DOD_ID  # noqa: E402
from mappings.eligibility.generator import generate_file  # noqa: E402
from mappings.eligibility.loader import import_records  # noqa: E402
from mappings.eligibility.readers import read  # noqa: E402
from smart_auth.context import AccessContext  # noqa: E402

BASE_URL = "http://127.0.0.1:8080/fhir"
TARGET_RECORDS = 1_000_000
TARGET_SECONDS = 600.0
TARGET_RATE = TARGET_RECORDS / TARGET_SECONDS  # 1,667 records/s
TARGET_PEAK_BYTES = 500_000_000
GENERATOR_FILES = ("generator.py", "layout.json", "writers.py", "codes.py")
SUMMARY = re.compile(r"created (\d+), updated (\d+), unchanged (\d+), rejected (\d+)")
LINES = re.compile(r" lines (\d+)-(\d+)\"")
MB = 1_000_000


def say(line: str = "") -> None:
    print(line, flush=True)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


# -- extracts ----------------------------------------------------------------------------------


def code_hash() -> str:
    """Of the code that decides what an extract holds: a change regenerates cached extracts."""
    digest = hashlib.sha256()
    for name in GENERATOR_FILES:
        path = ROOT / "mappings" / "eligibility" / name
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


@dataclass(frozen=True, slots=True)
class Extract:
    families: int
    path: Path
    records: int
    seconds: float | None  # generation time; None: reused from the cache


def ensure_extract(
    families: int, *, seed: int, format: str, cache: Path, regenerate: bool
) -> Extract:
    suffix = "csv" if format == "csv" else "txt"
    path = cache / f"eligibility-{families}f-seed{seed}-{code_hash()}.{suffix}"
    if path.exists() and not regenerate:
        with path.open("rb") as stream:
            lines = sum(1 for _ in stream)
        return Extract(families, path, lines - (format == "csv"), None)
    cache.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(path.suffix + ".partial")
    started = time.perf_counter()
    records = generate_file(partial, families, seed, format)
    partial.replace(path)
    return Extract(families, path, records, time.perf_counter() - started)


# -- one import, as a process ------------------------------------------------------------------


@dataclass(slots=True)
class Run:
    """One ``mhs-fhir import eligibility`` process."""

    records: int  # in the extract
    seconds: float
    exit_code: int
    peak_rss: int  # bytes, ru_maxrss
    max_anon: int  # bytes, the largest RssAnon polled
    max_file: int  # bytes, the largest RssFile polled
    versions_written: int
    connections: int  # the most SQLite connections to the database seen open at once
    stopped: bool  # by --budget: partial figures
    committed: int  # records committed (the last line the newest Provenance names)
    summary: tuple[int, int, int, int] | None  # created, updated, unchanged, rejected
    stderr_tail: str = ""
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> int:
        """Records imported: all of them, or (stopped) those committed."""
        return self.committed if self.stopped else self.records

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else float("nan")


def _status(pid: int) -> dict[str, int]:
    """VmHWM, VmRSS, RssAnon, RssFile of a live process, in bytes ({} once it has exited)."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
            out[key] = int(value.split()[0]) * 1024
    return out


def _connections(pid: int, db: Path) -> int:
    """SQLite connections of ``pid`` to ``db``: each holds one descriptor of the file."""
    target = str(db)
    count = 0
    try:
        for fd in os.scandir(f"/proc/{pid}/fd"):
            try:
                if os.readlink(fd.path) == target:
                    count += 1
            except OSError:
                continue
    except OSError:
        return 0
    return count


def db_counts(db: Path) -> tuple[int, dict[str, int], int]:
    """Versions stored, current resources by type, and the last record line committed."""
    if not db.exists():
        return 0, {}, 0
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        versions = conn.execute("SELECT count(*) FROM versions").fetchone()[0]
        counts = dict(conn.execute("SELECT type, count(*) FROM resources GROUP BY type").fetchall())
        last = 0
        rows = conn.execute(
            "SELECT v.body FROM versions v JOIN resources r ON r.rid = v.rid"
            " WHERE r.type = 'Provenance' ORDER BY v.seq DESC LIMIT 5"
        ).fetchall()
        for (body,) in rows:
            for match in LINES.finditer(bytes(body).decode("utf-8", "replace")):
                last = max(last, int(match.group(2)))
        return int(versions), {str(k): int(v) for k, v in counts.items()}, last
    finally:
        conn.close()


def run_import(extract: Path, records: int, db: Path, *, budget: float, logs: Path) -> Run:
    versions_before, _, _ = db_counts(db)
    command = [
        sys.executable,
        "-m",
        "fhir_server.cli",
        "import",
        "eligibility",
        str(extract),
        "--database-url",
        f"sqlite:///{db}",
        "-q",
    ]
    logs.mkdir(parents=True, exist_ok=True)
    err_path = logs / f"{extract.stem}-{int(time.time() * 1000)}.stderr"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with err_path.open("wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
            # SIGINT as the default action, whatever this process inherited (a job started
            # with & in a script ignores it, and so would the import: Ctrl-C must work)
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )
        max_anon = max_file = connections = 0
        polls = 0
        interrupted: float | None = None
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            sample = _status(process.pid)
            max_anon = max(max_anon, sample.get("RssAnon", 0))
            max_file = max(max_file, sample.get("RssFile", 0))
            if polls % 10 == 0:
                connections = max(connections, _connections(process.pid, db))
            polls += 1
            elapsed = time.perf_counter() - started
            if interrupted is None and elapsed > budget:
                process.send_signal(signal.SIGINT)
                interrupted = elapsed
            elif interrupted is not None and elapsed > interrupted + 30:
                process.kill()
            time.sleep(0.1)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not by Popen
    stderr = err_path.read_text(errors="replace")
    found = SUMMARY.search(stderr)
    summary = None
    if found:
        created, updated, unchanged, rejected = (int(g) for g in found.groups())
        summary = (created, updated, unchanged, rejected)
    versions_after, counts, committed = db_counts(db)
    stopped = interrupted is not None
    return Run(
        records=records,
        seconds=interrupted if stopped and interrupted is not None else seconds,
        exit_code=process.returncode,
        peak_rss=usage.ru_maxrss * 1024,
        max_anon=max_anon,
        max_file=max_file,
        versions_written=versions_after - versions_before,
        connections=connections,
        stopped=stopped,
        committed=committed if stopped else records,
        summary=summary,
        stderr_tail="\n".join(stderr.strip().splitlines()[-5:]),
        counts=counts,
    )


# -- the comparison's lookups -----------------------------------------------------------------


async def _lookups(db: Path, sizes: Sequence[int], repeat: int = 3) -> list[tuple[int, float]]:
    """Median ms of a Patient search by ``identifier=<DoD ID>,<DoD ID>,...``, as the loader's
    comparison sends one per resource type and batch, for each number of values."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT v.body FROM resources r JOIN versions v ON v.rid = r.rid"
            " AND v.version = r.version WHERE r.type = 'Patient' LIMIT ?",
            (max(sizes),),
        ).fetchall()
    finally:
        conn.close()
    ids = []
    for (body,) in rows:
        for identifier in orjson.loads(body).get("identifier") or []:
            if identifier.get("system") == DOD_ID:
                ids.append(identifier["value"])
    store = open_store(f"sqlite:///{db}")
    await store.open()
    out: list[tuple[int, float]] = []
    try:
        ctx = Context(
            store=store, access=AccessContext.internal("import benchmark"), base_url=BASE_URL
        )
        for n in sizes:
            values = ",".join(f"{DOD_ID}|{i}" for i in ids[:n])
            params = [("identifier", values), ("_count", str(2 * n))]
            times = []
            for _ in range(repeat + 1):  # the first one warms up
                started = time.perf_counter()
                await search(ctx, types=["Patient"], params=params, strict=True, path="Patient")
                times.append((time.perf_counter() - started) * 1000)
            out.append((min(n, len(ids)), statistics.median(times[1:])))
    finally:
        await store.close()
    return out


# -- the profile ------------------------------------------------------------------------------


async def _import_in_process(extract: Path, db: Path) -> str:
    store = open_store(f"sqlite:///{db}")
    await store.open()
    try:
        await ensure_index(store, base_url=BASE_URL)
        ctx = Context(
            store=store, access=AccessContext.internal("import benchmark"), base_url=BASE_URL
        )
        with extract.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
            fmt = "csv" if extract.suffix == ".csv" else "fixed"
            report = await import_records(ctx, read(stream, fmt), source=extract.name)
        return report.summary()
    finally:
        await store.close()


BOILERPLATE = (
    r"^(?!.*(asyncio/|_contextvars|import_eligibility\.py|loader\.py:\d+\(import_records))"
)
"""Left out of the cumulative list: the event loop's frames and the benchmark's own wrapper."""
PHASES = (  # (label, file suffix, function): where an import's time goes
    ("the comparison (imports._plan: identifier searches)", "mappings/imports.py", "_plan"),
    ("  of which the searches", "interactions/search.py", "search"),
    ("checking ahead of the transaction (imports._prepared)", "mappings/imports.py", "_prepared"),
    ("FHIR validation (all of it)", "validation/__init__.py", "validate_resource"),
    ("index rows (indexing.extract, all of it)", "indexing/__init__.py", "extract"),
    ("the transaction (interactions.bundle.transaction)", "interactions/bundle.py", "transaction"),
    ("  of which SQL inserts (storage.sqlite._apply)", "storage/sqlite.py", "_apply"),
    (
        "waiting for SQLite threads (commits on the writer, searches in the read pool: epoll)",
        "~",
        "<method 'poll' of 'select.epoll'",
    ),
    ("reading and checking the extract (readers)", "eligibility/readers.py", "read_fixed"),
    ("mapping (mapping.map_record)", "eligibility/mapping.py", "map_record"),
)


def _phase_seconds(stats: pstats.Stats, suffix: str, name: str) -> float:
    total = 0.0
    for (file, _, function), row in stats.stats.items():  # type: ignore[attr-defined]
        if suffix == "~" and function.startswith(name):  # a builtin: its own time
            total += row[2]
        elif function == name and file.endswith(suffix):  # cumulative
            total += row[3]
    return total


def _stats_lines(profiler: cProfile.Profile, sort: str, count: int, restrict: str) -> list[str]:
    prefixes = sorted(
        {
            str(ROOT) + "/",
            sysconfig.get_paths()["purelib"] + "/",
            sysconfig.get_paths()["stdlib"] + "/",
        },
        key=len,
        reverse=True,
    )
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats(sort).print_stats(restrict, count)
    lines = []
    keep = False
    for line in text.getvalue().splitlines():
        if line.lstrip().startswith("ncalls"):
            keep = True
        if keep and line.strip():
            for prefix in prefixes:
                line = line.replace(prefix, "" if prefix.startswith(str(ROOT)) else "~/")
            lines.append("  " + line)
    return lines


def _profiled(extract: Extract, db: Path) -> tuple[cProfile.Profile, float, str]:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    summary = asyncio.run(_import_in_process(extract.path, db))
    profiler.disable()
    return profiler, time.perf_counter() - started, summary


def profile_import(extract: Extract, work: Path, top: int = 25) -> list[str]:
    """A first import of ``extract`` and a second (unchanged) one, each under cProfile."""
    db = work / "profile.db"
    lines: list[str] = []
    for run, (what, count) in enumerate((("first import", top), ("second import", 15))):
        profiler, seconds, summary = _profiled(extract, db)
        stats = pstats.Stats(profiler)
        lines.append(
            f"  {what}: {extract.families:,} families, {extract.records:,} records in-process"
            f" under cProfile: {seconds:.1f} s ({extract.records / seconds:,.0f} records/s);"
            f" {summary.split(' (job')[0]}"
        )
        lines.append("  where the time goes (cumulative s, share of the run):")
        for label, suffix, name in PHASES:
            spent = _phase_seconds(stats, suffix, name)
            lines.append(f"    {label:<56} {spent:>7.1f} s {spent / seconds:>5.0%}")
        lines.append("")
        lines.append(f"  -- {what}: top {count} by cumulative time (event loop frames left out) --")
        lines.extend(_stats_lines(profiler, "cumulative", count, BOILERPLATE))
        if run == 0:
            lines.append("")
            lines.append(f"  -- {what}: top 15 by own time --")
            lines.extend(_stats_lines(profiler, "tottime", 15, ".*"))
        lines.append("")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    return lines


# -- extrapolation -----------------------------------------------------------------------------


def fit_time(startup: float, points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """``a``, ``b`` of ``T(n) = startup + a*n + b*n^2`` through the last two points."""
    if len(points) == 1:
        n, t = points[0]
        return max(t - startup, 0.0) / n, 0.0
    (n1, t1), (n2, t2) = points[-2], points[-1]
    y1, y2 = max(t1 - startup, 1e-9), max(t2 - startup, 1e-9)
    # y = a n + b n^2  =>  y/n = a + b n: a line through (n1, y1/n1), (n2, y2/n2)
    b = (y2 / n2 - y1 / n1) / (n2 - n1) if n2 != n1 else 0.0
    b = max(b, 0.0)
    a = y2 / n2 - b * n2
    if a < 0:  # no sensible quadratic: per-record cost of the largest run
        a, b = y2 / n2, 0.0
    return a, b


def fit_line(points: Sequence[tuple[int, float]]) -> tuple[float, float]:
    """Intercept and slope through the last two points (one point: through the origin)."""
    if len(points) == 1:
        n, y = points[0]
        return 0.0, y / n
    (n1, y1), (n2, y2) = points[-2], points[-1]
    slope = (y2 - y1) / (n2 - n1) if n2 != n1 else 0.0
    return y2 - slope * n2, slope


def extrapolate(startup_runs: Sequence[Run], firsts: Sequence[Run]) -> list[tuple[str, bool]]:
    """Print the projections to 1M records; the time and memory verdicts."""
    runs = [run for run in firsts if run.done > 0]
    if not runs:
        say("  nothing measured")
        return []
    startup = min(run.seconds for run in startup_runs)
    last = runs[-1]
    n2, t2 = last.done, last.seconds
    if len(runs) > 1:
        n1, t1 = runs[-2].done, runs[-2].seconds
        marginal = (n2 - n1) / (t2 - t1) if t2 > t1 else last.rate
        between = f"between {n1:,} and {n2:,} records"
    elif t2 > 2 * startup:
        marginal = n2 / (t2 - startup)
        between = f"of {n2:,} records, less startup"
    else:
        marginal = last.rate
        between = f"of {n2:,} records"
    steady = t2 + (TARGET_RECORDS - n2) / marginal
    a, b = fit_time(startup, [(run.done, run.seconds) for run in runs])
    growing = startup + a * TARGET_RECORDS + b * TARGET_RECORDS**2
    say(
        f"  time: largest run {last.rate:,.0f} records/s on average; {marginal:,.0f} records/s"
        f" {between}; needed {TARGET_RATE:,.0f} records/s"
    )
    slower = f" ({steady / TARGET_SECONDS:.1f}x the target)" if steady > TARGET_SECONDS else ""
    say(f"  -> continuing at {marginal:,.0f} records/s: {steady:,.0f} s{slower}")
    say(
        f"  -> if the per-record cost keeps growing as it did (T = {startup:.1f} s"
        f" + {a * 1000:.3f} ms n + {b * 1e9:.4f} ns n^2): {growing:,.0f} s"
    )
    verdicts = [
        (
            f"a 1,000,000-record extract in < {TARGET_SECONDS:.0f} s: projected {steady:,.0f} s"
            f" at the rate measured {between} (with growth {growing:,.0f} s)",
            steady < TARGET_SECONDS,
        )
    ]
    base, slope = fit_line([(run.done, float(run.peak_rss)) for run in runs])
    linear = base + slope * TARGET_RECORDS
    anon = fit_line([(run.done, float(run.max_anon)) for run in runs])
    file_ = fit_line([(run.done, float(run.max_file)) for run in runs])
    code = min(run.max_file for run in startup_runs)  # mapped code, before any data
    heap = min(run.max_anon for run in startup_runs)  # the interpreter and its modules
    connections = max(run.connections for run in runs) or 1
    anon_linear = anon[0] + anon[1] * TARGET_RECORDS
    anon_cap = heap + BULK_WRITER_CACHE_BYTES + (connections - 1) * PAGE_CACHE_BYTES
    anon_at = max(min(anon_linear, anon_cap), float(max(run.max_anon for run in runs)))
    file_linear = file_[0] + file_[1] * TARGET_RECORDS
    file_at = max(
        min(file_linear, code + connections * MMAP_BYTES),
        float(max(run.max_file for run in runs)),
    )
    capped = max(anon_at + file_at, float(max(run.peak_rss for run in runs)))
    say(
        f"  memory: largest run peak {mb(last.peak_rss)} MB (RssAnon up to {mb(last.max_anon)},"
        f" RssFile up to {mb(last.max_file)}); linear in records: {mb(linear)} MB at 1M"
    )
    say(
        f"  -> RssAnon: linear {mb(anon_linear)} MB, at most the heap at startup ({mb(heap)} MB)"
        f" + SQLite's page caches: the writer's {BULK_WRITER_CACHE_BYTES // 2**20} MiB and"
        f" {connections - 1} x {PAGE_CACHE_BYTES // 2**20} MiB"
        f" = {mb(anon_cap)} MB: {mb(anon_at)} MB"
    )
    say(
        f"  -> RssFile: linear {mb(file_linear)} MB, at most the code ({mb(code)} MB)"
        f" + {connections} x SQLite's {MMAP_BYTES // 2**20} MiB mmap"
        f" = {mb(code + connections * MMAP_BYTES)} MB: {mb(file_at)} MB"
    )
    say(f"  -> together {mb(capped)} MB")
    verdicts.append(
        (
            f"peak memory < {mb(TARGET_PEAK_BYTES)} MB at 1,000,000 records: projected"
            f" {mb(capped)} MB (largest run {mb(last.peak_rss)} MB at {last.done:,} records)",
            capped < TARGET_PEAK_BYTES,
        )
    )
    return verdicts


# -- report ------------------------------------------------------------------------------------


def machine_lines() -> list[str]:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return [
        f"  nproc {os.cpu_count()} ({cpu}); {platform.platform()}; load average {load}",
        f"  Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}",
    ]


def mb(value: float) -> str:
    return f"{value / MB:,.0f}"


def file_mb(db: Path) -> float:
    return (
        sum(Path(f"{db}{s}").stat().st_size for s in ("", "-wal") if Path(f"{db}{s}").exists()) / MB
    )


def run_line(label: str, run: Run) -> str:
    summary = "" if run.summary is None else "c/u/u/r " + "/".join(str(x) for x in run.summary)
    done = f"{run.done:,}" + (" (stopped)" if run.stopped else "")
    return (
        f"  {label:<16} {done:>19} {run.seconds:>8.1f} {run.rate:>9,.0f}"
        f" {run.versions_written:>10,} {mb(run.peak_rss):>6} {mb(run.max_anon):>6}"
        f" {mb(run.max_file):>6} {run.connections:>5} {run.exit_code:>4}  {summary}"
    )


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/import_eligibility.py",
        description=__doc__.split("What it measures")[0].strip() if __doc__ else None,
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--families",
        default="10000,100000",
        help="comma-separated extract sizes in families (default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="1000,5000 families (a smoke run)")
    parser.add_argument("--seed", type=int, default=1, help="generator seed (%(default)s)")
    parser.add_argument("--format", choices=("fixed", "csv"), default="fixed")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("/tmp/mhs-bench"),
        help="extracts are kept under <cache-dir>/eligibility (%(default)s)",
    )
    parser.add_argument("--regenerate", action="store_true", help="regenerate cached extracts")
    parser.add_argument(
        "--budget",
        type=float,
        default=600.0,
        help="seconds one import may run before it is stopped (partial figures) (%(default)s)",
    )
    parser.add_argument(
        "--profile-families",
        type=int,
        default=None,
        help="families of the profiled in-process import (default: the smallest size, at most"
        " 5000; 0: none)",
    )
    parser.add_argument(
        "--no-second", action="store_true", help="skip the second (unchanged) imports"
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases (paths printed)")
    args = parser.parse_args(argv)
    args.family_list = sorted(
        [1000, 5000] if args.quick else [int(s.replace("_", "")) for s in args.families.split(",")]
    )
    if args.profile_families is None:
        args.profile_families = min(args.family_list[0], 5000)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    cache = args.cache_dir / "eligibility"
    say("== mhs-fhir eligibility import benchmark (bench/import_eligibility.py) ==")
    say("machine:")
    for line in machine_lines():
        say(line)
    say(f"code: {ROOT}")
    say(
        f"families: {', '.join(f'{f:,}' for f in args.family_list)}; seed {args.seed};"
        f" format {args.format}; budget {args.budget:.0f} s an import"
    )
    say()
    say("== extracts ==")
    extracts = []
    for families in args.family_list:
        extract = ensure_extract(
            families, seed=args.seed, format=args.format, cache=cache, regenerate=args.regenerate
        )
        how = (
            "reused from cache"
            if extract.seconds is None
            else f"generated in {extract.seconds:.1f} s"
        )
        size = extract.path.stat().st_size / MB
        say(
            f"  {families:>8,} families: {extract.records:>9,} records, {size:,.0f} MB,"
            f" {extract.path} ({how})"
        )
        extracts.append(extract)

    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    logs = work / "logs"
    try:
        say()
        say("== startup (a one-family extract, a fresh database) ==")
        tiny = ensure_extract(
            1, seed=args.seed, format=args.format, cache=cache, regenerate=args.regenerate
        )
        startup_runs = [
            run_import(
                tiny.path, tiny.records, work / f"startup-{i}.db", budget=args.budget, logs=logs
            )
            for i in range(3)
        ]
        startups = [run.seconds for run in startup_runs]
        startup = min(startups)
        say(
            f"  {tiny.records} records: {', '.join(f'{s:.2f}' for s in startups)} s;"
            f" taken as {startup:.2f} s (interpreter, imports, schema, the FHIR models' first use)"
        )

        say()
        say("== imports (each size on a fresh database; then the same file again) ==")
        header = (
            f"  {'families / run':<16} {'records':>19} {'wall s':>8} {'rec/s':>9}"
            f" {'versions':>10} {'peakMB':>6} {'anonMB':>6} {'fileMB':>6} {'conns':>5} {'exit':>4}"
            "  summary"
        )
        say(header)
        firsts: list[tuple[Extract, Run]] = []
        seconds_runs: list[tuple[Extract, Run]] = []
        for extract in extracts:
            db = work / f"import-{extract.families}.db"
            first = run_import(extract.path, extract.records, db, budget=args.budget, logs=logs)
            firsts.append((extract, first))
            say(run_line(f"{extract.families:,} first", first))
            if first.exit_code not in (0, 1) and not first.stopped:
                say(f"    the import failed: {first.stderr_tail}")
            resources = ", ".join(f"{t} {n:,}" for t, n in sorted(first.counts.items()))
            say(f"    stored: {resources}; database {file_mb(db):,.0f} MB")
            lookups = (
                asyncio.run(_lookups(db, (1, 100, 250))) if first.counts.get("Patient") else []
            )
            if lookups:
                say(
                    "    Patient?identifier= with "
                    + ", ".join(f"{n} DoD IDs: {ms:,.1f} ms" for n, ms in lookups)
                    + " (the comparison sends such searches for each resource type of each"
                    " batch)"
                )
            if first.stopped:
                say(f"    stopped after {args.budget:.0f} s: second import skipped")
            elif not args.no_second:
                second = run_import(
                    extract.path, extract.records, db, budget=args.budget, logs=logs
                )
                seconds_runs.append((extract, second))
                say(run_line(f"{extract.families:,} again", second))
            if args.keep:
                say(f"    kept: {db}")
            else:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{db}{suffix}").unlink(missing_ok=True)
        say("  (versions: resource versions written, Provenance included; peakMB: ru_maxrss;")
        say("   anonMB / fileMB: the largest RssAnon / RssFile polled; MB = 10^6 bytes;")
        say("   conns: SQLite connections to the database open at once, at most;")
        say("   summary: created/updated/unchanged/rejected as the command printed it)")

        if args.profile_families:
            say()
            say(f"== profile: one in-process import of {args.profile_families:,} families ==")
            extract = ensure_extract(
                args.profile_families,
                seed=args.seed,
                format=args.format,
                cache=cache,
                regenerate=False,
            )
            for line in profile_import(extract, work):
                say(line)

        say()
        say(f"== extrapolation to {TARGET_RECORDS:,} records ==")
        verdicts = extrapolate(startup_runs, [run for _, run in firsts])
        for extract, run in seconds_runs:
            verdicts.append(
                (
                    f"a second import of {extract.families:,} families writes nothing"
                    f" ({run.versions_written} versions)",
                    run.versions_written == 0,
                )
            )
        if seconds_runs:
            extract, run = seconds_runs[-1]
            again = startup + (run.seconds - startup) * TARGET_RECORDS / max(run.records, 1)
            say(
                f"  second import (nothing changes): {run.rate:,.0f} records/s at"
                f" {extract.families:,} families -> about {again:,.0f} s for 1M records"
            )
        say()
        say("== targets ==")
        largest = firsts[-1][1] if firsts else None
        if largest is not None and largest.done < TARGET_RECORDS:
            say(f"  (projected from runs of up to {largest.done:,} records)")
        for text, ok in verdicts:
            say(f"  {verdict(ok)}  {text}")
        failed = sum(not ok for _, ok in verdicts)
        say(f"  targets met: {len(verdicts) - failed} of {len(verdicts)}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    say(f"(total run time {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
