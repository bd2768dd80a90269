"""Errors over real HTTP: each is an OperationOutcome with the right status and issue code, and
none shows the server's internals.

Spec: https://hl7.org/fhir/R4/http.html#Status-Codes, http.html#update, http.html#read
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

FHIR_JSON = "application/fhir+json"
LIMIT = 1024 * 1024  # conftest's max_body_bytes

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [{"family": "Lindqvist", "given": ["Elsa"]}],
    "gender": "female",
    "birthDate": "2001-05-30",
}


def post_raw(client: httpx.Client, path: str, content: bytes | str) -> httpx.Response:
    return client.post(path, content=content, headers={"content-type": FHIR_JSON})


def put_raw(
    client: httpx.Client, path: str, content: bytes | str, **headers: str
) -> httpx.Response:
    return client.put(path, content=content, headers={"content-type": FHIR_JSON, **headers})


def create_patient(client: httpx.Client) -> str:
    response = post_raw(client, "Patient", json.dumps(PATIENT))
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def assert_no_traceback(response: httpx.Response) -> None:
    assert "Traceback" not in response.text
    assert 'File "' not in response.text


def assert_outcome(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """``response`` is an OperationOutcome error with ``status`` and ``issue[0].code``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(FHIR_JSON)
    assert_no_traceback(response)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code
    assert outcome["issue"][0]["severity"] in ("error", "fatal")
    return dict(outcome)


def expressions(outcome: dict[str, Any]) -> list[str]:
    return [e for issue in outcome["issue"] for e in issue.get("expression", [])]


def history_entries(client: httpx.Client) -> list[Any]:
    response = client.get("_history", params={"_count": "1000"})
    assert response.status_code == 200
    return list(response.json().get("entry", []))


# -- unreadable bodies: 400 ----------------------------------------------------------------------


def test_malformed_json_is_400_structure(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", b'{"resourceType": "Patient", "gender": ')
    assert_outcome(response, 400, "structure")


def test_json_array_body_is_400_structure(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", json.dumps([PATIENT]))
    assert_outcome(response, 400, "structure")


def test_json_string_body_is_400_structure(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", json.dumps("Patient"))
    assert_outcome(response, 400, "structure")


def test_empty_body_is_400_structure(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", b"")
    assert_outcome(response, 400, "structure")


def test_whitespace_only_body_is_400_structure(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", b" \n\t ")
    assert_outcome(response, 400, "structure")


def test_body_that_is_not_utf8_is_400_structure(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", b'{"resourceType":"Patient","gender":"\xff"}')
    assert_outcome(response, 400, "structure")


def test_body_without_resource_type_is_400_structure(client: httpx.Client) -> None:
    body = {k: v for k, v in PATIENT.items() if k != "resourceType"}
    response = post_raw(client, "Patient", json.dumps(body))
    assert_outcome(response, 400, "structure")


def test_create_body_type_differing_from_url_type_is_400(client: httpx.Client) -> None:
    body = {"resourceType": "Observation", "status": "final", "code": {"text": "x"}}
    response = post_raw(client, "Patient", json.dumps(body))
    assert_outcome(response, 400, "invalid")


def test_update_body_type_differing_from_url_type_is_400(client: httpx.Client) -> None:
    pid = create_patient(client)
    body = {"resourceType": "Practitioner", "id": pid}
    response = put_raw(client, f"Patient/{pid}", json.dumps(body))
    assert_outcome(response, 400, "invalid")


# -- update ids: 400 -----------------------------------------------------------------------------


def test_update_body_without_id_is_400(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put_raw(client, f"Patient/{pid}", json.dumps(PATIENT))
    outcome = assert_outcome(response, 400, "invalid")
    assert expressions(outcome) == ["Patient.id"]


def test_update_body_id_differing_from_url_id_is_400(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put_raw(client, f"Patient/{pid}", json.dumps({**PATIENT, "id": "someone-else"}))
    outcome = assert_outcome(response, 400, "invalid")
    assert expressions(outcome) == ["Patient.id"]


def test_update_with_invalid_id_in_url_is_400(client: httpx.Client) -> None:
    response = put_raw(client, "Patient/a$b", json.dumps({**PATIENT, "id": "a$b"}))
    assert_outcome(response, 400, "value")


def test_update_with_id_over_64_characters_is_400(client: httpx.Client) -> None:
    long_id = "x" * 65
    response = put_raw(client, f"Patient/{long_id}", json.dumps({**PATIENT, "id": long_id}))
    assert_outcome(response, 400, "value")


# -- invalid resources: 422 naming the element ----------------------------------------------------


def test_invalid_birth_date_is_422_naming_patient_birth_date(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", json.dumps({**PATIENT, "birthDate": "not-a-date"}))
    outcome = assert_outcome(response, 422, "value")
    assert expressions(outcome) == ["Patient.birthDate"]


def test_string_for_boolean_is_422_naming_patient_active(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", json.dumps({**PATIENT, "active": "yes"}))
    outcome = assert_outcome(response, 422, "value")
    assert expressions(outcome) == ["Patient.active"]


def test_unknown_element_is_422_naming_patient_foo(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", json.dumps({**PATIENT, "foo": "bar"}))
    outcome = assert_outcome(response, 422, "structure")
    assert expressions(outcome) == ["Patient.foo"]


def test_object_for_repeating_element_is_422_naming_it(client: httpx.Client) -> None:
    body = {**PATIENT, "name": {"family": "Lindqvist"}}
    response = post_raw(client, "Patient", json.dumps(body))
    outcome = assert_outcome(response, 422, "structure")
    assert expressions(outcome) == ["Patient.name"]


def test_invalid_nested_element_is_422_naming_its_path(client: httpx.Client) -> None:
    body = {**PATIENT, "name": [{"family": "A"}, {"given": ["B", 7]}]}
    response = post_raw(client, "Patient", json.dumps(body))
    outcome = assert_outcome(response, 422, "value")
    assert expressions(outcome) == ["Patient.name[1].given[1]"]


def test_invalid_update_is_422_and_keeps_the_current_version(client: httpx.Client) -> None:
    pid = create_patient(client)
    before = client.get(f"Patient/{pid}")
    response = put_raw(
        client, f"Patient/{pid}", json.dumps({**PATIENT, "id": pid, "active": "yes"})
    )
    assert_outcome(response, 422, "value")
    after = client.get(f"Patient/{pid}")
    assert after.content == before.content
    assert after.headers["etag"] == 'W/"1"'


def test_invalid_create_stores_nothing(client: httpx.Client) -> None:
    post_raw(client, "Patient", json.dumps({**PATIENT, "foo": "bar"}))
    assert history_entries(client) == []


@pytest.mark.parametrize("meta", ["v1", 5, True], ids=["string", "number", "boolean"])
def test_meta_that_is_not_an_object_is_a_client_error(client: httpx.Client, meta: Any) -> None:
    response = post_raw(client, "Patient", json.dumps({**PATIENT, "meta": meta}))
    assert 400 <= response.status_code < 500, response.text


# -- not found, gone, methods, endpoints ---------------------------------------------------------


def test_read_of_unknown_id_is_404(client: httpx.Client) -> None:
    assert_outcome(client.get("Patient/no-such-patient"), 404, "not-found")


def test_vread_of_unknown_version_is_404(client: httpx.Client) -> None:
    pid = create_patient(client)
    assert_outcome(client.get(f"Patient/{pid}/_history/9"), 404, "not-found")


def test_read_of_deleted_resource_is_410(client: httpx.Client) -> None:
    pid = create_patient(client)
    assert client.delete(f"Patient/{pid}").status_code in (200, 204)
    assert_outcome(client.get(f"Patient/{pid}"), 410, "deleted")


def test_read_of_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    assert_outcome(client.get("NotAResource/1"), 404, "not-found")


def test_create_of_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    response = post_raw(client, "NotAResource", json.dumps({"resourceType": "NotAResource"}))
    assert_outcome(response, 404, "not-found")


def test_search_of_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    assert_outcome(client.get("NotAResource"), 404, "not-found")


def test_post_to_an_instance_url_is_405(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = post_raw(client, f"Patient/{pid}", json.dumps(PATIENT))
    assert_outcome(response, 405, "not-supported")
    assert "allow" in response.headers


def test_405_allow_header_lists_every_method_of_the_url(client: httpx.Client) -> None:
    response = post_raw(client, "Patient/1", json.dumps(PATIENT))
    assert response.status_code == 405
    allowed = {m.strip() for m in response.headers["allow"].split(",")}
    assert {"GET", "PUT", "PATCH", "DELETE"} <= allowed


@pytest.mark.parametrize(
    ("method", "path"),
    [("DELETE", "_history"), ("PUT", "metadata"), ("POST", "metadata"), ("PATCH", "_history")],
)
def test_a_system_endpoint_answers_other_methods_with_405_and_its_own_allow(
    client: httpx.Client, method: str, path: str
) -> None:
    # _history and metadata are not resource types: the type-level routes must not claim them.
    response = client.request(method, path, content=b"{}", headers={"content-type": FHIR_JSON})
    assert_outcome(response, 405, "not-supported")
    assert {m.strip() for m in response.headers["allow"].split(",")} == {"GET", "HEAD"}


def test_unknown_endpoint_under_the_base_is_404(client: httpx.Client) -> None:
    assert_outcome(client.get("Patient/1/_history/1/extra"), 404, "not-found")


def test_unknown_endpoint_outside_the_base_is_404(client: httpx.Client) -> None:
    assert_outcome(client.get("/not-fhir/at-all"), 404, "not-found")


# -- limits and versions -------------------------------------------------------------------------


def oversized_patient() -> bytes:
    body = json.dumps({**PATIENT, "name": [{"family": "x" * (LIMIT + 10)}]}).encode()
    assert len(body) > LIMIT
    return body


def test_body_over_the_limit_is_413(client: httpx.Client) -> None:
    response = post_raw(client, "Patient", oversized_patient())
    assert_outcome(response, 413, "too-costly")


def test_streamed_body_over_the_limit_is_413(client: httpx.Client) -> None:
    body = oversized_patient()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    response = client.post("Patient", content=chunks(), headers={"content-type": FHIR_JSON})
    assert "content-length" not in response.request.headers
    assert_outcome(response, 413, "too-costly")


def test_body_at_the_limit_is_not_413(client: httpx.Client) -> None:
    body = json.dumps(PATIENT).encode()
    body = body + b" " * (LIMIT - len(body))
    assert len(body) == LIMIT
    assert post_raw(client, "Patient", body).status_code == 201


def test_body_over_the_limit_stores_nothing(client: httpx.Client) -> None:
    post_raw(client, "Patient", oversized_patient())
    assert history_entries(client) == []


def test_update_against_a_stale_version_is_412(client: httpx.Client) -> None:
    pid = create_patient(client)
    body = json.dumps({**PATIENT, "id": pid})
    assert put_raw(client, f"Patient/{pid}", body, **{"if-match": 'W/"1"'}).status_code == 200
    stale = put_raw(client, f"Patient/{pid}", body, **{"if-match": 'W/"1"'})
    assert_outcome(stale, 412, "conflict")
    assert client.get(f"Patient/{pid}").headers["etag"] == 'W/"2"'


# -- every error: an OperationOutcome, never a traceback -----------------------------------------


@dataclass(frozen=True)
class BadRequest:
    name: str
    method: str
    path: str
    body: bytes | None = None
    headers: tuple[tuple[str, str], ...] = (("content-type", FHIR_JSON),)

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(self.method, self.path, content=self.body, headers=self.headers)


def bad(name: str, method: str, path: str, body: bytes | None = None, **headers: str) -> BadRequest:
    all_headers = {
        "content-type": FHIR_JSON,
        **{k.replace("_", "-"): v for k, v in headers.items()},
    }
    return BadRequest(name, method, path, body, tuple(all_headers.items()))


DEEP_EXTENSIONS = (
    b'{"resourceType":"Patient","extension":'
    + b'[{"url":"u","extension":' * 200
    + b"[]"
    + b"}]" * 200
    + b"}"
)
BAD_REQUESTS = [
    bad("malformed-json", "POST", "Patient", b"{"),
    bad("binary-body", "POST", "Patient", bytes(range(256))),
    bad("array-body", "POST", "Patient", b"[]"),
    bad("number-body", "POST", "Patient", b"12"),
    bad("null-body", "POST", "Patient", b"null"),
    bad("resource-type-number", "POST", "Patient", b'{"resourceType":1}'),
    bad("deep-json-nesting", "POST", "Patient", b"[" * 5000 + b"]" * 5000),
    bad("deep-extension-nesting", "POST", "Patient", DEEP_EXTENSIONS),
    bad("invalid-resource", "POST", "Patient", b'{"resourceType":"Patient","x":1}'),
    bad("wrong-content-type", "POST", "Patient", b"{}", content_type="text/plain"),
    bad("xml-accept", "GET", "Patient", accept="application/fhir+xml"),
    bad("unknown-id", "GET", "Patient/nobody"),
    bad("unknown-type", "GET", "Nonsense/1"),
    bad("bad-id-in-url", "PUT", "Patient/a$b", b'{"resourceType":"Patient","id":"a$b"}'),
    bad("wrong-method", "POST", "Patient/1", b"{}"),
    bad("unknown-endpoint", "GET", "/nowhere"),
    bad("bad-if-match", "PUT", "Patient/p1", b'{"resourceType":"Patient","id":"p1"}', if_match="?"),
    bad("bad-vid", "GET", "Patient/p1/_history/one"),
    bad("bad-history-param", "GET", "_history?_count=many"),
    bad("bad-search-param", "GET", "Patient?no-such-param=1", prefer="handling=strict"),
    bad(
        "json-patch-garbage",
        "PATCH",
        "Patient/p1",
        b"{",
        content_type="application/json-patch+json",
    ),
    bad("bundle-garbage", "POST", "", b'{"resourceType":"Bundle","type":"nonsense"}'),
    bad("oversized", "POST", "Patient", oversized_patient()),
    bad("meta-not-an-object", "POST", "Patient", b'{"resourceType":"Patient","meta":5}'),
]


@pytest.mark.parametrize("case", BAD_REQUESTS, ids=[case.name for case in BAD_REQUESTS])
def test_error_is_an_operation_outcome_without_a_traceback(
    client: httpx.Client, case: BadRequest
) -> None:
    seeded = put_raw(client, "Patient/p1", json.dumps({**PATIENT, "id": "p1"}))
    assert seeded.status_code == 201, seeded.text
    response = case.send(client)
    assert response.status_code >= 400, response.text
    assert_no_traceback(response)
    assert response.headers["content-type"].startswith(FHIR_JSON)
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"], outcome
    assert all(issue["code"] and issue["severity"] for issue in outcome["issue"])
