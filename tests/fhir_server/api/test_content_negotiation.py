"""Content negotiation over real HTTP: Accept and ``_format`` out, Content-Type in, ``_pretty``.

Spec: https://hl7.org/fhir/R4/http.html#mime-type and https://hl7.org/fhir/R4/http.html#parameters
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

FHIR_JSON = "application/fhir+json"
JSON = "application/json"
FHIR_JSON_UTF8 = "application/fhir+json; charset=utf-8"
JSON_UTF8 = "application/json; charset=utf-8"

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "active": True,
    "name": [{"family": "Rivera", "given": ["Ana", "Maria"]}],
    "gender": "female",
    "birthDate": "1984-03-07",
}


def create_patient(client: httpx.Client, body: dict[str, Any] | None = None) -> str:
    """Create a Patient; return its id."""
    response = client.post(
        "Patient", content=json.dumps(body or PATIENT), headers={"content-type": FHIR_JSON}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_outcome(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code
    return dict(outcome)


def media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";", 1)[0].strip()


# -- responses: Accept and _format ------------------------------------------------------------


def test_response_content_type_is_fhir_json_utf8_by_default(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}")
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON_UTF8


def test_accept_any_media_type_gets_fhir_json(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"accept": "*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON_UTF8


def test_accept_application_json_gets_application_json(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"accept": JSON})
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON_UTF8
    assert response.json()["id"] == pid


def test_accept_fhir_json_with_fhir_version_parameter_gets_fhir_json(
    client: httpx.Client,
) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"accept": f"{FHIR_JSON}; fhirVersion=4.0"})
    assert response.status_code == 200
    assert media_type(response) == FHIR_JSON


def test_accept_xml_then_json_gets_fhir_json(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(
        f"Patient/{pid}", headers={"accept": f"application/fhir+xml, {FHIR_JSON}"}
    )
    assert response.status_code == 200
    assert media_type(response) == FHIR_JSON


def test_format_json_gets_fhir_json(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", params={"_format": "json"})
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON_UTF8


def test_format_fhir_json_mime_type_gets_fhir_json(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", params={"_format": FHIR_JSON})
    assert response.status_code == 200
    assert response.headers["content-type"] == FHIR_JSON_UTF8


def test_format_json_overrides_an_xml_accept_header(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(
        f"Patient/{pid}",
        params={"_format": "json"},
        headers={"accept": "application/fhir+xml"},
    )
    assert response.status_code == 200
    assert media_type(response) == FHIR_JSON


def test_format_xml_is_406_operation_outcome(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", params={"_format": "xml"})
    assert_outcome(response, 406, "not-supported")
    assert media_type(response) == FHIR_JSON


def test_accept_fhir_xml_only_is_406_operation_outcome(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"accept": "application/fhir+xml"})
    assert_outcome(response, 406, "not-supported")
    assert media_type(response) == FHIR_JSON


def test_accept_fhir_xml_on_search_is_406(client: httpx.Client) -> None:
    response = client.get("Patient", headers={"accept": "application/fhir+xml"})
    assert_outcome(response, 406, "not-supported")


def test_format_xml_on_create_is_406_and_stores_nothing(client: httpx.Client) -> None:
    response = client.post(
        "Patient",
        params={"_format": "xml"},
        content=json.dumps(PATIENT),
        headers={"content-type": FHIR_JSON},
    )
    assert_outcome(response, 406, "not-supported")
    assert "entry" not in client.get("Patient/_history").json()


def test_error_response_uses_the_accepted_application_json(client: httpx.Client) -> None:
    response = client.get("Patient/unknown-id", headers={"accept": JSON})
    assert_outcome(response, 404, "not-found")
    assert response.headers["content-type"] == JSON_UTF8


# -- requests: Content-Type ---------------------------------------------------------------------


def test_create_accepts_fhir_json_content_type(client: httpx.Client) -> None:
    response = client.post(
        "Patient", content=json.dumps(PATIENT), headers={"content-type": FHIR_JSON}
    )
    assert response.status_code == 201, response.text


def test_create_accepts_application_json_content_type(client: httpx.Client) -> None:
    response = client.post("Patient", content=json.dumps(PATIENT), headers={"content-type": JSON})
    assert response.status_code == 201, response.text


def test_create_accepts_content_type_with_charset(client: httpx.Client) -> None:
    response = client.post(
        "Patient", content=json.dumps(PATIENT), headers={"content-type": FHIR_JSON_UTF8}
    )
    assert response.status_code == 201, response.text


def test_update_accepts_application_json_content_type(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.put(
        f"Patient/{pid}",
        content=json.dumps({**PATIENT, "id": pid, "active": False}),
        headers={"content-type": JSON},
    )
    assert response.status_code == 200, response.text
    assert client.get(f"Patient/{pid}").json()["active"] is False


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "application/fhir+xml"])
def test_create_with_non_json_content_type_is_415(client: httpx.Client, content_type: str) -> None:
    response = client.post(
        "Patient", content=json.dumps(PATIENT), headers={"content-type": content_type}
    )
    assert_outcome(response, 415, "not-supported")


def test_update_with_text_plain_content_type_is_415(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.put(
        f"Patient/{pid}",
        content=json.dumps({**PATIENT, "id": pid}),
        headers={"content-type": "text/plain"},
    )
    assert_outcome(response, 415, "not-supported")


def test_create_without_content_type_is_415(client: httpx.Client) -> None:
    response = client.post("Patient", content=json.dumps(PATIENT).encode())
    assert "content-type" not in response.request.headers
    assert_outcome(response, 415, "not-supported")


def test_create_with_415_stores_nothing(client: httpx.Client) -> None:
    client.post("Patient", content=json.dumps(PATIENT), headers={"content-type": "text/plain"})
    assert "entry" not in client.get("Patient/_history").json()


# -- _pretty ------------------------------------------------------------------------------------


def test_pretty_true_gives_indented_json_with_the_same_content(client: httpx.Client) -> None:
    pid = create_patient(client)
    compact = client.get(f"Patient/{pid}")
    pretty = client.get(f"Patient/{pid}", params={"_pretty": "true"})
    assert pretty.status_code == 200
    assert pretty.headers["content-type"] == FHIR_JSON_UTF8
    assert b"\n" not in compact.content
    lines = pretty.text.splitlines()
    assert len(lines) > 5
    assert any(line.startswith("  ") for line in lines)
    assert pretty.json() == compact.json()


def test_pretty_false_gives_compact_json(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", params={"_pretty": "false"})
    assert response.status_code == 200
    assert b"\n" not in response.content


def test_pretty_true_indents_error_responses_too(client: httpx.Client) -> None:
    response = client.get("Patient/unknown-id", params={"_pretty": "true"})
    assert_outcome(response, 404, "not-found")
    assert "\n  " in response.text
