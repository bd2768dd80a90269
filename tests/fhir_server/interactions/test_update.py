"""update: ``PUT [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#update), update as
create, and version-aware updates with If-Match (http.html#concurrency)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}
N = 16


def put(
    client: httpx.Client, resource: dict[str, Any], headers: dict[str, str] | None = None
) -> httpx.Response:
    url = f"{resource['resourceType']}/{resource['id']}"
    return client.put(url, json=resource, headers={**SEND, **(headers or {})})


def patient(id: str = "p1", **elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id, **elements}


def current(client: httpx.Client, url: str = "Patient/p1") -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def history_versions(client: httpx.Client, url: str) -> list[str]:
    bundle = client.get(f"{url}/_history", params={"_count": "1000"}).json()
    return [entry["response"]["etag"] for entry in bundle.get("entry", [])]


def test_update_of_an_existing_resource_returns_200_ok(client: httpx.Client) -> None:
    assert put(client, patient()).status_code == 201
    response = put(client, patient(active=True))
    assert response.status_code == 200
    assert "location" not in response.headers


def test_update_creates_a_new_version_with_a_new_etag(client: httpx.Client) -> None:
    put(client, patient())
    response = put(client, patient(active=True))
    assert response.headers["etag"] == 'W/"2"'
    assert response.json()["meta"]["versionId"] == "2"
    assert current(client)["meta"]["versionId"] == "2"


def test_update_returns_last_modified(client: httpx.Client) -> None:
    put(client, patient())
    response = put(client, patient(active=True))
    assert response.headers["last-modified"].endswith(" GMT")


def test_update_replaces_the_whole_resource(client: httpx.Client) -> None:
    put(client, patient(gender="male", birthDate="1990-01-01"))
    put(client, patient(active=False))
    body = current(client)
    assert body["active"] is False
    assert "gender" not in body
    assert "birthDate" not in body


def test_update_keeps_the_previous_version_in_history(client: httpx.Client) -> None:
    put(client, patient(gender="male"))
    put(client, patient(gender="female"))
    assert client.get("Patient/p1/_history/1").json()["gender"] == "male"
    assert history_versions(client, "Patient/p1") == ['W/"2"', 'W/"1"']


def test_update_as_create_returns_201_created_with_location(
    client: httpx.Client, base_url: str
) -> None:
    response = put(client, patient("new-one", active=True))
    assert response.status_code == 201
    assert response.headers["location"] == f"{base_url}/Patient/new-one/_history/1"
    assert response.headers["etag"] == 'W/"1"'
    assert current(client, "Patient/new-one")["active"] is True


def test_update_with_a_body_id_different_from_the_url_id_is_400(client: httpx.Client) -> None:
    put(client, patient())
    response = client.put("Patient/p1", json=patient("p2"), headers=SEND)
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"
    assert client.get("Patient/p2").status_code == 404
    assert current(client)["meta"]["versionId"] == "1"


def test_update_without_an_id_in_the_body_is_400(client: httpx.Client) -> None:
    response = client.put("Patient/p1", json={"resourceType": "Patient"}, headers=SEND)
    assert response.status_code == 400
    assert client.get("Patient/p1").status_code == 404


def test_update_with_a_body_of_another_type_is_400(client: httpx.Client) -> None:
    response = client.put(
        "Patient/p1", json={"resourceType": "Organization", "id": "p1"}, headers=SEND
    )
    assert response.status_code == 400


def test_update_with_an_invalid_id_is_400(client: httpx.Client) -> None:
    response = client.put("Patient/bad_id", json=patient("bad_id"), headers=SEND)
    assert response.status_code == 400


def test_update_of_an_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    response = client.put("NotAType/x", json={"resourceType": "NotAType", "id": "x"}, headers=SEND)
    assert response.status_code == 404


def test_update_with_an_invalid_resource_is_422_and_keeps_the_current_version(
    client: httpx.Client,
) -> None:
    put(client, patient(gender="male"))
    response = put(client, patient(birthDate="not a date"))
    assert response.status_code == 422
    body = current(client)
    assert body["meta"]["versionId"] == "1"
    assert body["gender"] == "male"


def test_update_ignores_meta_version_id_and_last_updated_in_the_body(
    client: httpx.Client,
) -> None:
    put(client, patient())
    meta = {"versionId": "99", "lastUpdated": "2001-01-01T00:00:00Z"}
    response = put(client, patient(meta=meta))
    assert response.status_code == 200
    assert response.json()["meta"]["versionId"] == "2"
    assert response.json()["meta"]["lastUpdated"] != "2001-01-01T00:00:00Z"


def test_update_of_a_deleted_resource_brings_it_back_with_201(client: httpx.Client) -> None:
    put(client, patient(gender="male"))
    client.delete("Patient/p1")
    response = put(client, patient(gender="female"))
    assert response.status_code == 201
    assert response.headers["etag"] == 'W/"3"'
    assert current(client)["gender"] == "female"
    assert history_versions(client, "Patient/p1") == ['W/"3"', 'W/"2"', 'W/"1"']


def test_update_with_prefer_return_minimal_returns_no_body(client: httpx.Client) -> None:
    put(client, patient())
    response = put(client, patient(active=True), headers={"prefer": "return=minimal"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["etag"] == 'W/"2"'


def test_update_with_if_match_of_the_current_version_succeeds(client: httpx.Client) -> None:
    put(client, patient())
    response = put(client, patient(active=True), headers={"if-match": 'W/"1"'})
    assert response.status_code == 200
    assert response.headers["etag"] == 'W/"2"'


def test_update_with_a_stale_if_match_is_412_precondition_failed(client: httpx.Client) -> None:
    put(client, patient(gender="male"))
    put(client, patient(gender="female"))
    response = put(client, patient(gender="other"), headers={"if-match": 'W/"1"'})
    assert response.status_code == 412
    assert response.json()["resourceType"] == "OperationOutcome"
    body = current(client)
    assert body["gender"] == "female"
    assert body["meta"]["versionId"] == "2"


def test_update_with_if_match_on_a_resource_that_does_not_exist_is_412(
    client: httpx.Client,
) -> None:
    response = put(client, patient(), headers={"if-match": 'W/"1"'})
    assert response.status_code == 412
    assert client.get("Patient/p1").status_code == 404


def test_update_with_a_malformed_if_match_is_400(client: httpx.Client) -> None:
    put(client, patient())
    response = put(client, patient(active=True), headers={"if-match": "version one"})
    assert response.status_code == 400
    assert current(client)["meta"]["versionId"] == "1"


def _race(base_url: str, bodies: list[dict[str, Any]], headers: dict[str, str]) -> list[int]:
    """PUT each body from its own thread and client, all released at once; status codes."""
    statuses: list[int] = [0] * len(bodies)
    barrier = threading.Barrier(len(bodies))
    clients = [httpx.Client(base_url=base_url + "/", timeout=60.0) for _ in bodies]
    try:
        for http in clients:  # open every connection before the race
            assert http.get("metadata").status_code == 200

        def run(i: int) -> None:
            barrier.wait()
            url = f"Patient/{bodies[i]['id']}"
            statuses[i] = (
                clients[i].put(url, json=bodies[i], headers={**SEND, **headers}).status_code
            )

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        for http in clients:
            http.close()
    return statuses


def test_concurrent_updates_with_the_same_if_match_let_exactly_one_win(
    client: httpx.Client, base_url: str
) -> None:
    put(client, patient())
    bodies = [patient(birthDate=f"{2000 + i}-01-01") for i in range(N)]
    statuses = _race(base_url, bodies, {"if-match": 'W/"1"'})
    assert sorted(statuses) == [200] + [412] * (N - 1)
    winner = bodies[statuses.index(200)]
    final = current(client)
    assert final["meta"]["versionId"] == "2"
    assert final["birthDate"] == winner["birthDate"]
    assert history_versions(client, "Patient/p1") == ['W/"2"', 'W/"1"']


def test_concurrent_updates_without_if_match_all_succeed_and_no_version_is_lost(
    client: httpx.Client, base_url: str
) -> None:
    # Three rounds on three resources make the contention all but certain.
    for round in range(3):
        id = f"race{round}"
        put(client, patient(id))
        bodies = [patient(id, birthDate=f"{2000 + i}-01-01") for i in range(N)]
        statuses = _race(base_url, bodies, {})
        assert statuses == [200] * N
        versions = history_versions(client, f"Patient/{id}")
        assert versions == [f'W/"{v}"' for v in range(N + 1, 0, -1)]
        births = {
            client.get(f"Patient/{id}/_history/{v}").json()["birthDate"] for v in range(2, N + 2)
        }
        assert births == {body["birthDate"] for body in bodies}
