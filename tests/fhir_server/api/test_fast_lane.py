"""read and create are answered ahead of the framework's middleware stack unless a browser
asks (an Origin header): both ways must give the same answer, CORS headers aside."""

from __future__ import annotations

import httpx
import pytest

FHIR_JSON = "application/fhir+json"
ORIGIN = {"origin": "https://portal.example.mil"}
PATIENT = b'{"resourceType":"Patient","active":true,"name":[{"family":"Lane"}]}'


def both_ways(
    client: httpx.Client,
    method: str,
    url: str,
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
) -> list[httpx.Response]:
    """The same request sent without an Origin header (the lane) and with one (the stack)."""
    return [
        client.request(method, url, headers={**(headers or {}), **extra}, content=content)
        for extra in ({}, ORIGIN)
    ]


def test_a_read_is_the_same_stored_bytes_and_headers_either_way(client: httpx.Client) -> None:
    created = client.post("Patient", content=PATIENT, headers={"content-type": FHIR_JSON})
    assert created.status_code == 201
    id = created.json()["id"]
    lane, stack = both_ways(client, "GET", f"Patient/{id}")
    assert lane.status_code == stack.status_code == 200
    assert lane.content == stack.content
    for header in ("etag", "last-modified", "content-type", "content-length"):
        assert lane.headers[header] == stack.headers[header], header
    assert "access-control-allow-origin" not in lane.headers
    assert stack.headers["access-control-allow-origin"] == "*"


def test_a_head_read_has_the_headers_of_a_read_and_no_body(client: httpx.Client) -> None:
    created = client.post("Patient", content=PATIENT, headers={"content-type": FHIR_JSON})
    id = created.json()["id"]
    lane, stack = both_ways(client, "HEAD", f"Patient/{id}")
    assert lane.status_code == stack.status_code == 200
    assert lane.content == stack.content == b""
    assert lane.headers["etag"] == stack.headers["etag"] == 'W/"1"'


def test_a_create_answers_the_same_either_way(client: httpx.Client) -> None:
    lane, stack = both_ways(
        client, "POST", "Patient", content=PATIENT, headers={"content-type": FHIR_JSON}
    )
    assert lane.status_code == stack.status_code == 201
    for answer in (lane, stack):
        body = answer.json()
        assert answer.headers["location"].endswith(f"/Patient/{body['id']}/_history/1")
        assert answer.headers["etag"] == 'W/"1"'
        assert body["name"] == [{"family": "Lane"}]
        assert client.get(f"Patient/{body['id']}").json() == body


@pytest.mark.parametrize(
    ("method", "url", "headers", "body", "status"),
    [
        pytest.param("GET", "Patient/unknown", {}, None, 404, id="unknown-id"),
        pytest.param("GET", "Basicc/1", {}, None, 404, id="unsupported-type"),
        pytest.param("GET", "Patient/x", {"accept": "application/xml"}, None, 406, id="xml"),
        pytest.param("GET", "Patient/x?_format=text/csv", {}, None, 406, id="bad-format"),
        pytest.param("POST", "Patient", {"content-type": FHIR_JSON}, b"{", 400, id="bad-json"),
        pytest.param(
            "POST", "Patient", {"content-type": "text/plain"}, PATIENT, 415, id="text-body"
        ),
        pytest.param(
            "POST",
            "Patient",
            {"content-type": FHIR_JSON},
            b'{"resourceType":"Patient","birthDate":"soon"}',
            422,
            id="invalid-resource",
        ),
        pytest.param(
            "POST",
            "Observation",
            {"content-type": FHIR_JSON},
            PATIENT,
            400,
            id="type-differs-from-url",
        ),
    ],
)
def test_an_error_is_the_same_operation_outcome_either_way(
    client: httpx.Client,
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
    status: int,
) -> None:
    lane, stack = both_ways(client, method, url, headers=headers, content=body)
    assert lane.status_code == stack.status_code == status, lane.text
    assert lane.headers["content-type"].startswith(FHIR_JSON)
    assert lane.json() == stack.json()
    assert lane.json()["resourceType"] == "OperationOutcome"


def test_a_failed_create_in_the_lane_stores_nothing(client: httpx.Client) -> None:
    bad = b'{"resourceType":"Patient","gender":5}'
    answer = client.post("Patient", content=bad, headers={"content-type": FHIR_JSON})
    assert answer.status_code == 422, answer.text
    assert client.get("Patient").json()["total"] == 0


def test_paths_next_to_the_lanes_still_reach_their_routes(client: httpx.Client) -> None:
    client.post("Patient", content=PATIENT, headers={"content-type": FHIR_JSON})
    history = client.get("Patient/_history")
    assert history.status_code == 200
    assert history.json()["type"] == "history"
    searched = client.post(
        "Patient/_search",
        content=b"family=Lane",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert searched.status_code == 200
    assert searched.json()["total"] == 1
    assert client.get("metadata").json()["resourceType"] == "CapabilityStatement"
