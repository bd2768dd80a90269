"""history: ``GET [base]/[type]/[id]/_history``, ``[base]/[type]/_history`` and
``[base]/_history`` (https://hl7.org/fhir/R4/http.html#history), paging (http.html#paging)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

FHIR_JSON = "application/fhir+json"
SEND = {"content-type": FHIR_JSON}


def put(client: httpx.Client, type: str, id: str, **elements: Any) -> dict[str, Any]:
    response = client.put(
        f"{type}/{id}", json={"resourceType": type, "id": id, **elements}, headers=SEND
    )
    assert response.status_code in (200, 201)
    body: dict[str, Any] = response.json()
    return body


def history(client: httpx.Client, path: str, **params: str) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200
    bundle: dict[str, Any] = response.json()
    assert bundle["resourceType"] == "Bundle"
    assert bundle["type"] == "history"
    return bundle


def entries(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = bundle.get("entry", [])
    return found


def next_link(bundle: dict[str, Any]) -> str | None:
    for link in bundle.get("link", []):
        if link["relation"] == "next":
            url: str = link["url"]
            return url
    return None


def keys(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """(fullUrl's Type/id, etag) of each entry, in order."""
    return [
        ("/".join(e["fullUrl"].rsplit("/", 2)[-2:]), e["response"]["etag"]) for e in entries(bundle)
    ]


def test_instance_history_is_a_history_bundle_newest_version_first(client: httpx.Client) -> None:
    put(client, "Patient", "p1", gender="male")
    put(client, "Patient", "p1", gender="female")
    put(client, "Patient", "p1", gender="other")
    bundle = history(client, "Patient/p1/_history")
    assert [e["resource"]["gender"] for e in entries(bundle)] == ["other", "female", "male"]
    assert [e["response"]["etag"] for e in entries(bundle)] == ['W/"3"', 'W/"2"', 'W/"1"']


def test_history_entries_hold_each_version_as_it_was(client: httpx.Client) -> None:
    first = put(client, "Patient", "p1", gender="male")
    second = put(client, "Patient", "p1", gender="female")
    bundle = history(client, "Patient/p1/_history")
    assert [e["resource"] for e in entries(bundle)] == [second, first]


def test_history_entries_carry_request_method_url_and_response(
    client: httpx.Client, base_url: str
) -> None:
    created = client.post("Patient", json={"resourceType": "Patient"}, headers=SEND).json()
    id = created["id"]
    updated = put(client, "Patient", id, active=True)
    [update, create] = entries(history(client, f"Patient/{id}/_history"))
    assert create["fullUrl"] == f"{base_url}/Patient/{id}"
    assert create["request"] == {"method": "POST", "url": "Patient"}
    assert create["response"]["status"].split()[0] == "201"
    assert create["response"]["etag"] == 'W/"1"'
    assert create["response"]["lastModified"] == created["meta"]["lastUpdated"]
    assert update["request"] == {"method": "PUT", "url": f"Patient/{id}"}
    assert update["response"]["status"].split()[0] == "200"
    assert update["response"]["etag"] == 'W/"2"'
    assert update["response"]["lastModified"] == updated["meta"]["lastUpdated"]


def test_history_of_a_delete_has_no_resource_and_method_delete(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    client.delete("Patient/p1")
    [deletion, create] = entries(history(client, "Patient/p1/_history"))
    assert "resource" not in deletion
    assert deletion["request"] == {"method": "DELETE", "url": "Patient/p1"}
    assert deletion["response"]["etag"] == 'W/"2"'
    assert create["resource"]["id"] == "p1"


def test_history_of_a_deleted_resource_is_still_available(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    client.delete("Patient/p1")
    assert len(entries(history(client, "Patient/p1/_history"))) == 2


def test_history_of_an_unknown_resource_is_404(client: httpx.Client) -> None:
    assert client.get("Patient/nobody/_history").status_code == 404


def test_history_of_an_unsupported_resource_type_is_404(client: httpx.Client) -> None:
    assert client.get("NotAType/_history").status_code == 404


def test_type_history_holds_versions_of_that_type_only(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    put(client, "Organization", "o1", name="Org")
    put(client, "Patient", "p2")
    put(client, "Patient", "p1", active=True)
    bundle = history(client, "Patient/_history")
    assert keys(bundle) == [
        ("Patient/p1", 'W/"2"'),
        ("Patient/p2", 'W/"1"'),
        ("Patient/p1", 'W/"1"'),
    ]


def test_system_history_holds_versions_of_every_type_newest_first(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    put(client, "Organization", "o1", name="Org")
    client.delete("Patient/p1")
    bundle = history(client, "_history")
    assert keys(bundle) == [
        ("Patient/p1", 'W/"2"'),
        ("Organization/o1", 'W/"1"'),
        ("Patient/p1", 'W/"1"'),
    ]


def test_system_history_of_an_empty_server_has_no_entries(client: httpx.Client) -> None:
    assert entries(history(client, "_history")) == []


def test_history_count_limits_the_page_and_links_the_next_page(client: httpx.Client) -> None:
    for i in range(5):
        put(client, "Patient", "p1", birthDate=f"200{i}-01-01")
    bundle = history(client, "Patient/p1/_history", _count="2")
    assert [e["response"]["etag"] for e in entries(bundle)] == ['W/"5"', 'W/"4"']
    link = next_link(bundle)
    assert link is not None
    assert "_cursor=" in link
    assert "_count=2" in link


def test_following_next_links_returns_every_version_exactly_once(client: httpx.Client) -> None:
    for i in range(5):
        put(client, "Patient", "p1", birthDate=f"200{i}-01-01")
    put(client, "Patient", "p2")
    seen: list[tuple[str, str]] = []
    bundle = history(client, "_history", _count="2")
    pages = 1
    while (link := next_link(bundle)) is not None:
        seen.extend(keys(bundle))
        response = client.get(link)
        assert response.status_code == 200
        bundle = response.json()
        pages += 1
        assert pages < 10
    seen.extend(keys(bundle))
    expected = [("Patient/p2", 'W/"1"')] + [("Patient/p1", f'W/"{v}"') for v in range(5, 0, -1)]
    assert seen == expected


def test_the_last_history_page_has_no_next_link(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    put(client, "Patient", "p1", active=True)
    put(client, "Patient", "p1", active=False)
    bundle = history(client, "Patient/p1/_history", _count="5")
    assert len(entries(bundle)) == 3
    assert next_link(bundle) is None


def test_history_since_includes_only_versions_at_or_after_the_instant(
    client: httpx.Client,
) -> None:
    put(client, "Patient", "p1", gender="male")
    time.sleep(0.01)
    second = put(client, "Patient", "p1", gender="female")
    time.sleep(0.01)
    put(client, "Patient", "p2")
    bundle = history(client, "_history", _since=second["meta"]["lastUpdated"])
    assert keys(bundle) == [("Patient/p2", 'W/"1"'), ("Patient/p1", 'W/"2"')]


def test_history_since_in_the_future_is_empty(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    future = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entries(history(client, "Patient/p1/_history", _since=future)) == []


def test_history_with_a_non_numeric_count_is_400(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    assert client.get("Patient/p1/_history", params={"_count": "many"}).status_code == 400


def test_history_with_an_invalid_since_is_400(client: httpx.Client) -> None:
    put(client, "Patient", "p1")
    assert client.get("_history", params={"_since": "last tuesday"}).status_code == 400


def test_history_has_a_self_link(client: httpx.Client, base_url: str) -> None:
    put(client, "Patient", "p1")
    bundle = history(client, "Patient/p1/_history")
    assert {"relation": "self", "url": f"{base_url}/Patient/p1/_history"} in bundle["link"]
