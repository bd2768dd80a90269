"""What only the SQLite engine promises: durability across reopen, schema versions, a write
getting in between another process's transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import threading
import time
from pathlib import Path

import pytest

from fhir_server.storage import Write
from fhir_server.storage.records import StorageError, VersionConflict
from fhir_server.storage.schema import SCHEMA_VERSION
from fhir_server.storage.sqlite import (
    BULK_WRITER_CACHE_BYTES,
    PAGE_CACHE_BYTES,
    SchemaTooNew,
    SqliteStore,
    _Job,
)

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def create(id: str) -> Write:
    return Write(
        type="Patient",
        id=id,
        version=1,
        expected_version=None,
        last_updated="2026-01-01T00:00:00.000Z",
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
    monkeypatch.setattr("fhir_server.storage.sqlite._LOCK_WAIT", 0.2)
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


async def _writer_pragma(store: SqliteStore, name: str) -> int:
    job: _Job[int] = _Job(lambda conn, _: int(conn.execute(f"PRAGMA {name}").fetchone()[0]), set())
    return await store._submit(job)


@pytest.mark.parametrize(
    ("bulk", "cache_bytes"), [(False, PAGE_CACHE_BYTES), (True, BULK_WRITER_CACHE_BYTES)]
)
async def test_a_store_opened_for_an_import_gives_its_writer_the_larger_page_cache(
    tmp_path: Path, bulk: bool, cache_bytes: int
) -> None:
    store = SqliteStore(str(tmp_path / "cache.db"), bulk=bulk)
    await store.open()
    try:
        assert await _writer_pragma(store, "cache_size") == -(cache_bytes // 1024)  # KiB
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


async def writer_held(store: SqliteStore) -> tuple[threading.Event, asyncio.Future[bool]]:
    """The store's writer busy with a job that waits at a gate, so that writes submitted now
    queue up and run as one batch once the gate is set (the job's result: True)."""
    gate = threading.Event()
    held = asyncio.ensure_future(store._submit(_Job(lambda conn, _: gate.wait(10), set())))
    await asyncio.sleep(0.1)  # the writer has taken the job and waits at the gate
    return gate, held


async def test_a_job_failing_in_a_batch_fails_alone_and_leaves_nothing_behind(
    tmp_path: Path,
) -> None:
    """Jobs of a batch run without savepoints first; a failure rolls the batch back and runs
    it again with one savepoint a job: the others commit, the failed one's writes are gone."""
    store = SqliteStore(str(tmp_path / "batch.db"))
    await store.open()
    try:
        gate, held = await writer_held(store)  # what follows queues as a batch
        fine = [asyncio.ensure_future(store.write([create(f"ok{i}")])) for i in range(3)]
        failing = asyncio.ensure_future(store.write([create("partial"), create("ok1")]))
        after = asyncio.ensure_future(store.write([create("after")]))
        gate.set()
        assert await held
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
        gate, held = await writer_held(store)  # the next write queues
        abandoned = asyncio.ensure_future(store.write([create("abandoned")]))
        await asyncio.sleep(0.05)
        abandoned.cancel()
        gate.set()
        assert await held
        await asyncio.wait_for(store.write([create("next")]), timeout=10)
        assert await store.read("Patient", "next") is not None
    finally:
        await store.close()


async def test_a_transaction_batched_with_other_writes_keeps_them_apart(tmp_path: Path) -> None:
    """A session cannot run twice, so its batch takes a savepoint per job from the start: a
    write failing after it fails alone, the transaction and the other writes commit."""
    store = SqliteStore(str(tmp_path / "session-batch.db"))
    await store.open()
    try:
        gate, held = await writer_held(store)  # what follows queues as a batch

        async def in_transaction() -> None:
            async with store.transaction() as session:
                await session.write([create("in-transaction")])

        transaction = asyncio.ensure_future(in_transaction())
        await asyncio.sleep(0.05)  # the session's job is queued first
        failing = asyncio.ensure_future(store.write([create("partial"), create("in-transaction")]))
        fine = asyncio.ensure_future(store.write([create("fine")]))
        await asyncio.sleep(0.05)
        gate.set()
        assert await held
        results = await asyncio.gather(transaction, failing, fine, return_exceptions=True)
        assert results[0] is None and not isinstance(results[2], BaseException), results
        assert isinstance(results[1], VersionConflict)
        for id in ("in-transaction", "fine"):
            assert await store.read("Patient", id) is not None, id
        assert await store.read("Patient", "partial") is None
    finally:
        await store.close()
