"""The embedded SQLite engine: WAL, durable commits, one writer thread with group commit.

- Point reads (read, vread) run on the caller's thread: a primary-key lookup costs less than
  a hop to another thread. Multi-row queries (history, search) run in worker threads, each
  with its own connection.
- Writes go to one writer thread. It takes every job waiting in its queue, applies them in
  one transaction and commits once (group commit): a job whose compare-and-swap fails is
  rolled back alone (the batch runs again with a SAVEPOINT per job), the others commit, and
  no caller hears of success before the commit is durable (``synchronous=FULL``). A
  transaction (``_Session``) is such a job that lends the writer's connection to the
  caller's thread until it ends.
- Index rows live in one table per parameter type; parameter keys are interned as small
  integers (``params``), registered before any job of a batch runs.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.storage.records import (
    KIND_OF_ROW,
    CompositeRow,
    DateRow,
    HistoryQuery,
    IndexEntry,
    IndexRow,
    Method,
    NumberRow,
    ReferenceRow,
    SearchPage,
    StorageError,
    StoredVersion,
    StringRow,
    TokenRow,
    UriRow,
    VersionConflict,
    Write,
)
from fhir_server.storage.schema import INDEX_TABLES, MIGRATIONS, SCHEMA_VERSION
from fhir_server.storage.sqlite_search import COMPONENT_COLUMNS, Compiler, Fragment, SizeOf

log = logging.getLogger(__name__)

T = TypeVar("T")
_GROUP_COMMIT_MAX = 128
PAGE_CACHE_BYTES = 4 * 2**20
"""SQLite's page cache, per reading connection (``PRAGMA cache_size``)."""
BULK_WRITER_CACHE_BYTES = 32 * 2**20
"""The writer's page cache in a store opened for an import (``bulk``). Every write inserts
index rows at scattered places of the index B-trees; with their inner pages cached, an
insert reads one leaf (an eligibility import of 10k families: SQL time 25.7 -> 18.8 s against
4 MiB). The server's writer keeps ``PAGE_CACHE_BYTES``: its writes are few and small, and its
memory stays flat."""
MMAP_BYTES = 0
"""How much of the file SQLite maps into memory, per connection (``PRAGMA mmap_size``)."""
_LOCK_WAIT = 30.0
_LOCK_POLL = 0.001

_READ_CURRENT = """
SELECT r.version, r.last_updated, v.method, v.body, v.seq
FROM resources r JOIN versions v ON v.rid = r.rid AND v.version = r.version
WHERE r.type = ? AND r.id = ?
"""
_READ_VERSION = """
SELECT v.version, v.last_updated, v.method, v.body, v.seq
FROM resources r JOIN versions v ON v.rid = r.rid
WHERE r.type = ? AND r.id = ? AND v.version = ?
"""
_INSERT = {
    StringRow: "INSERT INTO idx_string (rid, pid, norm, exact) VALUES (?, ?, ?, ?)",
    TokenRow: "INSERT INTO idx_token (rid, pid, system, code) VALUES (?, ?, ?, ?)",
    ReferenceRow: "INSERT INTO idx_reference (rid, pid, type, id, url) VALUES (?, ?, ?, ?, ?)",
    DateRow: "INSERT INTO idx_date (rid, pid, low, high) VALUES (?, ?, ?, ?)",
    NumberRow: "INSERT INTO idx_number (rid, pid, value, system, code, unit, high)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)",
    UriRow: "INSERT INTO idx_uri (rid, pid, uri) VALUES (?, ?, ?)",
    CompositeRow: "INSERT INTO idx_composite VALUES (" + ", ".join("?" * 17) + ")",
}


class SchemaTooNew(StorageError):
    """The database was written by a newer build; opening it could corrupt it."""


def _connect(path: str, *, cache_bytes: int = PAGE_CACHE_BYTES) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    # A small page cache per connection and no memory map: the operating system's page
    # cache holds the hot part of the file once for every connection and process, while a
    # cache or map per connection grows the server's memory with the database (searches at
    # 1M resources measured as fast either way; bench/README.md).
    conn.execute(f"PRAGMA cache_size = -{cache_bytes // 1024}")
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    return conn


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the schema to ``SCHEMA_VERSION``; return the version found before."""
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise SchemaTooNew(
            f"database schema version {found} is newer than this build supports "
            f"({SCHEMA_VERSION}); upgrade mhs-fhir"
        )
    for version in range(found, SCHEMA_VERSION):
        log.info("migrating database schema %d -> %d", version, version + 1)
        try:
            conn.executescript(
                f"BEGIN IMMEDIATE; {MIGRATIONS[version]}; PRAGMA user_version = {version + 1};"
                " COMMIT;"
            )
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise StorageError(
                f"migrating the database schema {version} -> {version + 1} failed ({exc});"
                f" the database is left at version {version}"
            ) from exc
    return found


class _Params:
    """Parameter key <-> id, shared by all threads; the writer registers new keys."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        self.ids.update(conn.execute("SELECT key, pid FROM params").fetchall())

    def register(self, conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, int]:
        """Ids for ``keys``, adding new ones inside the caller's transaction."""
        fresh: dict[str, int] = {}
        for key in keys:
            if key in self.ids or key in fresh:
                continue
            conn.execute("INSERT OR IGNORE INTO params (key) VALUES (?)", (key,))
            fresh[key] = conn.execute("SELECT pid FROM params WHERE key = ?", (key,)).fetchone()[0]
        return fresh


def _begin_write(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, trying again every millisecond while another process (an import
    next to the server) holds the write lock, for up to ``_LOCK_WAIT`` seconds.

    SQLite's own busy handler sleeps longer and longer between tries, up to 100 ms, so a
    writer that frees the lock for a few ms between its transactions could keep it through
    many of them while this one sleeps. ``conn`` must have ``busy_timeout = 0``.
    """
    deadline = time.monotonic() + _LOCK_WAIT
    while True:
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
            time.sleep(_LOCK_POLL)


class _Job(Generic[T]):
    """Work for the writer thread. ``keys`` are registered before any job of the batch runs;
    a job that registers more itself (a session) records them in ``fresh``. ``replayable``:
    running the work again after a rollback does the same (a session's does not: it lends the
    connection to its caller)."""

    __slots__ = ("fresh", "future", "keys", "loop", "replayable", "work")

    def __init__(
        self,
        work: Callable[[sqlite3.Connection, dict[str, int]], T],
        keys: set[str],
        *,
        replayable: bool = True,
    ):
        self.work = work
        self.keys = keys
        self.replayable = replayable
        self.fresh: dict[str, int] = {}
        self.loop: asyncio.AbstractEventLoop | None = None  # where the caller waits: _submit
        self.future: asyncio.Future[T] | None = None


class _Writer(threading.Thread):
    """Owns the only writing connection; see the module docstring for group commit."""

    def __init__(self, path: str, params: _Params, cache_bytes: int) -> None:
        super().__init__(name="sqlite-writer", daemon=True)
        self._path = path
        self._params = params
        self._cache_bytes = cache_bytes
        self.jobs: queue.SimpleQueue[_Job[Any] | None] = queue.SimpleQueue()

    def run(self) -> None:
        conn = _connect(self._path, cache_bytes=self._cache_bytes)
        conn.execute("PRAGMA busy_timeout = 0")  # _begin_write waits for the lock itself
        try:
            stop = False
            while not stop:
                first = self.jobs.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < _GROUP_COMMIT_MAX:
                    try:
                        nxt = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                self._commit(conn, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job[Any]]) -> None:
        """The batch in one transaction, a failed job failing alone.

        Jobs run without savepoints at first: a savepoint copies every page a job is first
        to touch (165 of the 365 µs SQLite spends on a Patient create). When a job fails,
        the transaction is rolled back and the batch runs again with a savepoint per job.
        A batch of one needs none; a session cannot run twice, so a batch of more with one
        takes savepoints from the start."""
        guarded = len(batch) > 1 and not all(job.replayable for job in batch)
        if not self._run(conn, batch, guarded=guarded):
            self._run(conn, batch, guarded=True)

    def _run(self, conn: sqlite3.Connection, batch: list[_Job[Any]], *, guarded: bool) -> bool:
        """One try at the batch; False when it must be tried again with savepoints (a job
        failed without one, the transaction is rolled back and nobody has been told)."""
        outcomes: Outcomes = []
        try:
            _begin_write(conn)
            fresh = self._params.register(conn, {k for job in batch for k in job.keys})
            pids = {**self._params.ids, **fresh} if fresh else self._params.ids
            for job in batch:
                if guarded:
                    conn.execute("SAVEPOINT job")
                try:
                    result = job.work(conn, pids)
                except BaseException as exc:  # one job failing must not fail the others
                    if not guarded:
                        if conn.in_transaction:  # some errors end it themselves
                            conn.execute("ROLLBACK")
                        if len(batch) > 1:
                            return False
                        _tell([(job, None, exc)])
                        return True
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((job, None, exc))
                else:
                    if guarded:
                        conn.execute("RELEASE job")
                    outcomes.append((job, result, None))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("write transaction failed; %d jobs rolled back", len(batch))
            failed = StorageError(f"write failed: {exc}")
            _tell([(job, None, failed) for job in batch])
            return True
        self._params.ids.update(fresh)
        for job, _, error in outcomes:
            if error is None:
                self._params.ids.update(job.fresh)
        _tell(outcomes)
        return True


Outcomes = list[tuple[_Job[Any], Any, BaseException | None]]


def _tell(outcomes: Outcomes) -> None:
    """Hand each job its result (or error) on the event loop its caller waits on: one wake-up
    of each loop for the whole batch (one per job cost a write to the loop's self-pipe and
    a turn of the loop each)."""
    by_loop: dict[asyncio.AbstractEventLoop, Outcomes] = {}
    for outcome in outcomes:
        loop = outcome[0].loop
        assert loop is not None, "jobs are submitted by SqliteStore._submit"
        by_loop.setdefault(loop, []).append(outcome)
    for loop, told in by_loop.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(_settle, told)


def _settle(outcomes: Outcomes) -> None:
    for job, result, error in outcomes:
        future = job.future
        if future is None or future.done():  # the caller gave up (cancelled)
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


def _composite_values(row: CompositeRow) -> tuple[Any, ...]:
    """The 15 generic component columns of ``idx_composite`` (three components of five)."""
    out: list[Any] = []
    for part in (*row.parts, None, None, None)[:3]:
        slots = dict.fromkeys(("a", "b", "n", "lo", "hi"))
        if part is not None:
            layout = COMPONENT_COLUMNS[KIND_OF_ROW[type(part)]]
            for name, column in layout.items():
                if name != "top":  # a composite keeps one number per component
                    slots[column] = getattr(part, name)
        out.extend(slots.values())
    return tuple(out)


def _insert_index(
    conn: sqlite3.Connection, rid: int, rows: Sequence[IndexRow], pids: dict[str, int]
) -> None:
    grouped: dict[type, list[tuple[Any, ...]]] = {}
    for row in rows:  # a row is its columns in order, its parameter key first
        values = _composite_values(row) if isinstance(row, CompositeRow) else row[1:]
        grouped.setdefault(type(row), []).append((rid, pids[row[0]], *values))
    for row_type, values_list in grouped.items():
        conn.executemany(_INSERT[row_type], values_list)


def _delete_index(conn: sqlite3.Connection, rid: int) -> None:
    for table in INDEX_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))


def _apply(
    conn: sqlite3.Connection, writes: Sequence[Write], pids: dict[str, int]
) -> list[StoredVersion]:
    out: list[StoredVersion] = []
    for w in writes:
        if w.version != (w.expected_version or 0) + 1:
            raise ValueError(f"{w.type}/{w.id}: version {w.version} after {w.expected_version}")
        deleted = int(w.body is None)
        if w.expected_version is None:
            try:
                rid = conn.execute(
                    "INSERT INTO resources (type, id, version, last_updated, deleted)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (w.type, w.id, w.version, w.last_updated, deleted),
                ).lastrowid
            except sqlite3.IntegrityError:
                raise VersionConflict(w.type, w.id, w.expected_version) from None
        else:
            row = conn.execute(
                "UPDATE resources SET version = ?, last_updated = ?, deleted = ?"
                " WHERE type = ? AND id = ? AND version = ? RETURNING rid",
                (w.version, w.last_updated, deleted, w.type, w.id, w.expected_version),
            ).fetchone()
            if row is None:
                raise VersionConflict(w.type, w.id, w.expected_version)
            rid = row[0]
            _delete_index(conn, rid)
        assert rid is not None
        seq = conn.execute(
            "INSERT INTO versions (rid, version, last_updated, method, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (rid, w.version, w.last_updated, w.method, w.body),
        ).lastrowid
        if w.index and w.body is not None:
            _insert_index(conn, rid, w.index, pids)
        out.append(
            StoredVersion(
                type=w.type,
                id=w.id,
                version=w.version,
                last_updated=w.last_updated,
                method=w.method,
                body=w.body,
                seq=int(seq or 0),
            )
        )
    return out


def _version(type: str, id: str, row: Sequence[Any]) -> StoredVersion:
    version, last_updated, method, body, seq = row
    return StoredVersion(type, id, version, last_updated, cast(Method, method), body, seq)


def _pid_lookup(conn: sqlite3.Connection, known: dict[str, int]) -> Callable[[str], int | None]:
    """Parameter ids from ``known``, else as ``conn`` sees them (and then remembered in
    ``known``): a session passes its own map, so that it also finds the keys an earlier job
    of its batch registered (committed with it, not yet in the shared map)."""

    def pid_of(key: str) -> int | None:
        pid = known.get(key)
        if pid is None:
            row = conn.execute("SELECT pid FROM params WHERE key = ?", (key,)).fetchone()
            if row is not None:
                pid = known.setdefault(key, row[0])
        return pid

    return pid_of


def _compiler(conn: sqlite3.Connection, known: dict[str, int]) -> Compiler:
    """A search compiler that looks parameter ids up (see _pid_lookup) and probes index scans
    on ``conn``."""
    return Compiler(_pid_lookup(conn, known), _size_of(conn))


def _size_of(conn: sqlite3.Connection) -> SizeOf:
    """Counts an index scan's rows on ``conn``, stopping at the cap (the planner's probe)."""

    def size_of(scan: Fragment, cap: int) -> int:
        sql, args = scan
        row = conn.execute(f"SELECT count(*) FROM ({sql} LIMIT ?)", [*args, cap]).fetchone()
        return int(row[0])

    return size_of


class _Rollback(Exception):
    """Ends a session without keeping its writes."""


class _Session:
    """One transaction's unit of work: a job on the writer thread that lends the writer's
    connection, inside the job's savepoint, to the async side until the session ends.

    The async side then runs the session's operations (reads, searches, writes) itself, on
    that connection, so every read sees the session's own writes; the job commits (or rolls
    back) as a whole when told. Other writers wait meanwhile. Like point reads (see the
    module docstring), an operation inside a transaction costs less than a hop to another
    thread and back (about 0.1 ms here, per operation); only the commit waits on the writer.
    """

    _END = object()

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.ending: queue.SimpleQueue[object] = queue.SimpleQueue()
        self.lent: concurrent.futures.Future[tuple[sqlite3.Connection, dict[str, int]]] = (
            concurrent.futures.Future()
        )
        self.job: _Job[None] = _Job(self._run, set(), replayable=False)
        self.task: asyncio.Future[None] | None = None
        self._held: tuple[sqlite3.Connection, dict[str, int]] | None = None
        self._ended = False

    def _run(self, conn: sqlite3.Connection, pids: dict[str, int]) -> None:
        self.lent.set_result((conn, dict(pids)))
        if self.ending.get() is not self._END:
            raise _Rollback

    def end(self, *, commit: bool) -> None:
        """Give the connection back: commit the session's writes, or roll them back."""
        self._held = None
        self._ended = True
        self.ending.put(self._END if commit else None)

    async def _connection(self) -> tuple[sqlite3.Connection, dict[str, int]]:
        if self._ended:  # the connection is the writer's again
            raise StorageError("the transaction has ended")
        if self._held is None:
            assert self.task is not None, "a session is started by SqliteStore.transaction"
            lent = asyncio.wrap_future(self.lent)
            waiting: set[asyncio.Future[Any]] = {lent, self.task}
            done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if lent not in done:  # the job failed before it ran (e.g. the lock never came)
                lent.cancel()
                self.task.result()
                raise StorageError("the transaction ended before it started")
            self._held = lent.result()
        return self._held

    def register(self, conn: sqlite3.Connection, local: dict[str, int], keys: set[str]) -> None:
        fresh = self.store._params.register(conn, keys - local.keys())
        local.update(fresh)
        self.job.fresh.update(fresh)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        """Already one unit of work: a nested transaction is the same one."""
        yield self

    async def guard(self, type: str, key: str) -> None:
        """Nothing to do: a transaction holds the writer, so transactions run one at a time."""

    async def call(self, work: Callable[[sqlite3.Connection, dict[str, int]], T]) -> T:
        conn, local = await self._connection()
        return work(conn, local)

    # The Store methods a transaction uses, on the writer's connection.

    async def read(self, type: str, id: str) -> StoredVersion | None:
        row = await self.call(lambda conn, _: conn.execute(_READ_CURRENT, (type, id)).fetchone())
        return None if row is None else _version(type, id, row)

    async def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        row = await self.call(
            lambda conn, _: conn.execute(_READ_VERSION, (type, id, version)).fetchone()
        )
        return None if row is None else _version(type, id, row)

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        keys = {row.param for w in writes for row in w.index}

        def work(conn: sqlite3.Connection, local: dict[str, int]) -> list[StoredVersion]:
            self.register(conn, local, keys)
            return _apply(conn, writes, local)

        return await self.call(work)

    async def search(self, plan: SearchPlan) -> SearchPage:
        def work(conn: sqlite3.Connection, local: dict[str, int]) -> SearchPage:
            sql, args = _compiler(conn, local).search(plan)
            return _page(plan, conn.execute(sql, args).fetchall())

        return await self.call(work)

    async def count(self, plan: SearchPlan) -> int:
        def work(conn: sqlite3.Connection, local: dict[str, int]) -> int:
            sql, args = _compiler(conn, local).search(plan, count_only=True)
            return int(conn.execute(sql, args).fetchone()[0])

        return await self.call(work)

    async def history(self, query: HistoryQuery) -> Sequence[StoredVersion]:
        sql, args = _history_sql(query)
        rows = await self.call(lambda conn, _: conn.execute(sql, args).fetchall())
        return [_version(row[0], row[1], row[2:]) for row in rows]


def _history_sql(query: HistoryQuery) -> tuple[str, list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if query.type is not None:
        where.append("r.type = ?")
        args.append(query.type)
    if query.id is not None:
        where.append("r.id = ?")
        args.append(query.id)
    if query.since is not None:
        where.append("v.last_updated >= ?")
        args.append(query.since)
    if query.before_seq is not None:
        where.append("v.seq < ?")
        args.append(query.before_seq)
    sql = (
        "SELECT r.type, r.id, v.version, v.last_updated, v.method, v.body, v.seq"
        " FROM versions v JOIN resources r ON r.rid = v.rid"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY v.seq DESC LIMIT ?"
    )
    return sql, [*args, query.count]


def _page(plan: SearchPlan, rows: list[Any]) -> SearchPage:
    """A page from rows fetched with one row of lookahead (``count + 1``)."""
    more = len(rows) > plan.count
    rows = rows[: plan.count]
    width = len(plan.sort)
    versions = [
        StoredVersion(
            type=row[1],
            id=row[2],
            version=row[3],
            last_updated=row[4],
            method=row[5 + width],
            body=row[6 + width],
            seq=row[0],
        )
        for row in rows
    ]
    if plan.cursor is not None and plan.cursor.before:
        rows.reverse()
        versions.reverse()
    if not rows:
        return SearchPage(versions=versions, more=more)
    return SearchPage(
        versions=versions,
        first=Cursor(values=tuple(rows[0][5 : 5 + width]), rid=rows[0][0]),
        last=Cursor(values=tuple(rows[-1][5 : 5 + width]), rid=rows[-1][0]),
        more=more,
    )


class SqliteStore:
    """A :class:`~fhir_server.storage.protocol.Store` on one SQLite file; ``bulk``: for an
    import (see ``BULK_WRITER_CACHE_BYTES``)."""

    def __init__(self, path: str, *, bulk: bool = False) -> None:
        self.path = path
        self._writer_cache = BULK_WRITER_CACHE_BYTES if bulk else PAGE_CACHE_BYTES
        self._writer: _Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._local = threading.local()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._worker_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._params = _Params()

    @classmethod
    def from_url(cls, url: str, *, bulk: bool = False) -> SqliteStore:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ValueError(f"expected sqlite:///path/to/file.db, got {url!r}")
        return cls(url[len(prefix) :], bulk=bulk)

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        try:
            migrate(conn)
            self._params.load(conn)
        finally:
            conn.close()
        self._reader = _connect(self.path)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(4, (os.cpu_count() or 1) + 1), thread_name_prefix="sqlite-read"
        )
        self._writer = _Writer(self.path, self._params, self._writer_cache)
        self._writer.start()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.jobs.put(None)
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        for conn in self._worker_conns:
            conn.close()
        self._worker_conns.clear()
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # -- reads ---------------------------------------------------------------------------

    def _read_conn(self) -> sqlite3.Connection:
        if self._reader is None:
            raise StorageError("store is not open")
        return self._reader

    async def read(self, type: str, id: str) -> StoredVersion | None:
        row = self._read_conn().execute(_READ_CURRENT, (type, id)).fetchone()
        return None if row is None else _version(type, id, row)

    async def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        row = self._read_conn().execute(_READ_VERSION, (type, id, version)).fetchone()
        return None if row is None else _version(type, id, row)

    def _worker_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            self._local.conn = conn
            with self._lock:
                self._worker_conns.append(conn)
        return conn

    async def _in_worker(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._pool is None:
            raise StorageError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(
            self._pool, lambda: work(self._worker_conn())
        )

    async def _query(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        return await self._in_worker(lambda conn: conn.execute(sql, args).fetchall())

    async def history(self, query: HistoryQuery) -> Sequence[StoredVersion]:
        sql, args = _history_sql(query)
        rows = await self._query(sql, args)
        return [_version(row[0], row[1], row[2:]) for row in rows]

    async def search(self, plan: SearchPlan) -> SearchPage:
        def work(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            sql, args = _compiler(conn, self._params.ids).search(plan)
            return conn.execute(sql, args).fetchall()

        return _page(plan, await self._in_worker(work))

    async def count(self, plan: SearchPlan) -> int:
        def work(conn: sqlite3.Connection) -> int:
            sql, args = _compiler(conn, self._params.ids).search(plan, count_only=True)
            return int(conn.execute(sql, args).fetchone()[0])

        return await self._in_worker(work)

    def explain(self, plan: SearchPlan) -> list[str]:
        """SQLite's query plan for a search (for benchmarks and investigations)."""
        conn = self._read_conn()
        sql, args = _compiler(conn, self._params.ids).search(plan)
        rows = conn.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
        return [str(row[-1]) for row in rows]

    async def scan(self, *, after: int | None, limit: int) -> Sequence[StoredVersion]:
        sql = (
            "SELECT r.type, r.id, r.version, r.last_updated, v.method, v.body, r.rid"
            " FROM resources r JOIN versions v ON v.rid = r.rid AND v.version = r.version"
            " WHERE r.deleted = 0 AND r.rid > ? ORDER BY r.rid LIMIT ?"
        )
        rows = await self._query(sql, [after or 0, limit])
        return [_version(row[0], row[1], row[2:]) for row in rows]

    async def get_meta(self, key: str) -> str | None:
        row = self._read_conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    # -- writes --------------------------------------------------------------------------

    async def _submit(self, job: _Job[T]) -> T:
        if self._writer is None:
            raise StorageError("store is not open")
        job.loop = asyncio.get_running_loop()
        job.future = job.loop.create_future()
        self._writer.jobs.put(job)
        return await job.future

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        keys = {row.param for w in writes for row in w.index}
        return await self._submit(_Job(lambda conn, pids: _apply(conn, writes, pids), keys))

    async def replace_index(self, entries: Sequence[IndexEntry]) -> None:
        keys = {row.param for *_, rows in entries for row in rows}

        def work(conn: sqlite3.Connection, pids: dict[str, int]) -> None:
            for type, id, version, rows in entries:
                found = conn.execute(
                    "SELECT rid FROM resources WHERE type = ? AND id = ? AND version = ?"
                    " AND deleted = 0",
                    (type, id, version),
                ).fetchone()
                if found is not None:
                    _delete_index(conn, found[0])
                    _insert_index(conn, found[0], rows, pids)

        await self._submit(_Job(work, keys))

    async def guard(self, type: str, key: str) -> None:
        """Nothing to do outside a transaction."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        """A unit of work whose reads see its own writes and whose writes commit together
        when the block ends, or not at all if it raises."""
        session = _Session(self)
        task = session.task = asyncio.ensure_future(self._submit(session.job))
        try:
            yield session
        except BaseException:
            session.end(commit=False)
            with contextlib.suppress(_Rollback, StorageError):
                await task
            raise
        session.end(commit=True)
        await task

    async def set_meta(self, key: str, value: str) -> None:
        def work(conn: sqlite3.Connection, pids: dict[str, int]) -> None:
            conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

        await self._submit(_Job(work, set()))
