"""MHS profiles on write: a claimed profile is enforced (422 at the element), the first-class
types meet theirs when the server requires MHS profiles, and the CapabilityStatement says which
profiles each type supports."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server
from ig.naming import DOD_ID

MHS_PATIENT = "http://fhir.mhs-fhir.example/StructureDefinition/mhs-patient"
FHIR = {"content-type": "application/fhir+json"}
CONFORMING: dict[str, Any] = {
    "resourceType": "Patient",
    "identifier": [{"system": DOD_ID, "value": "1234567890"}],
    "name": [{"family": "Garcia"}],
    "birthDate": "1988-04-12",
}
NO_DOD_ID: dict[str, Any] = {"resourceType": "Patient", "birthDate": "1988-04-12"}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path_factory.mktemp('strict')}/s.db",
        insecure_no_auth=True,
        require_mhs_profiles=True,
    )
    with running_server(settings) as base, httpx.Client(base_url=base + "/") as http:
        yield http


def test_a_claimed_mhs_profile_is_enforced_at_the_offending_element(
    client: httpx.Client,
) -> None:
    claimed = {**NO_DOD_ID, "meta": {"profile": [MHS_PATIENT]}}
    answer = client.post("Patient", json=claimed, headers=FHIR)
    assert answer.status_code == 422
    expressions = [e for i in answer.json()["issue"] for e in i.get("expression", [])]
    assert "Patient.identifier" in expressions


def test_a_resource_claiming_no_profile_is_not_held_to_one(client: httpx.Client) -> None:
    assert client.post("Patient", json=NO_DOD_ID, headers=FHIR).status_code == 201


def test_a_conforming_claim_is_stored(client: httpx.Client) -> None:
    claimed = {**CONFORMING, "meta": {"profile": [MHS_PATIENT]}}
    assert client.post("Patient", json=claimed, headers=FHIR).status_code == 201


def test_required_profiles_hold_the_first_class_types_to_theirs(strict: httpx.Client) -> None:
    assert strict.post("Patient", json=NO_DOD_ID, headers=FHIR).status_code == 422
    assert strict.post("Patient", json=CONFORMING, headers=FHIR).status_code == 201


def test_required_profiles_leave_other_types_alone(strict: httpx.Client) -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
    }
    assert strict.post("Observation", json=observation, headers=FHIR).status_code == 201


def test_the_capability_statement_lists_supported_profiles(client: httpx.Client) -> None:
    statement = client.get("metadata").json()
    [patient] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    assert MHS_PATIENT in patient["supportedProfile"]
