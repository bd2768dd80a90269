"""create: ``POST [base]/[type]`` (https://hl7.org/fhir/R4/http.html#create).

Every test talks to a real server over HTTP through the ``client`` fixture.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def patient(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **elements}


def post(
    client: httpx.Client, resource: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    return client.post(resource["resourceType"], json=resource, headers={**SEND, **(headers or {})})


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def issue_codes(outcome: dict[str, Any]) -> list[str]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [issue["code"] for issue in outcome["issue"]]


def test_create_returns_201_created(client: httpx.Client) -> None:
    response = post(client, patient(active=True))
    assert response.status_code == 201


def test_create_returns_location_with_the_new_id_and_version(
    client: httpx.Client, base_url: str
) -> None:
    response = post(client, patient(active=True))
    created = response.json()
    assert UUID.match(created["id"])
    assert response.headers["location"] == f"{base_url}/Patient/{created['id']}/_history/1"


def test_create_returns_etag_with_version_id_1(client: httpx.Client) -> None:
    response = post(client, patient())
    assert response.headers["etag"] == 'W/"1"'
    assert response.json()["meta"]["versionId"] == "1"


def test_create_returns_last_modified_equal_to_meta_last_updated(client: httpx.Client) -> None:
    response = post(client, patient())
    last_updated = instant(response.json()["meta"]["lastUpdated"])
    assert parsedate_to_datetime(response.headers["last-modified"]) == last_updated.replace(
        microsecond=0
    )
    assert abs(datetime.now(UTC) - last_updated) < timedelta(minutes=1)


def test_create_returns_fhir_json(client: httpx.Client) -> None:
    response = post(client, patient())
    assert response.headers["content-type"].split(";")[0] == FHIR_JSON


def test_created_resource_can_be_read_at_its_new_id(client: httpx.Client) -> None:
    created = post(client, patient(gender="female", birthDate="1970-01-02")).json()
    read = client.get(f"Patient/{created['id']}")
    assert read.status_code == 200
    assert read.json() == created
    assert read.json()["gender"] == "female"
    assert read.json()["birthDate"] == "1970-01-02"


def test_create_ignores_the_id_in_the_body(client: httpx.Client) -> None:
    response = post(client, patient(id="chosen-by-client"))
    assert response.status_code == 201
    assert response.json()["id"] != "chosen-by-client"
    assert client.get("Patient/chosen-by-client").status_code == 404


def test_create_ignores_meta_version_id_and_last_updated_in_the_body(
    client: httpx.Client,
) -> None:
    body = patient(meta={"versionId": "7", "lastUpdated": "2001-01-01T00:00:00Z"})
    meta = post(client, body).json()["meta"]
    assert meta["versionId"] == "1"
    assert meta["lastUpdated"] != "2001-01-01T00:00:00Z"
    assert instant(meta["lastUpdated"]) > datetime(2020, 1, 1, tzinfo=UTC)


def test_create_keeps_meta_profile_tag_and_security(client: httpx.Client) -> None:
    meta = {
        "profile": ["http://example.org/StructureDefinition/p"],
        "tag": [{"system": "http://example.org/tags", "code": "t1"}],
        "security": [
            {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
        ],
    }
    created = post(client, patient(meta=meta)).json()
    stored = client.get(f"Patient/{created['id']}").json()["meta"]
    assert stored["profile"] == meta["profile"]
    assert stored["tag"] == meta["tag"]
    assert stored["security"] == meta["security"]


def test_create_assigns_a_different_id_to_each_new_resource(client: httpx.Client) -> None:
    ids = {post(client, patient()).json()["id"] for _ in range(3)}
    assert len(ids) == 3


def test_create_with_prefer_return_minimal_returns_no_body(client: httpx.Client) -> None:
    response = post(client, patient(), headers={"prefer": "return=minimal"})
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["location"].endswith("/_history/1")
    assert response.headers["etag"] == 'W/"1"'


def test_create_with_prefer_return_operation_outcome_returns_an_operation_outcome(
    client: httpx.Client,
) -> None:
    response = post(client, patient(), headers={"prefer": "return=OperationOutcome"})
    assert response.status_code == 201
    assert response.json()["resourceType"] == "OperationOutcome"
    assert "location" in response.headers


def test_create_with_prefer_return_representation_returns_the_resource(
    client: httpx.Client,
) -> None:
    response = post(client, patient(active=True), headers={"prefer": "return=representation"})
    assert response.status_code == 201
    assert response.json()["resourceType"] == "Patient"
    assert response.json()["active"] is True


def test_create_of_an_unsupported_resource_type_is_404_not_found(client: httpx.Client) -> None:
    response = client.post("NotAType", json={"resourceType": "NotAType"}, headers=SEND)
    assert response.status_code == 404
    assert issue_codes(response.json()) == ["not-found"]


def test_create_with_a_body_of_another_resource_type_is_400(client: httpx.Client) -> None:
    response = client.post(
        "Patient", json={"resourceType": "Organization", "name": "x"}, headers=SEND
    )
    assert response.status_code == 400
    assert client.get("Organization").json()["total"] == 0


def test_create_with_malformed_json_is_400_bad_request(client: httpx.Client) -> None:
    response = client.post("Patient", content=b'{"resourceType": "Patient",', headers=SEND)
    assert response.status_code == 400
    assert issue_codes(response.json()) == ["structure"]


def test_create_of_a_body_without_resource_type_is_400(client: httpx.Client) -> None:
    response = client.post("Patient", json={"active": True}, headers=SEND)
    assert response.status_code == 400


def test_create_of_an_invalid_resource_is_422_and_stores_nothing(client: httpx.Client) -> None:
    response = post(client, patient(active="yes"))
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Patient.active"]
    assert client.get("Patient").json()["total"] == 0


def test_create_of_a_resource_with_a_bad_date_is_422(client: httpx.Client) -> None:
    response = post(client, patient(birthDate="yesterday"))
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Patient.birthDate"]


def test_create_of_a_resource_with_an_unknown_element_is_422(client: httpx.Client) -> None:
    response = post(client, patient(favouriteColour="blue"))
    assert response.status_code == 422


def test_create_with_a_content_type_other_than_fhir_json_is_415(client: httpx.Client) -> None:
    response = client.post(
        "Patient", content=b'{"resourceType": "Patient"}', headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert issue_codes(response.json()) == ["not-supported"]


def test_create_accepts_application_json(client: httpx.Client) -> None:
    response = client.post(
        "Patient",
        content=b'{"resourceType": "Patient"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 201


def test_create_of_a_body_over_the_size_limit_is_413(client: httpx.Client) -> None:
    text = "x" * (1024 * 1024)
    response = post(client, patient(name=[{"text": text}]))
    assert response.status_code == 413
    assert client.get("Patient").json()["total"] == 0


def test_create_appears_in_history_as_post(client: httpx.Client) -> None:
    created = post(client, patient()).json()
    history = client.get(f"Patient/{created['id']}/_history").json()
    [entry] = history["entry"]
    assert entry["request"] == {"method": "POST", "url": "Patient"}
    assert entry["response"]["status"].startswith("201")


def test_create_of_a_code_outside_its_required_value_set_is_422(client: httpx.Client) -> None:
    response = post(client, patient(gender="robot"))
    assert response.status_code == 422
