"""The guard in front of the FHIR API: bearer tokens (RFC 6750) and SMART scopes.

Spec: RFC 6750 3 and 3.1 (401 with ``WWW-Authenticate: Bearer``, ``error="invalid_token"``
for a token that is not active), SMART App Launch 2.2 scopes (a scope grants exactly its
resource types and permissions), FHIR R4 CapabilityStatement.rest.security with the SMART
``oauth-uris`` extension (https://hl7.org/fhir/smart-app-launch/conformance.html).
"""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import FHIR_JSON, bearer

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


@pytest.fixture(scope="module")
def observation_reader(smart: Any) -> str:
    """An access token of the sponsor for their own record, with patient/Observation.rs only."""
    body = smart.tokens(scope="launch/patient openid fhirUser patient/Observation.rs")
    assert body["scope"].split()[-1] == "patient/Observation.rs"
    token: str = body["access_token"]
    return token


def assert_outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"]
    return body


def test_no_authorization_is_401_with_a_bearer_challenge(smart: Any) -> None:
    response = smart.fhir_get("Patient/demo-sponsor", None)
    assert_outcome(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("method", "path", "content_type"),
    [
        ("POST", "Patient", FHIR_JSON),
        ("PUT", "Patient/x", FHIR_JSON),
        ("PATCH", "Patient/x", "application/json-patch+json"),
        ("POST", "", FHIR_JSON),
        ("POST", "Patient/_search", "application/x-www-form-urlencoded"),
    ],
)
def test_no_token_is_401_before_the_body_is_read(
    smart: Any, method: str, path: str, content_type: str
) -> None:
    response = smart.http.request(
        method,
        f"{smart.base}/{path}",
        content=b"{not json \xff",
        headers={"content-type": content_type, "accept": FHIR_JSON},
    )
    assert_outcome(response, 401)  # not a 400 that tells an anonymous caller about the body


@pytest.mark.parametrize(
    "authorization",
    ["Basic ZGVtbzpkZW1v", "Bearer", "Token abc"],
    ids=["basic", "bearer-without-token", "other-scheme"],
)
def test_no_bearer_token_is_401(smart: Any, authorization: str) -> None:
    response = smart.http.get(
        f"{smart.base}/Patient/demo-sponsor",
        headers={"authorization": authorization, "accept": FHIR_JSON},
    )
    assert_outcome(response, 401)
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "token",
    ["garbage", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "a" * 43],
)
def test_garbage_token_is_401_invalid_token(smart: Any, token: str) -> None:
    response = smart.fhir_get("Patient/demo-sponsor", token)
    assert_outcome(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge


def test_expired_token_is_401_invalid_token(smart: Any) -> None:
    response = smart.fhir_get("Patient/demo-sponsor", smart.expired_token)
    assert_outcome(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_a_refresh_token_is_not_an_access_token(smart: Any) -> None:
    body = smart.tokens(scope="launch/patient openid fhirUser offline_access patient/*.rs")
    response = smart.fhir_get("Patient/demo-sponsor", body["refresh_token"])
    assert_outcome(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_an_id_token_is_not_an_access_token(smart: Any) -> None:
    body = smart.tokens()
    response = smart.fhir_get("Patient/demo-sponsor", body["id_token"])
    assert_outcome(response, 401)


def test_observation_scope_reads_observations(smart: Any, observation_reader: str) -> None:
    response = smart.fhir_get("Observation?patient=demo-sponsor", observation_reader)
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "Bundle"


def test_observation_scope_cannot_read_patient(smart: Any, observation_reader: str) -> None:
    assert_outcome(smart.fhir_get("Patient/demo-sponsor", observation_reader), 403)


def test_observation_scope_cannot_create_an_observation(
    smart: Any, observation_reader: str
) -> None:
    observation = (
        b'{"resourceType":"Observation","status":"final","code":{"text":"weight"},'
        b'"subject":{"reference":"Patient/demo-sponsor"}}'
    )
    response = smart.http.post(
        f"{smart.base}/Observation",
        headers={**bearer(observation_reader), "content-type": FHIR_JSON},
        content=observation,
    )
    assert_outcome(response, 403)


def test_metadata_needs_no_token(smart: Any) -> None:
    response = smart.fhir_get("metadata", None)
    assert response.status_code == 200, response.text
    assert response.json()["resourceType"] == "CapabilityStatement"


def test_metadata_security_has_the_smart_oauth_uris(smart: Any) -> None:
    statement = smart.fhir_get("metadata", None).json()
    security = statement["rest"][0]["security"]
    codes = [c["code"] for s in security["service"] for c in s["coding"]]
    assert "SMART-on-FHIR" in codes
    [extension] = [e for e in security["extension"] if e["url"] == OAUTH_URIS]
    uris = {e["url"]: e["valueUri"] for e in extension["extension"]}
    assert uris["authorize"] == f"{smart.auth}/authorize"
    assert uris["token"] == smart.token_url
    config = smart.http.get(f"{smart.base}/.well-known/smart-configuration").json()
    assert uris["authorize"] == config["authorization_endpoint"]
    assert uris["token"] == config["token_endpoint"]
    assert "WARNING" not in statement["implementation"]["description"]


def test_without_authorization_metadata_warns(serve_with: Any) -> None:
    with serve_with(insecure_no_auth=True) as open_server:
        response = open_server.fhir_get("metadata", None)
        assert response.status_code == 200
        statement = response.json()
        assert "insecure-no-auth" in statement["implementation"]["description"]
        assert "WARNING" in statement["implementation"]["description"]
        assert "extension" not in statement["rest"][0]["security"]
        assert open_server.fhir_get("Patient/demo-sponsor", None).status_code == 200
