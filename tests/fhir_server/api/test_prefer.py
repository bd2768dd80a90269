"""The Prefer header on writes over real HTTP: return=minimal | representation | OperationOutcome.

Spec: https://hl7.org/fhir/R4/http.html#return
"""

from __future__ import annotations

import json
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [{"family": "Haddad", "given": ["Samir"]}],
    "gender": "male",
    "birthDate": "1962-08-19",
}


def post(client: httpx.Client, prefer: str | None = None) -> httpx.Response:
    headers = {"content-type": FHIR_JSON}
    if prefer is not None:
        headers["prefer"] = prefer
    return client.post("Patient", content=json.dumps(PATIENT), headers=headers)


def put(
    client: httpx.Client, id: str, body: dict[str, Any], prefer: str | None = None
) -> httpx.Response:
    headers = {"content-type": FHIR_JSON}
    if prefer is not None:
        headers["prefer"] = prefer
    return client.put(f"Patient/{id}", content=json.dumps(body), headers=headers)


def create_patient(client: httpx.Client) -> str:
    response = post(client)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k not in ("id", "meta")}


# -- return=minimal -------------------------------------------------------------------------------


def test_create_return_minimal_has_an_empty_body(client: httpx.Client) -> None:
    response = post(client, "return=minimal")
    assert response.status_code == 201
    assert response.content == b""


def test_create_return_minimal_keeps_location_etag_and_last_modified(
    client: httpx.Client, base_url: str
) -> None:
    response = post(client, "return=minimal")
    assert response.status_code == 201
    assert response.headers["location"].startswith(f"{base_url}/Patient/")
    assert response.headers["location"].endswith("/_history/1")
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["last-modified"].endswith(" GMT")


def test_create_return_minimal_still_stores_the_resource(client: httpx.Client) -> None:
    response = post(client, "return=minimal")
    stored = client.get(response.headers["location"])
    assert stored.status_code == 200
    assert without_meta(stored.json()) == PATIENT


def test_update_return_minimal_has_an_empty_body_and_the_new_etag(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid, "gender": "other"}, "return=minimal")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["etag"] == 'W/"2"'
    assert client.get(f"Patient/{pid}").json()["gender"] == "other"


def test_return_minimal_among_other_preferences_is_honoured(client: httpx.Client) -> None:
    response = post(client, "handling=lenient, return=minimal")
    assert response.status_code == 201
    assert response.content == b""


def test_return_minimal_does_not_empty_a_read(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"prefer": "return=minimal"})
    assert response.status_code == 200
    assert response.json()["id"] == pid


def test_return_minimal_does_not_empty_an_error(client: httpx.Client) -> None:
    response = client.post(
        "Patient",
        content=json.dumps({**PATIENT, "birthDate": "not-a-date"}),
        headers={"content-type": FHIR_JSON, "prefer": "return=minimal"},
    )
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"


# -- return=representation (the default) -------------------------------------------------------


def test_create_without_prefer_returns_the_resource(client: httpx.Client) -> None:
    response = post(client)
    assert response.status_code == 201
    body = response.json()
    assert body["meta"]["versionId"] == "1"
    assert without_meta(body) == PATIENT


def test_create_return_representation_returns_the_stored_resource(client: httpx.Client) -> None:
    response = post(client, "return=representation")
    assert response.status_code == 201
    body = response.json()
    assert without_meta(body) == PATIENT
    assert client.get(f"Patient/{body['id']}").content == response.content


def test_update_without_prefer_returns_the_new_version(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid, "gender": "unknown"})
    assert response.status_code == 200
    assert response.json()["gender"] == "unknown"
    assert response.json()["meta"]["versionId"] == "2"


def test_update_return_representation_returns_the_new_version(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(
        client, pid, {**PATIENT, "id": pid, "gender": "unknown"}, "return=representation"
    )
    assert response.status_code == 200
    assert response.json()["gender"] == "unknown"
    assert response.content == client.get(f"Patient/{pid}").content


# -- return=OperationOutcome --------------------------------------------------------------------


def test_create_return_operation_outcome_returns_an_outcome(client: httpx.Client) -> None:
    response = post(client, "return=OperationOutcome")
    assert response.status_code == 201
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"]
    assert all(issue["severity"] in ("information", "warning") for issue in outcome["issue"])


def test_create_return_operation_outcome_keeps_location_and_etag(client: httpx.Client) -> None:
    response = post(client, "return=OperationOutcome")
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"1"'
    assert client.get(response.headers["location"]).status_code == 200


def test_update_return_operation_outcome_returns_an_outcome(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid}, "return=OperationOutcome")
    assert response.status_code == 200
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.headers["etag"] == 'W/"2"'
