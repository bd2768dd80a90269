"""Conditional create (https://hl7.org/fhir/R4/http.html#ccreate), conditional update
(http.html#cond-update) and the search they rely on (http.html#search, search.html)."""

from __future__ import annotations

import threading
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}
SYSTEM = "urn:test:mrn"


def patient(value: str | None = None, **elements: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"resourceType": "Patient", **elements}
    if value is not None:
        body["identifier"] = [{"system": SYSTEM, "value": value}]
    return body


def put(client: httpx.Client, id: str, value: str, **elements: Any) -> dict[str, Any]:
    response = client.put(f"Patient/{id}", json=patient(value, id=id, **elements), headers=SEND)
    assert response.status_code in (200, 201)
    body: dict[str, Any] = response.json()
    return body


def create_if_none_exist(
    client: httpx.Client, resource: dict[str, Any], criteria: str
) -> httpx.Response:
    return client.post("Patient", json=resource, headers={**SEND, "if-none-exist": criteria})


def conditional_put(
    client: httpx.Client, criteria: str, resource: dict[str, Any]
) -> httpx.Response:
    return client.put(f"Patient?{criteria}", json=resource, headers=SEND)


def total(client: httpx.Client, **params: str) -> int:
    bundle = client.get("Patient", params=params).json()
    assert bundle["type"] == "searchset"
    count: int = bundle["total"]
    return count


# -- conditional create ------------------------------------------------------------------------


def test_conditional_create_with_no_match_creates_the_resource(client: httpx.Client) -> None:
    response = create_if_none_exist(client, patient("1"), f"identifier={SYSTEM}|1")
    assert response.status_code == 201
    assert response.headers["location"].endswith("/_history/1")
    assert total(client, identifier=f"{SYSTEM}|1") == 1


def test_conditional_create_with_one_match_returns_200_and_creates_nothing(
    client: httpx.Client,
) -> None:
    existing = put(client, "p1", "1", gender="male")
    response = create_if_none_exist(client, patient("1", gender="female"), f"identifier={SYSTEM}|1")
    assert response.status_code == 200
    assert response.json() == existing
    assert total(client) == 1
    assert client.get("Patient/p1").json()["gender"] == "male"


def test_conditional_create_with_multiple_matches_is_412_precondition_failed(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    put(client, "p2", "1")
    response = create_if_none_exist(client, patient("1"), f"identifier={SYSTEM}|1")
    assert response.status_code == 412
    assert [issue["code"] for issue in response.json()["issue"]] == ["multiple-matches"]
    assert total(client) == 2


def test_conditional_creates_racing_with_the_same_criteria_store_one_resource(
    client: httpx.Client,
) -> None:
    racers = 8
    barrier = threading.Barrier(racers)
    statuses: list[int] = []

    def racer() -> None:
        with httpx.Client(base_url=client.base_url, headers=client.headers, timeout=30) as own:
            barrier.wait()
            answer = create_if_none_exist(own, patient("race-1"), f"identifier={SYSTEM}|race-1")
            statuses.append(answer.status_code)

    threads = [threading.Thread(target=racer) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * (racers - 1) + [201]
    found = client.get("Patient", params={"identifier": f"{SYSTEM}|race-1"}).json()
    assert found["total"] == 1


def test_conditional_create_accepts_criteria_with_a_leading_question_mark(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    response = create_if_none_exist(client, patient("1"), f"?identifier={SYSTEM}|1")
    assert response.status_code == 200
    assert total(client) == 1


def test_conditional_create_by_id_finds_the_existing_resource(client: httpx.Client) -> None:
    put(client, "p1", "1")
    response = create_if_none_exist(client, patient("2"), "_id=p1")
    assert response.status_code == 200
    assert response.json()["id"] == "p1"


def test_conditional_create_ignores_a_deleted_match(client: httpx.Client) -> None:
    put(client, "p1", "1")
    client.delete("Patient/p1")
    response = create_if_none_exist(client, patient("1"), f"identifier={SYSTEM}|1")
    assert response.status_code == 201
    assert response.json()["id"] != "p1"


def test_conditional_create_with_an_unsupported_parameter_is_400(client: httpx.Client) -> None:
    response = create_if_none_exist(client, patient("1"), "no-such-parameter=smith")
    assert response.status_code == 400
    assert total(client) == 0


def test_conditional_create_does_not_match_an_identifier_of_another_system(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    response = create_if_none_exist(client, patient("1"), "identifier=urn:other|1")
    assert response.status_code == 201
    assert total(client) == 2


# -- conditional update ------------------------------------------------------------------------


def test_conditional_update_with_no_match_and_no_id_creates_the_resource(
    client: httpx.Client, base_url: str
) -> None:
    response = conditional_put(client, f"identifier={SYSTEM}|9", patient("9", active=True))
    assert response.status_code == 201
    id = response.json()["id"]
    assert response.headers["location"] == f"{base_url}/Patient/{id}/_history/1"
    assert client.get(f"Patient/{id}").json()["active"] is True


def test_conditional_update_with_no_match_and_an_id_creates_it_with_that_id(
    client: httpx.Client,
) -> None:
    response = conditional_put(client, f"identifier={SYSTEM}|9", patient("9", id="chosen"))
    assert response.status_code == 201
    assert response.json()["id"] == "chosen"
    assert client.get("Patient/chosen").status_code == 200


def test_conditional_update_with_one_match_updates_that_resource(client: httpx.Client) -> None:
    put(client, "p1", "1", gender="male")
    response = conditional_put(client, f"identifier={SYSTEM}|1", patient("1", gender="female"))
    assert response.status_code == 200
    assert response.json()["id"] == "p1"
    assert response.headers["etag"] == 'W/"2"'
    assert client.get("Patient/p1").json()["gender"] == "female"
    assert total(client) == 1


def test_conditional_update_with_one_match_and_its_id_in_the_body_updates_it(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    response = conditional_put(client, f"identifier={SYSTEM}|1", patient("1", id="p1", active=True))
    assert response.status_code == 200
    assert client.get("Patient/p1").json()["active"] is True


def test_conditional_update_with_one_match_and_another_id_in_the_body_is_400(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    response = conditional_put(client, f"identifier={SYSTEM}|1", patient("1", id="p2"))
    assert response.status_code == 400
    assert client.get("Patient/p2").status_code == 404
    assert client.get("Patient/p1").json()["meta"]["versionId"] == "1"


def test_conditional_update_with_multiple_matches_is_412_precondition_failed(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    put(client, "p2", "1")
    response = conditional_put(client, f"identifier={SYSTEM}|1", patient("1", active=True))
    assert response.status_code == 412
    assert "active" not in client.get("Patient/p1").json()
    assert "active" not in client.get("Patient/p2").json()


def test_conditional_update_with_stale_if_match_is_412(client: httpx.Client) -> None:
    put(client, "p1", "1")
    put(client, "p1", "1", active=True)
    response = client.put(
        f"Patient?identifier={SYSTEM}|1",
        json=patient("1", active=False),
        headers={**SEND, "if-match": 'W/"1"'},
    )
    assert response.status_code == 412
    assert client.get("Patient/p1").json()["active"] is True


def test_conditional_update_without_criteria_is_400(client: httpx.Client) -> None:
    response = client.put("Patient", json=patient("1"), headers=SEND)
    assert response.status_code == 400
    assert total(client) == 0


# -- search --------------------------------------------------------------------------------------


def test_search_by_identifier_returns_a_searchset_with_total_and_matches(
    client: httpx.Client, base_url: str
) -> None:
    put(client, "p1", "1")
    put(client, "p2", "2")
    put(client, "p3", "1")
    response = client.get("Patient", params={"identifier": f"{SYSTEM}|1"})
    assert response.status_code == 200
    bundle = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "searchset"
    assert bundle["total"] == 2
    assert sorted(e["resource"]["id"] for e in bundle["entry"]) == ["p1", "p3"]
    assert all(e["search"] == {"mode": "match"} for e in bundle["entry"])
    assert sorted(e["fullUrl"] for e in bundle["entry"]) == [
        f"{base_url}/Patient/p1",
        f"{base_url}/Patient/p3",
    ]


def test_search_by_identifier_value_alone_matches_any_system(client: httpx.Client) -> None:
    put(client, "p1", "1")
    client.put(
        "Patient/p2",
        json={
            "resourceType": "Patient",
            "id": "p2",
            "identifier": [{"system": "urn:x", "value": "1"}],
        },
        headers=SEND,
    )
    assert total(client, identifier="1") == 2
    assert total(client, identifier=f"{SYSTEM}|1") == 1


def test_search_by_id_returns_that_resource(client: httpx.Client) -> None:
    put(client, "p1", "1")
    put(client, "p2", "2")
    bundle = client.get("Patient", params={"_id": "p2"}).json()
    assert bundle["total"] == 1
    assert bundle["entry"][0]["resource"]["id"] == "p2"


def test_search_with_comma_separated_ids_matches_any_of_them(client: httpx.Client) -> None:
    put(client, "p1", "1")
    put(client, "p2", "2")
    put(client, "p3", "3")
    assert total(client, _id="p1,p3") == 2


def test_search_with_identifier_and_id_matches_both(client: httpx.Client) -> None:
    put(client, "p1", "1")
    put(client, "p2", "1")
    assert total(client, _id="p2", identifier=f"{SYSTEM}|1") == 1
    assert total(client, _id="p2", identifier=f"{SYSTEM}|2") == 0


def test_search_with_no_match_returns_an_empty_searchset(client: httpx.Client) -> None:
    put(client, "p1", "1")
    bundle = client.get("Patient", params={"identifier": f"{SYSTEM}|nope"}).json()
    assert bundle["total"] == 0
    assert "entry" not in bundle


def test_search_with_an_unknown_parameter_ignores_it_and_reports_an_outcome(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    bundle = client.get("Patient", params={"shoe-size": "44"}).json()
    assert bundle["total"] == 1
    matches = [e for e in bundle["entry"] if e["search"]["mode"] == "match"]
    outcomes = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert [e["resource"]["id"] for e in matches] == ["p1"]
    [outcome] = outcomes
    assert outcome["resource"]["resourceType"] == "OperationOutcome"
    assert "shoe-size" in outcome["resource"]["issue"][0]["diagnostics"]


def test_search_with_an_unknown_parameter_and_strict_handling_is_400(
    client: httpx.Client,
) -> None:
    put(client, "p1", "1")
    response = client.get(
        "Patient", params={"shoe-size": "44"}, headers={"prefer": "handling=strict"}
    )
    assert response.status_code == 400


def test_search_of_an_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    assert client.get("NotAType", params={"_id": "x"}).status_code == 404


def test_search_count_pages_the_matches_and_links_the_next_page(client: httpx.Client) -> None:
    for i in range(5):
        put(client, f"p{i}", "same")
    first = client.get("Patient", params={"identifier": f"{SYSTEM}|same", "_count": "2"}).json()
    assert first["total"] == 5
    ids = [e["resource"]["id"] for e in first["entry"]]
    assert len(ids) == 2
    page = first
    for _ in range(5):
        links = {link["relation"]: link["url"] for link in page["link"]}
        if "next" not in links:
            break
        assert "_cursor=" in links["next"]
        page = client.get(links["next"]).json()
        assert page["total"] == 5
        ids.extend(e["resource"]["id"] for e in page.get("entry", []))
    assert sorted(ids) == [f"p{i}" for i in range(5)]
