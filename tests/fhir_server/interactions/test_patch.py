"""patch: ``PATCH [base]/[type]/[id]`` with a JSON Patch document
(https://hl7.org/fhir/R4/http.html#patch, RFC 6902), and conditional patch."""

from __future__ import annotations

from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
SEND = {"content-type": FHIR_JSON}


def put(client: httpx.Client, resource: dict[str, Any]) -> httpx.Response:
    url = f"{resource['resourceType']}/{resource['id']}"
    return client.put(url, json=resource, headers=SEND)


def stored(client: httpx.Client, id: str = "p1", **elements: Any) -> dict[str, Any]:
    response = put(client, {"resourceType": "Patient", "id": id, **elements})
    assert response.status_code in (200, 201)
    body: dict[str, Any] = response.json()
    return body


def patch(
    client: httpx.Client,
    url: str,
    operations: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return client.patch(
        url, json=operations, headers={"content-type": JSON_PATCH, **(headers or {})}
    )


def current(client: httpx.Client, url: str = "Patient/p1") -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_json_patch_returns_200_with_the_patched_resource(client: httpx.Client) -> None:
    stored(client, gender="male", active=True)
    response = patch(
        client,
        "Patient/p1",
        [
            {"op": "replace", "path": "/gender", "value": "female"},
            {"op": "remove", "path": "/active"},
        ],
    )
    assert response.status_code == 200
    body = response.json()
    assert body["gender"] == "female"
    assert "active" not in body
    assert current(client) == body


def test_patch_creates_a_new_version(client: httpx.Client) -> None:
    stored(client)
    response = patch(client, "Patient/p1", [{"op": "add", "path": "/active", "value": True}])
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["versionId"] == "2"
    assert client.get("Patient/p1/_history/1").json().get("active") is None


def test_patch_is_recorded_in_history_as_patch(client: httpx.Client) -> None:
    stored(client)
    patch(client, "Patient/p1", [{"op": "add", "path": "/active", "value": True}])
    entry = client.get("Patient/p1/_history").json()["entry"][0]
    assert entry["request"] == {"method": "PATCH", "url": "Patient/p1"}
    assert entry["resource"]["active"] is True


def test_patch_with_a_passing_test_operation_applies(client: httpx.Client) -> None:
    stored(client, gender="male")
    response = patch(
        client,
        "Patient/p1",
        [
            {"op": "test", "path": "/gender", "value": "male"},
            {"op": "replace", "path": "/gender", "value": "other"},
        ],
    )
    assert response.status_code == 200
    assert current(client)["gender"] == "other"


def test_patch_with_a_failing_test_operation_is_422_and_changes_nothing(
    client: httpx.Client,
) -> None:
    stored(client, gender="male")
    response = patch(
        client,
        "Patient/p1",
        [
            {"op": "test", "path": "/gender", "value": "female"},
            {"op": "replace", "path": "/gender", "value": "other"},
        ],
    )
    assert response.status_code == 422
    assert response.json()["resourceType"] == "OperationOutcome"
    body = current(client)
    assert body["gender"] == "male"
    assert body["meta"]["versionId"] == "1"


def test_patch_that_changes_the_id_is_422(client: httpx.Client) -> None:
    stored(client)
    response = patch(client, "Patient/p1", [{"op": "replace", "path": "/id", "value": "p2"}])
    assert response.status_code == 422
    assert client.get("Patient/p2").status_code == 404
    assert current(client)["meta"]["versionId"] == "1"


def test_patch_that_changes_the_resource_type_is_422(client: httpx.Client) -> None:
    stored(client)
    response = patch(
        client, "Patient/p1", [{"op": "replace", "path": "/resourceType", "value": "Person"}]
    )
    assert response.status_code == 422
    assert current(client)["resourceType"] == "Patient"


def test_patch_that_makes_the_resource_invalid_is_422(client: httpx.Client) -> None:
    stored(client)
    response = patch(
        client, "Patient/p1", [{"op": "add", "path": "/birthDate", "value": "not a date"}]
    )
    assert response.status_code == 422
    assert "birthDate" not in current(client)


def test_patch_at_a_path_that_does_not_exist_is_422(client: httpx.Client) -> None:
    stored(client)
    response = patch(client, "Patient/p1", [{"op": "remove", "path": "/gender"}])
    assert response.status_code == 422


def test_patch_that_is_not_a_json_array_is_400(client: httpx.Client) -> None:
    stored(client)
    response = patch(client, "Patient/p1", {"op": "remove", "path": "/gender"})
    assert response.status_code == 400


def test_patch_with_an_unknown_op_is_400(client: httpx.Client) -> None:
    stored(client)
    response = patch(client, "Patient/p1", [{"op": "explode", "path": "/gender"}])
    assert response.status_code == 400


def test_patch_with_fhir_json_content_type_is_415(client: httpx.Client) -> None:
    stored(client)
    response = client.patch(
        "Patient/p1",
        json=[{"op": "add", "path": "/active", "value": True}],
        headers={"content-type": FHIR_JSON},
    )
    assert response.status_code == 415
    assert "active" not in current(client)


def test_patch_accepts_a_charset_parameter_on_the_content_type(client: httpx.Client) -> None:
    stored(client)
    response = patch(
        client,
        "Patient/p1",
        [{"op": "add", "path": "/active", "value": True}],
        headers={"content-type": f"{JSON_PATCH}; charset=utf-8"},
    )
    assert response.status_code == 200


def test_patch_of_an_unknown_resource_is_404(client: httpx.Client) -> None:
    response = patch(client, "Patient/nobody", [{"op": "add", "path": "/active", "value": True}])
    assert response.status_code == 404
    assert client.get("Patient/nobody").status_code == 404


def test_patch_of_a_deleted_resource_is_410_gone(client: httpx.Client) -> None:
    stored(client)
    client.delete("Patient/p1")
    response = patch(client, "Patient/p1", [{"op": "add", "path": "/active", "value": True}])
    assert response.status_code == 410
    assert client.get("Patient/p1").status_code == 410


def test_patch_with_if_match_of_the_current_version_succeeds(client: httpx.Client) -> None:
    stored(client)
    response = patch(
        client,
        "Patient/p1",
        [{"op": "add", "path": "/active", "value": True}],
        headers={"if-match": 'W/"1"'},
    )
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'


def test_patch_with_a_stale_if_match_is_412_and_changes_nothing(client: httpx.Client) -> None:
    stored(client)
    stored(client, gender="male")
    response = patch(
        client,
        "Patient/p1",
        [{"op": "add", "path": "/active", "value": True}],
        headers={"if-match": 'W/"1"'},
    )
    assert response.status_code == 412
    body = current(client)
    assert "active" not in body
    assert body["meta"]["versionId"] == "2"


def test_patch_with_return_minimal_returns_no_body(client: httpx.Client) -> None:
    stored(client)
    response = patch(
        client,
        "Patient/p1",
        [{"op": "add", "path": "/active", "value": True}],
        headers={"prefer": "return=minimal"},
    )
    assert response.status_code == 200
    assert response.content == b""
    assert current(client)["active"] is True


def test_conditional_patch_with_one_match_patches_it(client: httpx.Client) -> None:
    stored(client, "a", identifier=[{"system": "urn:s", "value": "1"}])
    stored(client, "b", identifier=[{"system": "urn:s", "value": "2"}])
    response = patch(
        client, "Patient?identifier=urn:s|2", [{"op": "add", "path": "/active", "value": True}]
    )
    assert response.status_code == 200
    assert response.json()["id"] == "b"
    assert current(client, "Patient/b")["active"] is True
    assert "active" not in current(client, "Patient/a")


def test_conditional_patch_with_multiple_matches_is_412(client: httpx.Client) -> None:
    stored(client, "a", identifier=[{"system": "urn:s", "value": "1"}])
    stored(client, "b", identifier=[{"system": "urn:s", "value": "1"}])
    response = patch(
        client, "Patient?identifier=urn:s|1", [{"op": "add", "path": "/active", "value": True}]
    )
    assert response.status_code == 412
    assert "active" not in current(client, "Patient/a")
    assert "active" not in current(client, "Patient/b")
