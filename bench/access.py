"""What access control and auditing cost mhs-fhir: scoped vs unscoped searches, audit on vs off.

The access issue's targets: "scoped searches cost at most 20% more than the same search
unscoped", and "auditing every request slows the request path by at most 10%". Both are
measured as ratios inside one run, request by request interleaved, because the machine's 2
cores are shared and noisy: absolute times move from run to run, the ratios much less.

What it measures
----------------
0. **Data**: the generated beneficiary population of ``bench/search.py`` (its builder and its
   cache, ``--cache-dir``; ``--size`` resources, default 100k, ``--quick`` 10k): per Patient
   6 Appointments, 6 Communications, 3 MedicationRequests, 4 Observations. Each phase works on
   its own copy of the cached database (tokens and audit records go into the copy; the cache
   stays as ``bench/search.py`` built it).
1. **Scoped vs unscoped, through HTTP**: ``mhs-fhir serve --database-url sqlite:///<copy>``
   runs as a real process with authorization on (bearer tokens required). Tokens are minted
   into its database with ``smart_auth.testing.issue_token``: one system token
   (``system/*.rs``, role system: no restriction) and, for each of ``--patients`` random
   Patients X, a beneficiary token (``patient/*.rs``, patient X, ``links=(Link(X, "self"),)``):
   the server adds X's Patient-compartment restriction to every search plan (also inside the
   chain, and on the ``_revinclude`` follow-up), and matches a read's resource against it in
   memory. Per probe, ``--warmup`` then ``--requests`` pairs: the same request for a random X
   of the pool, sent once with the system token (a, unscoped) and once with X's token (b,
   scoped), back to back, the order alternating pair by pair so noise and warm caches hit
   both alike. Reported: client-side p50/p95/mean in ms of each, the ratios scoped/unscoped
   of the p50 and of the mean, and whether both answers are the same (status, Bundle.total,
   and the type/id/search mode of every entry in order; for reads type, id and versionId).
   The probes are the portal's searches for its own patient, where scoping must not change
   the result, and two reads. Then SQLite's EXPLAIN QUERY PLAN of each search's SQL, unscoped
   and scoped (``SqliteStore.explain`` of the plan before and after ``access.scoped``).
2. **Audit overhead, in-process**: two instances of the ASGI application
   (``fhir_server.app.create_app``), each on its own copy of the same database, both started
   (lifespan) in this process and called through ``httpx.ASGITransport`` (no network, no
   uvicorn). They are identical except that right after start-up the second one's
   ``app.state.audit_trail`` is set to None, so its audit middleware records nothing. A mix of
   reads and searches with a system token is sent to both, interleaved request by request
   (order alternating). Reported: mean and p50 per request of each, the ratio audited /
   not audited, per kind and over the whole mix, and what the trail wrote.

   What this isolates: everything auditing adds to a request, i.e. building the
   ``AuditRecord`` from the request's scope and access context, appending it to the trail,
   and the trail's batched writes (every 0.25 s, ``AuditTrail.flush`` runs
   ``append_audit`` in a worker thread; it competes for the GIL, the cores and the database
   file with the requests: the audit table lives in the resources' database file, so each
   flush's commit also changes the file under the store's read connections, which then
   reload pages). That is why each app has its own copy: on a shared file the app without a
   trail would pay for the other's commits too. ``ASGITransport`` returns only once the
   application has finished, so the record built in the middleware's ``finally`` is inside
   the measured time (through a real server the client may see the response a moment before
   that). What it does not isolate: the ASGI middleware layer itself (the wrapping of
   ``send``, the path checks, the ``trail()`` call), which stays in both apps; nor the HTTP
   server, which neither has. The flushes run whenever they fall due and may land in a
   request of either app, so the plain ratio can undercount them: the report also gives the
   worker thread's CPU time in the flushes and a bound that charges all of it to the audited
   app.

Targets (PASS/FAIL; the exit status is 0 either way, this is a report)
-----------------------------------------------------------------------
* every probe: scoped / unscoped <= 1.20, for the p50 and for the mean;
* every probe: the scoped answer equals the unscoped one for every pair;
* the whole mix: audited / not audited mean per request <= 1.10.

Run ``.venv/bin/python bench/access.py --quick`` for a smoke run (10k resources, ~15 s). The
default run builds the 100k database once (~35 s on 2 cores; cached, shared with
``bench/search.py``) and measures for ~1-2 minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
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

import search as bench  # noqa: E402
import search_data as data  # noqa: E402

from fhir_server.app import create_app  # noqa: E402
from fhir_server.config import Settings  # noqa: E402
from fhir_server.interactions.access import scoped  # noqa: E402
from fhir_server.interactions.context import Context  # noqa: E402
from fhir_server.search.parse import parse_search  # noqa: E402
from fhir_server.search.plan import ParamIn, ReferenceMatch, SearchPlan  # noqa: E402
from fhir_server.storage.sqlite import SqliteStore  # noqa: E402
from smart_auth.context import AccessContext  # noqa: E402
from smart_auth.proxy import Link  # noqa: E402
from smart_auth.records import Role  # noqa: E402
from smart_auth.scopes import Permission, parse_scopes  # noqa: E402
from smart_auth.sqlite_store import audit_path  # noqa: E402
from smart_auth.testing import issue_token  # noqa: E402

FHIR_JSON = bench.FHIR_JSON
BASE_URL = bench.BASE_URL
SCOPED_MAX = 1.20
AUDIT_MAX = 1.10
SYSTEM_SCOPE = "system/*.rs"
PATIENT_SCOPE = "patient/*.rs"
say = bench.say
percentile = bench.percentile
verdict = bench.verdict
Params = list[tuple[str, str]]


# -- whom the requests are about -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """A Patient of the data set, what the probes need about it, and its own token."""

    patient: data.PatientInfo
    observations: tuple[str, ...]
    token: str = ""

    @property
    def id(self) -> str:
        return self.patient.id

    @property
    def dod(self) -> str:
        return f"{data.DOD_ID_SYSTEM}|{self.patient.edipi}"


def pick_targets(ds: bench.DataSet, count: int, seed: int) -> list[Target]:
    rng = random.Random(f"{seed}:access-targets:{ds.size}")
    indexes = rng.sample(range(len(ds.patients)), min(count, len(ds.patients)))
    out = []
    for index in indexes:
        unit = data.unit(ds.seed, index, ds.layout)
        observations = tuple(r["id"] for r in unit if r["resourceType"] == "Observation")
        out.append(Target(ds.patients[index], observations))
    return out


def beneficiary_token(database_url: str, target: Target) -> str:
    return issue_token(
        database_url,
        scope=PATIENT_SCOPE,
        client_id="portal",
        role=Role.BENEFICIARY,
        username=f"bench.{target.patient.edipi}",
        patient=target.id,
        links=(Link(target.id, "self"),),
    )


def beneficiary_access(target: Target) -> AccessContext:
    """The access context the guard builds from :func:`beneficiary_token`'s grant."""
    return AccessContext(
        subject=f"bench.{target.patient.edipi}",
        unrestricted=False,
        scopes=parse_scopes(PATIENT_SCOPE),
        client_id="portal",
        patient=target.id,
        role=Role.BENEFICIARY,
        links=(Link(target.id, "self"),),
    )


# -- the probes ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    name: str
    shape: str
    kind: str  # "search" or "read"
    make: Callable[[random.Random, Target], tuple[str, Params]]  # -> path, query


def _day(rng: random.Random, first_year: int, last_year: int) -> str:
    return f"{rng.randint(first_year, last_year)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


PROBES: tuple[Probe, ...] = (
    Probe(
        "appointments",
        "Appointment?patient=X&date=ge<date>&_sort=date",
        "search",
        lambda rng, t: (
            "/Appointment",
            [("patient", t.id), ("date", f"ge{_day(rng, 2024, 2027)}"), ("_sort", "date")],
        ),
    ),
    Probe(
        "active-meds",
        "MedicationRequest?patient=X&status=active",
        "search",
        lambda rng, t: ("/MedicationRequest", [("patient", t.id), ("status", "active")]),
    ),
    Probe(
        "inbox",
        "Communication?recipient=Patient/X&_sort=-sent",
        "search",
        lambda rng, t: ("/Communication", [("recipient", f"Patient/{t.id}"), ("_sort", "-sent")]),
    ),
    Probe(
        "observations",
        "Observation?patient=X",
        "search",
        lambda rng, t: ("/Observation", [("patient", t.id)]),
    ),
    Probe(
        "patient-by-id",
        "Patient?_id=X",
        "search",
        lambda rng, t: ("/Patient", [("_id", t.id)]),
    ),
    Probe(
        "revinclude",
        "Patient?identifier=<system>|<edipi of X>&_revinclude=Appointment:patient",
        "search",
        lambda rng, t: (
            "/Patient",
            [("identifier", t.dod), ("_revinclude", "Appointment:patient")],
        ),
    ),
    Probe(
        "chained",
        "Appointment?patient.identifier=<system>|<edipi of X>",
        "search",
        lambda rng, t: ("/Appointment", [("patient.identifier", t.dod)]),
    ),
    Probe(
        "read-patient",
        "GET Patient/X",
        "read",
        lambda rng, t: (f"/Patient/{t.id}", []),
    ),
    Probe(
        "read-observation",
        "GET Observation/<one of X's>",
        "read",
        lambda rng, t: (f"/Observation/{rng.choice(t.observations)}", []),
    ),
)

AUDIT_MIX = ("read-patient", "read-observation", "appointments", "active-meds", "inbox")
"""The probes the audit phase cycles through (with the system token)."""


def answer(status: int, body: bytes) -> tuple[Any, ...]:
    """What must be the same scoped and unscoped: the status and what came back."""
    if status != 200:
        return ("status", status)
    doc = orjson.loads(body)
    if doc.get("resourceType") == "Bundle":
        entries = tuple(
            (
                e.get("resource", {}).get("resourceType"),
                e.get("resource", {}).get("id"),
                e.get("search", {}).get("mode"),
            )
            for e in doc.get("entry", [])
        )
        return ("bundle", doc.get("total"), entries)
    return (
        "resource",
        doc.get("resourceType"),
        doc.get("id"),
        doc.get("meta", {}).get("versionId"),
    )


def matches_in(key: tuple[Any, ...]) -> int:
    return (
        sum(1 for e in key[2] if e[2] == "match") if key[0] == "bundle" else int(key[0] != "status")
    )


@dataclass
class PairTiming:
    """One probe: the a (first) and b (second) side of every pair, in ms."""

    a_ms: list[float] = field(default_factory=list)
    b_ms: list[float] = field(default_factory=list)
    pairs: int = 0
    different: int = 0
    errors: int = 0
    first_problem: str = ""
    matches: list[int] = field(default_factory=list)

    def note(self, problem: str) -> None:
        self.first_problem = self.first_problem or problem

    def ratio(self, stat: Callable[[list[float]], float]) -> float:
        a = stat(self.a_ms)
        return stat(self.b_ms) / a if a > 0 else float("nan")


def p50(values: list[float]) -> float:
    return percentile(values, 0.5)


def p95(values: list[float]) -> float:
    return percentile(values, 0.95)


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else float("nan")


def check_pair(timing: PairTiming, a: tuple[int, bytes], b: tuple[int, bytes]) -> None:
    key_a, key_b = answer(*a), answer(*b)
    if a[0] != 200 or b[0] != 200:
        timing.errors += 1
        timing.note(f"status {a[0]} / {b[0]}: {(a[1] if a[0] != 200 else b[1])[:300]!r}")
    elif key_a != key_b:
        timing.different += 1
        timing.note(f"answers differ: {str(key_a)[:200]} vs {str(key_b)[:200]}")
    else:
        timing.matches.append(matches_in(key_a))


# -- 1. scoped vs unscoped through HTTP ------------------------------------------------------


class AuthServer(bench.Server):
    """``mhs-fhir serve`` as bench/search.py starts it, but with authorization on."""

    def command(self) -> list[str]:
        return [arg for arg in super().command() if arg != "--insecure-no-auth"]


def copy_database(source: Path, target: Path) -> None:
    """A consistent copy (SQLite's backup API), whatever WAL the source has."""
    bench._remove_db(target)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()


def measure_scoping(
    server: bench.Server,
    probe: Probe,
    targets: Sequence[Target],
    system_token: str,
    *,
    requests: int,
    warmup: int,
    seed: int,
    budget: float,
) -> PairTiming:
    """Pairs of (unscoped, scoped) requests, order alternating; a = unscoped, b = scoped."""
    rng = random.Random(f"{seed}:access:{probe.name}")
    timing = PairTiming()
    begun = time.monotonic()

    def send(
        client: httpx.Client, path: str, params: Params, token: str
    ) -> tuple[float, int, bytes]:
        started = time.perf_counter()
        response = client.get(path, params=params, headers={"Authorization": f"Bearer {token}"})
        body = response.content
        return (time.perf_counter() - started) * 1000, response.status_code, body

    headers = {"Accept": FHIR_JSON}
    with httpx.Client(base_url=server.base_url, timeout=120.0, headers=headers) as client:
        for i in range(warmup + requests):
            measured = i >= warmup
            elapsed = time.monotonic() - begun
            if not measured and elapsed > budget * 0.2:
                continue
            if measured and elapsed > budget and timing.pairs >= 5:
                break
            target = rng.choice(targets)
            path, params = probe.make(rng, target)
            sides = [(system_token, "a"), (target.token, "b")]
            if i % 2:
                sides.reverse()
            got: dict[str, tuple[float, int, bytes]] = {}
            try:
                for token, side in sides:
                    got[side] = send(client, path, params, token)
            except httpx.HTTPError as error:
                timing.errors += 1
                timing.note(f"{type(error).__name__}: {error}")
                if timing.errors >= 5:
                    break
                continue
            if not measured:
                continue
            timing.pairs += 1
            timing.a_ms.append(got["a"][0])
            timing.b_ms.append(got["b"][0])
            check_pair(timing, got["a"][1:], got["b"][1:])
    return timing


def scoping_phase(
    ds: bench.DataSet, workdir: Path, args: argparse.Namespace, logs: Path
) -> tuple[dict[str, PairTiming], list[Target]]:
    db = workdir / "scoped.db"
    started = time.monotonic()
    copy_database(ds.path, db)
    url = f"sqlite:///{db}"
    server = AuthServer(url, logs / f"server-access-{ds.size}.log")
    bench.mark_indexed(db, server.base_url)
    system_token = issue_token(url, scope=SYSTEM_SCOPE, client_id="bench-system")
    targets = [
        Target(t.patient, t.observations, beneficiary_token(url, t))
        for t in pick_targets(ds, args.patients, args.seed)
    ]
    say(
        f"  copied the database and minted {len(targets) + 1} tokens"
        f" in {time.monotonic() - started:.1f} s"
    )
    out: dict[str, PairTiming] = {}
    started = time.monotonic()
    with server:
        say(
            f"  server pid {server.proc.pid if server.proc else '?'} on port {server.port}"
            f" (authorization on), ready in {time.monotonic() - started:.1f} s"
        )
        for probe in PROBES:
            timing = measure_scoping(
                server,
                probe,
                targets,
                system_token,
                requests=args.requests,
                warmup=args.warmup,
                seed=args.seed,
                budget=args.budget,
            )
            out[probe.name] = timing
            problems = timing.errors + timing.different
            say(
                f"    {probe.name:<17} unscoped p50 {p50(timing.a_ms):6.2f} ms"
                f"  scoped p50 {p50(timing.b_ms):6.2f} ms  ({timing.pairs} pairs)"
                + (f"  ({problems} problems: {timing.first_problem})" if problems else "")
            )
    return out, targets


def explain_scoping(db: Path, targets: Sequence[Target], seed: int) -> list[str]:
    """EXPLAIN QUERY PLAN of each search probe's SQL, without and with the restriction."""
    lines: list[str] = []

    async def run() -> None:
        store = SqliteStore(str(db))
        await store.open()
        try:
            rng = random.Random(f"{seed}:access-explain")
            target = targets[0]
            ctx = Context(store=store, access=beneficiary_access(target), base_url=BASE_URL)
            for probe in PROBES:
                if probe.kind != "search":
                    continue
                path, params = probe.make(rng, target)
                type_name = path.strip("/")
                plan = parse_search([type_name], params, base_url=BASE_URL, strict=False).plan
                narrowed = scoped(ctx, Permission.SEARCH, plan)
                lines.append(f"  [{probe.name}] {type_name}?{httpx.QueryParams(params)}")
                lines.append(f"    scoped plan: {narrowed.explain()}")
                lines.append("    unscoped SQL:")
                lines.extend(f"      {line}" for line in store.explain(plan))
                lines.append("    scoped SQL:")
                lines.extend(f"      {line}" for line in store.explain(narrowed))
                if any(name == "_revinclude" for name, _ in params):
                    follow = SearchPlan(
                        types=("Appointment",),
                        conditions=(
                            ParamIn(
                                "Appointment.patient",
                                "reference",
                                (ReferenceMatch("Patient", target.id),),
                            ),
                        ),
                        count=1000,
                    )
                    lines.append("    _revinclude follow-up, scoped (Permission.READ):")
                    lines.extend(
                        f"      {line}"
                        for line in store.explain(scoped(ctx, Permission.READ, follow))
                    )
        finally:
            await store.close()

    asyncio.run(run())
    return lines


def report_scoping(results: dict[str, PairTiming]) -> list[tuple[str, bool]]:
    say()
    say("== scoped vs unscoped, through HTTP (ms; pairs interleaved, order alternating) ==")
    say("  unscoped: system token system/*.rs; scoped: X's own beneficiary token patient/*.rs")
    head = (
        f"{'probe':<17} {'n':>4} | {'unscoped p50':>12} {'p95':>6} {'mean':>6} |"
        f" {'scoped p50':>10} {'p95':>6} {'mean':>6} | {'ratio p50':>9} {'mean':>6} |"
        f" {'matches':>7} | same | verdict"
    )
    say(head)
    say("-" * len(head))
    verdicts: list[tuple[str, bool]] = []
    for probe in PROBES:
        t = results[probe.name]
        r50, rmean = t.ratio(p50), t.ratio(mean)
        fast = r50 <= SCOPED_MAX and rmean <= SCOPED_MAX
        same = t.different == 0 and t.errors == 0 and t.pairs > 0
        say(
            f"{probe.name:<17} {t.pairs:>4} | {p50(t.a_ms):12.2f} {p95(t.a_ms):6.2f}"
            f" {mean(t.a_ms):6.2f} | {p50(t.b_ms):10.2f} {p95(t.b_ms):6.2f} {mean(t.b_ms):6.2f} |"
            f" {r50:8.3f}x {rmean:5.3f}x | {mean([float(m) for m in t.matches]):7.1f} |"
            f" {'yes' if same else 'NO ':<4} | {verdict(fast)}"
        )
        verdicts.append(
            (
                f"{probe.name} ({probe.kind}): scoped/unscoped p50 {r50:.3f}x, mean {rmean:.3f}x"
                f" <= {SCOPED_MAX:.2f}x",
                fast,
            )
        )
        verdicts.append(
            (
                f"{probe.name}: same answer scoped and unscoped in"
                f" {t.pairs - t.different - t.errors} of {t.pairs} pairs"
                + (f" ({t.first_problem})" if t.first_problem else ""),
                same,
            )
        )
    say("  matches: mean entries with search.mode match (reads: 1)")
    say()
    say("probes:")
    for probe in PROBES:
        say(f"  {probe.name:<17} {probe.shape}  [{probe.kind}]")
    return verdicts


# -- 2. audit on vs off, in-process ------------------------------------------------------------


@dataclass
class FlushStats:
    flushes: int = 0
    records: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0


@dataclass
class AuditResult:
    by_kind: dict[str, PairTiming]
    overall: PairTiming
    flushes: FlushStats  # during the measured requests
    audited_requests: int  # every request sent to the audited app (warm-ups too)
    rows_audited: int
    rows_unaudited: int


def instrument(trail: Any) -> FlushStats:
    """Count the trail's batched writes (wall time, and CPU time of the worker thread)."""
    stats = FlushStats()
    store = trail.store
    write = store.append_audit

    def timed(records: list[Any]) -> None:
        wall, cpu = time.perf_counter(), time.thread_time()
        write(records)
        stats.flushes += 1
        stats.records += len(records)
        stats.wall_s += time.perf_counter() - wall
        stats.cpu_s += time.thread_time() - cpu

    store.append_audit = timed
    return stats


def audit_rows(db: Path) -> int:
    """Rows in the audit trail's own file next to ``db`` (smart_auth.sqlite_store)."""
    trail = Path(audit_path(str(db)))
    if not trail.exists():
        return 0
    conn = sqlite3.connect(f"file:{trail}?mode=ro", uri=True)
    try:
        return int(conn.execute("SELECT count(*) FROM audit").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()


async def measure_audit(
    apps: tuple[Any, Any],
    tokens: tuple[str, str],
    targets: Sequence[Target],
    *,
    requests: int,
    warmup: int,
    seed: int,
) -> tuple[dict[str, PairTiming], PairTiming, FlushStats, int]:
    """a = audited app, b = the app whose trail is None; order alternating."""
    audited, unaudited = apps
    async with contextlib.AsyncExitStack() as stack:
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
        unaudited.state.audit_trail = None  # its middleware now records nothing
        stats = instrument(audited.state.audit_trail)
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://127.0.0.1:8080/fhir",
                    headers={"Accept": FHIR_JSON, "Authorization": f"Bearer {token}"},
                    timeout=120.0,
                )
            )
            for app, token in zip(apps, tokens, strict=True)
        ]
        probes = {p.name: p for p in PROBES}
        mix = [probes[name] for name in AUDIT_MIX]
        by_kind = {p.name: PairTiming() for p in mix}
        overall = PairTiming()
        rng = random.Random(f"{seed}:audit")
        sent = 0
        flushes_before = FlushStats()
        for i in range(warmup + requests):
            if i == warmup:
                flushes_before = FlushStats(**vars(stats))
            probe = mix[i % len(mix)]
            path, params = probe.make(rng, rng.choice(targets))
            order = [0, 1] if (i // len(mix)) % 2 == 0 else [1, 0]
            got: dict[int, tuple[float, int, bytes]] = {}
            for side in order:
                started = time.perf_counter()
                response = await clients[side].get(path, params=params)
                got[side] = (
                    (time.perf_counter() - started) * 1000,
                    response.status_code,
                    response.content,
                )
            sent += 1
            if i < warmup:
                continue
            for timing in (by_kind[probe.name], overall):
                timing.pairs += 1
                timing.a_ms.append(got[0][0])
                timing.b_ms.append(got[1][0])
                check_pair(timing, got[0][1:], got[1][1:])
        during = FlushStats(
            stats.flushes - flushes_before.flushes,
            stats.records - flushes_before.records,
            stats.wall_s - flushes_before.wall_s,
            stats.cpu_s - flushes_before.cpu_s,
        )
    return by_kind, overall, during, sent


def audit_phase(
    ds: bench.DataSet, workdir: Path, targets: Sequence[Target], args: argparse.Namespace
) -> AuditResult:
    started = time.monotonic()
    dbs = (workdir / "audited.db", workdir / "unaudited.db")
    tokens = []
    apps = []
    for db in dbs:
        copy_database(ds.path, db)
        bench.mark_indexed(db, BASE_URL)
        url = f"sqlite:///{db}"
        tokens.append(issue_token(url, scope=SYSTEM_SCOPE, client_id="bench-system"))
        apps.append(create_app(Settings(database_url=url, base_url=BASE_URL, log_level="warning")))
    say(f"  two copies of the database, two apps, in {time.monotonic() - started:.1f} s")
    by_kind, overall, flushes, sent = asyncio.run(
        measure_audit(
            (apps[0], apps[1]),
            (tokens[0], tokens[1]),
            targets,
            requests=args.audit_requests,
            warmup=args.audit_warmup,
            seed=args.seed,
        )
    )
    return AuditResult(
        by_kind=by_kind,
        overall=overall,
        flushes=flushes,
        audited_requests=sent,
        rows_audited=audit_rows(dbs[0]),
        rows_unaudited=audit_rows(dbs[1]),
    )


def report_audit(result: AuditResult) -> list[tuple[str, bool]]:
    say()
    say("== audit on vs off, in-process through ASGITransport (ms per request; interleaved) ==")
    say("  audited: the app as it starts; not audited: the same app with app.state.audit_trail")
    say("  None after start-up (the middleware stays, recording and flushing stop)")
    head = (
        f"{'kind':<17} {'n':>5} | {'audited mean':>12} {'p50':>6} |"
        f" {'not audited mean':>16} {'p50':>6} | {'ratio mean':>10} {'p50':>6} | same"
    )
    say(head)
    say("-" * len(head))
    rows = [*result.by_kind.items(), ("all (the mix)", result.overall)]
    for name, t in rows:
        same = t.different == 0 and t.errors == 0
        say(
            f"{name:<17} {t.pairs:>5} | {mean(t.a_ms):12.3f} {p50(t.a_ms):6.3f} |"
            f" {mean(t.b_ms):16.3f} {p50(t.b_ms):6.3f} |"
            f" {mean(t.a_ms) / mean(t.b_ms):9.3f}x {p50(t.a_ms) / p50(t.b_ms):5.3f}x |"
            f" {'yes' if same else 'NO'}" + (f" ({t.first_problem})" if t.first_problem else "")
        )
    t = result.overall
    f = result.flushes
    per_request_us = f.cpu_s / t.pairs * 1e6 if t.pairs else float("nan")
    say(
        f"  trail writes during the measured requests: {f.flushes} flushes, {f.records} records,"
        f" {f.wall_s * 1000:.1f} ms wall, {f.cpu_s * 1000:.1f} ms CPU in the worker thread"
        f" ({per_request_us:.1f} µs CPU per audited request)"
    )
    say(
        f"  audit rows stored: audited app {result.rows_audited:,}"
        f" (of {result.audited_requests:,} requests sent to it),"
        f" not audited app {result.rows_unaudited:,}"
    )
    ratio = mean(t.a_ms) / mean(t.b_ms)
    bound = (mean(t.a_ms) + per_request_us / 1000) / mean(t.b_ms)
    say(
        f"  bound charging every flush's CPU to the audited app: {bound:.3f}x"
        " (information: part of that CPU is already in the measured times of either app)"
    )
    recorded = result.rows_audited >= result.audited_requests and result.rows_unaudited == 0
    return [
        (
            f"audit: audited/not audited mean per request {ratio:.3f}x"
            f" (p50 {p50(t.a_ms) / p50(t.b_ms):.3f}x) <= {AUDIT_MAX:.2f}x",
            ratio <= AUDIT_MAX,
        ),
        (
            f"audit: the audited app stored a record per request ({result.rows_audited:,} for"
            f" {result.audited_requests:,}), the other none ({result.rows_unaudited:,})",
            recorded,
        ),
    ]


# -- the run ---------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/access.py",
        description=__doc__.split("What it measures")[0].strip() if __doc__ else None,
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--size", type=int, default=100_000, help="data set size in resources (%(default)s)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10k resources, fewer requests (a smoke run)",
    )
    parser.add_argument(
        "--requests", type=int, default=500, help="measured pairs per probe (%(default)s)"
    )
    parser.add_argument(
        "--warmup", type=int, default=30, help="warm-up pairs per probe (%(default)s)"
    )
    parser.add_argument(
        "--patients",
        type=int,
        default=100,
        help="random Patients with their own token, the requests' X (%(default)s)",
    )
    parser.add_argument(
        "--audit-requests",
        type=int,
        default=8000,
        help="measured pairs in the audit phase (%(default)s)",
    )
    parser.add_argument(
        "--audit-warmup",
        type=int,
        default=300,
        help="warm-up pairs in the audit phase (%(default)s)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=60.0,
        help="seconds per probe; a slower probe is measured on fewer pairs (>= 5), n shown"
        " (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1, help="data and parameter seed")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path("/tmp/mhs-bench"),
        help="bench/search.py's database cache (%(default)s)",
    )
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached database")
    parser.add_argument(
        "--batch", type=int, default=2000, help="writes per SqliteStore.write call (%(default)s)"
    )
    parser.add_argument(
        "--workers", type=int, default=0, help="processes building writes (default: cores)"
    )
    parser.add_argument("--no-explain", action="store_true", help="skip the query plans")
    parser.add_argument("--no-audit", action="store_true", help="skip the audit phase")
    args = parser.parse_args(argv)
    if args.quick:
        args.size = 10_000
        args.requests = min(args.requests, 60)
        args.warmup = min(args.warmup, 10)
        args.patients = min(args.patients, 30)
        args.audit_requests = min(args.audit_requests, 800)
        args.audit_warmup = min(args.audit_warmup, 100)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    say("== mhs-fhir access benchmark (bench/access.py) ==")
    say("machine:")
    for line in bench.machine_lines():
        say(line)
    say(f"code: {ROOT}")
    say(
        f"size: {args.size:,}; {args.requests} pairs per probe after {args.warmup} warm-ups,"
        f" {args.patients} patients; audit: {args.audit_requests} pairs after"
        f" {args.audit_warmup}; seed {args.seed}"
    )
    say()
    say("== data set ==")
    ds = bench.ensure_data_set(
        args.size,
        seed=args.seed,
        cache_dir=args.cache_dir,
        batch=args.batch,
        workers=max(1, args.workers or os.cpu_count() or 1),
        rebuild=args.rebuild,
    )
    how = (
        "reused from cache"
        if ds.build_seconds is None
        else f"built in {ds.build_seconds:.0f} s ({ds.size / ds.build_seconds:,.0f} resources/s)"
    )
    say(f"  {ds.size:>9,} resources: {ds.path} ({bench.file_mb(ds.path):,.0f} MiB), {how}")
    say("             " + ", ".join(f"{t} {n:,}" for t, n in sorted(ds.counts.items())))
    logs = args.cache_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    verdicts: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory(prefix="mhs-access-bench-", dir=args.cache_dir) as tmp:
        workdir = Path(tmp)
        say()
        say("== 1. scoped vs unscoped through HTTP ==")
        scoping, targets = scoping_phase(ds, workdir, args, logs)
        verdicts += report_scoping(scoping)
        if not args.no_explain:
            say()
            say(f"== query plans at {ds.size:,} resources (EXPLAIN QUERY PLAN) ==")
            for line in explain_scoping(workdir / "scoped.db", targets, args.seed):
                say(line)
        bench._remove_db(workdir / "scoped.db")
        if not args.no_audit:
            say()
            say("== 2. audit on vs off, in-process ==")
            verdicts += report_audit(audit_phase(ds, workdir, targets, args))
    say()
    say("== targets ==")
    for text, ok in verdicts:
        say(f"  {verdict(ok)}  {text}")
    failed = sum(not ok for _, ok in verdicts)
    say(f"  targets met: {len(verdicts) - failed} of {len(verdicts)}")
    say(f"(total run time {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
