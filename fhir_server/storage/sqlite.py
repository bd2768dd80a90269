"""The embedded SQLite engine: WAL, durable commits, one writer thread with group commit.

- Point reads (read, vread) run on the caller's thread: a primary-key lookup costs less than
  a hop to another thread. Multi-row queries (history, search) run in worker threads, each
  with its own connection.
- Writes go to one writer thread. It takes every write job waiting in its queue, applies each
  inside its own SAVEPOINT of one transaction and commits once (group commit): a job whose
  compare-and-swap fails is rolled back alone, the others commit, and no caller hears of
  success before the commit is durable (``synchronous=FULL``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from fhir_server.search.plan import IdIn, SearchPlan, TokenIn
from fhir_server.storage.records import (
    HistoryQuery,
    Method,
    StorageError,
    StoredVersion,
    VersionConflict,
    Write,
)
from fhir_server.storage.schema import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

_GROUP_COMMIT_MAX = 128

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


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA cache_size = -65536")
    conn.execute("PRAGMA mmap_size = 268435456")
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
        conn.executescript(
            f"BEGIN IMMEDIATE; {MIGRATIONS[version]}; PRAGMA user_version = {version + 1}; COMMIT;"
        )
    return found


class _Job:
    __slots__ = ("future", "writes")

    def __init__(self, writes: Sequence[Write]) -> None:
        self.writes = writes
        self.future: concurrent.futures.Future[list[StoredVersion]] = concurrent.futures.Future()


class _Writer(threading.Thread):
    """Owns the only writing connection; see the module docstring for group commit."""

    def __init__(self, path: str) -> None:
        super().__init__(name="sqlite-writer", daemon=True)
        self._path = path
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()

    def run(self) -> None:
        conn = _connect(self._path)
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

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, list[StoredVersion] | None, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    stored = _apply(conn, job.writes)
                except BaseException as exc:  # one job failing must not fail the others
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((job, None, exc))
                else:
                    conn.execute("RELEASE job")
                    outcomes.append((job, stored, None))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            log.exception("write transaction failed; %d jobs rolled back", len(batch))
            for job in batch:
                job.future.set_exception(StorageError(f"write failed: {exc}"))
            return
        for job, result, error in outcomes:
            if error is not None:
                job.future.set_exception(error)
            elif result is not None:
                job.future.set_result(result)


def _apply(conn: sqlite3.Connection, writes: Sequence[Write]) -> list[StoredVersion]:
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
            conn.execute("DELETE FROM token_index WHERE rid = ?", (rid,))
        seq = conn.execute(
            "INSERT INTO versions (rid, version, last_updated, method, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (rid, w.version, w.last_updated, w.method, w.body),
        ).lastrowid
        if w.tokens and w.body is not None:
            conn.executemany(
                "INSERT INTO token_index (rid, param, system, code) VALUES (?, ?, ?, ?)",
                [(rid, t.param, t.system, t.code) for t in w.tokens],
            )
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


def _version(type: str, id: str, row: tuple[Any, ...]) -> StoredVersion:
    version, last_updated, method, body, seq = row
    return StoredVersion(
        type=type,
        id=id,
        version=version,
        last_updated=last_updated,
        method=cast(Method, method),
        body=body,
        seq=seq,
    )


def _compile_search(plan: SearchPlan, *, paged: bool) -> tuple[str, list[Any]]:
    where = ["r.type = ?", "r.deleted = 0"]
    args: list[Any] = [plan.type]
    for cond in plan.conditions:
        if isinstance(cond, IdIn):
            where.append(f"r.id IN ({', '.join('?' * len(cond.ids))})")
            args.extend(cond.ids)
        elif isinstance(cond, TokenIn):
            alts: list[str] = []
            alt_args: list[Any] = []
            for system, code in cond.pairs:
                parts = []
                if code is not None:
                    parts.append("t.code = ?")
                    alt_args.append(code)
                if system == "":
                    parts.append("t.system IS NULL")
                elif system is not None:
                    parts.append("t.system = ?")
                    alt_args.append(system)
                alts.append("(" + (" AND ".join(parts) or "1") + ")")
            where.append(
                "r.rid IN (SELECT t.rid FROM token_index t WHERE t.param = ? AND ("
                + " OR ".join(alts)
                + "))"
            )
            args.extend([cond.param, *alt_args])
        else:  # pragma: no cover - the planner only builds the conditions above
            raise TypeError(f"unsupported search condition {cond!r}")
    if paged and plan.after is not None:
        where.append("r.rid > ?")
        args.append(plan.after)
    return " AND ".join(where), args


class SqliteStore:
    """A :class:`~fhir_server.storage.protocol.Store` on one SQLite file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: _Writer | None = None
        self._reader: sqlite3.Connection | None = None
        self._local = threading.local()
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._worker_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> SqliteStore:
        """``sqlite:///relative/path.db`` or ``sqlite:////absolute/path.db``."""
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ValueError(f"expected sqlite:///path/to/file.db, got {url!r}")
        return cls(url[len(prefix) :])

    async def open(self) -> None:
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = _connect(self.path)
        try:
            migrate(conn)
        finally:
            conn.close()
        self._reader = _connect(self.path)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=min(4, (os.cpu_count() or 1) + 1), thread_name_prefix="sqlite-read"
        )
        self._writer = _Writer(self.path)
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

    async def _in_worker(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._pool is None:
            raise StorageError("store is not open")

        def run() -> list[tuple[Any, ...]]:
            return self._worker_conn().execute(sql, args).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    async def history(self, query: HistoryQuery) -> Sequence[StoredVersion]:
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
        rows = await self._in_worker(sql, [*args, query.count])
        return [_version(row[0], row[1], row[2:]) for row in rows]

    async def search(self, plan: SearchPlan) -> Sequence[StoredVersion]:
        where, args = _compile_search(plan, paged=True)
        sql = (
            "SELECT r.id, r.version, r.last_updated, v.method, v.body, r.rid"
            " FROM resources r JOIN versions v ON v.rid = r.rid AND v.version = r.version"
            f" WHERE {where} ORDER BY r.rid LIMIT ?"
        )
        rows = await self._in_worker(sql, [*args, plan.count])
        return [_version(plan.type, row[0], row[1:]) for row in rows]

    async def count(self, plan: SearchPlan) -> int:
        where, args = _compile_search(plan, paged=False)
        rows = await self._in_worker(f"SELECT count(*) FROM resources r WHERE {where}", args)
        return int(rows[0][0])

    # -- writes --------------------------------------------------------------------------

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        if self._writer is None:
            raise StorageError("store is not open")
        job = _Job(writes)
        self._writer.jobs.put(job)
        return await asyncio.wrap_future(job.future)
