"""batch: ``POST [base]`` with a Bundle of type batch
(https://hl7.org/fhir/R4/http.html#transaction): every entry is processed on its own."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}
SYSTEM = "urn:test:mrn"


def batch(
    client: httpx.Client, entries: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> httpx.Response:
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": entries}
    return client.post("", json=bundle, headers={**SEND, **(headers or {})})


def patient(value: str | None = None, **elements: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Patient", **elements}
    if value is not None:
        body["identifier"] = [{"system": SYSTEM, "value": value}]
    return body


def post_entry(resource: dict[str, Any], if_none_exist: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist is not None:
        request["ifNoneExist"] = if_none_exist
    return {"resource": resource, "request": request}


def put_entry(resource: dict[str, Any], if_match: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": "PUT",
        "url": f"{resource['resourceType']}/{resource['id']}",
    }
    if if_match is not None:
        request["ifMatch"] = if_match
    return {"resource": resource, "request": request}


def request_entry(method: str, url: str) -> dict[str, Any]:
    return {"request": {"method": method, "url": url}}


def patch_entry(url: str, operations: list[dict[str, Any]]) -> dict[str, Any]:
    data = base64.b64encode(json.dumps(operations).encode()).decode()
    binary = {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data}
    return {"resource": binary, "request": {"method": "PATCH", "url": url}}


def put(client: httpx.Client, resource: dict[str, Any]) -> dict[str, Any]:
    response = client.put(
        f"{resource['resourceType']}/{resource['id']}", json=resource, headers=SEND
    )
    assert response.status_code in (200, 201)
    body: dict[str, Any] = response.json()
    return body


def statuses(response: httpx.Response) -> list[int]:
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "batch-response"
    return [int(e["response"]["status"].split()[0]) for e in bundle.get("entry", [])]


def located(entry: dict[str, Any]) -> str:
    type, id = entry["response"]["location"].split("/")[:2]
    return f"{type}/{id}"


def test_batch_returns_a_batch_response_with_one_entry_per_request_in_order(
    client: httpx.Client,
) -> None:
    put(client, patient(id="p1"))
    response = batch(
        client,
        [
            post_entry(patient("1")),
            request_entry("GET", "Patient/p1"),
            put_entry(patient(id="p2")),
            request_entry("DELETE", "Patient/p1"),
        ],
    )
    assert statuses(response) == [201, 200, 201, 200]


def test_batch_entries_fail_independently(client: httpx.Client) -> None:
    response = batch(
        client,
        [
            post_entry(patient("1")),
            post_entry(patient("2", active="yes")),
            post_entry(patient("3")),
        ],
    )
    assert statuses(response) == [201, 422, 201]
    failed = response.json()["entry"][1]["response"]["outcome"]
    assert failed["resourceType"] == "OperationOutcome"
    assert failed["issue"][0]["expression"] == ["Patient.active"]
    assert client.get("Patient").json()["total"] == 2
    assert client.get("Patient", params={"identifier": f"{SYSTEM}|2"}).json()["total"] == 0


def test_batch_is_200_even_when_every_entry_fails(client: httpx.Client) -> None:
    response = batch(
        client, [request_entry("GET", "Patient/nope"), post_entry(patient(active="no"))]
    )
    assert statuses(response) == [404, 422]


def test_batch_read_entries_carry_the_resource(client: httpx.Client, base_url: str) -> None:
    written = put(client, patient(id="p1", gender="male"))
    response = batch(client, [request_entry("GET", "Patient/p1")])
    [entry] = response.json()["entry"]
    assert entry["resource"] == written
    assert entry["fullUrl"] == f"{base_url}/Patient/p1"
    assert entry["response"]["etag"] == 'W/"1"'


def test_batch_search_entries_carry_a_searchset(client: httpx.Client) -> None:
    put(client, patient("1", id="p1"))
    response = batch(client, [request_entry("GET", f"Patient?identifier={SYSTEM}|1")])
    [entry] = response.json()["entry"]
    assert entry["resource"]["type"] == "searchset"
    assert entry["resource"]["total"] == 1


def test_batch_vread_and_history_entries(client: httpx.Client) -> None:
    put(client, patient(id="p1", gender="male"))
    put(client, patient(id="p1", gender="female"))
    response = batch(
        client,
        [
            request_entry("GET", "Patient/p1/_history/1"),
            request_entry("GET", "Patient/p1/_history"),
        ],
    )
    assert statuses(response) == [200, 200]
    vread, history = response.json()["entry"]
    assert vread["resource"]["gender"] == "male"
    assert history["resource"]["type"] == "history"
    assert len(history["resource"]["entry"]) == 2


def test_batch_write_entries_carry_no_resource_by_default(client: httpx.Client) -> None:
    response = batch(client, [post_entry(patient("1"))])
    [entry] = response.json()["entry"]
    assert "resource" not in entry
    assert entry["response"]["location"].endswith("/_history/1")
    assert entry["response"]["etag"] == 'W/"1"'


def test_batch_write_entries_carry_the_resource_with_return_representation(
    client: httpx.Client,
) -> None:
    response = batch(
        client, [post_entry(patient("1"))], headers={"prefer": "return=representation"}
    )
    [entry] = response.json()["entry"]
    assert entry["resource"]["identifier"][0]["value"] == "1"
    assert entry["resource"]["meta"]["versionId"] == "1"


def test_batch_read_of_an_unknown_resource_reports_404_in_its_entry(client: httpx.Client) -> None:
    response = batch(client, [request_entry("GET", "Patient/nope")])
    [entry] = response.json()["entry"]
    assert entry["response"]["status"].split()[0] == "404"
    assert entry["response"]["outcome"]["issue"][0]["code"] == "not-found"


def test_batch_read_of_a_deleted_resource_reports_410_in_its_entry(client: httpx.Client) -> None:
    put(client, patient(id="p1"))
    client.delete("Patient/p1")
    assert statuses(batch(client, [request_entry("GET", "Patient/p1")])) == [410]


def test_batch_update_with_a_stale_if_match_reports_412_in_its_entry(
    client: httpx.Client,
) -> None:
    put(client, patient(id="p1"))
    put(client, patient(id="p1", active=True))
    response = batch(
        client,
        [put_entry(patient(id="p1", active=False), if_match='W/"1"'), post_entry(patient("1"))],
    )
    assert statuses(response) == [412, 201]
    assert client.get("Patient/p1").json()["active"] is True


def test_batch_update_with_the_current_if_match_succeeds(client: httpx.Client) -> None:
    put(client, patient(id="p1"))
    response = batch(client, [put_entry(patient(id="p1", active=True), if_match='W/"1"')])
    assert statuses(response) == [200]
    assert response.json()["entry"][0]["response"]["etag"] == 'W/"2"'


def test_batch_patch_entry_applies_the_json_patch_in_the_binary(client: httpx.Client) -> None:
    put(client, patient(id="p1"))
    response = batch(
        client, [patch_entry("Patient/p1", [{"op": "add", "path": "/active", "value": True}])]
    )
    assert statuses(response) == [200]
    assert client.get("Patient/p1").json()["active"] is True


def test_batch_patch_entry_that_is_not_a_binary_json_patch_is_400(client: httpx.Client) -> None:
    put(client, patient(id="p1"))
    entry = {"resource": patient(active=True), "request": {"method": "PATCH", "url": "Patient/p1"}}
    assert statuses(batch(client, [entry])) == [400]
    assert "active" not in client.get("Patient/p1").json()


def test_batch_delete_entry_deletes(client: httpx.Client) -> None:
    put(client, patient(id="p1"))
    assert statuses(batch(client, [request_entry("DELETE", "Patient/p1")])) == [200]
    assert client.get("Patient/p1").status_code == 410


def test_batch_conditional_create_with_a_match_reports_200(client: httpx.Client) -> None:
    put(client, patient("1", id="p1"))
    response = batch(client, [post_entry(patient("1"), if_none_exist=f"identifier={SYSTEM}|1")])
    assert statuses(response) == [200]
    assert client.get("Patient").json()["total"] == 1


def test_batch_entry_without_a_request_fails_alone(client: httpx.Client) -> None:
    response = batch(client, [{"resource": patient("1")}, post_entry(patient("2"))])
    assert statuses(response) == [400, 201]
    outcome = response.json()["entry"][0]["response"]["outcome"]
    assert outcome["issue"][0]["expression"] == ["Bundle.entry[0].request"]


def test_batch_entry_with_an_invalid_method_fails_alone(client: httpx.Client) -> None:
    response = batch(
        client, [{"request": {"method": "FETCH", "url": "Patient"}}, post_entry(patient("2"))]
    )
    assert statuses(response) == [400, 201]


def test_batch_entry_for_an_unsupported_type_reports_404(client: httpx.Client) -> None:
    response = batch(client, [post_entry({"resourceType": "NotAType"})])
    assert statuses(response) == [404]


def test_batch_entries_are_processed_in_order(client: httpx.Client) -> None:
    response = batch(
        client,
        [put_entry(patient(id="p1", gender="male")), request_entry("GET", "Patient/p1")],
    )
    assert statuses(response) == [201, 200]
    assert response.json()["entry"][1]["resource"]["gender"] == "male"


def test_empty_batch_returns_an_empty_batch_response(client: httpx.Client) -> None:
    response = batch(client, [])
    assert statuses(response) == []
