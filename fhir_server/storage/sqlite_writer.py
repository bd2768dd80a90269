"""The SQLite writer process: owns a store's only writing connection, outside the server's GIL.

``SqliteStore`` starts it (``python -I sqlite_writer.py PATH CACHE_BYTES FD``) and talks to it
over a socket pair. Each message is a frame: a 4-byte big-endian length, then a ``marshal``
payload of plain tuples (the store encodes its records before sending them): a tuple of jobs
``(job id, operation, payload)`` one way, a list of answers ``(job id, status, value)`` the
other. The process takes
every job waiting on its socket, up to ``GROUP_COMMIT_MAX``, applies them in one transaction and
commits once (group commit); a job that fails (a compare-and-swap that does not hold) fails
alone: the batch is rolled back and runs again with a savepoint per job. It answers the batch
in one frame once the commit is durable (``synchronous=FULL``).

A ``HOLD`` job stops it between two transactions until ``RELEASE`` arrives: a transaction of the
store (``SqliteStore.transaction``) then has the write lock to itself, on the server's own
connection, and the jobs that arrive meanwhile wait in order.

Why a process: the server's event loop holds the GIL nearly all the time under load, and a
writer thread needs it back after every statement, so the two took turns on one core. Here
SQLite's work runs on the other core, and so does the extraction of index rows for writes that
leave it to the engine (``Write.index_base``; ``index_of``). This module imports nothing but
the standard library until such a write comes: the process starts in a few tens of
milliseconds, and the server imports from it what both sides share (the connection settings,
the write lock, applying a write).
"""

from __future__ import annotations

import marshal
import signal
import socket
import sqlite3
import struct
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

GROUP_COMMIT_MAX = 128
WAL_CHECKPOINT_PAGES = 4_000
"""The writer copies the WAL back into the database file once it holds this many pages (16
MiB; SQLite's default is 1,000). A checkpoint writes each page once however often the WAL has
it, and the pages a write touches (the index B-trees' leaves) come back batch after batch:
written to disk per create 61 -> 55 KB with the example Patient (52 at 10,000 pages, but
past 4,096 frames a reader looks pages up in more than one block of the WAL's index, and
reads measured slower)."""
LOCK_WAIT = 30.0
LOCK_POLL = 0.001

# Job operations (store -> writer).
WRITE = 0
"""payload: tuple of encoded writes (``EncodedWrite``); result: their history ``seq``\\ s."""
REINDEX = 1
"""payload: tuple of (type, id, version, groups); replaces those resources' index rows."""
SET_META = 2
"""payload: (key, value)."""
SETTINGS = 3
"""payload: (); result: the connection's cache_size, synchronous, journal_mode, busy_timeout
and wal_autocheckpoint (a dict)."""
HOLD = 4
"""payload: (); answered once every job before it is committed; then nothing runs until
``RELEASE`` (a message without a job id of its own)."""
RELEASE = 5

# Answer statuses (writer -> store): (job id, status, value) per job, one frame per batch.
DONE = 0
"""value: the job's result."""
CONFLICT = 1
"""value: (type, id, expected version): a compare-and-swap guard failed."""
INVALID = 2
"""value: a message; the write was inconsistent (a version that does not follow)."""
FAILED = 3
"""value: a message; the transaction failed (disk, lock, ...)."""

INDEX_INSERTS = (
    "INSERT INTO idx_string (rid, pid, norm, exact) VALUES (?, ?, ?, ?)",
    "INSERT INTO idx_token (rid, pid, system, code) VALUES (?, ?, ?, ?)",
    "INSERT INTO idx_reference (rid, pid, type, id, url) VALUES (?, ?, ?, ?, ?)",
    "INSERT INTO idx_date (rid, pid, low, high) VALUES (?, ?, ?, ?)",
    "INSERT INTO idx_number (rid, pid, value, system, code, unit, high)"
    " VALUES (?, ?, ?, ?, ?, ?, ?)",
    "INSERT INTO idx_uri (rid, pid, uri) VALUES (?, ?, ?)",
    "INSERT INTO idx_composite VALUES (" + ", ".join("?" * 17) + ")",
)
"""One INSERT per index table, in ``schema.INDEX_TABLES`` order: a group's table number is its
position here."""
INDEX_TABLES = tuple(sql.split()[2] for sql in INDEX_INSERTS)

EncodedRow = tuple[Any, ...]
"""An index row as stored: its parameter key, then its columns after ``rid`` and ``pid``."""
Groups = tuple[tuple[int, tuple[EncodedRow, ...]], ...]
"""A resource's index rows by table number."""
IndexedWrite = tuple[str, str, int, int | None, str, str, bytes | None, Groups]
"""(type, id, version, expected version, last updated, method, body, index rows)."""
EncodedWrite = (
    IndexedWrite | tuple[str, str, int, int | None, str, str, bytes | None, str, bytes | None]
)
"""A write as sent: with its index rows, or with the base URL to extract them with
(``index_of``) and the body as the server parsed it (marshalled; None: parse the body)."""


class Conflict(Exception):
    """A compare-and-swap guard failed; the store raises its ``VersionConflict``."""

    def __init__(self, type: str, id: str, expected: int | None) -> None:
        super().__init__(f"{type}/{id}: expected version {expected}")
        self.args3 = (type, id, expected)


MMAP_BYTES = 0
"""How much of the file SQLite maps into memory, per connection (``PRAGMA mmap_size``)."""


def connect(path: str, *, cache_bytes: int) -> sqlite3.Connection:
    """A connection with the store's settings: WAL, durable commits, foreign keys."""
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


def try_begin(conn: sqlite3.Connection) -> bool:
    """``BEGIN IMMEDIATE`` if the write lock is free now; False if another connection has it.
    ``conn`` must have ``busy_timeout = 0``."""
    try:
        conn.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode != sqlite3.SQLITE_BUSY:
            raise
        return False
    return True


def begin_write(conn: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE``, trying again every millisecond while another connection (an import
    next to the server) holds the write lock, for up to ``LOCK_WAIT`` seconds.

    SQLite's own busy handler sleeps longer and longer between tries, up to 100 ms, so a
    writer that frees the lock for a few ms between its transactions could keep it through
    many of them while this one sleeps. ``conn`` must have ``busy_timeout = 0``.
    """
    deadline = time.monotonic() + LOCK_WAIT
    while not try_begin(conn):
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError("database is locked")
        time.sleep(LOCK_POLL)


class Params:
    """Parameter key -> small integer id (the ``params`` table), as one connection knows them."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def load(self, conn: sqlite3.Connection) -> None:
        self.ids.update(conn.execute("SELECT key, pid FROM params").fetchall())

    def register(self, conn: sqlite3.Connection, keys: Iterable[str]) -> dict[str, int]:
        """Ids for the keys not known yet, adding them inside the caller's transaction (or
        finding them: another connection may have added them)."""
        fresh: dict[str, int] = {}
        for key in keys:
            if key in self.ids or key in fresh:
                continue
            conn.execute("INSERT OR IGNORE INTO params (key) VALUES (?)", (key,))
            fresh[key] = conn.execute("SELECT pid FROM params WHERE key = ?", (key,)).fetchone()[0]
        return fresh


_INDEX_OF: list[Callable[[bytes, str, bytes | None], Groups]] = []


def index_of(body: bytes, base_url: str, document: bytes | None) -> Groups:
    """The index rows of a stored body, by the server's own extraction
    (``fhir_server.storage.sqlite_rows.index_groups``), imported the first time it is needed: the
    process then holds the search registry and the FHIRPath compiler too (~170 ms to load),
    and a store whose writes all come with their rows never pays for them."""
    if not _INDEX_OF:
        root = str(Path(__file__).resolve().parents[2])  # this file's own fhir_server
        if root not in sys.path:
            sys.path.insert(0, root)
        from fhir_server.storage.sqlite_rows import index_groups

        _INDEX_OF.append(index_groups)
    return _INDEX_OF[0](body, base_url, document)


def keys_of(groups: Groups) -> set[str]:
    return {row[0] for _, rows in groups for row in rows}


class IndexRows:
    """Index rows to insert, gathered per table so that a whole batch of creates takes one
    ``executemany`` a table (statements per Patient create 6 -> 6 per batch). Flushed before
    anything deletes index rows, so a later write of the same resource finds them stored."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.tables: list[list[tuple[Any, ...]]] = [[] for _ in INDEX_INSERTS]

    def add(self, rid: int, groups: Groups, pids: dict[str, int]) -> None:
        tables = self.tables
        for table, rows in groups:
            tables[table].extend([(rid, pids[row[0]], *row[1:]) for row in rows])

    def flush(self) -> None:
        for table, rows in enumerate(self.tables):
            if rows:
                self.conn.executemany(INDEX_INSERTS[table], rows)
                rows.clear()


def insert_index(conn: sqlite3.Connection, rid: int, groups: Groups, pids: dict[str, int]) -> None:
    rows = IndexRows(conn)
    rows.add(rid, groups, pids)
    rows.flush()


def delete_index(conn: sqlite3.Connection, rid: int) -> None:
    for table in INDEX_TABLES:
        conn.execute(f"DELETE FROM {table} WHERE rid = ?", (rid,))


def apply(
    conn: sqlite3.Connection,
    writes: Sequence[IndexedWrite],
    pids: dict[str, int],
    index: IndexRows | None = None,
) -> list[int]:
    """Each write's new version, history entry and index rows; their history ``seq``\\ s.
    Raises ``Conflict`` when a write's expected version is not the current one. ``index``:
    where the index rows go (the caller flushes it), else they are inserted before return."""
    rows = IndexRows(conn) if index is None else index
    seqs: list[int] = []
    for type, id, version, expected, last_updated, method, body, groups in writes:
        if version != (expected or 0) + 1:
            raise ValueError(f"{type}/{id}: version {version} after {expected}")
        deleted = int(body is None)
        if expected is None:
            try:
                rid = conn.execute(
                    "INSERT INTO resources (type, id, version, last_updated, deleted)"
                    " VALUES (?, ?, ?, ?, ?)",
                    (type, id, version, last_updated, deleted),
                ).lastrowid
            except sqlite3.IntegrityError:
                raise Conflict(type, id, expected) from None
        else:
            row = conn.execute(
                "UPDATE resources SET version = ?, last_updated = ?, deleted = ?"
                " WHERE type = ? AND id = ? AND version = ? RETURNING rid",
                (version, last_updated, deleted, type, id, expected),
            ).fetchone()
            if row is None:
                raise Conflict(type, id, expected)
            rid = row[0]
            rows.flush()
            delete_index(conn, rid)
        assert rid is not None
        seq = conn.execute(
            "INSERT INTO versions (rid, version, last_updated, method, body)"
            " VALUES (?, ?, ?, ?, ?)",
            (rid, version, last_updated, method, body),
        ).lastrowid
        if groups and body is not None:
            rows.add(rid, groups, pids)
        seqs.append(int(seq or 0))
    if index is None:
        rows.flush()
    return seqs


def reindex(conn: sqlite3.Connection, entries: Sequence[Any], pids: dict[str, int]) -> None:
    """New index rows for resources still at the given version (others are left alone)."""
    for type, id, version, groups in entries:
        found = conn.execute(
            "SELECT rid FROM resources WHERE type = ? AND id = ? AND version = ? AND deleted = 0",
            (type, id, version),
        ).fetchone()
        if found is not None:
            delete_index(conn, found[0])
            insert_index(conn, found[0], groups, pids)


# -- frames --------------------------------------------------------------------------------

_LENGTH = struct.Struct("!I")


def frame(message: Any) -> bytes:
    payload = marshal.dumps(message)
    return _LENGTH.pack(len(payload)) + payload


def take_frames(buffer: bytearray) -> list[Any]:
    """The messages of the whole frames at the start of ``buffer``, removed from it."""
    out: list[Any] = []
    start = 0
    while len(buffer) - start >= 4:
        (size,) = _LENGTH.unpack_from(buffer, start)
        if len(buffer) - start - 4 < size:
            break
        out.append(marshal.loads(memoryview(buffer)[start + 4 : start + 4 + size]))
        start += 4 + size
    del buffer[:start]
    return out


class Frames:
    """Reads whole frames from a blocking stream socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = bytearray()
        self.chunk = bytearray(1 << 20)  # received into, then appended: no allocation per recv

    def read(self) -> list[Any] | None:
        """The next whole frames: blocks for at least one, then takes what else has arrived.
        ``None`` at the end of the stream."""
        chunk = memoryview(self.chunk)
        while True:
            size = self.sock.recv_into(chunk)
            if not size:
                return None
            self.buffer += chunk[:size]
            while size == len(chunk):  # more may be there already: take it without waiting
                try:
                    size = self.sock.recv_into(chunk, 0, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                self.buffer += chunk[:size]
            messages = take_frames(self.buffer)
            if messages:
                return messages


# -- the process -----------------------------------------------------------------------------


class Writer:
    """The process's loop: batches of jobs in, one transaction and one answer each."""

    def __init__(self, conn: sqlite3.Connection, sock: socket.socket) -> None:
        self.conn = conn
        self.sock = sock
        self.frames = Frames(sock)
        self.params = Params()
        self.params.load(conn)
        self.queue: deque[tuple[int, int, Any]] = deque()
        self.ended = False

    def _fill(self) -> bool:
        """Wait for jobs unless some are queued; False once the store has closed the socket
        and every job has been taken."""
        if not self.queue and not self.ended:
            messages = self.frames.read()
            if messages is None:
                self.ended = True
            else:
                self.queue.extend(job for jobs in messages for job in jobs)
        return bool(self.queue)

    def run(self) -> None:
        while self._fill():
            batch: list[tuple[int, int, Any]] = []
            while self.queue and len(batch) < GROUP_COMMIT_MAX and self.queue[0][1] < HOLD:
                batch.append(self.queue.popleft())
            if batch:
                batch, failed = self._indexed(batch)
                self._answer(failed + (self._commit(batch) if batch else []))
            elif self.queue[0][1] == HOLD:
                self._hold(self.queue.popleft())
            else:  # a RELEASE without a HOLD: nothing is held
                self.queue.popleft()

    @staticmethod
    def _indexed(
        batch: list[tuple[int, int, Any]],
    ) -> tuple[list[tuple[int, int, Any]], list[tuple[int, int, Any]]]:
        """The batch with the index rows its writes left to the writer extracted, before
        its transaction (a batch that fails is run again: extracted once); a write whose
        extraction fails fails alone."""
        ready, failed = [], []
        for job_id, op, payload in batch:
            if op == WRITE and any(type(w[7]) is str for w in payload):
                try:
                    payload = tuple(
                        w if type(w[7]) is not str else (*w[:7], index_of(w[6], w[7], w[8]))
                        for w in payload
                    )
                except Exception as exc:
                    failed.append((job_id, FAILED, f"indexing the resource failed: {exc}"))
                    continue
            ready.append((job_id, op, payload))
        return ready, failed

    def _hold(self, job: tuple[int, int, Any]) -> None:
        self._answer([(job[0], DONE, None)])
        while True:
            for position, queued in enumerate(self.queue):
                if queued[1] == RELEASE:
                    del self.queue[position]
                    return
            messages = None if self.ended else self.frames.read()
            if messages is None:
                self.ended = True
                return
            self.queue.extend(job for jobs in messages for job in jobs)

    def _answer(self, answers: list[tuple[int, int, Any]]) -> None:
        self.sock.sendall(frame(answers))

    def _commit(self, batch: list[tuple[int, int, Any]]) -> list[tuple[int, int, Any]]:
        """The batch in one transaction, a failed job failing alone.

        Jobs run without savepoints at first: a savepoint copies every page a job is first
        to touch (165 of the 365 µs SQLite spent on a Patient create). When a job fails,
        the transaction is rolled back and the batch runs again with a savepoint per job.
        """
        answers = self._run(batch, guarded=False)
        if answers is None:
            answers = self._run(batch, guarded=True)
            assert answers is not None, "a guarded batch is not tried again"
        return answers

    def _run(
        self, batch: list[tuple[int, int, Any]], *, guarded: bool
    ) -> list[tuple[int, int, Any]] | None:
        """One try at the batch; None when it must be tried again with savepoints."""
        conn = self.conn
        answers: list[tuple[int, int, Any]] = []
        try:
            begin_write(conn)
            fresh = self.params.register(conn, {k for job in batch for k in _keys(job)})
            pids = {**self.params.ids, **fresh} if fresh else self.params.ids
            index = None if guarded else IndexRows(conn)  # guarded: each job inserts its own
            for job_id, op, payload in batch:
                if guarded:
                    conn.execute("SAVEPOINT job")
                try:
                    result = self._do(op, payload, pids, index)
                except Exception as exc:  # one job failing must not fail the others
                    if not guarded:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        if len(batch) > 1:
                            return None
                        return [_failure(job_id, exc)]
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    answers.append(_failure(job_id, exc))
                else:
                    if guarded:
                        conn.execute("RELEASE job")
                    answers.append((job_id, DONE, result))
            if index is not None:
                try:
                    index.flush()
                except Exception as exc:  # a job's rows failed: each job on its own, then
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if len(batch) > 1:
                        return None
                    return [_failure(batch[0][0], exc)]
            conn.execute("COMMIT")
        except Exception as exc:  # the transaction as a whole: every job fails
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            print(f"sqlite writer: {len(batch)} jobs rolled back: {exc}", file=sys.stderr)
            return [(job_id, FAILED, f"write failed: {exc}") for job_id, _, _ in batch]
        self.params.ids.update(fresh)
        return answers

    def _do(self, op: int, payload: Any, pids: dict[str, int], index: IndexRows | None) -> Any:
        if op == WRITE:
            return apply(self.conn, payload, pids, index)
        if index is not None:
            index.flush()  # what follows may delete index rows
        if op == REINDEX:
            return reindex(self.conn, payload, pids)
        if op == SET_META:
            self.conn.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                payload,
            )
            return None
        if op == SETTINGS:
            return {name: self.conn.execute(f"PRAGMA {name}").fetchone()[0] for name in _SETTINGS}
        raise ValueError(f"unknown writer operation {op}")


_SETTINGS = ("cache_size", "synchronous", "journal_mode", "busy_timeout", "wal_autocheckpoint")


def _keys(job: tuple[int, int, Any]) -> set[str]:
    _, op, payload = job
    if op == WRITE:
        return {key for write in payload for key in keys_of(write[7])}
    if op == REINDEX:
        return {key for entry in payload for key in keys_of(entry[3])}
    return set()


def _failure(job_id: int, exc: BaseException) -> tuple[int, int, Any]:
    if isinstance(exc, Conflict):
        return (job_id, CONFLICT, exc.args3)
    if isinstance(exc, ValueError):
        return (job_id, INVALID, str(exc))
    return (job_id, FAILED, f"write failed: {exc}")


def main(argv: Sequence[str]) -> None:
    path, cache_bytes, fd = argv[0], int(argv[1]), int(argv[2])
    # The server ends this process by closing the socket, after its last write: a Ctrl-C or
    # a SIGTERM to the process group must not end it first, in the middle of a batch.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    sock = socket.socket(fileno=fd)
    conn = connect(path, cache_bytes=cache_bytes)
    conn.execute("PRAGMA busy_timeout = 0")  # begin_write waits for the lock itself
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    try:
        Writer(conn, sock).run()
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server is gone: nobody is left to answer
    finally:
        conn.close()
        sock.close()


if __name__ == "__main__":
    main(sys.argv[1:])
