"""$validate (resource-operation-validate.html): type and instance level, body or Parameters,
``mode`` and ``profile``; always an OperationOutcome, errors at the offending element."""

from __future__ import annotations

from typing import Any

import httpx

FHIR = {"content-type": "application/fhir+json"}
PATIENT: dict[str, Any] = {"resourceType": "Patient", "gender": "female", "birthDate": "1990-01-01"}


def severities(outcome: dict[str, Any]) -> list[str]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [i["severity"] for i in outcome["issue"]]


def test_a_valid_resource_is_answered_with_one_informational_issue(client: httpx.Client) -> None:
    answer = client.post("Patient/$validate", json=PATIENT, headers=FHIR)
    assert answer.status_code == 200
    assert severities(answer.json()) == ["information"]


def test_an_invalid_resource_is_answered_200_with_the_error_at_its_element(
    client: httpx.Client,
) -> None:
    answer = client.post("Patient/$validate", json={**PATIENT, "gender": "f"}, headers=FHIR)
    assert answer.status_code == 200
    [issue] = answer.json()["issue"]
    assert issue["severity"] == "error"
    assert issue["expression"] == ["Patient.gender"]


def test_a_parameters_body_carries_the_resource_and_mode(client: httpx.Client) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": PATIENT},
            {"name": "mode", "valueCode": "create"},
        ],
    }
    answer = client.post("Patient/$validate", json=body, headers=FHIR)
    assert severities(answer.json()) == ["information"]


def test_validating_a_stored_instance_checks_what_is_stored(client: httpx.Client) -> None:
    created = client.post("Patient", json=PATIENT, headers=FHIR)
    answer = client.get(f"{created.headers['location'].split('/_history')[0]}/$validate")
    assert answer.status_code == 200
    assert severities(answer.json()) == ["information"]


def test_mode_delete_of_an_unknown_instance_is_404(client: httpx.Client) -> None:
    answer = client.post(
        "Patient/nope/$validate?mode=delete", json={"resourceType": "Parameters"}, headers=FHIR
    )
    assert answer.status_code == 404


def test_an_unknown_mode_is_400(client: httpx.Client) -> None:
    answer = client.post("Patient/$validate?mode=merge", json=PATIENT, headers=FHIR)
    assert answer.status_code == 400


def test_an_unknown_mhs_profile_asked_for_is_an_error_issue(client: httpx.Client) -> None:
    answer = client.post(
        "Patient/$validate?profile=http://fhir.mhs-fhir.example/StructureDefinition/Nope",
        json=PATIENT,
        headers=FHIR,
    )
    assert "error" in severities(answer.json())


def test_a_resource_of_another_type_is_400(client: httpx.Client) -> None:
    answer = client.post("Observation/$validate", json=PATIENT, headers=FHIR)
    assert answer.status_code == 400
