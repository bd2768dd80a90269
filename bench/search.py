"""FHIR search latency of mhs-fhir at 10k and 1M resources, the portal's typical queries.

What it measures
----------------
1. **Data**: a generated beneficiary population (``bench/search_data.py``): Patients with a DoD
   ID (``http://fhir.mhs-fhir.example/sid/dod-id|<10 digits>``), census-weighted family names
   (``name=smi`` hits ~5% of patients), birth dates 1940-2024; per Patient 6 Appointments
   (Patient + Practitioner participants, starts 2024-2027, booked/fulfilled/cancelled),
   6 Communications (Patient as recipient or sender, sent 2023-2025), 3 MedicationRequests
   (active/completed/stopped) and 4 vital-sign Observations; Practitioners and Organizations
   shared. It is loaded in-process through the real write path: the same stamping, JSON and
   ``indexing.extract`` rows as ``interactions/common.py:write_version`` (validation skipped),
   stored with ``SqliteStore.write`` in batches of ``--batch`` writes, extraction spread over
   ``--workers`` processes. Each database is cached under ``--cache-dir`` by size, seed and
   the generator/index/schema versions; reruns reuse it (``--rebuild`` to force).
2. **Latency**: for each size, the database file is read once (into the operating system's
   page cache, as on a server that has served for a while), then
   ``mhs-fhir serve --database-url sqlite:///<db> --log-level warning`` runs as a real
   process (this worktree's code) and an ``httpx`` client sends, per query, ``--warmup``
   then ``--requests`` sequential GETs, each with parameters drawn at
   random from the data (a random existing Patient, its DoD ID, a prefix of its family name,
   its birth date or year, a random date). p50/p95 are client-side wall times in ms. The
   same parameter sets are then run in-process against a ``SqliteStore`` on the same file:
   ``interactions.search.search`` (the whole interaction minus HTTP) and the SQL alone
   (``store.search``, and ``store.count``, which the server runs only when the first page
   does not already hold every match), to show where the time goes. Latencies of a few ms
   through HTTP are mostly the HTTP stack and scheduling noise on 2 cores: the SQL p95
   growth next to the HTTP one shows whether the database part grows.
3. **Query plans**: at the largest size, SQLite's EXPLAIN QUERY PLAN of each query's search
   SQL (``SqliteStore.explain``), of its count SQL, and of the ``_revinclude`` follow-up query.
4. **Extraction cost**: mean µs of ``indexing.extract`` per resource over a mix of the
   generated resources, against the mean of a full create of the same resources through the
   HTTP server (fresh database) and through ``interactions.create.create`` in-process.

Targets (PASS/FAIL; the exit status is 0 either way, this is a report)
-----------------------------------------------------------------------
* p95 < 15 ms at the largest size for the simple searches, < 50 ms for chained and
  ``_revinclude`` (the targets are set for 1M resources);
* growth p95(largest) / p95(smallest) <= 2x, for every query whose answer does not grow with
  the store: ``name+birth-year`` (one birth year: ~1% of the patients, so ~100x more matches
  at 1M than at 10k) is held to the p95 target and its growth is shown beside its answer's;
* extraction <= 1/3 of a create.

A query that takes longer than ``--budget`` seconds per phase is measured on fewer requests
(at least 5 through HTTP, 3 in-process); the tables show how many (``n``).

Run ``PYTHONPATH=. .venv/bin/python bench/search.py --quick`` for a smoke run (2,000 and 50,000
resources, ~5 minutes). The default 10k + 1M run builds the 1M database in ~15 minutes on 2
cores (once; cached) and measures for 5-15 minutes more.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import multiprocessing
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import httpx
import orjson

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # run as a script: this worktree's fhir_server comes first
    sys.path.insert(0, str(ROOT))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import search_data as data  # noqa: E402

from fhir_server import indexing  # noqa: E402
from fhir_server.indexing import INDEX_VERSION  # noqa: E402
from fhir_server.indexing.reindex import BASE_KEY, META_KEY  # noqa: E402
from fhir_server.interactions.context import Context, Preconditions  # noqa: E402
from fhir_server.interactions.create import create  # noqa: E402
from fhir_server.interactions.search import search as search_interaction  # noqa: E402
from fhir_server.resource_json import dumps, stamped  # noqa: E402
from fhir_server.search.parse import parse_search  # noqa: E402
from fhir_server.search.plan import ParamIn, ReferenceMatch, SearchPlan  # noqa: E402
from fhir_server.storage.schema import SCHEMA_VERSION  # noqa: E402
from fhir_server.storage.sqlite import SqliteStore  # noqa: E402
from fhir_server.storage.sqlite_search import Compiler  # noqa: E402
from fhir_server.validation import validate_resource, warm_up  # noqa: E402
from smart_auth.context import AccessContext  # noqa: E402

FHIR_JSON = "application/fhir+json"
BASE_URL = "http://127.0.0.1:8080/fhir"  # for in-process parsing; all references are relative
SIMPLE_P95_MS = 15.0
COMPLEX_P95_MS = 50.0
GROWTH_MAX = 2.0
EXTRACT_SHARE_MAX = 1 / 3
Kind = Literal["simple", "chained", "include"]


def say(line: str = "") -> None:
    print(line, flush=True)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) by linear interpolation; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- the data sets ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DataSet:
    size: int
    seed: int
    path: Path
    layout: data.Layout
    patients: list[data.PatientInfo]
    build_seconds: float | None  # None: reused from the cache
    counts: dict[str, int]

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"


def cache_path(cache_dir: Path, size: int, seed: int) -> Path:
    key = (
        f"search-{size}-seed{seed}-gen{data.GENERATOR_VERSION}"
        f"-idx{indexing.INDEX_VERSION}-schema{SCHEMA_VERSION}"
    )
    return cache_dir / f"{key}.db"


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _chunk_writes(task: tuple[int, data.Layout, int, int, bool]) -> list[Any]:
    """Worker: the writes of one chunk of units (runs in a pool process)."""
    seed, layout, first, last, with_shared = task
    return data.build_writes(seed, layout, first, last, BASE_URL, with_shared)


def check_generated(seed: int, layout: data.Layout) -> None:
    """Every kind of generated resource passes the server's own validation (a sample)."""
    sample = data.shared(seed, layout)[:3] + data.unit(seed, 0, layout)
    for resource in sample:
        body = {k: v for k, v in resource.items() if k != "id"}
        validate_resource(
            stamped(body, id=resource["id"], version=1, last_updated="2025-01-01T00:00:00.000Z")
        )


async def _load(
    path: Path, seed: int, layout: data.Layout, batch: int, pool: Any, workers: int
) -> None:
    store = SqliteStore(str(path))
    await store.open()
    try:
        per_chunk = max(1, batch // data.UNIT_SIZE)
        tasks = [
            (seed, layout, first, min(first + per_chunk, layout.patients), first == 0)
            for first in range(0, layout.patients, per_chunk)
        ]
        pending: deque[Any] = deque()
        next_task = 0
        written = 0
        started = time.monotonic()
        next_report = 0.1
        while next_task < len(tasks) or pending:
            while next_task < len(tasks) and len(pending) < 2 * workers + 2:
                pending.append(pool.apply_async(_chunk_writes, (tasks[next_task],)))
                next_task += 1
            writes = pending.popleft().get()
            await store.write(writes)
            written += len(writes)
            if written / layout.total >= next_report or written == layout.total:
                elapsed = time.monotonic() - started
                say(
                    f"    {written:>9,} / {layout.total:,} written"
                    f"  ({elapsed:6.0f} s, {written / max(elapsed, 1e-9):,.0f} resources/s)"
                )
                next_report += 0.1
    finally:
        await store.close()


def resource_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT type, count(*) FROM resources GROUP BY type").fetchall()
        return {str(t): int(n) for t, n in rows}
    finally:
        conn.close()


def ensure_data_set(
    size: int, *, seed: int, cache_dir: Path, batch: int, workers: int, rebuild: bool
) -> DataSet:
    layout = data.Layout.of(size)
    path = cache_path(cache_dir, size, seed)
    patients = [data.patient_info(seed, i) for i in range(layout.patients)]
    if path.exists() and not rebuild:
        counts = resource_counts(path)
        if sum(counts.values()) == size:
            return DataSet(size, seed, path, layout, patients, None, counts)
        say(f"  cached {path} holds {sum(counts.values()):,} resources, not {size:,}: rebuilding")
    check_generated(seed, layout)
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.stem + ".building.db")
    _remove_db(building)
    _remove_db(path)
    say(
        f"  building {size:,} resources ({layout.patients:,} patients,"
        f" {layout.practitioners:,} practitioners, {layout.organizations:,} organizations)"
        f" -> {path}"
    )
    started = time.monotonic()
    # Fork the workers before any thread exists in this process (the store starts some).
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        asyncio.run(_load(building, seed, layout, batch, pool, workers))
    seconds = time.monotonic() - started
    building.rename(path)
    counts = resource_counts(path)
    return DataSet(size, seed, path, layout, patients, seconds, counts)


# -- the queries -----------------------------------------------------------------------------

Params = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    shape: str
    type: str
    kind: Kind
    make: Callable[[random.Random, DataSet], Params]
    grows_with_data: bool = False
    """Its answer grows with the store (a birth year matches ~1% of the patients): its p95
    is held to the target, but its growth is shown next to the answer's, not judged."""

    @property
    def target_ms(self) -> float:
        return SIMPLE_P95_MS if self.kind == "simple" else COMPLEX_P95_MS


def _patient(rng: random.Random, ds: DataSet) -> data.PatientInfo:
    return rng.choice(ds.patients)


def _day(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _dod(p: data.PatientInfo) -> str:
    return f"{data.DOD_ID_SYSTEM}|{p.edipi}"


def _name_birthdate(rng: random.Random, ds: DataSet) -> Params:
    p = _patient(rng, ds)
    return [("name", p.family[:3].lower()), ("birthdate", p.birth_date)]


def _name_birth_year(rng: random.Random, ds: DataSet) -> Params:
    p = _patient(rng, ds)
    return [("name", p.family[:3].lower()), ("birthdate", p.birth_date[:4])]


QUERIES: tuple[Query, ...] = (
    Query(
        "appointments",
        "Appointment?patient=X&date=ge<date>&_sort=date",
        "Appointment",
        "simple",
        lambda rng, ds: [
            ("patient", _patient(rng, ds).id),
            ("date", f"ge{_day(rng, 2024, 2027)}"),
            ("_sort", "date"),
        ],
    ),
    Query(
        "active-meds",
        "MedicationRequest?patient=X&status=active",
        "MedicationRequest",
        "simple",
        lambda rng, ds: [("patient", _patient(rng, ds).id), ("status", "active")],
    ),
    Query(
        "inbox",
        "Communication?recipient=Patient/X&_sort=-sent",
        "Communication",
        "simple",
        lambda rng, ds: [("recipient", f"Patient/{_patient(rng, ds).id}"), ("_sort", "-sent")],
    ),
    Query(
        "by-dod-id",
        "Patient?identifier=<system>|<edipi>",
        "Patient",
        "simple",
        lambda rng, ds: [("identifier", _dod(_patient(rng, ds)))],
    ),
    Query(
        "name+birthdate",
        "Patient?name=<3 letters>&birthdate=<date>",
        "Patient",
        "simple",
        _name_birthdate,
    ),
    Query(
        "name+birth-year",
        "Patient?name=<3 letters>&birthdate=<year>",
        "Patient",
        "simple",
        _name_birth_year,
        grows_with_data=True,
    ),
    Query(
        "chained",
        "Appointment?patient.identifier=<system>|<edipi>",
        "Appointment",
        "chained",
        lambda rng, ds: [("patient.identifier", _dod(_patient(rng, ds)))],
    ),
    Query(
        "revinclude",
        "Patient?identifier=<system>|<edipi>&_revinclude=Appointment:patient",
        "Patient",
        "include",
        lambda rng, ds: [
            ("identifier", _dod(_patient(rng, ds))),
            ("_revinclude", "Appointment:patient"),
        ],
    ),
)


# -- measuring through HTTP ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    """``mhs-fhir serve`` on one database, as a real process running this worktree's code."""

    database_url: str
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fhir"

    def command(self) -> list[str]:
        exe = shutil.which("mhs-fhir", path=str(Path(sys.executable).parent))
        head = [exe] if exe else [sys.executable, "-m", "fhir_server.cli"]
        return [
            *head,
            "serve",
            "--insecure-no-auth",
            "--database-url",
            self.database_url,
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def __enter__(self) -> Server:
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        }
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        deadline = time.monotonic() + 180
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited:\n{self.log_tail()}")
                try:
                    if client.get(f"{self.base_url}/metadata").status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"server not ready after 180 s:\n{self.log_tail()}")

    def __exit__(self, *_: object) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Timing:
    """One query at one size."""

    http_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""
    matches: list[int] = field(default_factory=list)
    totals: list[int] = field(default_factory=list)
    included: list[int] = field(default_factory=list)
    interaction_ms: list[float] = field(default_factory=list)
    sql_search_ms: list[float] = field(default_factory=list)
    sql_count_ms: list[float] = field(default_factory=list)

    def p(self, q: float) -> float:
        return percentile(self.http_ms, q)


def parameter_sets(query: Query, ds: DataSet, count: int, seed: int) -> list[Params]:
    rng = random.Random(f"{seed}:{query.name}:{ds.size}")
    return [query.make(rng, ds) for _ in range(count)]


def measure_http(
    server: Server, query: Query, warmups: list[Params], measured: list[Params], budget: float
) -> Timing:
    """Warm-ups then measured requests; stops early (keeping >= 5) past ``budget`` seconds."""
    timing = Timing()
    headers = {"Accept": FHIR_JSON}
    begun = time.monotonic()
    with httpx.Client(base_url=server.base_url, timeout=120.0, headers=headers) as client:
        for params in warmups:
            if time.monotonic() - begun > budget * 0.2:
                break
            with contextlib.suppress(httpx.HTTPError):
                client.get(f"/{query.type}", params=params)
        for params in measured:
            if time.monotonic() - begun > budget and len(timing.http_ms) >= 5:
                break
            started = time.perf_counter()
            try:
                response = client.get(f"/{query.type}", params=params)
            except httpx.HTTPError as error:
                timing.errors += 1
                timing.first_error = timing.first_error or f"{type(error).__name__}: {error}"
                if timing.errors >= 5:
                    break
                continue
            body = response.content
            timing.http_ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                timing.errors += 1
                timing.first_error = timing.first_error or f"{response.status_code} {body[:300]!r}"
                continue
            bundle = orjson.loads(body)
            entries = bundle.get("entry", [])
            timing.matches.append(sum(e["search"]["mode"] == "match" for e in entries))
            timing.included.append(sum(e["search"]["mode"] == "include" for e in entries))
            timing.totals.append(int(bundle.get("total", -1)))
    return timing


async def measure_in_process(
    store: SqliteStore, query: Query, measured: list[Params], timing: Timing, budget: float
) -> None:
    """The same parameter sets in-process (as many as fit in ``budget`` seconds, >= 3)."""
    ctx = Context(store=store, access=AccessContext.open_server(), base_url=BASE_URL)
    begun = time.monotonic()
    for params in measured[:10]:  # warm the worker connections and caches
        if time.monotonic() - begun > budget * 0.2:
            break
        await search_interaction(ctx, types=[query.type], params=params, strict=False, path="")
    for params in measured:
        if time.monotonic() - begun > budget and len(timing.interaction_ms) >= 3:
            break
        started = time.perf_counter()
        await search_interaction(
            ctx, types=[query.type], params=params, strict=False, path=query.type
        )
        timing.interaction_ms.append((time.perf_counter() - started) * 1000)
        plan = parse_search([query.type], params, base_url=BASE_URL, strict=False).plan
        started = time.perf_counter()
        await store.search(plan)
        middle = time.perf_counter()
        await store.count(plan)
        timing.sql_search_ms.append((middle - started) * 1000)
        timing.sql_count_ms.append((time.perf_counter() - middle) * 1000)


def read_through(path: Path) -> float:
    """Read the database file once (seconds taken), so that the operating system's page
    cache holds it as it would on a server that has been serving for a while: the store
    keeps only a small page cache of its own, and this machine's page cache may have been
    dropped since the file was built or last read."""
    started = time.monotonic()
    with path.open("rb") as file:
        while file.read(1 << 24):
            pass
    return time.monotonic() - started


def mark_indexed(path: Path, base_url: str) -> None:
    """Record that ``path`` is indexed for ``base_url``, as a reindex would.

    The server reindexes at start-up when the stored index version differs, and notes a new
    base URL. The data sets hold relative references only, so their rows do not depend on the
    base URL: a reindex would write the same rows again.
    """

    async def run() -> None:
        store = SqliteStore(str(path))
        await store.open()
        try:
            await store.set_meta(META_KEY, INDEX_VERSION)
            await store.set_meta(BASE_KEY, base_url.rstrip("/"))
        finally:
            await store.close()

    asyncio.run(run())


def measure_size(
    ds: DataSet,
    queries: Sequence[Query],
    *,
    requests: int,
    warmup: int,
    seed: int,
    logs: Path,
    budget: float,
) -> dict[str, Timing]:
    out: dict[str, Timing] = {}
    sets = {q.name: parameter_sets(q, ds, warmup + requests, seed) for q in queries}
    server = Server(ds.url, logs / f"server-{ds.size}.log")
    mark_indexed(ds.path, server.base_url)
    say(f"  read the database once into the page cache: {read_through(ds.path):.1f} s")
    started = time.monotonic()
    with server:
        say(
            f"  server pid {server.proc.pid if server.proc else '?'} on port {server.port},"
            f" ready in {time.monotonic() - started:.1f} s"
        )
        for query in queries:
            params = sets[query.name]
            timing = measure_http(server, query, params[:warmup], params[warmup:], budget)
            out[query.name] = timing
            say(
                f"    {query.name:<15} p50 {timing.p(0.5):7.2f} ms  p95 {timing.p(0.95):7.2f} ms"
                f"  ({len(timing.http_ms)} requests)"
                + (f"  ({timing.errors} errors: {timing.first_error})" if timing.errors else "")
            )

    async def in_process() -> None:
        store = SqliteStore(str(ds.path))
        await store.open()
        try:
            for query in queries:
                await measure_in_process(
                    store, query, sets[query.name][warmup:], out[query.name], budget
                )
        finally:
            await store.close()

    asyncio.run(in_process())
    return out


# -- query plans -----------------------------------------------------------------------------


def _count_plan_lines(path: Path, plan: SearchPlan) -> list[str]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        pids = dict(conn.execute("SELECT key, pid FROM params").fetchall())
        sql, args = Compiler(pids.get).search(plan, count_only=True)
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
        return [str(row[-1]) for row in rows]
    finally:
        conn.close()


def explain_all(ds: DataSet, queries: Sequence[Query], seed: int) -> list[str]:
    lines: list[str] = []

    async def run() -> None:
        store = SqliteStore(str(ds.path))
        await store.open()
        try:
            for query in queries:
                params = parameter_sets(query, ds, 1, seed)[0]
                plan = parse_search([query.type], params, base_url=BASE_URL, strict=False).plan
                lines.append(f"  [{query.name}] {query.type}?{httpx.QueryParams(params)}")
                lines.append(f"    plan: {plan.explain()}")
                lines.append("    search SQL (store.explain):")
                lines.extend(f"      {line}" for line in store.explain(plan))
                lines.append("    count SQL (_total, when the first page is not every match):")
                lines.extend(f"      {line}" for line in _count_plan_lines(ds.path, plan))
                if query.kind == "include":
                    patient = next(p for p in ds.patients if p.edipi in params[0][1])
                    follow = SearchPlan(
                        types=("Appointment",),
                        conditions=(
                            ParamIn(
                                "Appointment.patient",
                                "reference",
                                (ReferenceMatch("Patient", patient.id),),
                            ),
                        ),
                        count=1000,
                    )
                    lines.append("    _revinclude follow-up (Appointment.patient IN matches):")
                    lines.extend(f"      {line}" for line in store.explain(follow))
        finally:
            await store.close()

    asyncio.run(run())
    return lines


# -- extraction vs create --------------------------------------------------------------------


@dataclass
class CreateCost:
    resources: int
    extract_us: float
    extract_by_type: dict[str, float]
    validate_us: float
    dumps_us: float
    inproc_us: list[float]
    inproc_cpu_us: float
    http_us: list[float]


def _mix(seed: int, units: int) -> list[dict[str, Any]]:
    """Resources in the data set's proportions, ids removed (as a client POSTs them)."""
    layout = data.Layout.of(units * data.UNIT_SIZE + 100)
    out: list[dict[str, Any]] = []
    for index in range(units):
        for resource in data.unit(seed + 1, index, layout):
            out.append({k: v for k, v in resource.items() if k != "id"})
    return out


def _mean_us(work: Callable[[dict[str, Any]], Any], docs: Sequence[dict[str, Any]]) -> float:
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for doc in docs:
            work(doc)
        best = min(best, (time.perf_counter() - started) / len(docs))
    return best * 1e6


def measure_create_cost(seed: int, creates: int, workdir: Path) -> CreateCost:
    warm_up()
    units = max(1, creates // data.UNIT_SIZE)
    mix = _mix(seed, units)
    docs = [
        stamped(r, id=f"x{i}", version=1, last_updated="2025-06-01T12:00:00.000Z")
        for i, r in enumerate(mix)
    ]
    for doc in docs[:50]:  # compile every accessor before timing
        indexing.extract(doc, base_url=BASE_URL)
    extract_us = _mean_us(lambda d: indexing.extract(d, base_url=BASE_URL), docs)
    by_type: dict[str, float] = {}
    for type_name in data.UNIT_SHAPE:
        subset = [d for d in docs if d["resourceType"] == type_name]
        by_type[type_name] = _mean_us(lambda d: indexing.extract(d, base_url=BASE_URL), subset)
    validate_us = _mean_us(validate_resource, docs)
    dumps_us = _mean_us(dumps, docs)

    async def in_process() -> tuple[list[float], float]:
        store = SqliteStore(str(workdir / "create-inproc.db"))
        await store.open()
        try:
            ctx = Context(store=store, access=AccessContext.open_server(), base_url=BASE_URL)
            pre = Preconditions()
            for r in mix[:20]:
                await create(ctx, type=r["resourceType"], resource=r, pre=pre)
            times = []
            cpu_started = time.process_time()
            for r in mix:
                started = time.perf_counter()
                await create(ctx, type=r["resourceType"], resource=r, pre=pre)
                times.append((time.perf_counter() - started) * 1e6)
            return times, (time.process_time() - cpu_started) / len(mix) * 1e6
        finally:
            await store.close()

    inproc_us, inproc_cpu_us = asyncio.run(in_process())
    bodies = [(r["resourceType"], orjson.dumps(r)) for r in mix]
    http_us: list[float] = []
    with (
        Server(f"sqlite:///{workdir / 'create-http.db'}", workdir / "server-create.log") as server,
        httpx.Client(base_url=server.base_url, timeout=60.0) as client,
    ):
        headers = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}
        for type_name, body in bodies[:20]:
            client.post(f"/{type_name}", content=body, headers=headers)
        for type_name, body in bodies:
            started = time.perf_counter()
            response = client.post(f"/{type_name}", content=body, headers=headers)
            http_us.append((time.perf_counter() - started) * 1e6)
            if response.status_code != 201:
                say(f"    create failed: {response.status_code} {response.text[:300]}")
    return CreateCost(
        resources=len(mix),
        extract_us=extract_us,
        extract_by_type=by_type,
        validate_us=validate_us,
        dumps_us=dumps_us,
        inproc_us=inproc_us,
        inproc_cpu_us=inproc_cpu_us,
        http_us=http_us,
    )


# -- the report ------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


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
        f"{name} {metadata.version(name)}" for name in ("fastapi", "uvicorn", "httpx", "orjson")
    )
    return [
        f"  nproc {os.cpu_count()} ({cpu}); {platform.platform()}",
        f"  Python {platform.python_version()}; SQLite {sqlite3.sqlite_version}; {versions}",
    ]


def size_label(size: int) -> str:
    if size >= 1_000_000 and size % 1_000_000 == 0:
        return f"{size // 1_000_000}M"
    if size >= 1000 and size % 1000 == 0:
        return f"{size // 1000}k"
    return str(size)


def report_latency(
    sizes: Sequence[int], results: dict[int, dict[str, Timing]], queries: Sequence[Query]
) -> list[tuple[str, bool]]:
    small, large = sizes[0], sizes[-1]
    say()
    say("== latency through HTTP (sequential; ms) ==")
    say("  growth: HTTP p95 at the largest size / at the smallest; SQL growth: the same for")
    say("  store.search alone, in-process (information; the verdicts use the HTTP figures)")
    head = f"{'query':<16}"
    for size in sizes:
        head += f" | {size_label(size):>5} p50    p95"
    head += " | growth | SQL growth | target p95 | p95    growth"
    say(head)
    say("-" * len(head))
    verdicts: list[tuple[str, bool]] = []
    for q in queries:
        row = f"{q.name:<16}"
        for size in sizes:
            t = results[size][q.name]
            row += f" | {t.p(0.5):9.2f} {t.p(0.95):6.2f}"
        p95_large = results[large][q.name].p(0.95)
        p95_small = results[small][q.name].p(0.95)
        growth = p95_large / p95_small if p95_small > 0 else float("nan")
        sql_small = percentile(results[small][q.name].sql_search_ms, 0.95)
        sql_large = percentile(results[large][q.name].sql_search_ms, 0.95)
        sql_growth = sql_large / sql_small if sql_small > 0 else float("nan")
        fast = p95_large < q.target_ms
        flat = growth <= GROWTH_MAX
        row += (
            f" | {growth:5.2f}x | {sql_growth:9.2f}x | < {q.target_ms:4.0f} ms   |"
            f" {verdict(fast)}   {verdict(flat) if not q.grows_with_data else ' n/a'}"
        )
        say(row)
        verdicts.append((f"{q.name}: p95 {p95_large:.2f} ms < {q.target_ms:.0f} ms", fast))
        if q.grows_with_data:
            answers = [statistics.fmean(results[s][q.name].matches or [0]) for s in (small, large)]
            say(
                f"  {q.name}: not judged on growth, its answer grows with the data"
                f" ({answers[0]:.1f} -> {answers[1]:.1f} matches on average)"
            )
        else:
            verdicts.append((f"{q.name}: growth {growth:.2f}x <= {GROWTH_MAX:.0f}x", flat))
    say()
    say("queries:")
    for q in queries:
        say(f"  {q.name:<16} {q.shape}  [{q.kind}]")
    for size in sizes:
        say()
        say(f"== where the time goes at {size:,} resources (medians, ms) ==")
        say(
            f"{'query':<16} {'matches':>8} {'total':>8} {'incl.':>6} | {'HTTP':>7}"
            f" {'interaction':>11} {'SQL search':>10} {'SQL count':>9} | n HTTP/in-proc | errors"
        )
        for q in queries:
            t = results[size][q.name]
            say(
                f"{q.name:<16} {statistics.fmean(t.matches or [0]):8.1f}"
                f" {statistics.fmean(t.totals or [0]):8.1f}"
                f" {statistics.fmean(t.included or [0]):6.1f} |"
                f" {t.p(0.5):7.2f} {percentile(t.interaction_ms, 0.5):11.2f}"
                f" {percentile(t.sql_search_ms, 0.5):10.2f}"
                f" {percentile(t.sql_count_ms, 0.5):9.2f} |"
                f" {len(t.http_ms):>6}/{len(t.interaction_ms):<7} | {t.errors}"
            )
        say(
            "  matches/total/incl.: mean entries with search.mode match, Bundle.total, mode"
            " include; interaction: interactions.search.search in-process (no HTTP); SQL:"
            " store.search and store.count of the plan (the server skips the count when the"
            " first page holds every match)"
        )
    return verdicts


def report_create_cost(cost: CreateCost) -> list[tuple[str, bool]]:
    say()
    say(f"== extraction vs create ({cost.resources} resources in the data set's mix) ==")
    say(f"  indexing.extract            {cost.extract_us:9.1f} µs / resource (mean, best of 3)")
    for type_name, us in cost.extract_by_type.items():
        say(f"    {type_name:<25} {us:9.1f} µs")
    say(f"  validate_resource           {cost.validate_us:9.1f} µs / resource")
    say(f"  dumps                       {cost.dumps_us:9.1f} µs / resource")
    http_mean = statistics.fmean(cost.http_us)
    inproc_mean = statistics.fmean(cost.inproc_us)
    say(
        f"  create, HTTP POST           {http_mean:9.1f} µs mean"
        f"  (p50 {percentile(cost.http_us, 0.5):.1f}, p95 {percentile(cost.http_us, 0.95):.1f};"
        " sequential, each waits for its durable commit)"
    )
    say(
        f"  create, in-process          {inproc_mean:9.1f} µs mean"
        f"  (p50 {percentile(cost.inproc_us, 0.5):.1f}, p95 {percentile(cost.inproc_us, 0.95):.1f})"
    )
    say(
        f"  create, in-process CPU      {cost.inproc_cpu_us:9.1f} µs"
        " (process CPU time, all threads: no fsync wait)"
    )
    shares = [
        ("of an HTTP create (mean)", cost.extract_us / http_mean),
        ("of an in-process create (mean)", cost.extract_us / inproc_mean),
        ("of an in-process create's CPU", cost.extract_us / cost.inproc_cpu_us),
    ]
    for label, share in shares:
        say(f"  extraction {label:<32} {share:6.1%}  {verdict(share <= EXTRACT_SHARE_MAX)}")
    label, share = shares[0]
    return [(f"extraction {share:.0%} {label} <= 33%", share <= EXTRACT_SHARE_MAX)]


def file_mb(path: Path) -> float:
    return sum(
        Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
    ) / (1024 * 1024)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/search.py",
        description=__doc__.split("What it measures")[0].strip() if __doc__ else None,
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        default="10000,1000000",
        help="comma-separated data set sizes in resources, smallest first (default %(default)s)",
    )
    parser.add_argument("--quick", action="store_true", help="sizes 2000,50000 (a smoke run)")
    parser.add_argument(
        "--requests", type=int, default=1000, help="measured requests per query (%(default)s)"
    )
    parser.add_argument(
        "--warmup", type=int, default=100, help="warm-up requests per query (%(default)s)"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=45.0,
        help="seconds per query and size (HTTP, and again in-process); a query slower than"
        " that is measured on fewer requests (>= 5; 3 in-process), n shown (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="data and parameter seed")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("/tmp/mhs-bench"),
        help="where built databases are kept for reruns (%(default)s)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild cached databases")
    parser.add_argument(
        "--batch", type=int, default=2000, help="writes per SqliteStore.write call (%(default)s)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="processes building writes (default: cores)",
    )
    parser.add_argument(
        "--creates",
        type=int,
        default=400,
        help="resources created to measure a create vs extraction (%(default)s)",
    )
    parser.add_argument("--no-explain", action="store_true", help="skip the query plans")
    parser.add_argument("--no-create", action="store_true", help="skip extraction vs create")
    args = parser.parse_args(argv)
    args.size_list = (
        [2000, 50000] if args.quick else [int(s.replace("_", "")) for s in args.sizes.split(",")]
    )
    args.size_list.sort()
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    sizes: list[int] = args.size_list
    started = time.monotonic()
    say("== mhs-fhir search benchmark (bench/search.py) ==")
    say("machine:")
    for line in machine_lines():
        say(line)
    say(f"code: {ROOT}")
    say(
        f"sizes: {', '.join(f'{s:,}' for s in sizes)}; {args.requests} requests per query"
        f" after {args.warmup} warm-ups; seed {args.seed}"
    )
    say()
    say("== data sets ==")
    sets: list[DataSet] = []
    for size in sizes:
        ds = ensure_data_set(
            size,
            seed=args.seed,
            cache_dir=args.cache_dir,
            batch=args.batch,
            workers=max(1, args.workers),
            rebuild=args.rebuild,
        )
        how = (
            "reused from cache"
            if ds.build_seconds is None
            else f"built in {ds.build_seconds:.0f} s ({size / ds.build_seconds:,.0f} resources/s)"
        )
        say(f"  {size:>9,} resources: {ds.path} ({file_mb(ds.path):,.0f} MiB), {how}")
        say("             " + ", ".join(f"{t} {n:,}" for t, n in sorted(ds.counts.items())))
        sets.append(ds)
    logs = args.cache_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    results: dict[int, dict[str, Timing]] = {}
    for ds in sets:
        say()
        say(f"== measuring {ds.size:,} resources ==")
        results[ds.size] = measure_size(
            ds,
            QUERIES,
            requests=args.requests,
            warmup=args.warmup,
            seed=args.seed,
            logs=logs,
            budget=args.budget,
        )
    verdicts = report_latency(sizes, results, QUERIES)
    if not args.no_explain:
        say()
        say(f"== query plans at {sets[-1].size:,} resources (EXPLAIN QUERY PLAN) ==")
        for line in explain_all(sets[-1], QUERIES, args.seed):
            say(line)
    if not args.no_create:
        say()
        say("== measuring extraction vs create ==")
        with tempfile.TemporaryDirectory(prefix="mhs-search-bench-") as tmp:
            verdicts += report_create_cost(measure_create_cost(args.seed, args.creates, Path(tmp)))
    say()
    say("== targets ==")
    if sizes[-1] != 1_000_000:
        say(
            f"  (the latency targets are set for 1M resources; this run's largest is {sizes[-1]:,})"
        )
    for text, ok in verdicts:
        say(f"  {verdict(ok)}  {text}")
    failed = sum(not ok for _, ok in verdicts)
    say(f"  targets met: {len(verdicts) - failed} of {len(verdicts)}")
    say(f"(total run time {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
