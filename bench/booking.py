"""Booking under contention and free-slot search at scale, against a real ``mhs-fhir serve``.

What it measures
----------------
1. **Free-slot search** on a generated scheduling data set: ``--clinics`` clinics (default
   1,000), each a Location, a HealthcareService (one of 8 service types), a Practitioner and a
   Schedule naming the three, with ``--days`` days (default 90) of 30-minute Slots, Monday to
   Friday 08:00-12:00 and 13:00-17:00 in the clinic's time zone (five US zones): about 1.03M
   Slots at the defaults, 30% of them ``busy``. The Slots come from
   :func:`fhir_server.workflows.schedule.plan_slots` (the pure half of ``mhs-fhir schedule
   generate``) and are stored in-process through the real write path (the same stamping, JSON
   and ``indexing.extract`` rows as ``interactions/common.py:write_version``, validation
   skipped), extraction spread over ``--workers`` processes, as ``bench/search.py`` does. The
   database is cached under ``--cache-dir`` (default /tmp/mhs-bench) by size, seed and the
   index/schema versions; reruns reuse it.

   ``mhs-fhir serve --insecure-no-auth`` runs on it as a real process and one ``httpx`` client
   sends, per query, ``--warmup`` then ``--requests`` sequential GETs with parameters drawn at
   random (a clinic, a day of the range); p50/p95/p99 are client-side wall times:

   - ``by-provider``: ``Slot?schedule.actor=Practitioner/P&start=geD&status=free``
   - ``by-location+service``:
     ``Slot?schedule.actor=Location/L&service-type=S&start=geD&status=free``
   - ``by-service-day`` (information): ``Slot?service-type=S&start=geD&start=ltD+1&status=free``
     across every clinic offering S
   - the first two with ``_sort=start`` (information: what a portal listing the next openings
     sends).

2. **Bookings per second under contention**: a fresh database (per run, in a temporary
   directory) holds one Schedule and ``--reserve`` free Slots written in-process. A server
   process runs on it (``--workers`` uvicorn workers, default 1); ``--clients`` (50) clients,
   each on its own keep-alive connection, book in a closed loop for ``--seconds`` after a
   warm-up: each POSTs an Appointment for a random Slot among the ``--visible`` (10) Slots the
   clinic currently shows as free; when a Slot is taken (201 to one client, 409 to the others)
   the next Slot of the reserve is shown in its place, so 10 are free at any time. The clients
   are one asyncio process (uvloop, a minimal HTTP/1.1 client: httpx would need more CPU than
   the server on 2 cores). bookings/s counts 201s. Afterwards it checks, through the API,
   that no Slot was booked twice: Appointments = busy Slots = 201 answers.

Targets on 2 cores (PASS/FAIL; the exit status is 0 either way, this is a report):
bookings/s >= 300; free-slot search p95 < 20 ms for ``by-provider`` and
``by-location+service``.

Run ``.venv/bin/python bench/booking.py --quick`` for a smoke run (50 clinics x 14 days,
5 s of booking, about a minute); the default run builds the 1M-slot database once (several
minutes on 2 cores; cached) and measures for about two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import multiprocessing
import os
import platform
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
if str(ROOT) not in sys.path:  # run as a script: this worktree's fhir_server comes first
    sys.path.insert(0, str(ROOT))
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

import search as search_bench  # noqa: E402
from search_data import as_write  # noqa: E402

from fhir_server import indexing  # noqa: E402
from fhir_server.search.parse import parse_search  # noqa: E402
from fhir_server.storage.records import Write  # noqa: E402
from fhir_server.storage.schema import SCHEMA_VERSION  # noqa: E402
from fhir_server.storage.sqlite import SqliteStore  # noqa: E402
from fhir_server.workflows.schedule import parse_template, plan_slots  # noqa: E402

BASE_URL = search_bench.BASE_URL
GENERATOR_VERSION = "1"
BOOKINGS_TARGET = 300.0
SEARCH_P95_MS = 20.0
FIRST_DAY = date(2027, 1, 4)  # a Monday; fixed so that the cached data set stays the same
BUSY_PERCENT = 30
SERVICE_SYSTEM = "http://fhir.mhs-fhir.example/bench/service-type"
SERVICES = (
    ("primary-care", "Primary care"),
    ("pediatrics", "Pediatrics"),
    ("dental", "Dental"),
    ("optometry", "Optometry"),
    ("physical-therapy", "Physical therapy"),
    ("behavioral-health", "Behavioral health"),
    ("immunizations", "Immunizations"),
    ("womens-health", "Women's health"),
)
ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Pacific/Honolulu",
)
FHIR_JSON = "application/fhir+json"


def say(line: str = "") -> None:
    print(line, flush=True)


percentile = search_bench.percentile


# -- the search data set ---------------------------------------------------------------------


def clinic_ids(index: int) -> dict[str, str]:
    n = f"{index:05d}"
    return {
        "location": f"loc-{n}",
        "service": f"hs-{n}",
        "practitioner": f"prov-{n}",
        "schedule": f"sch-{n}",
        "organization": f"org-{index // 50:03d}",
    }


def service_of(index: int) -> tuple[str, str]:
    return SERVICES[index % len(SERVICES)]


def clinic_resources(seed: int, index: int, days: int) -> list[dict[str, Any]]:
    """One clinic: Location, HealthcareService, Practitioner, Schedule and its Slots (ids set);
    the first clinic of every 50 also brings their Organization."""
    ids = clinic_ids(index)
    code, display = service_of(index)
    concept = {"coding": [{"system": SERVICE_SYSTEM, "code": code, "display": display}]}
    zone = ZONES[index % len(ZONES)]
    out: list[dict[str, Any]] = []
    if index % 50 == 0:
        out.append(
            {
                "resourceType": "Organization",
                "id": ids["organization"],
                "active": True,
                "name": f"Military Treatment Facility {index // 50 + 1}",
            }
        )
    out.append(
        {
            "resourceType": "Location",
            "id": ids["location"],
            "status": "active",
            "name": f"{display} clinic {index + 1}",
            "managingOrganization": {"reference": f"Organization/{ids['organization']}"},
        }
    )
    out.append(
        {
            "resourceType": "HealthcareService",
            "id": ids["service"],
            "active": True,
            "providedBy": {"reference": f"Organization/{ids['organization']}"},
            "type": [concept],
            "location": [{"reference": f"Location/{ids['location']}"}],
            "name": f"{display} {index + 1}",
        }
    )
    out.append(
        {
            "resourceType": "Practitioner",
            "id": ids["practitioner"],
            "active": True,
            "name": [{"family": f"Provider{index + 1}", "given": ["Bench"]}],
        }
    )
    template = parse_template(
        {
            "timezone": zone,
            "clinics": [
                {
                    "name": "c",
                    "location": {"id": ids["location"]},
                    "healthcareService": {"id": ids["service"]},
                }
            ],
            "providers": [{"name": "p", "practitioner": {"id": ids["practitioner"]}}],
            "schedules": [
                {
                    "id": ids["schedule"],
                    "clinic": "c",
                    "provider": "p",
                    "serviceType": concept,
                    "slotMinutes": 30,
                    "hours": [
                        {"days": ["mon", "tue", "wed", "thu", "fri"], "open": o, "close": c}
                        for o, c in (("08:00", "12:00"), ("13:00", "17:00"))
                    ],
                }
            ],
        }
    )
    spec = template.schedules[0]
    out.append(
        {
            "resourceType": "Schedule",
            "id": ids["schedule"],
            "active": True,
            "serviceType": [concept],
            "actor": [
                {"reference": f"Practitioner/{ids['practitioner']}"},
                {"reference": f"Location/{ids['location']}"},
                {"reference": f"HealthcareService/{ids['service']}"},
            ],
        }
    )
    for slot in plan_slots(spec, FIRST_DAY, days):
        digest = hashlib.blake2b(f"{seed}:{slot.id}".encode(), digest_size=2).digest()
        busy = int.from_bytes(digest, "big") % 100 < BUSY_PERCENT
        out.append({**slot.document, "id": slot.id, "status": "busy" if busy else "free"})
    return out


def _chunk_writes(task: tuple[int, int, int, int]) -> list[Write]:
    """Worker: the writes of clinics ``first`` .. ``last - 1`` (in a pool process)."""
    seed, first, last, days = task
    return [
        as_write(resource, base_url=BASE_URL)
        for index in range(first, last)
        for resource in clinic_resources(seed, index, days)
    ]


def cache_path(cache_dir: Path, clinics: int, days: int, seed: int) -> Path:
    key = (
        f"booking-{clinics}c-{days}d-seed{seed}-gen{GENERATOR_VERSION}"
        f"-idx{indexing.INDEX_VERSION}-schema{SCHEMA_VERSION}"
    )
    return cache_dir / f"{key}.db"


def _remove_db(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


async def _load(path: Path, tasks: list[tuple[int, int, int, int]], pool: Any, workers: int) -> int:
    store = SqliteStore(str(path))
    await store.open()
    written = 0
    started = time.monotonic()
    next_report = time.monotonic() + 10
    try:
        pending: deque[Any] = deque()
        next_task = 0
        while next_task < len(tasks) or pending:
            while next_task < len(tasks) and len(pending) < 2 * workers + 2:
                pending.append(pool.apply_async(_chunk_writes, (tasks[next_task],)))
                next_task += 1
            writes = pending.popleft().get()
            await store.write(writes)
            written += len(writes)
            if time.monotonic() >= next_report or not pending:
                elapsed = time.monotonic() - started
                say(
                    f"    {written:>10,} resources written ({elapsed:5.0f} s,"
                    f" {written / max(elapsed, 1e-9):,.0f}/s)"
                )
                next_report = time.monotonic() + 10
    finally:
        await store.close()
    return written


def resource_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT type, count(*) FROM resources GROUP BY type").fetchall()
        return {str(t): int(n) for t, n in rows}
    finally:
        conn.close()


def ensure_search_data(
    *, clinics: int, days: int, seed: int, cache_dir: Path, workers: int, rebuild: bool
) -> tuple[Path, dict[str, int], float | None]:
    path = cache_path(cache_dir, clinics, days, seed)
    if path.exists() and not rebuild:
        counts = resource_counts(path)
        if counts.get("Schedule") == clinics:
            return path, counts, None
        say(f"  cached {path} is incomplete: rebuilding")
    cache_dir.mkdir(parents=True, exist_ok=True)
    building = path.with_name(path.stem + ".building.db")
    _remove_db(building)
    _remove_db(path)
    say(f"  building {clinics:,} clinics x {days} days of slots -> {path}")
    per_task = max(1, 5000 // max(1, days * 12))  # about 5,000 writes per batch
    tasks = [
        (seed, first, min(first + per_task, clinics), days) for first in range(0, clinics, per_task)
    ]
    started = time.monotonic()
    # Fork the workers before any thread exists in this process (the store starts some).
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        asyncio.run(_load(building, tasks, pool, workers))
    seconds = time.monotonic() - started
    building.rename(path)
    return path, resource_counts(path), seconds


# -- free-slot search ------------------------------------------------------------------------

Params = list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    shape: str
    target: bool  # judged against SEARCH_P95_MS

    def params(self, rng: random.Random, clinics: int, days: int) -> Params:
        index = rng.randrange(clinics)
        ids = clinic_ids(index)
        day = FIRST_DAY + timedelta(days=rng.randrange(max(1, days - 7)))
        service = f"{SERVICE_SYSTEM}|{service_of(index)[0]}"
        if self.name.startswith("by-provider"):
            out = [
                ("schedule.actor", f"Practitioner/{ids['practitioner']}"),
                ("start", f"ge{day}"),
                ("status", "free"),
            ]
        elif self.name.startswith("by-location"):
            out = [
                ("schedule.actor", f"Location/{ids['location']}"),
                ("service-type", service),
                ("start", f"ge{day}"),
                ("status", "free"),
            ]
        else:
            out = [
                ("service-type", service),
                ("start", f"ge{day}"),
                ("start", f"lt{day + timedelta(days=1)}"),
                ("status", "free"),
            ]
        if self.name.endswith("sorted"):
            out.append(("_sort", "start"))
        return out


QUERIES = (
    Query("by-provider", "Slot?schedule.actor=Practitioner/P&start=geD&status=free", target=True),
    Query(
        "by-location+service",
        "Slot?schedule.actor=Location/L&service-type=S&start=geD&status=free",
        target=True,
    ),
    Query(
        "by-service-day",
        "Slot?service-type=S&start=geD&start=ltD+1&status=free",
        target=False,
    ),
    Query("by-provider sorted", "by-provider&_sort=start", target=False),
    Query("by-location+service sorted", "by-location+service&_sort=start", target=False),
)


@dataclass
class SearchTiming:
    ms: list[float] = field(default_factory=list)
    matches: list[int] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


def measure_search(
    base_url: str, query: Query, sets: list[Params], warmup: int, budget: float
) -> SearchTiming:
    timing = SearchTiming()
    begun = time.monotonic()
    with httpx.Client(base_url=base_url, timeout=60.0, headers={"Accept": FHIR_JSON}) as client:
        for params in sets[:warmup]:
            if time.monotonic() - begun > budget * 0.2:
                break
            with contextlib.suppress(httpx.HTTPError):
                client.get("/Slot", params=tuple(params))
        for params in sets[warmup:]:
            if time.monotonic() - begun > budget and len(timing.ms) >= 10:
                break
            started = time.perf_counter()
            response = client.get("/Slot", params=tuple(params))
            body = response.content
            timing.ms.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                timing.errors += 1
                timing.first_error = timing.first_error or f"{response.status_code} {body[:300]!r}"
                continue
            bundle = orjson.loads(body)
            entries = bundle.get("entry", [])
            if any(e["resource"].get("status") != "free" for e in entries):
                timing.errors += 1
                timing.first_error = timing.first_error or "a non-free slot was returned"
            timing.matches.append(len(entries))
    return timing


def explain(path: Path, clinics: int, days: int, seed: int) -> list[str]:
    lines: list[str] = []

    async def run() -> None:
        store = SqliteStore(str(path))
        await store.open()
        try:
            for query in QUERIES:
                params = query.params(random.Random(seed), clinics, days)
                plan = parse_search(["Slot"], params, base_url=BASE_URL, strict=False).plan
                lines.append(f"  [{query.name}] Slot?{httpx.QueryParams(tuple(params))}")
                lines.extend(f"      {line}" for line in store.explain(plan))
        finally:
            await store.close()

    asyncio.run(run())
    return lines


# -- bookings under contention ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FreeSlot:
    id: str
    start: str
    end: str


def booking_resources(reserve: int, clients: int) -> tuple[list[dict[str, Any]], list[FreeSlot]]:
    """The booking clinic: a Practitioner, a Location, a Schedule, patients, free Slots."""
    resources: list[dict[str, Any]] = [
        {"resourceType": "Practitioner", "id": "book-prov", "name": [{"family": "Booked"}]},
        {"resourceType": "Location", "id": "book-loc", "name": "Busy clinic"},
        {
            "resourceType": "Schedule",
            "id": "book-sch",
            "actor": [
                {"reference": "Practitioner/book-prov"},
                {"reference": "Location/book-loc"},
            ],
        },
    ]
    resources.extend(
        {
            "resourceType": "Patient",
            "id": f"book-pat-{n}",
            "name": [{"family": f"Patient{n}", "given": ["Bench"]}],
        }
        for n in range(clients)
    )
    slots: list[FreeSlot] = []
    first = FIRST_DAY + timedelta(days=30)
    for n in range(reserve):
        day = first + timedelta(days=n // 32)
        minute = 8 * 60 + (n % 32) * 15
        start = f"{day}T{minute // 60:02d}:{minute % 60:02d}:00Z"
        minute += 15
        end = f"{day}T{minute // 60:02d}:{minute % 60:02d}:00Z"
        slot = FreeSlot(f"book-slot-{n:06d}", start, end)
        slots.append(slot)
        resources.append(
            {
                "resourceType": "Slot",
                "id": slot.id,
                "schedule": {"reference": "Schedule/book-sch"},
                "status": "free",
                "start": start,
                "end": end,
            }
        )
    return resources, slots


async def write_resources(path: Path, resources: Sequence[dict[str, Any]]) -> None:
    store = SqliteStore(str(path))
    await store.open()
    try:
        for at in range(0, len(resources), 2000):
            await store.write([as_write(r, base_url=BASE_URL) for r in resources[at : at + 2000]])
    finally:
        await store.close()


class HttpConnection:
    """A minimal HTTP/1.1 keep-alive client connection (Content-Length or chunked answers)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: {FHIR_JSON}\r\nAccept: {FHIR_JSON}\r\nPrefer: return=minimal\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).strip(), 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            content = b"".join(p[:-2] for p in parts)
        else:
            content = await self.reader.read()
        if headers.get("connection", "").lower() == "close":
            await self.close()
        return status, content

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(Exception):
                await self.writer.wait_closed()
        self.reader = self.writer = None


@dataclass
class BookingRun:
    seconds: float = 0.0
    booked: int = 0
    conflicts: int = 0
    late_conflicts: int = 0  # 409s that lost the race at commit (read free, written busy)
    claimed_conflicts: int = 0  # 409s refused at once: another write of this process held it
    errors: int = 0
    first_error: str = ""
    booked_ms: list[float] = field(default_factory=list)
    all_ms: list[float] = field(default_factory=list)
    exhausted: bool = False
    server_cpu: float = 0.0
    client_cpu: float = 0.0


def appointment_body(slot: FreeSlot, patient: int) -> bytes:
    return orjson.dumps(
        {
            "resourceType": "Appointment",
            "status": "booked",
            "start": slot.start,
            "end": slot.end,
            "slot": [{"reference": f"Slot/{slot.id}"}],
            "participant": [
                {"actor": {"reference": f"Patient/book-pat-{patient}"}, "status": "accepted"},
                {"actor": {"reference": "Practitioner/book-prov"}, "status": "accepted"},
            ],
        }
    )


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process and its children (/proc/<pid>/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_cpu(pid: int) -> float:
    """CPU seconds of ``pid`` and its live children (uvicorn workers)."""
    total = cpu_seconds(pid)
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += cpu_seconds(int(child))
    return total


async def run_bookings(
    host: str,
    port: int,
    path_prefix: str,
    slots: list[FreeSlot],
    *,
    clients: int,
    visible: int,
    warmup: float,
    seconds: float,
    server_pid: int,
) -> BookingRun:
    run = BookingRun()
    reserve = iter(slots)
    shown: list[FreeSlot] = [slot for slot, _ in zip(reserve, range(visible), strict=False)]
    state = {"measuring": False, "stop": False}
    exhausted = asyncio.Event()
    url = f"{path_prefix}/Appointment"
    rng = random.Random(1)

    def taken(slot: FreeSlot) -> None:
        if slot in shown:
            shown.remove(slot)
            nxt = next(reserve, None)
            if nxt is None:
                run.exhausted = True
                state["stop"] = True
                exhausted.set()
            else:
                shown.append(nxt)

    async def client(n: int) -> None:
        connection = HttpConnection(host, port)
        try:
            while not state["stop"]:
                if not shown:
                    await asyncio.sleep(0.001)
                    continue
                slot = rng.choice(shown)
                started = time.perf_counter()
                try:
                    status, body = await connection.request("POST", url, appointment_body(slot, n))
                except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                    await connection.close()
                    if state["measuring"]:
                        run.errors += 1
                        run.first_error = run.first_error or f"{type(error).__name__}: {error}"
                    continue
                elapsed = (time.perf_counter() - started) * 1000
                if status in (201, 409):
                    taken(slot)
                if not state["measuring"]:
                    continue
                run.all_ms.append(elapsed)
                if status == 201:
                    run.booked += 1
                    run.booked_ms.append(elapsed)
                elif status == 409:
                    run.conflicts += 1
                    if b"changed while this write was made" in body:
                        run.late_conflicts += 1
                    elif b"being booked by someone else" in body:
                        run.claimed_conflicts += 1
                else:
                    run.errors += 1
                    run.first_error = run.first_error or f"{status} {body[:300]!r}"
        finally:
            await connection.close()

    tasks = [asyncio.create_task(client(n)) for n in range(clients)]
    await asyncio.sleep(warmup)
    state["measuring"] = True
    cpu_server, cpu_client = tree_cpu(server_pid), time.process_time()
    started = time.perf_counter()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(exhausted.wait(), timeout=seconds)
    state["measuring"] = False
    run.seconds = time.perf_counter() - started
    run.server_cpu = (tree_cpu(server_pid) - cpu_server) / run.seconds
    run.client_cpu = (time.process_time() - cpu_client) / run.seconds
    state["stop"] = True
    await asyncio.gather(*tasks, return_exceptions=True)
    return run


def count(client: httpx.Client, path: str, **params: str) -> int:
    response = client.get(path, params={**params, "_summary": "count"})
    response.raise_for_status()
    return int(response.json()["total"])


class Server(search_bench.Server):
    """``mhs-fhir serve --insecure-no-auth`` with ``--workers``."""

    workers: int = 1

    def command(self) -> list[str]:
        return [*super().command(), "--workers", str(self.workers)]


def booking_phase(args: argparse.Namespace, logs: Path) -> tuple[BookingRun, str]:
    folder = Path(tempfile.mkdtemp(prefix="booking-", dir=args.cache_dir))
    try:
        path = folder / "booking.db"
        resources, slots = booking_resources(args.reserve, args.clients)
        started = time.monotonic()
        asyncio.run(write_resources(path, resources))
        say(f"  {len(slots):,} reserve slots written in {time.monotonic() - started:.1f} s")
        server = Server(f"sqlite:///{path}", logs / "server-booking.log")
        server.workers = args.booking_workers
        search_bench.mark_indexed(path, server.base_url)
        with server:
            assert server.proc is not None
            run = _event_loop_run(
                run_bookings(
                    "127.0.0.1",
                    server.port,
                    "/fhir",
                    slots,
                    clients=args.clients,
                    visible=args.visible,
                    warmup=args.booking_warmup,
                    seconds=args.seconds,
                    server_pid=server.proc.pid,
                )
            )
            with httpx.Client(base_url=server.base_url, timeout=60.0) as client:
                appointments = count(client, "/Appointment")
                busy = count(client, "/Slot", status="busy")
        # Every 201 (warm-up included) stored one Appointment holding one Slot.
        check = f"{appointments:,} Appointments, {busy:,} busy Slots: " + (
            "no Slot booked twice" if appointments == busy else "DOUBLE BOOKING"
        )
        return run, check
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _event_loop_run(coroutine: Any) -> Any:
    try:
        import uvloop

        return uvloop.run(coroutine)
    except ImportError:  # pragma: no cover
        return asyncio.run(coroutine)


# -- report ----------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/booking.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
    )
    parser.add_argument("--quick", action="store_true", help="50 clinics x 14 days, 5 s booking")
    parser.add_argument("--clinics", type=int, default=1000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-dir", type=Path, default=Path("/tmp/mhs-bench"))
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached data set")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 2, help="build processes")
    parser.add_argument("--requests", type=int, default=300, help="measured searches per query")
    parser.add_argument("--warmup", type=int, default=30, help="warm-up searches per query")
    parser.add_argument("--budget", type=float, default=30.0, help="seconds per query at most")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--visible", type=int, default=10, help="free slots shown at a time")
    parser.add_argument("--seconds", type=float, default=15.0, help="booking phase length")
    parser.add_argument("--booking-warmup", type=float, default=3.0)
    parser.add_argument("--reserve", type=int, default=0, help="free slots (default: enough)")
    parser.add_argument("--booking-workers", type=int, default=1, help="server processes")
    parser.add_argument("--no-search", action="store_true")
    parser.add_argument("--no-booking", action="store_true")
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:
        args.clinics, args.days, args.seconds = 50, 14, 5.0
        args.requests, args.warmup, args.booking_warmup = 100, 10, 1.0
    if not args.reserve:
        # Room for 1,500 bookings/s over the warm-up and the phase.
        args.reserve = int(1500 * (args.seconds + args.booking_warmup)) + 1000
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    say("mhs-fhir booking bench")
    say(
        f"  {platform.node()}: {os.cpu_count()} cores, Python {platform.python_version()},"
        f" {time.strftime('%Y-%m-%d %H:%M:%S')}"
    )
    logs = args.cache_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    verdicts: list[tuple[str, bool]] = []

    if not args.no_search:
        say()
        say(f"Free-slot search: {args.clinics:,} clinics x {args.days} days")
        path, counts, built = ensure_search_data(
            clinics=args.clinics,
            days=args.days,
            seed=args.seed,
            cache_dir=args.cache_dir,
            workers=args.workers,
            rebuild=args.rebuild,
        )
        say(
            f"  data: {path} ({path.stat().st_size / 2**20:,.0f} MiB; "
            + ", ".join(f"{n:,} {t}" for t, n in sorted(counts.items()))
            + ("; reused from the cache)" if built is None else f"; built in {built:.0f} s)")
        )
        server = Server(f"sqlite:///{path}", logs / "server-search.log")
        search_bench.mark_indexed(path, server.base_url)
        results: dict[str, SearchTiming] = {}
        with server:
            for query in QUERIES:
                rng = random.Random(f"{args.seed}:{query.name}")
                sets = [
                    query.params(rng, args.clinics, args.days)
                    for _ in range(args.warmup + args.requests)
                ]
                timing = measure_search(server.base_url, query, sets, args.warmup, args.budget)
                results[query.name] = timing
                say(
                    f"    {query.name:<27} p95 {percentile(timing.ms, 0.95):8.2f} ms"
                    f"  ({len(timing.ms)} requests)"
                )
        say()
        say(
            f"  {'query':<27} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}"
            f" {'matches':>8}  target"
        )
        for query in QUERIES:
            t = results[query.name]
            p95 = percentile(t.ms, 0.95)
            judged = ""
            if query.target:
                ok = p95 < SEARCH_P95_MS and not t.errors
                verdicts.append(
                    (f"free-slot search p95 < {SEARCH_P95_MS:.0f} ms ({query.name})", ok)
                )
                judged = f"< {SEARCH_P95_MS:.0f} ms: {'PASS' if ok else 'FAIL'}"
            mean_matches = sum(t.matches) / max(1, len(t.matches))
            say(
                f"  {query.name:<27} {len(t.ms):>5} {percentile(t.ms, 0.5):>8.2f} {p95:>8.2f}"
                f" {percentile(t.ms, 0.99):>8.2f} {mean_matches:>8.1f}  {judged}"
                + (f"  ({t.errors} errors: {t.first_error})" if t.errors else "")
            )
        say("  shapes:")
        for query in QUERIES:
            say(f"    {query.name:<27} {query.shape}")
        if not args.no_explain:
            say("  query plans (EXPLAIN QUERY PLAN of the search SQL):")
            for line in explain(path, args.clinics, args.days, args.seed):
                say(line)

    if not args.no_booking:
        say()
        say(
            f"Bookings under contention: {args.clients} clients, {args.visible} free slots"
            f" shown at a time, {args.seconds:.0f} s after {args.booking_warmup:.0f} s warm-up,"
            f" {args.booking_workers} server worker(s)"
        )
        run, check = booking_phase(args, logs)
        rate = run.booked / run.seconds if run.seconds else 0.0
        attempts = (run.booked + run.conflicts + run.errors) / max(run.seconds, 1e-9)
        say(
            f"  bookings/s {rate:8.1f}   attempts/s {attempts:8.1f}"
            f"   201 {run.booked:,}  409 {run.conflicts:,}  errors {run.errors:,}"
            + (f" ({run.first_error})" if run.errors else "")
        )
        say(
            f"  409s: {run.conflicts - run.late_conflicts - run.claimed_conflicts:,} saw the Slot"
            f" busy (cheap: a read), {run.claimed_conflicts:,} found it claimed by a booking in"
            f" flight (cheaper), {run.late_conflicts:,} read it free and lost the race at commit"
            " (a whole write)"
        )
        say(
            f"  latency ms: booked p50 {percentile(run.booked_ms, 0.5):.1f}"
            f" p95 {percentile(run.booked_ms, 0.95):.1f};"
            f" all answers p50 {percentile(run.all_ms, 0.5):.1f}"
            f" p95 {percentile(run.all_ms, 0.95):.1f}"
        )
        say(
            f"  CPU: server {run.server_cpu:.0%} of a core, clients {run.client_cpu:.0%}"
            + ("   (the reserve ran out: raise --reserve)" if run.exhausted else "")
        )
        say(f"  check: {check}")
        ok = rate >= BOOKINGS_TARGET and "DOUBLE" not in check
        verdicts.append((f"bookings/s >= {BOOKINGS_TARGET:.0f} (no double booking)", ok))

    say()
    say("Targets")
    for name, ok in verdicts:
        say(f"  {'PASS' if ok else 'FAIL'}  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
