"""transaction: ``POST [base]`` with a Bundle of type transaction
(https://hl7.org/fhir/R4/http.html#transaction, processing rules at http.html#trules)."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}
SYSTEM = "urn:test:mrn"
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
SYNTHEA_PATIENT = "Liz_Conn_27c911c6-f045-4ffa-af5d-6eba57ac94b2.json"
URN_A = "urn:uuid:0a0a0a0a-0000-4000-8000-000000000001"
URN_B = "urn:uuid:0b0b0b0b-0000-4000-8000-000000000002"


def shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


def transaction(
    client: httpx.Client, entries: list[dict[str, Any]], headers: dict[str, str] | None = None
) -> httpx.Response:
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    return client.post("", json=bundle, headers={**SEND, **(headers or {})})


def patient(value: str | None = None, **elements: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Patient", **elements}
    if value is not None:
        body["identifier"] = [{"system": SYSTEM, "value": value}]
    return body


def observation(subject: str) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "subject": {"reference": subject},
    }


def post_entry(
    resource: dict[str, Any], full_url: str | None = None, if_none_exist: str | None = None
) -> dict[str, Any]:
    request: dict[str, Any] = {"method": "POST", "url": resource["resourceType"]}
    if if_none_exist is not None:
        request["ifNoneExist"] = if_none_exist
    entry: dict[str, Any] = {"resource": resource, "request": request}
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


def put_entry(resource: dict[str, Any], if_match: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {
        "method": "PUT",
        "url": f"{resource['resourceType']}/{resource['id']}",
    }
    if if_match is not None:
        request["ifMatch"] = if_match
    return {"resource": resource, "request": request}


def conditional_put_entry(
    resource: dict[str, Any], criteria: str, full_url: str | None = None
) -> dict[str, Any]:
    url = f"{resource['resourceType']}?{criteria}"
    entry: dict[str, Any] = {"resource": resource, "request": {"method": "PUT", "url": url}}
    if full_url is not None:
        entry["fullUrl"] = full_url
    return entry


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
    return [int(e["response"]["status"].split()[0]) for e in response.json()["entry"]]


def located(entry: dict[str, Any]) -> str:
    """``Type/id`` from a response entry's location ``Type/id/_history/n``."""
    type, id = entry["response"]["location"].split("/")[:2]
    return f"{type}/{id}"


def stored_versions(client: httpx.Client) -> list[dict[str, Any]]:
    bundle = client.get("_history", params={"_count": "1000"}).json()
    found: list[dict[str, Any]] = bundle.get("entry", [])
    return found


def diagnostics(response: httpx.Response) -> str:
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return " ".join(issue.get("diagnostics", "") for issue in outcome["issue"])


def strings(original: Any, stored: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, original string, stored value at the same place) for every string in original."""
    if isinstance(original, dict):
        for key, value in original.items():
            if path == "" and key in ("id", "meta"):
                continue
            yield from strings(
                value, stored.get(key) if isinstance(stored, dict) else None, f"{path}.{key}"
            )
    elif isinstance(original, list):
        for i, value in enumerate(original):
            item = stored[i] if isinstance(stored, list) and i < len(stored) else None
            yield from strings(value, item, f"{path}[{i}]")
    elif isinstance(original, str):
        yield path, original, stored


def references(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


# -- the response --------------------------------------------------------------------------------


def test_transaction_returns_a_transaction_response_with_one_entry_per_request_in_order(
    client: httpx.Client,
) -> None:
    put(client, patient(id="old"))
    put(client, patient(id="gone"))
    response = transaction(
        client,
        [
            request_entry("GET", "Patient/old"),
            request_entry("DELETE", "Patient/gone"),
            put_entry(patient(id="new")),
            post_entry(patient("1")),
        ],
    )
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "transaction-response"
    assert statuses(response) == [200, 200, 201, 201]
    assert bundle["entry"][0]["resource"]["id"] == "old"


def test_transaction_creates_get_201_location_and_etag(client: httpx.Client, base_url: str) -> None:
    response = transaction(client, [post_entry(patient("1"), URN_A)])
    [entry] = response.json()["entry"]
    assert entry["response"]["status"].split()[0] == "201"
    assert entry["response"]["etag"] == 'W/"1"'
    assert entry["response"]["location"].endswith("/_history/1")
    ref = located(entry)
    assert entry["fullUrl"] == f"{base_url}/{ref}"
    assert client.get(ref).json()["identifier"][0]["value"] == "1"


def test_transaction_write_entries_carry_no_resource_by_default(client: httpx.Client) -> None:
    response = transaction(client, [post_entry(patient("1"))])
    assert "resource" not in response.json()["entry"][0]


def test_transaction_write_entries_carry_the_resource_with_return_representation(
    client: httpx.Client,
) -> None:
    response = transaction(
        client, [post_entry(patient("1"))], headers={"prefer": "return=representation"}
    )
    [entry] = response.json()["entry"]
    assert entry["resource"]["resourceType"] == "Patient"
    assert entry["resource"]["meta"]["versionId"] == "1"
    assert entry["resource"]["identifier"][0]["value"] == "1"


def test_transaction_update_entries_report_200_for_updates_and_201_for_creates(
    client: httpx.Client,
) -> None:
    put(client, patient(id="p1"))
    response = transaction(
        client, [put_entry(patient(id="p1", active=True)), put_entry(patient(id="p2"))]
    )
    assert statuses(response) == [200, 201]
    assert response.json()["entry"][0]["response"]["etag"] == 'W/"2"'
    assert client.get("Patient/p1").json()["active"] is True


def test_transaction_accepts_absolute_request_urls_on_this_base(
    client: httpx.Client, base_url: str
) -> None:
    entry = put_entry(patient(id="p1"))
    entry["request"]["url"] = f"{base_url}/Patient/p1"
    response = transaction(client, [entry])
    assert statuses(response) == [201]
    assert client.get("Patient/p1").status_code == 200


# -- identities and references ---------------------------------------------------------------


def test_transaction_replaces_urn_uuid_references_with_the_new_server_ids(
    client: httpx.Client,
) -> None:
    response = transaction(
        client,
        [
            post_entry(observation(URN_A)),
            post_entry(patient("1"), URN_A),
        ],
    )
    assert response.status_code == 200
    obs_entry, patient_entry = response.json()["entry"]
    observation_body = client.get(located(obs_entry)).json()
    assert observation_body["subject"]["reference"] == located(patient_entry)


def test_transaction_keeps_decimal_precision_in_entries_it_rewrites(
    client: httpx.Client,
) -> None:
    """1.50 is read as a Decimal (a float would lose the zero): looking for urn: references
    in such an entry must not fail on it."""
    entries = [post_entry(observation(URN_A)), post_entry(patient("1"), URN_A)]
    entries[0]["resource"]["valueQuantity"] = {"value": "DECIMAL", "unit": "mmol/L"}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
    body = json.dumps(bundle).replace('"DECIMAL"', "1.50").encode()
    response = client.post("", content=body, headers=SEND)
    assert response.status_code == 200, response.text
    obs_entry, patient_entry = response.json()["entry"]
    raw = client.get(located(obs_entry)).content
    assert b'"value":1.50' in raw
    assert json.loads(raw)["subject"]["reference"] == located(patient_entry)


def test_transaction_replaces_urn_uuid_references_in_update_entries(client: httpx.Client) -> None:
    org = {
        "resourceType": "Organization",
        "id": "o1",
        "name": "Org",
        "partOf": {"reference": URN_A},
    }
    response = transaction(
        client,
        [put_entry(org), post_entry({"resourceType": "Organization", "name": "Parent"}, URN_A)],
    )
    assert statuses(response) == [201, 201]
    parent = located(response.json()["entry"][1])
    assert client.get("Organization/o1").json()["partOf"]["reference"] == parent


def test_transaction_leaves_references_to_resources_outside_the_bundle_untouched(
    client: httpx.Client,
) -> None:
    response = transaction(client, [post_entry(observation("Patient/elsewhere"))])
    stored = client.get(located(response.json()["entry"][0])).json()
    assert stored["subject"]["reference"] == "Patient/elsewhere"


def test_transaction_replaces_urn_uuid_links_in_the_narrative(client: httpx.Client) -> None:
    div = f'<div xmlns="http://www.w3.org/1999/xhtml"><a href="{URN_A}">the patient</a></div>'
    org = {
        "resourceType": "Organization",
        "name": "Org",
        "text": {"status": "generated", "div": div},
    }
    response = transaction(client, [post_entry(patient("1"), URN_A), post_entry(org, URN_B)])
    patient_ref, org_ref = (located(e) for e in response.json()["entry"])
    stored_div = client.get(org_ref).json()["text"]["div"]
    assert URN_A not in stored_div
    assert f'href="{patient_ref}"' in stored_div


def test_transaction_resolves_a_conditional_reference_to_its_single_match(
    client: httpx.Client,
) -> None:
    put(client, patient("1", id="p1"))
    put(client, patient("2", id="p2"))
    response = transaction(client, [post_entry(observation(f"Patient?identifier={SYSTEM}|2"))])
    assert response.status_code == 200
    stored = client.get(located(response.json()["entry"][0])).json()
    assert stored["subject"]["reference"] == "Patient/p2"


def test_transaction_with_a_conditional_reference_that_matches_nothing_fails_and_stores_nothing(
    client: httpx.Client,
) -> None:
    response = transaction(
        client,
        [post_entry(patient("5")), post_entry(observation(f"Patient?identifier={SYSTEM}|nobody"))],
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert stored_versions(client) == []


def test_transaction_with_a_conditional_reference_that_matches_twice_fails_and_stores_nothing(
    client: httpx.Client,
) -> None:
    put(client, patient("1", id="p1"))
    put(client, patient("1", id="p2"))
    before = len(stored_versions(client))
    response = transaction(client, [post_entry(observation(f"Patient?identifier={SYSTEM}|1"))])
    assert response.status_code == 400
    assert len(stored_versions(client)) == before


def test_transaction_conditional_create_with_a_match_points_references_at_the_match(
    client: httpx.Client,
) -> None:
    put(client, patient("1", id="p1"))
    response = transaction(
        client,
        [
            post_entry(patient("1"), URN_A, if_none_exist=f"identifier={SYSTEM}|1"),
            post_entry(observation(URN_A)),
        ],
    )
    assert statuses(response) == [200, 201]
    stored = client.get(located(response.json()["entry"][1])).json()
    assert stored["subject"]["reference"] == "Patient/p1"
    assert client.get("Patient").json()["total"] == 1


def test_transaction_conditional_create_without_a_match_creates(client: httpx.Client) -> None:
    response = transaction(
        client, [post_entry(patient("1"), URN_A, if_none_exist=f"identifier={SYSTEM}|1")]
    )
    assert statuses(response) == [201]
    assert client.get("Patient", params={"identifier": f"{SYSTEM}|1"}).json()["total"] == 1


def test_transaction_replaces_urn_uuid_references_to_a_conditional_update_entry(
    client: httpx.Client,
) -> None:
    conditional = conditional_put_entry(patient("1"), f"identifier={SYSTEM}|1", URN_A)
    response = transaction(client, [conditional, post_entry(observation(URN_A))])
    assert statuses(response) == [201, 201]
    patient_ref, observation_ref = (located(e) for e in response.json()["entry"])
    assert client.get(observation_ref).json()["subject"]["reference"] == patient_ref


def test_transaction_leaves_string_elements_equal_to_a_full_url_unchanged(
    client: httpx.Client,
) -> None:
    body = {
        "resourceType": "Patient",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": URN_A}],
    }
    response = transaction(client, [post_entry(body, URN_A)])
    stored = client.get(located(response.json()["entry"][0])).json()
    assert stored["identifier"][0]["value"] == URN_A


def test_transaction_failing_conditional_reference_names_its_entry(client: httpx.Client) -> None:
    response = transaction(
        client,
        [post_entry(patient("5")), post_entry(observation(f"Patient?identifier={SYSTEM}|nobody"))],
    )
    assert response.status_code == 400
    assert "Bundle.entry[1]" in diagnostics(response)


# -- processing order ----------------------------------------------------------------------------


def test_transaction_processes_reads_after_writes(client: httpx.Client) -> None:
    put(client, patient(id="p1", gender="male"))
    response = transaction(
        client,
        [request_entry("GET", "Patient/p1"), put_entry(patient(id="p1", gender="female"))],
    )
    assert statuses(response) == [200, 200]
    read = response.json()["entry"][0]["resource"]
    assert read["gender"] == "female"
    assert read["meta"]["versionId"] == "2"


def test_transaction_search_entries_see_resources_created_by_the_transaction(
    client: httpx.Client,
) -> None:
    response = transaction(
        client,
        [request_entry("GET", f"Patient?identifier={SYSTEM}|1"), post_entry(patient("1"))],
    )
    assert statuses(response) == [200, 201]
    searchset = response.json()["entry"][0]["resource"]
    assert searchset["total"] == 1


# -- patch and delete entries ---------------------------------------------------------------------


def test_transaction_patch_entry_applies_the_json_patch_in_the_binary(client: httpx.Client) -> None:
    put(client, patient(id="p1", gender="male"))
    response = transaction(
        client,
        [patch_entry("Patient/p1", [{"op": "replace", "path": "/gender", "value": "other"}])],
    )
    assert statuses(response) == [200]
    assert client.get("Patient/p1").json()["gender"] == "other"


def test_transaction_delete_entry_deletes(client: httpx.Client) -> None:
    put(client, patient(id="p1"))
    response = transaction(client, [request_entry("DELETE", "Patient/p1")])
    assert statuses(response) == [200]
    assert client.get("Patient/p1").status_code == 410


def test_transaction_conditional_delete_entry_deletes_the_match(client: httpx.Client) -> None:
    put(client, patient("1", id="p1"))
    response = transaction(client, [request_entry("DELETE", f"Patient?identifier={SYSTEM}|1")])
    assert statuses(response) == [200]
    assert client.get("Patient/p1").status_code == 410


# -- all or nothing -------------------------------------------------------------------------------


def test_transaction_with_one_invalid_entry_fails_and_stores_nothing(client: httpx.Client) -> None:
    response = transaction(
        client,
        [
            post_entry(patient("good-1"), URN_A),
            post_entry(patient("bad", active="yes")),
            post_entry(observation(URN_A)),
        ],
    )
    assert response.status_code == 422
    assert "Bundle.entry[1]" in diagnostics(response)
    assert stored_versions(client) == []
    assert client.get("Patient").json()["total"] == 0
    assert client.get("Observation").json()["total"] == 0


def test_transaction_with_a_stale_if_match_fails_with_412_and_stores_nothing(
    client: httpx.Client,
) -> None:
    put(client, patient(id="p1"))
    put(client, patient(id="p1", active=True))
    response = transaction(
        client,
        [post_entry(patient("1")), put_entry(patient(id="p1", active=False), if_match='W/"1"')],
    )
    assert response.status_code == 412
    assert "Bundle.entry[1]" in diagnostics(response)
    assert client.get("Patient/p1").json()["active"] is True
    assert client.get("Patient", params={"identifier": f"{SYSTEM}|1"}).json()["total"] == 0


def test_transaction_with_a_read_of_an_unknown_resource_fails_and_stores_nothing(
    client: httpx.Client,
) -> None:
    response = transaction(client, [post_entry(patient("1")), request_entry("GET", "Patient/nope")])
    assert response.status_code == 404
    assert "Bundle.entry[1]" in diagnostics(response)
    assert stored_versions(client) == []


def test_transaction_with_an_unsupported_resource_type_fails_and_stores_nothing(
    client: httpx.Client,
) -> None:
    response = transaction(
        client, [post_entry(patient("1")), post_entry({"resourceType": "NotAType"})]
    )
    assert response.status_code == 404
    assert stored_versions(client) == []


def test_transaction_that_changes_one_resource_twice_fails_and_stores_nothing(
    client: httpx.Client,
) -> None:
    put(client, patient(id="p1"))
    response = transaction(
        client,
        [put_entry(patient(id="p1", active=True)), request_entry("DELETE", "Patient/p1")],
    )
    assert response.status_code == 400
    body = client.get("Patient/p1").json()
    assert body["meta"]["versionId"] == "1"


def test_transaction_fails_when_a_conditional_update_resolves_to_a_resource_it_also_updates(
    client: httpx.Client,
) -> None:
    put(client, patient("1", id="p1"))
    conditional = conditional_put_entry(patient("1", active=True), f"identifier={SYSTEM}|1")
    response = transaction(client, [conditional, put_entry(patient("1", id="p1", active=False))])
    assert response.status_code == 400
    body = client.get("Patient/p1").json()
    assert body["meta"]["versionId"] == "1"
    assert "active" not in body


def test_transaction_with_a_duplicate_full_url_is_400(client: httpx.Client) -> None:
    response = transaction(
        client, [post_entry(patient("1"), URN_A), post_entry(patient("2"), URN_A)]
    )
    assert response.status_code == 400
    assert stored_versions(client) == []


def test_transaction_entry_without_a_request_is_400_naming_the_entry(client: httpx.Client) -> None:
    response = transaction(client, [post_entry(patient("1")), {"resource": patient("2")}])
    assert response.status_code == 400
    issue = response.json()["issue"][0]
    assert issue["expression"] == ["Bundle.entry[1].request"]
    assert stored_versions(client) == []


def test_post_to_the_base_of_a_bundle_that_is_not_batch_or_transaction_is_400(
    client: httpx.Client,
) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient("1")}]}
    response = client.post("", json=bundle, headers=SEND)
    assert response.status_code == 400
    assert stored_versions(client) == []


# -- a whole Synthea patient ---------------------------------------------------------------------


def test_transaction_of_a_synthea_patient_stores_every_entry_and_resolves_every_reference(
    client: httpx.Client,
) -> None:
    bundle = json.loads(shared("synthea-r4", SYNTHEA_PATIENT).read_text())
    response = client.post("", json=bundle, headers=SEND)
    assert response.status_code == 200
    answer = response.json()
    assert answer["type"] == "transaction-response"
    assert len(answer["entry"]) == len(bundle["entry"])

    new_ref: dict[str, str] = {}
    for sent, got in zip(bundle["entry"], answer["entry"], strict=True):
        assert got["response"]["status"].split()[0] == "201"
        ref = located(got)
        assert ref.split("/")[0] == sent["resource"]["resourceType"]
        new_ref[sent["fullUrl"]] = ref
    assert len(set(new_ref.values())) == len(bundle["entry"])

    stored: dict[str, dict[str, Any]] = {}
    for ref in new_ref.values():
        read = client.get(ref)
        assert read.status_code == 200
        stored[ref] = read.json()

    replaced = 0
    for sent in bundle["entry"]:
        body = stored[new_ref[sent["fullUrl"]]]
        assert "urn:uuid:" not in json.dumps(body)
        for path, original, now in strings(sent["resource"], body):
            if original in new_ref:
                assert now == new_ref[original], path
                replaced += 1
            else:
                assert now == original, path
        for reference in references(body):
            if not reference.startswith("#"):
                assert reference in stored, reference
    assert replaced > len(bundle["entry"])

    versions = stored_versions(client)
    assert len(versions) == len(bundle["entry"])
    assert {e["request"]["method"] for e in versions} == {"POST"}


def test_transaction_of_a_synthea_patient_with_one_bad_entry_stores_nothing(
    client: httpx.Client,
) -> None:
    bundle = json.loads(shared("synthea-r4", SYNTHEA_PATIENT).read_text())
    broken = copy.deepcopy(bundle)
    middle = len(broken["entry"]) // 2
    broken["entry"][middle]["resource"]["status"] = 42
    response = client.post("", json=broken, headers=SEND)
    assert response.status_code == 422
    assert f"Bundle.entry[{middle}]" in diagnostics(response)
    assert stored_versions(client) == []
    for type in ("Patient", "Encounter", "Observation", "Claim"):
        assert client.get(type).json()["total"] == 0
