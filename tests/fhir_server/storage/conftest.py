"""The engines every storage contract test runs on (MongoDB ones marked ``mongo``).

An engine joins the contract suites by adding a factory to ENGINES: it gets the test's
temporary directory and yields an unopened Store, cleaning up after it.

- ``sqlite``: a file in the temporary directory.
- ``mongo``: the MongoDB engine on mongomock-motor (no server; no transactions, so it runs
  in its allow_standalone mode).
- ``mongo-real``: the MongoDB engine on the server ``MHS_FHIR_TEST_MONGODB_URL`` points to, a
  fresh database per test, dropped afterwards. Absent when the variable is not set.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest

from fhir_server.storage import Store
from fhir_server.storage.sqlite import SqliteStore

REAL_MONGODB_URL = os.environ.get("MHS_FHIR_TEST_MONGODB_URL", "")


@asynccontextmanager
async def _sqlite(tmp: Path) -> AsyncIterator[Store]:
    yield SqliteStore(str(tmp / "contract.db"))


@asynccontextmanager
async def _mongomock(tmp: Path) -> AsyncIterator[Store]:
    from mongomock_motor import AsyncMongoMockClient

    from fhir_server.storage.mongo import MongoStore

    yield MongoStore(client=AsyncMongoMockClient(), database="contract", allow_standalone=True)


@asynccontextmanager
async def _mongo_real(tmp: Path) -> AsyncIterator[Store]:
    from pymongo import AsyncMongoClient

    from fhir_server.storage.mongo import MongoStore, parse_url

    url = parse_url(REAL_MONGODB_URL)
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url.client_url)
    name = f"mhs_fhir_test_{uuid.uuid4().hex[:12]}"
    try:
        yield MongoStore(client=client, database=name, allow_standalone=url.allow_standalone)
    finally:
        await client.drop_database(name)
        await client.close()


Factory = Callable[[Path], AbstractAsyncContextManager[Store]]
ENGINES: dict[str, Factory] = {"sqlite": _sqlite, "mongo": _mongomock}
if REAL_MONGODB_URL:
    ENGINES["mongo-real"] = _mongo_real


def engine_params() -> list[object]:
    return [
        pytest.param(name, marks=[pytest.mark.mongo] if name.startswith("mongo") else [])
        for name in sorted(ENGINES)
    ]


@pytest.fixture(scope="session")
def engines() -> dict[str, Factory]:
    """ENGINES, for suites that open every engine themselves."""
    return ENGINES


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=engine_params())
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    async with ENGINES[request.param](tmp_path) as engine:
        await engine.open()
        try:
            yield engine
        finally:
            await engine.close()
