"""The proxy rules end access on the birthday that ends it: a live token stops reaching the
dependent and its refresh token fails, without anybody revoking anything."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from fhir_server.cli import _load_demo
from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.demo import DEMO_CLIENT_ID, seed_demo_accounts
from smart_auth.proxy import Link, Reach, reach_for_dependent
from smart_auth.records import Grant, Role, Token, digest
from smart_auth.service import open_auth_store
from smart_auth.testing import issue_token

TODAY = date.today()


def born_years_ago(years: int, *, days_later: int = 0) -> str:
    """A birth date ``years`` ago (``days_later``: that many days after it)."""
    birthday = date(TODAY.year - years, TODAY.month, min(TODAY.day, 28))
    return date.fromordinal(birthday.toordinal() + days_later).isoformat()


@pytest.mark.parametrize(
    ("birth_date", "reach"),
    [
        (born_years_ago(12, days_later=1), Reach.FULL),  # 12, turns 13 tomorrow
        (born_years_ago(13), Reach.LIMITED),  # 13 today
        (born_years_ago(17, days_later=1), Reach.LIMITED),  # 17, turns 18 tomorrow
        (born_years_ago(18), None),  # 18 today: the proxy's reach has ended
    ],
)
def test_reach_over_a_dependent_changes_on_the_birthday(birth_date: str, reach: Reach) -> None:
    assert reach_for_dependent(birth_date, TODAY) == reach


def test_limited_reach_covers_only_demographics_and_appointments() -> None:
    assert Reach.LIMITED.allows("Patient")
    assert Reach.LIMITED.allows("Appointment")
    assert not Reach.LIMITED.allows("MedicationRequest")
    assert not Reach.LIMITED.allows("Observation")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/reach.db")
    _load_demo(settings)
    seed_demo_accounts(settings)
    with running_server(settings) as base:
        yield base, settings.database_url


def _links(child_birth_date: str) -> tuple[Link, ...]:
    return (
        Link("demo-sponsor", "self"),
        Link("demo-child", "dependent", child_birth_date),
    )


def test_a_live_proxy_token_stops_reaching_a_dependent_who_has_turned_18(
    server: tuple[str, str],
) -> None:
    base, database_url = server
    grown_up = issue_token(
        database_url,
        scope="user/*.rs",
        role=Role.BENEFICIARY,
        username="demo.sponsor",
        links=_links(born_years_ago(18)),
    )
    still_a_child = issue_token(
        database_url,
        scope="user/*.rs",
        role=Role.BENEFICIARY,
        username="demo.sponsor",
        links=_links(born_years_ago(10)),
    )
    url = f"{base}/MedicationRequest/demo-rx-2"
    assert httpx.get(url, headers={"authorization": f"Bearer {still_a_child}"}).status_code == 200
    assert httpx.get(url, headers={"authorization": f"Bearer {grown_up}"}).status_code == 404


def _refresh_token(database_url: str, child_birth_date: str) -> str:
    secret = secrets.token_urlsafe(32)
    now = time.time()
    store = open_auth_store(database_url)
    store.open()
    store.put_tokens(
        [
            Token(
                digest=digest(secret),
                kind="refresh",
                grant=Grant(
                    client_id=DEMO_CLIENT_ID,
                    scope="launch/patient offline_access patient/*.rs",
                    role=Role.BENEFICIARY,
                    username="demo.sponsor",
                    patient="demo-child",
                    links=_links(child_birth_date),
                ),
                issued_at=now,
                expires_at=now + 3600,
                family=secrets.token_hex(8),
            )
        ]
    )
    store.close()
    return secret


def _refresh(base: str, token: str) -> httpx.Response:
    origin = base.rsplit("/fhir", 1)[0]
    return httpx.post(
        f"{origin}/auth/token",
        data={"grant_type": "refresh_token", "refresh_token": token, "client_id": DEMO_CLIENT_ID},
    )


def test_a_refresh_token_for_a_dependent_who_is_still_a_minor_works(
    server: tuple[str, str],
) -> None:
    base, database_url = server
    answer = _refresh(base, _refresh_token(database_url, born_years_ago(15)))
    assert answer.status_code == 200, answer.text
    assert answer.json()["patient"] == "demo-child"


def test_a_refresh_token_for_a_dependent_who_has_turned_18_fails(
    server: tuple[str, str],
) -> None:
    base, database_url = server
    answer = _refresh(base, _refresh_token(database_url, born_years_ago(18)))
    assert answer.status_code == 400
    assert answer.json()["error"] == "invalid_grant"


def _teen_appointment(id: str, labels: list[dict[str, str]]) -> dict[str, object]:
    return {
        "resourceType": "Appointment",
        "id": id,
        **({"meta": {"security": labels}} if labels else {}),
        "status": "booked",
        "start": "2026-12-20T15:00:00Z",
        "end": "2026-12-20T15:30:00Z",
        "participant": [{"actor": {"reference": "Patient/demo-teen"}, "status": "accepted"}],
    }


def test_the_proxy_of_a_teen_sees_plain_appointments_but_not_sensitive_ones(
    server: tuple[str, str],
) -> None:
    base, database_url = server
    system = issue_token(database_url, scope="system/*.cruds")
    behavioral = [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "BH"}]
    restricted = [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
    ]
    for id, labels in (("teen-plain", []), ("teen-bh", behavioral), ("teen-r", restricted)):
        stored = httpx.put(
            f"{base}/Appointment/{id}",
            json=_teen_appointment(id, labels),
            headers={"authorization": f"Bearer {system}", "content-type": "application/fhir+json"},
        )
        assert stored.status_code == 201, stored.text
    proxy = issue_token(
        database_url,
        scope="user/*.rs",
        role=Role.BENEFICIARY,
        username="demo.sponsor",
        links=(Link("demo-sponsor", "self"), Link("demo-teen", "dependent", born_years_ago(14))),
    )
    headers = {"authorization": f"Bearer {proxy}"}

    found = httpx.get(f"{base}/Appointment?actor=Patient/demo-teen", headers=headers).json()
    assert [e["resource"]["id"] for e in found.get("entry", [])] == ["teen-plain"]
    assert httpx.get(f"{base}/Appointment/teen-bh", headers=headers).status_code == 404
    assert httpx.get(f"{base}/Appointment/teen-r", headers=headers).status_code == 404
    assert httpx.get(f"{base}/Appointment/teen-plain", headers=headers).status_code == 200
