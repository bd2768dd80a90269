"""The audit trail: every FHIR request leaves a record of who, for whom, through which client,
what, when, how it ended and from where; refused requests too. `mhs-fhir audit` lists it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fhir_server.cli import _load_demo, main
from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.audit import AuditRecord
from smart_auth.proxy import Link
from smart_auth.records import Role
from smart_auth.service import open_auth_store
from smart_auth.testing import issue_token


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/audit.db")
    _load_demo(settings)
    with running_server(settings) as base:
        yield base, settings.database_url


def _records(database_url: str, expected: int) -> list[AuditRecord]:
    store = open_auth_store(database_url)
    store.open()
    try:
        deadline = time.monotonic() + 5
        while True:
            records = store.audit_records()
            if len(records) >= expected or time.monotonic() > deadline:
                return list(records)
            time.sleep(0.05)
    finally:
        store.close()


def test_a_read_by_a_patient_token_is_recorded_with_who_whom_client_what_and_outcome(
    server: tuple[str, str],
) -> None:
    base, database_url = server
    token = issue_token(
        database_url,
        scope="patient/*.rs",
        client_id="portal",
        role=Role.BENEFICIARY,
        username="demo.sponsor",
        patient="demo-child",
        links=(Link("demo-sponsor", "self"), Link("demo-child", "dependent", "2016-02-14")),
    )
    read = httpx.get(f"{base}/Patient/demo-child", headers={"authorization": f"Bearer {token}"})
    assert read.status_code == 200

    [record] = _records(database_url, 1)
    assert record.subject == "demo.sponsor"
    assert record.role == "beneficiary"
    assert record.client_id == "portal"
    assert record.patient == "demo-child"
    assert record.action == "GET"
    assert record.what == "/fhir/Patient/demo-child"
    assert record.status == 200
    assert record.source == "127.0.0.1"


def test_refused_requests_are_recorded_too(server: tuple[str, str]) -> None:
    base, database_url = server
    assert httpx.get(f"{base}/Patient/demo-child").status_code == 401
    [record] = _records(database_url, 1)
    assert record.subject == "unauthenticated"
    assert record.status == 401


def test_a_browser_request_is_recorded_like_any_other(server: tuple[str, str]) -> None:
    # Without an Origin header a read takes the fast lane; with one, the full stack (CORS).
    base, database_url = server
    url = f"{base}/Patient/demo-child"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"origin": "https://portal.example.mil"}).status_code == 401
    records = _records(database_url, 2)
    assert [(r.what, r.status) for r in records] == [("/fhir/Patient/demo-child", 401)] * 2


def test_the_capability_statement_is_public_and_not_audited(server: tuple[str, str]) -> None:
    base, database_url = server
    assert httpx.get(f"{base}/metadata").status_code == 200
    assert httpx.get(f"{base}/Patient/x").status_code == 401
    records = _records(database_url, 1)
    assert [r.what for r in records] == ["/fhir/Patient/x"]


def test_the_audit_command_lists_records_as_text_and_as_fhir_audit_events(
    server: tuple[str, str],
) -> None:
    base, database_url = server
    token = issue_token(database_url, scope="system/*.rs", client_id="va-ehr")
    httpx.get(
        f"{base}/Observation?patient=demo-sponsor", headers={"authorization": f"Bearer {token}"}
    )
    _records(database_url, 1)

    text = CliRunner().invoke(main, ["audit", "--database-url", database_url])
    assert text.exit_code == 0, text.output
    assert "/fhir/Observation?patient=demo-sponsor" in text.output
    assert "client=va-ehr" in text.output

    fhir = CliRunner().invoke(main, ["audit", "--format", "fhir", "--database-url", database_url])
    assert fhir.exit_code == 0, fhir.output
    event = json.loads(fhir.output.splitlines()[0])
    assert event["resourceType"] == "AuditEvent"
    assert event["outcome"] == "0"
    assert event["action"] == "R"
