"""CORS: browser apps on other origins call the API with bearer tokens (never cookies)."""

from __future__ import annotations

import httpx

ORIGIN = "https://portal.example.mil"


def test_a_preflight_allows_any_origin_with_authorization_and_fhir_headers(
    client: httpx.Client,
) -> None:
    response = client.options(
        "Patient/abc",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "authorization, content-type, if-match, prefer",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "PUT" in response.headers["access-control-allow-methods"]
    allowed = response.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "if-match", "prefer"):
        assert header in allowed
    assert "access-control-allow-credentials" not in response.headers


def test_a_cross_origin_response_exposes_location_and_etag(client: httpx.Client) -> None:
    created = client.post(
        "Patient",
        content=b'{"resourceType":"Patient"}',
        headers={"Origin": ORIGIN, "content-type": "application/fhir+json"},
    )
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == "*"
    exposed = created.headers["access-control-expose-headers"].lower()
    assert "location" in exposed
    assert "etag" in exposed
