"""What only the SQLite engine promises: durability across reopen, schema versions, a write
getting in between another process's transactions."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sqlite3
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from fhir_server.indexing import extract
from fhir_server.resource_json import dumps
from fhir_server.storage import Write
from fhir_server.storage.records import NumberRow, StorageError, VersionConflict
from fhir_server.storage.schema import INDEX_TABLES, SCHEMA_VERSION
from fhir_server.storage.sqlite import (
    BULK_WRITER_CACHE_BYTES,
    OFFLOAD_AT,
    PAGE_CACHE_BYTES,
    SchemaTooNew,
    SqliteStore,
)
from fhir_server.storage.sqlite_writer import WAL_CHECKPOINT_PAGES

pytestmark = pytest.mark.anyio

EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fhir-r4-examples"
STAMP = "2026-01-01T00:00:00.000Z"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def create(id: str) -> Write:
    return Write(
        type="Patient",
        id=id,
        version=1,
        expected_version=None,
        last_updated=STAMP,
        method="POST",
        body=b"{}",
    )


_HOG = """
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=30)
print("ready", flush=True)
ends = time.monotonic() + float(sys.argv[2])
while time.monotonic() < ends:
    conn.execute("BEGIN IMMEDIATE")
    time.sleep(0.05)
    conn.execute("COMMIT")
    time.sleep(0.002)
"""


async def test_a_write_gets_in_between_another_process_back_to_back_transactions(
    tmp_path: Path,
) -> None:
    """Another process (an import) holds the write lock 50 ms at a time with 2 ms between:
    a write waits for one of its transactions, not for many (with SQLite's own busy handler,
    which sleeps up to 100 ms between tries and so misses most 2 ms gaps, writes here waited
    up to 6 s)."""
    path = str(tmp_path / "shared.db")
    store = SqliteStore(path)
    await store.open()
    hog = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOG, path, "10", stdout=asyncio.subprocess.PIPE
    )
    try:
        assert hog.stdout is not None and (await hog.stdout.readline()).strip() == b"ready"
        await asyncio.sleep(0.2)
        waits = []
        for n in range(10):
            await asyncio.sleep(0.1)  # the other process back in its stride
            started = time.monotonic()
            await store.write([create(f"p{n}")])
            waits.append(time.monotonic() - started)
        assert hog.returncode is None, "the other process's run ended before the writes"
        assert max(waits) < 0.5, [round(w, 3) for w in waits]
    finally:
        hog.kill()
        await hog.wait()
        await store.close()


async def test_a_transaction_that_never_gets_the_write_lock_fails_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another connection keeps the write lock: the transaction's first operation fails with
    a StorageError once the wait is over, instead of waiting for a connection forever."""
    monkeypatch.setattr("fhir_server.storage.sqlite_writer.LOCK_WAIT", 0.2)
    path = str(tmp_path / "locked.db")
    store = SqliteStore(path)
    await store.open()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageError, match="locked"):
            async with store.transaction() as session:
                await asyncio.wait_for(session.write([create("never")]), timeout=10)
        other.execute("ROLLBACK")
        assert await store.read("Patient", "never") is None
        await store.write([create("later")])  # the writer goes on once the lock is free
        assert await store.read("Patient", "later") is not None
    finally:
        other.close()
        await store.close()


async def test_acknowledged_writes_survive_closing_and_reopening(tmp_path: Path) -> None:
    path = str(tmp_path / "durable.db")
    store = SqliteStore(path)
    await store.open()
    await store.write([create("kept")])
    await store.close()
    again = SqliteStore(path)
    await again.open()
    try:
        assert await again.read("Patient", "kept") is not None
    finally:
        await again.close()


async def test_a_new_database_carries_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "fresh.db"
    store = SqliteStore(str(path))
    await store.open()
    await store.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_a_database_from_a_newer_build_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    store = SqliteStore(str(path))
    with pytest.raises(SchemaTooNew):
        await store.open()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION + 1
        assert conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0


def test_database_urls_name_a_file() -> None:
    assert SqliteStore.from_url("sqlite:///var/x.db").path == "var/x.db"
    assert SqliteStore.from_url("sqlite:////abs/x.db").path == "/abs/x.db"
    with pytest.raises(ValueError, match="sqlite:///"):
        SqliteStore.from_url("sqlite://")


@pytest.mark.parametrize(
    ("bulk", "cache_bytes"), [(False, PAGE_CACHE_BYTES), (True, BULK_WRITER_CACHE_BYTES)]
)
async def test_a_store_opened_for_an_import_gives_its_writer_the_larger_page_cache(
    tmp_path: Path, bulk: bool, cache_bytes: int
) -> None:
    store = SqliteStore(str(tmp_path / "cache.db"), bulk=bulk)
    await store.open()
    try:
        settings = await store.writer_settings()
        assert settings["cache_size"] == -(cache_bytes // 1024)  # KiB
        assert settings["synchronous"] == 2  # FULL: a commit is durable when it returns
        assert settings["journal_mode"] == "wal"
        assert settings["wal_autocheckpoint"] == WAL_CHECKPOINT_PAGES
    finally:
        await store.close()


async def test_a_transaction_that_has_ended_refuses_further_work(tmp_path: Path) -> None:
    """Its connection is the writer's again: using it would write outside any transaction."""
    store = SqliteStore(str(tmp_path / "ended.db"))
    await store.open()
    try:
        async with store.transaction() as session:
            await session.write([create("inside")])
        with pytest.raises(StorageError, match="ended"):
            await session.write([create("after")])
        assert await store.read("Patient", "inside") is not None
        assert await store.read("Patient", "after") is None
    finally:
        await store.close()


@asynccontextmanager
async def writer_held(store: SqliteStore) -> AsyncIterator[None]:
    """The store's writer process stopped between transactions, so that the writes submitted
    in the block queue up and run as one batch when it ends (the hold transactions use)."""
    async with store._writer_process().held():
        yield
        await asyncio.sleep(0.1)  # every write submitted has reached the process


async def test_a_job_failing_in_a_batch_fails_alone_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    """Jobs of a batch run without savepoints first; a failure rolls the batch back and runs
    it again with one savepoint a job: the others commit, the failed one's writes are gone."""
    store = SqliteStore(str(tmp_path / "batch.db"))
    await store.open()
    try:
        async with writer_held(store):
            fine = [asyncio.ensure_future(store.write([create(f"ok{i}")])) for i in range(3)]
            failing = asyncio.ensure_future(store.write([create("partial"), create("ok1")]))
            after = asyncio.ensure_future(store.write([create("after")]))
        results = await asyncio.gather(*fine, failing, after, return_exceptions=True)
        assert isinstance(results[3], VersionConflict)
        assert not any(isinstance(r, BaseException) for r in results[:3] + results[4:])
        for id in ("ok0", "ok1", "ok2", "after"):
            assert await store.read("Patient", id) is not None, id
        assert await store.read("Patient", "partial") is None
    finally:
        await store.close()


async def test_a_caller_that_gives_up_on_its_write_does_not_stop_the_writer(
    tmp_path: Path,
) -> None:
    store = SqliteStore(str(tmp_path / "cancel.db"))
    await store.open()
    try:
        async with writer_held(store):
            abandoned = asyncio.ensure_future(store.write([create("abandoned")]))
            await asyncio.sleep(0.05)
            abandoned.cancel()
        await asyncio.wait_for(store.write([create("next")]), timeout=10)
        assert await store.read("Patient", "next") is not None
    finally:
        await store.close()


async def test_writes_sent_during_a_transaction_wait_for_it(tmp_path: Path) -> None:
    """A transaction has the write lock to itself: a write submitted meanwhile runs after it
    commits (here it then finds the resource the transaction created: a conflict)."""
    store = SqliteStore(str(tmp_path / "exclusive.db"))
    await store.open()
    try:
        async with store.transaction() as session:
            meanwhile = asyncio.ensure_future(store.write([create("contested")]))
            await asyncio.sleep(0.2)
            assert not meanwhile.done()
            await session.write([create("contested")])
        with pytest.raises(VersionConflict):
            await meanwhile
        assert await store.read("Patient", "contested") is not None
    finally:
        await store.close()


async def test_a_transaction_sees_the_writes_acknowledged_before_it(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "before.db"))
    await store.open()
    try:
        await store.write([create("before")])
        async with store.transaction() as session:
            found = await session.read("Patient", "before")
        assert found is not None and found.version == 1
    finally:
        await store.close()


async def test_a_writer_process_that_dies_fails_its_waiting_writes_and_is_replaced(
    tmp_path: Path,
) -> None:
    """Killed with a write waiting: that write fails with a StorageError and is not stored,
    what was acknowledged before is still there, and the next write starts a new process."""
    store = SqliteStore(str(tmp_path / "killed.db"))
    await store.open()
    try:
        await store.write([create("kept")])
        first = store._writer_process().pid
        assert first is not None
        async with writer_held(store):
            waiting = asyncio.ensure_future(store.write([create("lost")]))
            await asyncio.sleep(0.1)
            os.kill(first, signal.SIGKILL)
            with pytest.raises(StorageError, match="ended before answering"):
                await asyncio.wait_for(waiting, timeout=10)
        await store.write([create("after")])
        assert store._writer_process().pid not in (None, first)
        assert await store.read("Patient", "kept") is not None
        assert await store.read("Patient", "after") is not None
        assert await store.read("Patient", "lost") is None
    finally:
        await store.close()


async def test_an_interrupt_to_the_process_group_does_not_end_the_writer(tmp_path: Path) -> None:
    """Ctrl-C reaches every process of the terminal's group; the writer ends when the store
    closes it, after its last write, not in the middle of one."""
    store = SqliteStore(str(tmp_path / "sigint.db"))
    await store.open()
    try:
        await store.write([create("one")])
        pid = store._writer_process().pid
        assert pid is not None
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        await asyncio.sleep(0.1)
        await store.write([create("two")])
        assert store._writer_process().pid == pid
    finally:
        await store.close()


async def test_closing_the_store_ends_the_writer_process(tmp_path: Path) -> None:
    """(What it acknowledged survives: see the test of closing and reopening above.)"""
    store = SqliteStore(str(tmp_path / "closed.db"))
    await store.open()
    await store.write([create("one")])
    pid = store._writer_process().pid
    assert pid is not None
    await store.close()
    with pytest.raises(ProcessLookupError):  # it has exited and been reaped
        os.kill(pid, 0)
    with pytest.raises(StorageError, match="not open"):
        await store.write([create("two")])


async def test_a_write_the_writer_process_cannot_be_sent_fails_alone(tmp_path: Path) -> None:
    """A value the wire cannot carry (here a Decimal in an index row) fails its write with a
    StorageError instead of leaving it unanswered; the writes sent with it are stored."""
    store = SqliteStore(str(tmp_path / "unsendable.db"))
    await store.open()
    try:
        odd = Write(
            type="Observation",
            id="odd",
            version=1,
            expected_version=None,
            last_updated=STAMP,
            method="POST",
            body=b"{}",
            index=(NumberRow("Observation.value-quantity", Decimal("1.50")),),  # type: ignore[arg-type]
        )
        results = await asyncio.wait_for(
            asyncio.gather(
                store.write([create("before")]),
                store.write([odd]),
                store.write([create("after")]),
                return_exceptions=True,
            ),
            timeout=10,
        )
        assert isinstance(results[1], StorageError), results
        assert not isinstance(results[0], BaseException)
        assert not isinstance(results[2], BaseException)
        assert await store.read("Observation", "odd") is None
        assert await store.read("Patient", "after") is not None
    finally:
        await store.close()


def test_a_store_serves_the_event_loop_its_writer_process_started_on(tmp_path: Path) -> None:
    """Used from a second event loop, a write is refused with a clear error; closing the store
    from there ends the process (nothing listens on the first loop any more)."""
    store = SqliteStore(str(tmp_path / "loops.db"))

    async def first() -> int | None:
        await store.open()
        await store.write([create("one")])
        return store._writer_process().pid

    pid = asyncio.run(first())
    assert pid is not None

    async def second() -> None:
        with pytest.raises(StorageError, match="another event loop"):
            await store.write([create("two")])
        await store.close()

    asyncio.run(second())
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        pytest.fail(f"writer process {pid} still there")


def _index_of(path: str, type: str, id: str) -> Counter[tuple[Any, ...]]:
    """The stored index rows of one resource, without their rid."""
    conn = sqlite3.connect(path)
    try:
        (rid,) = conn.execute("SELECT rid FROM resources WHERE type = ? AND id = ?", (type, id))
        found: Counter[tuple[Any, ...]] = Counter()
        for table in INDEX_TABLES:
            for row in conn.execute(f"SELECT * FROM {table} WHERE rid = ?", rid):
                found[(table, *row[1:])] += 1
        return found
    finally:
        conn.close()


async def test_index_rows_are_the_same_extracted_here_or_in_the_writer_process(
    tmp_path: Path,
) -> None:
    """A write that leaves its rows to the engine is indexed in the server when it comes
    alone, in the writer process when writes queue; the stored rows are the same."""
    path = str(tmp_path / "offload.db")
    example = json.loads((EXAMPLES / "Patient-example.json").read_text())

    def leaving_rows(id: str) -> Write:
        document = {**example, "id": id, "meta": {"versionId": "1", "lastUpdated": STAMP}}
        return Write(
            type="Patient",
            id=id,
            version=1,
            expected_version=None,
            last_updated=STAMP,
            method="POST",
            body=dumps(document),
            index_base="http://example.org/fhir",
            document=document,
        )

    store = SqliteStore(path)
    await store.open()
    try:
        await store.write([leaving_rows("alone")])
        async with writer_held(store):
            queued = [store.write([leaving_rows(f"queued{n}")]) for n in range(OFFLOAD_AT + 1)]
            sent = [asyncio.ensure_future(write) for write in queued]
            await asyncio.sleep(0.05)
            assert store._writer_process().waiting > OFFLOAD_AT  # the last ones were offloaded
        await asyncio.gather(*sent)
    finally:
        await store.close()
    alone = _index_of(path, "Patient", "alone")
    assert sum(alone.values()) == len(extract(example, base_url="http://example.org/fhir"))
    assert _index_of(path, "Patient", f"queued{OFFLOAD_AT}") == alone


async def test_a_write_whose_rows_the_writer_process_cannot_extract_fails_alone(
    tmp_path: Path,
) -> None:
    """A body that does not parse, left to the writer process to index: that write fails with
    a StorageError and stores nothing; the writes queued with it are stored."""
    store = SqliteStore(str(tmp_path / "unindexable.db"))
    await store.open()
    broken = Write(
        type="Patient",
        id="broken",
        version=1,
        expected_version=None,
        last_updated=STAMP,
        method="POST",
        body=b"{not json",
        index_base="http://example.org/fhir",
    )
    try:
        async with writer_held(store):
            fine = [
                asyncio.ensure_future(store.write([create(f"ok{n}")])) for n in range(OFFLOAD_AT)
            ]
            await asyncio.sleep(0.05)
            failing = asyncio.ensure_future(store.write([broken]))  # queued: left to the process
        with pytest.raises(StorageError, match="indexing"):
            await failing
        await asyncio.gather(*fine)
        assert await store.read("Patient", "broken") is None
        for n in range(OFFLOAD_AT):
            assert await store.read("Patient", f"ok{n}") is not None
    finally:
        await store.close()
