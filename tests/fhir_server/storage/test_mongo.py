"""What only the MongoDB engine promises: its URL, its refusal of servers without
transactions, its indexes, its document layout, and storage errors for a lost server.

Runs on mongomock-motor; the tests about real transactions run only against
``MHS_FHIR_TEST_MONGODB_URL`` and skip elsewhere, naming the gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
from mongomock_motor import AsyncMongoMockClient
from pymongo.errors import AutoReconnect, OperationFailure, ServerSelectionTimeoutError

from fhir_server.search.plan import ParamIn, ReferenceMatch, SearchPlan
from fhir_server.storage import Store, VersionConflict, Write, open_store, redacted
from fhir_server.storage.mongo import (
    MongoStore,
    StandaloneRefused,
    StorageUnavailable,
    parse_url,
)
from fhir_server.storage.mongo.errors import translated
from fhir_server.storage.mongo.indexes import ALL, mongosh_commands
from fhir_server.storage.records import IndexRow, ReferenceRow, StorageError, TokenRow

pytestmark = [pytest.mark.anyio, pytest.mark.mongo]

NO_TRANSACTIONS = (
    "needs multi-document transactions, which mongomock (like a standalone mongod) lacks:"
    " set MHS_FHIR_TEST_MONGODB_URL to a replica set to run it"
)
Factory = Callable[[Path], AbstractAsyncContextManager[Store]]


def put(
    type: str,
    id: str,
    version: int = 1,
    *,
    index: tuple[IndexRow, ...] = (),
    body: bytes | None = b"{}",
) -> Write:
    return Write(
        type=type,
        id=id,
        version=version,
        expected_version=version - 1 or None,
        last_updated=f"2026-01-0{version}T00:00:00.000Z",
        method="POST" if version == 1 else ("DELETE" if body is None else "PUT"),
        body=body,
        index=index,
    )


def subject(patient: str) -> ReferenceRow:
    return ReferenceRow("Observation.subject", "Patient", patient, None)


@pytest.fixture
async def mock() -> AsyncIterator[tuple[MongoStore, Any]]:
    """An open engine on mongomock, and its raw database for looking at documents."""
    client: Any = AsyncMongoMockClient()
    store = MongoStore(client=client, database="t", allow_standalone=True)
    await store.open()
    try:
        yield store, client["t"]
    finally:
        await store.close()


@pytest.fixture(params=["mongo", "mongo-real"])
async def mongo(
    request: pytest.FixtureRequest, engines: dict[str, Factory], tmp_path: Path
) -> AsyncIterator[Store]:
    """The engine on mongomock, and on the real server when there is one."""
    if request.param not in engines:
        pytest.skip("MHS_FHIR_TEST_MONGODB_URL is not set")
    async with engines[request.param](tmp_path) as store:
        await store.open()
        try:
            yield store
        finally:
            await store.close()


# -- the URL -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "client_url", "database", "allow"),
    [
        ("mongodb://db.example.mil", "mongodb://db.example.mil", "mhs_fhir", False),
        ("mongodb://db:27017/", "mongodb://db:27017/", "mhs_fhir", False),
        (
            "mongodb://u:p%40ss@a:1,b:2/fhir?replicaSet=rs0",
            "mongodb://u:p%40ss@a:1,b:2/fhir?replicaSet=rs0",
            "fhir",
            False,
        ),
        (
            "mongodb://a/fhir?tls=true&allow_standalone=true&authSource=admin&w=majority",
            "mongodb://a/fhir?tls=true&authSource=admin&w=majority",
            "fhir",
            True,
        ),
        ("mongodb://a/?allow_standalone=false", "mongodb://a/", "mhs_fhir", False),
        ("mongodb://a/?ALLOW_STANDALONE=1", "mongodb://a/", "mhs_fhir", True),
        (
            "mongodb+srv://cluster0.example.net/prod?retryWrites=true",
            "mongodb+srv://cluster0.example.net/prod?retryWrites=true",
            "prod",
            False,
        ),
    ],
)
def test_the_url_passes_options_through_and_names_the_database(
    url: str, client_url: str, database: str, allow: bool
) -> None:
    parsed = parse_url(url)
    assert (parsed.client_url, parsed.database, parsed.allow_standalone) == (
        client_url,
        database,
        allow,
    )


@pytest.mark.parametrize(
    "url",
    [
        "postgres://a/b",
        "mongodb://",
        "mongodb:///fhir",
        "mongodb://a/fhir?allow_standalone=maybe",
        "mongodb://a/bad.name",
    ],
)
def test_a_bad_url_is_refused(url: str) -> None:
    with pytest.raises(ValueError):
        parse_url(url)


@pytest.mark.parametrize(
    "url", ["mongodb://db.example.mil/fhir", "mongodb+srv://cluster0.example.net/fhir"]
)
def test_open_store_picks_the_mongo_engine(url: str) -> None:
    store = open_store(url)
    assert isinstance(store, MongoStore)
    assert store.database == "fhir"


def test_the_engine_takes_a_url_or_a_client() -> None:
    with pytest.raises(ValueError):
        MongoStore()
    with pytest.raises(ValueError):
        MongoStore("mongodb://a", client=AsyncMongoMockClient())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mongodb://fhir:s3cr%40t@a:1,b:2/db?tls=true", "mongodb://fhir:***@a:1,b:2/db?tls=true"),
        (
            "mongodb+srv://fhir:pw@cluster0.example.net",
            "mongodb+srv://fhir:***@cluster0.example.net",
        ),
        (
            "mongodb://user@a/db?authMechanism=MONGODB-X509",
            "mongodb://user@a/db?authMechanism=MONGODB-X509",
        ),
        ("mongodb://a/db", "mongodb://a/db"),
        ("sqlite:///var/db", "sqlite:///var/db"),
    ],
)
def test_a_url_for_the_log_hides_the_password(url: str, shown: str) -> None:
    assert redacted(url) == shown


# -- servers without transactions ----------------------------------------------------------


async def test_a_server_without_transactions_is_refused_by_default() -> None:
    store = MongoStore(client=AsyncMongoMockClient(), database="t")
    with pytest.raises(StandaloneRefused, match="allow_standalone=true"):
        await store.open()


async def test_allow_standalone_warns_what_it_gives_up(caplog: pytest.LogCaptureFixture) -> None:
    store = MongoStore(client=AsyncMongoMockClient(), database="t", allow_standalone=True)
    with caplog.at_level(logging.WARNING, logger="fhir_server.storage.mongo"):
        await store.open()
    await store.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not atomic across documents" in warnings[0]
    assert "compare-and-swap" in warnings[0]
    assert not store.transactions


async def test_a_failed_batch_is_taken_back_whole_without_transactions(
    mock: tuple[MongoStore, Any],
) -> None:
    store, db = mock
    await store.write([put("Observation", "o", index=(subject("p1"),))])
    await store.write([put("Patient", "taken")])
    with pytest.raises(VersionConflict):
        await store.write(
            [put("Observation", "o", 2, index=(subject("p2"),)), put("Patient", "taken")]
        )
    doc = await db["resources"].find_one({"_id": "Observation/o"})
    assert (doc["version"], doc["patients"]) == (1, ["p1"])
    assert [e["id"] for e in doc["idx_reference"]] == ["p1"]
    assert await db["history"].count_documents({"id": "o"}) == 1


async def test_a_failed_transaction_block_is_taken_back_without_transactions(
    mock: tuple[MongoStore, Any],
) -> None:
    store, db = mock
    await store.write([put("Patient", "a", index=(TokenRow("Patient.gender", None, "male"),))])

    async def failing() -> None:
        async with store.transaction() as tx:
            await tx.write([put("Patient", "a", 2, body=None)])
            await tx.write([put("Patient", "b")])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing()
    doc = await db["resources"].find_one({"_id": "Patient/a"})
    assert (doc["version"], doc["deleted"], doc["idx_token"][0]["code"]) == (1, False, "male")
    assert await db["resources"].find_one({"_id": "Patient/b"}) is None
    assert await db["history"].count_documents({}) == 1


# -- real transactions (a replica set) ---------------------------------------------------------


async def test_a_transaction_is_invisible_outside_until_it_commits(mongo: Store) -> None:
    if not getattr(mongo, "transactions", False):
        pytest.skip(NO_TRANSACTIONS)
    async with mongo.transaction() as tx:
        await tx.write([put("Patient", "t1")])
        assert await tx.read("Patient", "t1") is not None
        assert await mongo.read("Patient", "t1") is None
    assert await mongo.read("Patient", "t1") is not None


async def test_a_failed_transaction_leaves_nothing_inside_the_server(mongo: Store) -> None:
    if not getattr(mongo, "transactions", False):
        pytest.skip(NO_TRANSACTIONS)
    await mongo.write([put("Patient", "a")])

    async def conflicting() -> None:
        async with mongo.transaction() as tx:
            await tx.write([put("Patient", "a", 2, body=b"changed")])
            await tx.write([put("Patient", "a", 2, body=b"again")])

    with pytest.raises(VersionConflict):
        await conflicting()
    found = await mongo.read("Patient", "a")
    assert found is not None and found.version == 1


async def test_two_transactions_guarding_one_key_cannot_both_commit(mongo: Store) -> None:
    if not getattr(mongo, "transactions", False):
        pytest.skip(NO_TRANSACTIONS)
    first_guarded = asyncio.Event()
    second_done = asyncio.Event()
    outcomes: list[str] = []

    async def first() -> None:
        async with mongo.transaction() as tx:
            await tx.guard("Patient", "create Patient?x")
            first_guarded.set()
            await second_done.wait()  # still open while the second one guards
            await tx.write([put("Patient", "g1")])
        outcomes.append("first committed")

    async def second() -> None:
        await first_guarded.wait()
        try:
            async with mongo.transaction() as tx:
                await tx.guard("Patient", "create Patient?x")
                await tx.write([put("Patient", "g2")])
            outcomes.append("second committed")
        except VersionConflict:
            outcomes.append("second refused")
        finally:
            second_done.set()

    await asyncio.gather(first(), second(), return_exceptions=True)
    assert "second refused" in outcomes or "first committed" not in outcomes
    assert (await mongo.read("Patient", "g1") is None) or (
        await mongo.read("Patient", "g2") is None
    )


# -- layout and indexes ------------------------------------------------------------------------


async def test_open_creates_every_index(mock: tuple[MongoStore, Any]) -> None:
    _, db = mock
    for collection, specs in ALL.items():
        names = set(await db[collection].index_information())
        assert {spec.name for spec in specs} <= names, collection


def test_the_scaling_guide_lists_the_indexes_the_engine_creates() -> None:
    guide = (Path(__file__).parents[3] / "docs" / "scaling.md").read_text()
    for command in mongosh_commands():
        assert command in guide


async def test_the_shard_key_is_the_patient_compartment_of_the_first_version(
    mock: tuple[MongoStore, Any],
) -> None:
    store, db = mock
    await store.write([put("Patient", "p1")])
    await store.write([put("Observation", "o", index=(subject("p1"),))])
    await store.write([put("Organization", "org")])
    await store.write([put("Observation", "o", 2, index=(subject("p2"),))])
    docs = {d["_id"]: d async for d in db["resources"].find({})}
    assert docs["Patient/p1"]["shard"] == "Patient/p1"
    assert docs["Organization/org"]["shard"] == "Organization/org"
    assert (docs["Observation/o"]["shard"], docs["Observation/o"]["patients"]) == (
        "Patient/p1",
        ["p2"],
    )


async def test_history_keeps_every_version_and_resources_only_the_current(
    mock: tuple[MongoStore, Any],
) -> None:
    store, db = mock
    for version in (1, 2, 3):
        await store.write([put("Patient", "a", version)])
    assert await db["resources"].count_documents({}) == 1
    versions = [d["version"] async for d in db["history"].find({}).sort("_id", 1)]
    assert versions == [1, 2, 3]


async def test_explain_shows_the_pipeline_where_the_server_cannot_explain(
    mock: tuple[MongoStore, Any],
) -> None:
    store, _ = mock
    condition = ParamIn("Observation.subject", "reference", (ReferenceMatch("Patient", "p1"),))
    lines = await store.explain(SearchPlan(types=("Observation",), conditions=(condition,)))
    assert lines[0].startswith("pipeline: ") and "idx_reference" in lines[0]


# -- a lost server -----------------------------------------------------------------------------


async def test_an_unreachable_server_is_storage_unavailable() -> None:
    store = MongoStore("mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300&connectTimeoutMS=300")
    with pytest.raises(StorageUnavailable) as raised:
        await store.open()
    assert isinstance(raised.value, StorageError)


async def test_a_connection_lost_mid_request_is_storage_unavailable(
    mock: tuple[MongoStore, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, _ = mock

    async def lost(*args: object, **kwargs: object) -> None:
        raise ServerSelectionTimeoutError("no primary available")

    cols = store._collections()
    monkeypatch.setattr(cols.resources, "find_one", lost)
    monkeypatch.setattr(cols.counters, "find_one_and_update", lost)
    with pytest.raises(StorageUnavailable):
        await store.read("Patient", "a")
    with pytest.raises(StorageUnavailable):
        await store.write([put("Patient", "a")])


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (AutoReconnect("connection reset"), StorageUnavailable),
        (ServerSelectionTimeoutError("timed out"), StorageUnavailable),
        (OperationFailure("not authorized", code=13), StorageError),
    ],
)
def test_driver_errors_become_storage_errors(
    error: Exception, expected: type[StorageError]
) -> None:
    with pytest.raises(expected) as raised, translated("testing"):
        raise error
    assert type(raised.value) is expected
    assert raised.value.__cause__ is error


# -- the transactional code path, on a recording stand-in for a replica set ---------------------


class _Session:
    """Records what the engine asks of a client session; runs callbacks without isolation."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.in_transaction = False

    async def __aenter__(self) -> _Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.end_session()

    async def with_transaction(self, callback: Any, write_concern: Any = None) -> Any:
        self.log.append(f"with_transaction w={write_concern.document['w']}")
        self.in_transaction = True
        try:
            result = await callback(self)
        except BaseException:
            self.log.append("abort")
            raise
        finally:
            self.in_transaction = False
        self.log.append("commit")
        return result

    async def start_transaction(self, write_concern: Any = None) -> None:
        self.log.append(f"start w={write_concern.document['w']}")
        self.in_transaction = True

    async def commit_transaction(self) -> None:
        self.log.append("commit")
        self.in_transaction = False

    async def abort_transaction(self) -> None:
        self.log.append("abort")
        self.in_transaction = False

    async def end_session(self) -> None:
        self.log.append("end")


class _Proxy:
    """A mongomock object whose methods take ``session=`` (and note that they got one)."""

    def __init__(self, target: Any, log: list[str]) -> None:
        self._target = target
        self._log = log

    def __getitem__(self, name: str) -> _Proxy:
        return _Proxy(self._target[name], self._log)

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._target, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            if isinstance(kwargs.pop("session", None), _Session):
                self._log.append(f"{name} in session")
            return method(*args, **kwargs)

        return call


class _ReplicaSet(_Proxy):
    """mongomock dressed as a replica set member: ``hello`` names a set, sessions exist."""

    def __init__(self) -> None:
        super().__init__(AsyncMongoMockClient(), [])
        self.write_concern = None

    def __getitem__(self, name: str) -> _Proxy:
        if name == "admin":
            return _Admin(self._target[name], self._log)
        return _Proxy(self._target[name], self._log)

    def start_session(self) -> _Session:
        return _Session(self._log)


class _Admin(_Proxy):
    async def command(self, name: str) -> dict[str, Any]:
        return {"setName": "rs0", "isWritablePrimary": True}


@pytest.fixture
async def replica() -> AsyncIterator[tuple[MongoStore, list[str]]]:
    client = _ReplicaSet()
    store = MongoStore(client=client, database="t")
    await store.open()
    client._log.clear()
    try:
        yield store, client._log
    finally:
        await store.close()


async def test_on_a_replica_set_a_write_is_one_transaction_with_majority_writes(
    replica: tuple[MongoStore, list[str]],
) -> None:
    store, log = replica
    assert store.transactions
    await store.write([put("Patient", "a"), put("Patient", "b")])
    assert log == [
        "with_transaction w=majority",
        "insert_one in session",
        "insert_one in session",
        "insert_one in session",
        "insert_one in session",
        "commit",
        "end",
    ]


async def test_on_a_replica_set_a_failed_guard_aborts_the_transaction(
    replica: tuple[MongoStore, list[str]],
) -> None:
    store, log = replica
    with pytest.raises(VersionConflict):
        await store.write([put("Patient", "ghost", 2)])
    assert log[-2:] == ["abort", "end"]


async def test_on_a_replica_set_a_transaction_block_runs_in_one_session(
    replica: tuple[MongoStore, list[str]],
) -> None:
    store, log = replica
    async with store.transaction() as tx:
        await tx.write([put("Patient", "a")])
        await tx.read("Patient", "a")
        await tx.search(SearchPlan(types=("Patient",)))
        await tx.count(SearchPlan(types=("Patient",)))
    assert log[0] == "start w=majority"
    assert log[-2:] == ["commit", "end"]
    assert {"find_one in session", "aggregate in session", "count_documents in session"} <= set(log)


async def test_on_a_replica_set_a_block_that_raises_is_aborted_not_committed(
    replica: tuple[MongoStore, list[str]],
) -> None:
    store, log = replica

    async def failing() -> None:
        async with store.transaction() as tx:
            await tx.write([put("Patient", "a")])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await failing()
    assert log[-2:] == ["abort", "end"]
    assert "commit" not in log
