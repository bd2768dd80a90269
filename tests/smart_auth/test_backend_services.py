"""SMART Backend Services: client_credentials with a private_key_jwt assertion.

Spec: https://hl7.org/fhir/smart-app-launch/backend-services.html (``system/`` scopes only,
capped by the registration, access tokens live at most five minutes, no refresh token),
RFC 6749 4.4, RFC 7523.
"""

from __future__ import annotations

from typing import Any

import pytest

from smart_auth.demo import DEMO_CLIENT_ID

from .conftest import (
    BACKEND_CLIENT_ID,
    BACKEND_KID,
    FHIR_JSON,
    bearer,
    client_assertion,
)

ASKED = "system/Patient.rs system/Observation.rs system/Encounter.rs system/Patient.cruds"
REGISTERED = ["system/Observation.rs", "system/Patient.rs"]  # BACKEND_SCOPE


def client_credentials(smart: Any, scope: str | None, **assertion: Any) -> Any:
    data = {"grant_type": "client_credentials"}
    if scope is not None:
        data["scope"] = scope
    token = client_assertion(smart.keys.backend, BACKEND_CLIENT_ID, smart.token_url, **assertion)
    return smart.token_request(data, assertion=token)


def test_backend_token_has_system_scopes_capped_to_the_registration(smart: Any) -> None:
    response = client_credentials(smart, ASKED)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert sorted(body["scope"].split()) == REGISTERED
    assert response.headers["cache-control"] == "no-store"


def test_backend_token_lives_at_most_five_minutes_and_has_no_refresh_token(smart: Any) -> None:
    response = client_credentials(smart, "system/Patient.rs")
    assert response.status_code == 200, response.text
    body = response.json()
    assert 0 < body["expires_in"] <= 300
    assert "refresh_token" not in body
    assert "id_token" not in body
    assert "patient" not in body


def test_backend_token_reads_but_cannot_write(smart: Any) -> None:
    token = client_credentials(smart, "system/Patient.rs").json()["access_token"]
    assert smart.fhir_get("Patient/demo-child", token).status_code == 200
    created = smart.http.post(
        f"{smart.base}/Patient",
        headers={**bearer(token), "content-type": FHIR_JSON},
        content=b'{"resourceType":"Patient"}',
    )
    assert created.status_code == 403


@pytest.mark.parametrize(
    "scope",
    ["patient/Patient.rs", "user/*.rs patient/*.rs", "launch/patient openid fhirUser"],
)
def test_backend_asking_only_for_patient_or_user_scopes_fails(smart: Any, scope: str) -> None:
    response = client_credentials(smart, scope)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.json()


def test_backend_asking_only_for_unregistered_system_scopes_fails(smart: Any) -> None:
    response = client_credentials(smart, "system/Encounter.rs")
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"


def test_backend_without_an_assertion_is_refused(smart: Any) -> None:
    response = smart.token_request(
        {
            "grant_type": "client_credentials",
            "scope": "system/Patient.rs",
            "client_id": BACKEND_CLIENT_ID,
        }
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_backend_assertion_signed_by_another_clients_key_is_refused(smart: Any) -> None:
    data = {"grant_type": "client_credentials", "scope": "system/Patient.rs"}
    token = client_assertion(
        smart.keys.rsa, BACKEND_CLIENT_ID, smart.token_url, header={"kid": BACKEND_KID}
    )
    response = smart.token_request(data, assertion=token)
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"


def test_a_public_client_cannot_use_client_credentials(smart: Any) -> None:
    response = smart.token_request(
        {
            "grant_type": "client_credentials",
            "scope": "system/Patient.rs",
            "client_id": DEMO_CLIENT_ID,
        }
    )
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
    assert "access_token" not in response.json()
