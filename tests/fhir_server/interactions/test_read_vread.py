"""read and vread: ``GET [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#read),
conditional read (http.html#cread) and ``GET [base]/[type]/[id]/_history/[vid]``
(http.html#vread)."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}


def put(
    client: httpx.Client, resource: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    url = f"{resource['resourceType']}/{resource['id']}"
    return client.put(url, json=resource, headers={**SEND, **(headers or {})})


def stored(client: httpx.Client, id: str = "p1", **elements: Any) -> dict[str, Any]:
    response = put(client, {"resourceType": "Patient", "id": id, **elements})
    assert response.status_code in (200, 201)
    body: dict[str, Any] = response.json()
    return body


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def issue_codes(response: httpx.Response) -> list[str]:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return [issue["code"] for issue in outcome["issue"]]


def test_read_returns_200_with_the_current_resource(client: httpx.Client) -> None:
    written = stored(client, gender="male", birthDate="1980-05-06")
    response = client.get("Patient/p1")
    assert response.status_code == 200
    assert response.json() == written
    assert response.json()["id"] == "p1"
    assert response.json()["gender"] == "male"


def test_read_returns_etag_with_the_version_id(client: httpx.Client) -> None:
    stored(client)
    stored(client, active=True)
    response = client.get("Patient/p1")
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["versionId"] == "2"


def test_read_returns_last_modified_equal_to_meta_last_updated(client: httpx.Client) -> None:
    stored(client)
    response = client.get("Patient/p1")
    last_updated = instant(response.json()["meta"]["lastUpdated"]).replace(microsecond=0)
    assert parsedate_to_datetime(response.headers["last-modified"]) == last_updated


def test_read_answers_in_fhir_json(client: httpx.Client) -> None:
    stored(client)
    response = client.get("Patient/p1")
    assert response.headers["content-type"].split(";")[0] == FHIR_JSON


def test_read_returns_the_latest_version_after_an_update(client: httpx.Client) -> None:
    stored(client, gender="male")
    stored(client, gender="female")
    body = client.get("Patient/p1").json()
    assert body["gender"] == "female"
    assert body["meta"]["versionId"] == "2"


def test_read_of_an_unknown_resource_is_404_not_found(client: httpx.Client) -> None:
    response = client.get("Patient/does-not-exist")
    assert response.status_code == 404
    assert issue_codes(response) == ["not-found"]


def test_read_of_a_deleted_resource_is_410_gone(client: httpx.Client) -> None:
    stored(client)
    assert client.delete("Patient/p1").status_code == 200
    response = client.get("Patient/p1")
    assert response.status_code == 410
    assert issue_codes(response) == ["deleted"]


def test_read_of_an_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    response = client.get("NotAType/p1")
    assert response.status_code == 404
    assert issue_codes(response) == ["not-found"]


def test_read_of_a_resource_of_another_type_with_that_id_is_404(client: httpx.Client) -> None:
    stored(client)
    assert client.get("Organization/p1").status_code == 404


def test_read_asking_for_xml_is_406_not_acceptable(client: httpx.Client) -> None:
    stored(client)
    response = client.get("Patient/p1", headers={"accept": "application/fhir+xml"})
    assert response.status_code == 406


def test_read_with_format_json_answers_in_fhir_json(client: httpx.Client) -> None:
    stored(client)
    response = client.get("Patient/p1", params={"_format": "json"}, headers={"accept": "*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == FHIR_JSON


def test_conditional_read_with_the_current_etag_in_if_none_match_is_304_not_modified(
    client: httpx.Client,
) -> None:
    stored(client)
    response = client.get("Patient/p1", headers={"if-none-match": 'W/"1"'})
    assert response.status_code == 304
    assert response.content == b""
    assert response.headers["etag"] == 'W/"1"'


def test_conditional_read_with_a_stale_etag_in_if_none_match_returns_200(
    client: httpx.Client,
) -> None:
    stored(client)
    stored(client, active=True)
    response = client.get("Patient/p1", headers={"if-none-match": 'W/"1"'})
    assert response.status_code == 200
    assert response.json()["active"] is True


def test_conditional_read_with_if_modified_since_the_last_update_is_304(
    client: httpx.Client,
) -> None:
    stored(client)
    last_modified = client.get("Patient/p1").headers["last-modified"]
    response = client.get("Patient/p1", headers={"if-modified-since": last_modified})
    assert response.status_code == 304
    assert response.content == b""


def test_conditional_read_with_if_modified_since_before_the_last_update_returns_200(
    client: httpx.Client,
) -> None:
    stored(client)
    last_modified = parsedate_to_datetime(client.get("Patient/p1").headers["last-modified"])
    earlier = format_datetime(last_modified - timedelta(seconds=5), usegmt=True)
    response = client.get("Patient/p1", headers={"if-modified-since": earlier})
    assert response.status_code == 200
    assert response.json()["id"] == "p1"


def test_conditional_read_of_a_deleted_resource_is_still_410(client: httpx.Client) -> None:
    stored(client)
    client.delete("Patient/p1")
    response = client.get("Patient/p1", headers={"if-none-match": 'W/"1"'})
    assert response.status_code == 410


def test_vread_returns_that_version(client: httpx.Client) -> None:
    first = stored(client, gender="male")
    stored(client, gender="female")
    response = client.get("Patient/p1/_history/1")
    assert response.status_code == 200
    assert response.json() == first
    assert response.json()["gender"] == "male"
    assert response.json()["meta"]["versionId"] == "1"
    assert response.headers["etag"] == 'W/"1"'


def test_vread_of_the_current_version_equals_read(client: httpx.Client) -> None:
    stored(client, gender="male")
    stored(client, gender="female")
    assert client.get("Patient/p1/_history/2").json() == client.get("Patient/p1").json()


def test_vread_of_an_unknown_version_is_404_not_found(client: httpx.Client) -> None:
    stored(client)
    response = client.get("Patient/p1/_history/2")
    assert response.status_code == 404
    assert issue_codes(response) == ["not-found"]


def test_vread_of_a_non_numeric_version_is_404(client: httpx.Client) -> None:
    stored(client)
    assert client.get("Patient/p1/_history/latest").status_code == 404


def test_vread_of_an_unknown_resource_is_404(client: httpx.Client) -> None:
    assert client.get("Patient/nobody/_history/1").status_code == 404


def test_vread_of_the_version_that_is_a_deletion_is_410_gone(client: httpx.Client) -> None:
    stored(client)
    client.delete("Patient/p1")
    response = client.get("Patient/p1/_history/2")
    assert response.status_code == 410
    assert issue_codes(response) == ["deleted"]


def test_vread_of_a_version_before_the_deletion_still_returns_it(client: httpx.Client) -> None:
    first = stored(client, active=True)
    client.delete("Patient/p1")
    response = client.get("Patient/p1/_history/1")
    assert response.status_code == 200
    assert response.json() == first
