"""HTTP headers over real HTTP: ETag, Last-Modified, Location, conditional requests, and the
stored bytes served as stored.

Spec: https://hl7.org/fhir/R4/http.html#versioning, http.html#concurrency, http.html#cread and
RFC 9110 (HTTP-date, If-Match, If-None-Match, If-Modified-Since).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
WEAK_ETAG = re.compile(r'^W/"(\d+)"$')
HTTP_DATE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$"
)
LONG_AGO = "Mon, 01 Jan 2001 00:00:00 GMT"

PATIENT: dict[str, Any] = {
    "resourceType": "Patient",
    "name": [{"family": "Okafor", "given": ["Chidi"]}],
    "gender": "male",
    "birthDate": "1979-11-02",
}


def post(client: httpx.Client, body: dict[str, Any] | bytes, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("Patient", content=content, headers={"content-type": FHIR_JSON, **headers})


def put(
    client: httpx.Client, id: str, body: dict[str, Any] | bytes, **headers: str
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.put(
        f"Patient/{id}", content=content, headers={"content-type": FHIR_JSON, **headers}
    )


def create_patient(client: httpx.Client) -> str:
    response = post(client, PATIENT)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def etag_version(response: httpx.Response) -> int:
    match = WEAK_ETAG.match(response.headers["etag"])
    assert match is not None, response.headers["etag"]
    return int(match.group(1))


def assert_last_modified_is_meta(response: httpx.Response, resource: dict[str, Any]) -> None:
    """Last-Modified is an RFC 9110 HTTP-date for meta.lastUpdated (to the second)."""
    value = response.headers["last-modified"]
    assert HTTP_DATE.match(value), value
    stated = parsedate_to_datetime(value)
    updated = datetime.fromisoformat(resource["meta"]["lastUpdated"].replace("Z", "+00:00"))
    assert stated == updated.astimezone(UTC).replace(microsecond=0)


def assert_outcome(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["code"] == code


# -- ETag, Last-Modified, Location ---------------------------------------------------------------


def test_read_has_weak_etag_of_the_version_id(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}")
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    assert response.json()["meta"]["versionId"] == "1"


def test_read_has_last_modified_http_date_of_meta_last_updated(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}")
    assert response.status_code == 200
    assert_last_modified_is_meta(response, response.json())


def test_vread_has_etag_and_last_modified_of_that_version(client: httpx.Client) -> None:
    pid = create_patient(client)
    assert put(client, pid, {**PATIENT, "id": pid, "gender": "other"}).status_code == 200
    response = client.get(f"Patient/{pid}/_history/1")
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    assert response.json()["gender"] == "male"
    assert_last_modified_is_meta(response, response.json())


def test_create_has_etag_and_last_modified(client: httpx.Client) -> None:
    response = post(client, PATIENT)
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"1"'
    assert_last_modified_is_meta(response, response.json())


def test_create_has_location_of_the_new_version(client: httpx.Client, base_url: str) -> None:
    response = post(client, PATIENT)
    assert response.status_code == 201
    pid = response.json()["id"]
    assert response.headers["location"] == f"{base_url}/Patient/{pid}/_history/1"


def test_create_location_can_be_read(client: httpx.Client) -> None:
    response = post(client, PATIENT)
    assert response.status_code == 201
    fetched = client.get(response.headers["location"])
    assert fetched.status_code == 200
    assert fetched.json() == response.json()


def test_update_has_etag_of_the_new_version(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid, "gender": "unknown"})
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["versionId"] == "2"


def test_update_has_last_modified_of_the_new_version(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid, "gender": "unknown"})
    assert response.status_code == 200
    assert_last_modified_is_meta(response, response.json())


def test_update_as_create_has_location_and_etag(client: httpx.Client, base_url: str) -> None:
    response = put(client, "chosen-id", {**PATIENT, "id": "chosen-id"})
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"1"'
    assert response.headers["location"] == f"{base_url}/Patient/chosen-id/_history/1"


def test_etag_follows_each_new_version(client: httpx.Client) -> None:
    pid = create_patient(client)
    for expected in (2, 3, 4):
        assert put(client, pid, {**PATIENT, "id": pid}).status_code == 200
        assert etag_version(client.get(f"Patient/{pid}")) == expected


# -- If-Match -----------------------------------------------------------------------------------


def test_if_match_current_version_updates(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid, "gender": "other"}, **{"if-match": 'W/"1"'})
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == 'W/"2"'


def test_if_match_another_version_is_412(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid}, **{"if-match": 'W/"7"'})
    assert_outcome(response, 412, "conflict")


def test_if_match_mismatch_leaves_the_resource_unchanged(client: httpx.Client) -> None:
    pid = create_patient(client)
    before = client.get(f"Patient/{pid}")
    put(client, pid, {**PATIENT, "id": pid, "gender": "other"}, **{"if-match": 'W/"7"'})
    after = client.get(f"Patient/{pid}")
    assert after.content == before.content
    assert after.headers["etag"] == 'W/"1"'


def test_if_match_mismatch_on_delete_is_412(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.delete(f"Patient/{pid}", headers={"if-match": 'W/"2"'})
    assert_outcome(response, 412, "conflict")
    assert client.get(f"Patient/{pid}").status_code == 200


def test_if_match_that_is_not_an_etag_is_400(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = put(client, pid, {**PATIENT, "id": pid}, **{"if-match": "version one"})
    assert_outcome(response, 400, "value")


# -- If-None-Match, If-Modified-Since (conditional read) -----------------------------------------


def test_if_none_match_current_etag_is_304_without_body(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"if-none-match": 'W/"1"'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == 'W/"1"'


def test_if_none_match_strong_form_of_current_etag_is_304(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"if-none-match": '"1"'})
    assert response.status_code == 304
    assert response.content == b""


def test_if_none_match_old_etag_is_200_with_body(client: httpx.Client) -> None:
    pid = create_patient(client)
    assert put(client, pid, {**PATIENT, "id": pid}).status_code == 200
    response = client.get(f"Patient/{pid}", headers={"if-none-match": 'W/"1"'})
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"


def test_if_modified_since_last_modified_is_304_without_body(client: httpx.Client) -> None:
    pid = create_patient(client)
    first = client.get(f"Patient/{pid}")
    response = client.get(
        f"Patient/{pid}", headers={"if-modified-since": first.headers["last-modified"]}
    )
    assert response.status_code == 304
    assert response.content == b""


def test_if_modified_since_before_the_last_change_is_200(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"if-modified-since": LONG_AGO})
    assert response.status_code == 200
    assert response.json()["id"] == pid


def test_if_modified_since_with_numeric_zone_is_not_a_server_error(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(
        f"Patient/{pid}", headers={"if-modified-since": "Mon, 01 Jan 2001 00:00:00 -0000"}
    )
    assert response.status_code < 500


def test_if_modified_since_that_is_not_a_date_is_ignored(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.get(f"Patient/{pid}", headers={"if-modified-since": "yesterday"})
    assert response.status_code == 200
    assert response.json()["id"] == pid


def test_head_on_read_gives_the_headers_of_get(client: httpx.Client) -> None:
    pid = create_patient(client)
    response = client.head(f"Patient/{pid}")
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"1"'
    assert response.content == b""


# -- stored bytes served as stored ---------------------------------------------------------------

UNUSUAL_ORDER = (
    b'{"birthDate":"1990-01-31","resourceType":"Patient","telecom":[{"value":"555-0100",'
    b'"system":"phone"}],"gender":"female","name":[{"given":["Zoe"],"family":"Ng"}],'
    b'"active":true}'
)


def keys_in_order(raw: bytes) -> list[str]:
    pairs: list[tuple[str, Any]] = json.loads(raw, object_pairs_hook=list)
    return [key for key, _ in pairs]


def test_read_keeps_the_client_element_order_after_resource_type_id_meta(
    client: httpx.Client,
) -> None:
    created = post(client, UNUSUAL_ORDER)
    assert created.status_code == 201, created.text
    raw = client.get(f"Patient/{created.json()['id']}").content
    assert keys_in_order(raw) == [
        "resourceType",
        "id",
        "meta",
        "birthDate",
        "telecom",
        "gender",
        "name",
        "active",
    ]
    # nested objects keep the client's order too
    assert b'"telecom":[{"value":"555-0100","system":"phone"}]' in raw
    assert b'"name":[{"given":["Zoe"],"family":"Ng"}]' in raw


def test_read_serves_the_same_bytes_the_create_returned(client: httpx.Client) -> None:
    created = post(client, UNUSUAL_ORDER)
    assert created.status_code == 201, created.text
    read = client.get(f"Patient/{created.json()['id']}")
    assert read.content == created.content


DECIMAL_OBSERVATION = (
    b'{"resourceType":"Observation","status":"final","code":{"text":"potassium"},'
    b'"valueQuantity":{"value":1.50,"unit":"mmol/L"}}'
)


def test_read_keeps_decimal_precision_as_sent(client: httpx.Client) -> None:
    created = client.post(
        "Observation", content=DECIMAL_OBSERVATION, headers={"content-type": FHIR_JSON}
    )
    assert created.status_code == 201, created.text
    raw = client.get(f"Observation/{created.json()['id']}").content
    assert b'"value":1.50' in raw


def test_a_body_comes_with_its_length_and_fhir_json_content_type(client: httpx.Client) -> None:
    response = client.get(f"Patient/{create_patient(client)}")
    assert response.headers["content-length"] == str(len(response.content))
    assert response.headers["content-type"] == f"{FHIR_JSON}; charset=utf-8"


def test_not_modified_has_neither_length_nor_content_type(client: httpx.Client) -> None:
    id = create_patient(client)
    etag = client.get(f"Patient/{id}").headers["etag"]
    response = client.get(f"Patient/{id}", headers={"if-none-match": etag})
    assert response.status_code == 304
    assert "content-length" not in response.headers
    assert "content-type" not in response.headers


def test_return_minimal_is_an_empty_body_of_length_zero_without_content_type(
    client: httpx.Client,
) -> None:
    response = post(client, PATIENT, prefer="return=minimal")
    assert response.status_code == 201
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert "content-type" not in response.headers
