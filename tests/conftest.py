"""Shared fixtures: a real server (uvicorn on a loopback port) on a fresh store.

Tests talk to it over real HTTP with httpx, as every client of the server does. Every test
that takes ``base_url`` or ``client`` runs once per engine: SQLite (a fresh file), MongoDB on
mongomock-motor (marked ``mongo``), and MongoDB on the server ``MHS_FHIR_TEST_MONGODB_URL``
names when it is set (a fresh database, dropped afterwards).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.storage import Store
from fhir_server.testing import running_server

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FHIR_JSON = "application/fhir+json"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when the shared data is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/test.db",
        max_body_bytes=1024 * 1024,
        insecure_no_auth=True,  # these suites test FHIR; tests/smart_auth tests the tokens
    )


REAL_MONGODB_URL = os.environ.get("MHS_FHIR_TEST_MONGODB_URL", "")
ENGINES = [
    pytest.param("sqlite"),
    pytest.param("mongo", marks=pytest.mark.mongo),
    *([pytest.param("mongo-real", marks=pytest.mark.mongo)] if REAL_MONGODB_URL else []),
]


@contextmanager
def _store(engine: str) -> Iterator[Store | None]:
    """The engine behind the server: None for the database URL's (SQLite)."""
    if engine == "sqlite":
        yield None
        return
    from fhir_server.storage.mongo import MongoStore, parse_url

    if engine == "mongo":
        from mongomock_motor import AsyncMongoMockClient

        yield MongoStore(client=AsyncMongoMockClient(), database="http", allow_standalone=True)
        return
    from pymongo import MongoClient

    url = parse_url(REAL_MONGODB_URL)
    name = f"mhs_fhir_http_{uuid.uuid4().hex[:12]}"
    try:
        yield MongoStore(REAL_MONGODB_URL, database=name)
    finally:
        with MongoClient(url.client_url) as client:
            client.drop_database(name)


@pytest.fixture(params=ENGINES)
def base_url(request: pytest.FixtureRequest, settings: Settings) -> Iterator[str]:
    with _store(request.param) as store, running_server(settings, store=store) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    """An HTTP client whose relative URLs are FHIR paths (``Patient/1``)."""
    with httpx.Client(base_url=base_url + "/", headers={"accept": FHIR_JSON}, timeout=30.0) as http:
        yield http
