"""delete: ``DELETE [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#delete) and
conditional delete ``DELETE [base]/[type]?criteria`` (http.html#cdelete)."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}


def stored(client: httpx.Client, id: str = "p1", **elements: Any) -> dict[str, Any]:
    response = client.put(
        f"Patient/{id}", json={"resourceType": "Patient", "id": id, **elements}, headers=SEND
    )
    assert response.status_code in (200, 201)
    body: dict[str, Any] = response.json()
    return body


def with_identifier(client: httpx.Client, id: str, value: str) -> dict[str, Any]:
    return stored(client, id, identifier=[{"system": "urn:test", "value": value}])


def etags(client: httpx.Client, url: str) -> list[str]:
    bundle = client.get(f"{url}/_history").json()
    return [entry["response"]["etag"] for entry in bundle.get("entry", [])]


def test_delete_returns_200_with_an_informational_operation_outcome(
    client: httpx.Client,
) -> None:
    stored(client)
    response = client.delete("Patient/p1")
    assert response.status_code == 200
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert [issue["severity"] for issue in outcome["issue"]] == ["information"]


def test_delete_returns_the_etag_of_the_deletion_version(client: httpx.Client) -> None:
    stored(client)
    response = client.delete("Patient/p1")
    assert response.headers["etag"] == 'W/"2"'


def test_a_deleted_resource_is_410_gone_on_read(client: httpx.Client) -> None:
    stored(client)
    client.delete("Patient/p1")
    assert client.get("Patient/p1").status_code == 410


def test_delete_adds_a_version_to_history(client: httpx.Client) -> None:
    stored(client)
    client.delete("Patient/p1")
    assert etags(client, "Patient/p1") == ['W/"2"', 'W/"1"']


def test_a_deleted_resource_is_not_found_by_search(client: httpx.Client) -> None:
    with_identifier(client, "p1", "x")
    with_identifier(client, "p2", "x")
    client.delete("Patient/p1")
    bundle = client.get("Patient", params={"identifier": "urn:test|x"}).json()
    assert bundle["total"] == 1
    assert [entry["resource"]["id"] for entry in bundle["entry"]] == ["p2"]
    assert client.get("Patient", params={"_id": "p1"}).json()["total"] == 0


def test_delete_of_a_resource_that_does_not_exist_is_200(client: httpx.Client) -> None:
    response = client.delete("Patient/never-was")
    assert response.status_code == 200
    assert response.json()["resourceType"] == "OperationOutcome"
    assert client.get("Patient/never-was").status_code == 404
    assert client.get("Patient/never-was/_history").status_code == 404


def test_delete_of_an_already_deleted_resource_is_200_and_adds_no_version(
    client: httpx.Client,
) -> None:
    stored(client)
    client.delete("Patient/p1")
    response = client.delete("Patient/p1")
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'
    assert etags(client, "Patient/p1") == ['W/"2"', 'W/"1"']


def test_delete_leaves_other_resources_alone(client: httpx.Client) -> None:
    stored(client, "p1")
    stored(client, "p2")
    client.delete("Patient/p1")
    assert client.get("Patient/p2").status_code == 200


def test_delete_of_an_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    assert client.delete("NotAType/p1").status_code == 404


def test_delete_with_if_match_of_the_current_version_deletes(client: httpx.Client) -> None:
    stored(client)
    response = client.delete("Patient/p1", headers={"if-match": 'W/"1"'})
    assert response.status_code == 200
    assert client.get("Patient/p1").status_code == 410


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_resource(
    client: httpx.Client,
) -> None:
    stored(client)
    stored(client, active=True)
    response = client.delete("Patient/p1", headers={"if-match": 'W/"1"'})
    assert response.status_code == 412
    assert client.get("Patient/p1").status_code == 200


def test_a_deleted_resource_can_be_created_again_by_update(client: httpx.Client) -> None:
    stored(client, gender="male")
    client.delete("Patient/p1")
    response = client.put(
        "Patient/p1", json={"resourceType": "Patient", "id": "p1", "gender": "female"}, headers=SEND
    )
    assert response.status_code == 201
    assert client.get("Patient/p1").json()["meta"]["versionId"] == "3"


def test_conditional_delete_of_a_single_match_deletes_it(client: httpx.Client) -> None:
    with_identifier(client, "p1", "a")
    with_identifier(client, "p2", "b")
    response = client.delete("Patient", params={"identifier": "urn:test|a"})
    assert response.status_code == 200
    assert client.get("Patient/p1").status_code == 410
    assert client.get("Patient/p2").status_code == 200


def test_conditional_delete_with_no_match_is_200_and_deletes_nothing(
    client: httpx.Client,
) -> None:
    with_identifier(client, "p1", "a")
    response = client.delete("Patient", params={"identifier": "urn:test|zzz"})
    assert response.status_code == 200
    assert client.get("Patient/p1").status_code == 200


def test_conditional_delete_with_multiple_matches_is_412_and_deletes_nothing(
    client: httpx.Client,
) -> None:
    with_identifier(client, "p1", "a")
    with_identifier(client, "p2", "a")
    response = client.delete("Patient", params={"identifier": "urn:test|a"})
    assert response.status_code == 412
    assert [issue["code"] for issue in response.json()["issue"]] == ["multiple-matches"]
    assert client.get("Patient/p1").status_code == 200
    assert client.get("Patient/p2").status_code == 200


def test_conditional_delete_by_id_deletes_that_resource(client: httpx.Client) -> None:
    stored(client, "p1")
    response = client.delete("Patient", params={"_id": "p1"})
    assert response.status_code == 200
    assert client.get("Patient/p1").status_code == 410


def test_conditional_delete_with_an_unsupported_parameter_is_400_and_deletes_nothing(
    client: httpx.Client,
) -> None:
    stored(client, "p1")
    response = client.delete("Patient", params={"no-such-parameter": "smith"})
    assert response.status_code == 400
    assert client.get("Patient/p1").status_code == 200


def test_conditional_delete_without_criteria_is_400_and_deletes_nothing(
    client: httpx.Client,
) -> None:
    stored(client, "p1")
    response = client.delete("Patient")
    assert response.status_code == 400
    assert client.get("Patient/p1").status_code == 200
