"""The embedded SQLite engine: WAL, durable commits, one writer process with group commit.

- Point reads (read, vread) run on the caller's thread: a primary-key lookup costs less than
  a hop to another thread. Multi-row queries (history, search) run in worker threads, each
  with its own connection.
- Writes go to the store's writer process (``sqlite_writer``), which owns the writing
  connection: it applies every write waiting on its socket in one transaction and commits once
  (group commit); a write whose compare-and-swap fails fails alone, and no caller hears of
  success before the commit is durable (``synchronous=FULL``). The store encodes each write as
  plain tuples on the way (``encode_write``); the index rows of a write that leaves them to
  the engine (``Write.index_base``) are extracted there, off the event loop. Should the
  process die, its waiting writes fail with a StorageError and the next write starts another.
- A transaction (``_Session``) holds the writer process between two of its commits and runs
  its reads, searches and writes on the store's own transaction connection, so it sees its
  own writes and commits (or rolls back) as a whole.
- Index rows live in one table per parameter type; parameter keys are interned as small
  integers (``params``), registered in the transaction that first needs them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from fhir_server.search.plan import Cursor, SearchPlan
from fhir_server.storage import sqlite_writer
from fhir_server.storage.records import (
    HistoryQuery,
    IndexEntry,
    Method,
    SearchPage,
    StorageError,
    StoredVersion,
    VersionConflict,
    Write,
)
from fhir_server.storage.schema import MIGRATIONS, SCHEMA_VERSION
from fhir_server.storage.sqlite_rows import encode_rows, encode_write, indexed_write
from fhir_server.storage.sqlite_search import Compiler, Fragment, SizeOf
from fhir_server.storage.sqlite_writer import MMAP_BYTES

log = logging.getLogger(__name__)

__all__ = ["BULK_WRITER_CACHE_BYTES", "MMAP_BYTES", "PAGE_CACHE_BYTES", "SqliteStore"]

T = TypeVar("T")
PAGE_CACHE_BYTES = 4 * 2**20
"""SQLite's page cache, per reading connection (``PRAGMA cache_size``)."""
BULK_WRITER_CACHE_BYTES = 32 * 2**20
"""The writer's page cache in a store opened for an import (``bulk``). Every write inserts
index rows at scattered places of the index B-trees; with their inner pages cached, an
insert reads one leaf (an eligibility import of 10k families: SQL time 25.7 -> 18.8 s against
4 MiB). The server's writer keeps ``PAGE_CACHE_BYTES``: its writes are few and small, and its
memory stays flat."""

OFFLOAD_AT = 4
"""Jobs waiting for the writer process from which on a write's index rows are extracted there
(``SqliteStore.write``)."""

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


class SchemaTooNew(StorageError):
    """The database was written by a newer build; opening it could corrupt it."""


def _connect(path: str, *, cache_bytes: int = PAGE_CACHE_BYTES) -> sqlite3.Connection:
    return sqlite_writer.connect(path, cache_bytes=cache_bytes)


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


def _stored(writes: Sequence[Write]) -> Callable[[list[int]], list[StoredVersion]]:
    """What the writer's answer to ``writes`` (their history ``seq``\\ s) means."""

    def versions(seqs: list[int]) -> list[StoredVersion]:
        return [
            StoredVersion(w.type, w.id, w.version, w.last_updated, w.method, w.body, seq)
            for w, seq in zip(writes, seqs, strict=True)
        ]

    return versions


def _kept(_: object) -> None:
    return None


# -- the writer process -----------------------------------------------------------------------

_Waiter = tuple["asyncio.Future[Any]", Callable[[Any], Any]]


class _Link(asyncio.Protocol):
    """One writer process and its socket, an asyncio transport on the event loop that
    started it: answers are read and handed to their callers on that loop, with no thread."""

    def __init__(self, process: subprocess.Popen[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self.process = process
        self.loop = loop
        self.transport: asyncio.WriteTransport | None = None
        self.received = bytearray()
        self.waiting: dict[int, _Waiter] = {}
        self.outbox: list[tuple[int, int, Any]] = []  # jobs to send with the next flush
        self.flush_due = False
        self.closing = False
        self.lost: asyncio.Future[None] = loop.create_future()
        self.reported: asyncio.Task[None] | None = None  # the log line of an unexpected end

    @property
    def pid(self) -> int:
        return self.process.pid

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.WriteTransport, transport)

    def send(self, job: tuple[int, int, Any]) -> None:
        """Sends ``job`` at the end of this turn of the event loop, with the others.

        Under load, one turn submits several jobs and the writer process gets them together,
        as one batch and one commit. Sent one by one, each arrived while the process was idle
        and went alone into a commit of its own (158 KB written to disk for each Patient
        create instead of 76)."""
        self.outbox.append(job)
        if not self.flush_due:
            self.flush_due = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        self.flush_due = False
        jobs = tuple(self.outbox)
        self.outbox.clear()
        if not jobs or self.transport is None:
            return
        try:
            data = sqlite_writer.frame(jobs)
        except ValueError:  # a value marshal cannot carry: those jobs fail, not the others
            data = b"".join(self._framed_alone(jobs))
        self.transport.write(data)

    def _framed_alone(self, jobs: tuple[tuple[int, int, Any], ...]) -> list[bytes]:
        frames = []
        for job in jobs:
            try:
                frames.append(sqlite_writer.frame((job,)))
            except ValueError as exc:
                waiter = self.waiting.pop(job[0], None)
                if waiter is not None:
                    _settle(waiter, sqlite_writer.FAILED, f"the write cannot be stored: {exc}")
        return frames

    def data_received(self, data: bytes) -> None:
        self.received += data
        for answers in sqlite_writer.take_frames(self.received):
            for job_id, status, value in answers:
                waiter = self.waiting.pop(job_id, None)
                if waiter is not None:
                    _settle(waiter, status, value)

    def connection_lost(self, exc: Exception | None) -> None:
        """The process has ended (or is ending): whatever it has not answered fails."""
        self.transport = None
        error = "the SQLite writer process ended before answering"
        for waiter in self.waiting.values():
            _settle(waiter, sqlite_writer.FAILED, error)
        self.waiting.clear()
        self.outbox.clear()
        self.lost.set_result(None)
        if not self.closing:
            self.reported = self.loop.create_task(self._report())

    async def _report(self) -> None:
        status = await asyncio.to_thread(self.process.wait)
        log.error(
            "the SQLite writer process %d ended (status %s); the next write starts another",
            self.process.pid,
            status,
        )


def _settle(waiter: _Waiter, status: int, value: Any) -> None:
    future, decode = waiter
    if future.done():  # the caller gave up (cancelled)
        return
    if status == sqlite_writer.DONE:
        future.set_result(decode(value))
    elif status == sqlite_writer.CONFLICT:
        future.set_exception(VersionConflict(*value))
    elif status == sqlite_writer.INVALID:
        future.set_exception(ValueError(value))
    else:
        future.set_exception(StorageError(value))


class _WriterProcess:
    """The store's side of its writer process: starts it (again, should it end), sends jobs.
    It serves the event loop the process was started on (a server's or a command's one)."""

    def __init__(self, path: str, cache_bytes: int) -> None:
        script = sqlite_writer.__file__
        self._args = [sys.executable, "-I", script, os.path.abspath(path), str(cache_bytes)]
        self._ids = itertools.count(1)
        self._link: _Link | None = None
        self._starting: asyncio.Task[_Link] | None = None
        self._closed = False

    @property
    def pid(self) -> int | None:
        return None if self._link is None else self._link.pid

    @property
    def waiting(self) -> int:
        """Jobs sent and not answered yet."""
        return 0 if self._link is None else len(self._link.waiting)

    async def _link_on(self, loop: asyncio.AbstractEventLoop) -> _Link:
        link = self._link
        if self._closed:
            raise StorageError("store is not open")
        if link is not None and link.loop is not loop:
            raise StorageError("the store was opened for another event loop")
        if link is not None and link.transport is not None:
            return link
        if self._starting is None:
            self._starting = loop.create_task(self._start(loop))
        # Shielded: a caller that gives up does not stop the start the others wait for.
        return await asyncio.shield(self._starting)

    async def _start(self, loop: asyncio.AbstractEventLoop) -> _Link:
        try:
            ours, theirs = socket.socketpair()
            try:
                # Waited for in a thread, not by asyncio's child watching: a store may run on
                # an event loop outside the main thread (tests' servers), where that was slow.
                process = await asyncio.to_thread(
                    subprocess.Popen,
                    [*self._args, str(theirs.fileno())],
                    pass_fds=(theirs.fileno(),),
                    stdin=subprocess.DEVNULL,
                )
            except OSError as exc:
                ours.close()
                raise StorageError(f"the SQLite writer process did not start ({exc})") from exc
            finally:
                theirs.close()
            link = _Link(process, loop)
            await loop.create_unix_connection(lambda: link, sock=ours)
            log.debug("SQLite writer process %d started", process.pid)
            self._link = link
            return link
        finally:
            self._starting = None

    async def submit(self, op: int, payload: Any, decode: Callable[[Any], T]) -> T:
        loop = asyncio.get_running_loop()
        link = self._link
        if link is None or link.transport is None or link.loop is not loop or self._closed:
            link = await self._link_on(loop)
        future: asyncio.Future[T] = loop.create_future()
        job_id = next(self._ids)
        link.waiting[job_id] = (future, decode)
        link.send((job_id, op, payload))
        return await future

    def release(self) -> None:
        """Ends a hold (``held``), at once; to a process that has ended since, nothing."""
        link = self._link
        if link is not None and link.transport is not None:
            link.outbox.append((0, sqlite_writer.RELEASE, None))
            link.flush()

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """The process stopped between two transactions: every job sent before is committed,
        every job sent meanwhile waits until the block ends."""
        try:
            await self.submit(sqlite_writer.HOLD, (), _kept)
            yield
        finally:
            self.release()

    async def close(self) -> None:
        """Lets the process commit what it has been sent, then end; waits for it."""
        self._closed = True
        link, self._link = self._link, None
        if link is None:
            return
        link.closing = True
        if link.loop is not asyncio.get_running_loop():  # its loop has gone: nobody listens
            log.warning("SQLite writer process %d stopped from another event loop", link.pid)
            os.kill(link.pid, signal.SIGKILL)
            await asyncio.to_thread(link.process.wait)
            return
        if link.transport is not None:
            link.flush()
            link.transport.write_eof()
        await link.lost
        await asyncio.to_thread(link.process.wait)


def _version(type: str, id: str, row: Sequence[Any]) -> StoredVersion:
    version, last_updated, method, body, seq = row
    return StoredVersion(type, id, version, last_updated, cast(Method, method), body, seq)


def _pid_lookup(conn: sqlite3.Connection, known: dict[str, int]) -> Callable[[str], int | None]:
    """Parameter ids from ``known``, else as ``conn`` sees them (and then remembered in
    ``known``): a transaction passes its own map, so that it also finds the keys it has
    registered itself (not committed yet, so not in the shared map)."""

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


class _Session:
    """One transaction's unit of work, on the store's transaction connection while the writer
    process is held (``SqliteStore.transaction``): its reads and searches see its own writes.

    An operation runs on the caller's thread: like a point read (see the module docstring),
    it costs less than a hop to another thread. Transactions run one at a time.
    """

    def __init__(self, store: SqliteStore, conn: sqlite3.Connection) -> None:
        self.store = store
        self._conn: sqlite3.Connection | None = conn
        self.pids = dict(store._params.ids)  # its own: keys it registers are not committed yet
        self.fresh: dict[str, int] = {}

    def end(self) -> None:
        """The connection is the store's again: the session refuses further work."""
        self._conn = None

    def _held(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("the transaction has ended")
        return self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        """Already one unit of work: a nested transaction is the same one."""
        yield self

    async def guard(self, type: str, key: str) -> None:
        """Nothing to do: transactions run one at a time."""

    # The Store methods a transaction uses, on its connection.

    async def read(self, type: str, id: str) -> StoredVersion | None:
        row = self._held().execute(_READ_CURRENT, (type, id)).fetchone()
        return None if row is None else _version(type, id, row)

    async def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        row = self._held().execute(_READ_VERSION, (type, id, version)).fetchone()
        return None if row is None else _version(type, id, row)

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        conn = self._held()
        encoded = [indexed_write(w) for w in writes]
        keys = {key for write in encoded for key in sqlite_writer.keys_of(write[7])}
        fresh = self.store._params.register(conn, keys - self.pids.keys())
        self.pids.update(fresh)
        self.fresh.update(fresh)
        try:
            seqs = sqlite_writer.apply(conn, encoded, self.pids)
        except sqlite_writer.Conflict as conflict:
            raise VersionConflict(*conflict.args3) from None
        return _stored(writes)(seqs)

    async def search(self, plan: SearchPlan) -> SearchPage:
        conn = self._held()
        sql, args = _compiler(conn, self.pids).search(plan)
        return _page(plan, conn.execute(sql, args).fetchall())

    async def count(self, plan: SearchPlan) -> int:
        conn = self._held()
        sql, args = _compiler(conn, self.pids).search(plan, count_only=True)
        return int(conn.execute(sql, args).fetchone()[0])

    async def history(self, query: HistoryQuery) -> Sequence[StoredVersion]:
        sql, args = _history_sql(query)
        rows = self._held().execute(sql, args).fetchall()
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
        self._writer: _WriterProcess | None = None
        self._txn: sqlite3.Connection | None = None  # transactions' connection (_Session)
        self._reader: sqlite3.Connection | None = None
        self._local = threading.local()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._worker_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._params = sqlite_writer.Params()

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
        self._writer = _WriterProcess(self.path, self._writer_cache)

    async def close(self) -> None:
        if self._writer is not None:
            await self._writer.close()
            self._writer = None
        if self._txn is not None:
            self._txn.close()
            self._txn = None
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

    def _writer_process(self) -> _WriterProcess:
        if self._writer is None:
            raise StorageError("store is not open")
        return self._writer

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        """Index rows a write leaves to the engine are extracted in the writer process when
        writes queue for it (``OFFLOAD_AT``): under load, that work then runs beside the
        event loop's. A lone write is indexed here, so that a store that takes a few writes at
        a time (a short command, a test) never has its writer process load the search
        registry and compile its expressions (~0.1 s of CPU)."""
        writer = self._writer_process()
        encode = encode_write if writer.waiting >= OFFLOAD_AT else indexed_write
        encoded = tuple(encode(w) for w in writes)
        return await writer.submit(sqlite_writer.WRITE, encoded, _stored(writes))

    async def replace_index(self, entries: Sequence[IndexEntry]) -> None:
        encoded = tuple(
            (type, id, version, encode_rows(rows)) for type, id, version, rows in entries
        )
        await self._writer_process().submit(sqlite_writer.REINDEX, encoded, _kept)

    async def set_meta(self, key: str, value: str) -> None:
        await self._writer_process().submit(sqlite_writer.SET_META, (key, value), _kept)

    async def writer_settings(self) -> dict[str, Any]:
        """The writer connection's settings as SQLite reports them (``SETTINGS``)."""
        return await self._writer_process().submit(sqlite_writer.SETTINGS, (), dict)

    async def guard(self, type: str, key: str) -> None:
        """Nothing to do outside a transaction."""

    def _transaction_conn(self) -> sqlite3.Connection:
        if self._txn is None:
            self._txn = _connect(self.path)
            self._txn.execute("PRAGMA busy_timeout = 0")  # begin_write waits for the lock
        return self._txn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Session]:
        """A unit of work whose reads see its own writes and whose writes commit together
        when the block ends, or not at all if it raises."""
        async with self._writer_process().held():
            conn = self._transaction_conn()
            try:  # the lock is free unless another process (an import) has it
                if not sqlite_writer.try_begin(conn):
                    await asyncio.to_thread(sqlite_writer.begin_write, conn)
            except sqlite3.Error as exc:
                raise StorageError(f"write failed: {exc}") from exc
            session = _Session(self, conn)
            try:
                yield session
            except BaseException:
                session.end()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            session.end()
            try:  # a durable commit waits for the disk: not on the event loop
                await asyncio.to_thread(conn.execute, "COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageError(f"write failed: {exc}") from exc
            self._params.ids.update(session.fresh)
