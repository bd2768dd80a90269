"""When the database fails mid-request (a lost connection, a failover), the client gets a 503
OperationOutcome it can retry on, and nothing it was told about changed.

The fault is injected into the MongoDB driver stand-in (mongomock-motor) under a running
server: every collection call of one kind raises the error pymongo raises when the
connection drops.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mongomock_motor import AsyncMongoMockClient, AsyncMongoMockCollection
from pymongo.errors import AutoReconnect

from fhir_server.config import Settings
from fhir_server.storage.mongo import MongoStore
from fhir_server.testing import running_server

pytestmark = pytest.mark.mongo
FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[httpx.Client]:
    store = MongoStore(client=AsyncMongoMockClient(), database="faults", allow_standalone=True)
    settings = Settings(database_url=f"sqlite:///{tmp_path}/auth.db", insecure_no_auth=True)
    with running_server(settings, store=store) as base, httpx.Client(base_url=base + "/") as http:
        yield http


def lose_connection(monkeypatch: pytest.MonkeyPatch, method: str) -> None:
    def dropped(*args: Any, **kwargs: Any) -> Any:
        raise AutoReconnect("connection closed (injected)")

    monkeypatch.setattr(AsyncMongoMockCollection, method, dropped)


def assert_transient(answer: httpx.Response) -> None:
    assert answer.status_code == 503, answer.text
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "transient"
    assert answer.headers["retry-after"] == "1"


def test_a_read_when_the_connection_drops_is_503(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    patient = {"resourceType": "Patient", "id": "p"}
    assert client.put("Patient/p", json=patient, headers=FHIR).status_code == 201
    lose_connection(monkeypatch, "find_one")
    assert_transient(client.get("Patient/p"))
    monkeypatch.undo()
    assert client.get("Patient/p").status_code == 200


def test_a_write_when_the_connection_drops_is_503_and_stores_nothing(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    lose_connection(monkeypatch, "insert_one")
    patient = {"resourceType": "Patient", "id": "q"}
    assert_transient(client.put("Patient/q", json=patient, headers=FHIR))
    monkeypatch.undo()
    assert client.get("Patient/q").status_code == 404
    assert client.get("Patient").json()["total"] == 0
