"""Token introspection (RFC 7662) and revocation (RFC 7009).

Spec: RFC 7662 2.2 (an inactive token is answered ``{"active": false}`` and nothing more; a
client learns nothing of another client's tokens), SMART App Launch 2.2 token introspection
(``scope``, ``client_id``, ``patient``, ``fhirUser``, ``iss``, ``sub``, ``exp``), RFC 7009 2.1-2.2
(revoking a refresh token may end its access tokens; another client's token, or an unknown
one, is answered 200 and left alone).
"""

from __future__ import annotations

import time
from typing import Any

from smart_auth.demo import DEMO_CLIENT_ID

from .conftest import (
    OTHER_CLIENT_ID,
    SYMMETRIC_CLIENT_ID,
    SYMMETRIC_REDIRECT_URI,
)

OFFLINE = "launch/patient openid fhirUser offline_access patient/*.rs"


def symmetric_tokens(smart: Any) -> dict[str, Any]:
    """A standalone launch of the confidential (client secret) app: its token response."""
    done = smart.authorize(
        client_id=SYMMETRIC_CLIENT_ID, redirect_uri=SYMMETRIC_REDIRECT_URI, scope=OFFLINE
    )
    response = smart.exchange_code(
        done.code,
        done.verifier,
        client_id=None,
        redirect_uri=SYMMETRIC_REDIRECT_URI,
        auth=(SYMMETRIC_CLIENT_ID, smart.symmetric_secret),
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def introspected(smart: Any, token: str) -> dict[str, Any]:
    response = smart.introspect(token)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body: dict[str, Any] = response.json()
    return body


def reads(smart: Any, token: str) -> int:
    status: int = smart.fhir_get("Patient/demo-sponsor", token).status_code
    return status


# -- introspection -------------------------------------------------------------------------------


def test_active_token_introspection_shows_the_smart_fields(smart: Any) -> None:
    tokens = symmetric_tokens(smart)
    body = introspected(smart, tokens["access_token"])
    assert body["active"] is True
    assert body["scope"].split() == OFFLINE.split()
    assert body["client_id"] == SYMMETRIC_CLIENT_ID
    assert body["patient"] == "demo-sponsor"
    assert body["fhirUser"] == f"{smart.base}/Patient/demo-sponsor"
    assert body["iss"] == smart.base
    assert body["sub"] == "demo.sponsor"
    assert time.time() < body["exp"] <= time.time() + 3600 + 5


def test_unknown_token_is_exactly_inactive(smart: Any) -> None:
    assert introspected(smart, "not-a-token-of-this-server") == {"active": False}


def test_revoked_token_is_exactly_inactive(smart: Any) -> None:
    tokens = symmetric_tokens(smart)
    revoked = smart.http.post(
        f"{smart.auth}/revoke",
        data={"token": tokens["access_token"]},
        auth=(SYMMETRIC_CLIENT_ID, smart.symmetric_secret),
    )
    assert revoked.status_code == 200
    assert introspected(smart, tokens["access_token"]) == {"active": False}


def test_expired_token_is_exactly_inactive(smart: Any) -> None:
    assert introspected(smart, smart.expired_token) == {"active": False}


def test_another_clients_token_is_exactly_inactive(smart: Any) -> None:
    demo = smart.tokens(scope=OFFLINE)
    assert reads(smart, demo["access_token"]) == 200
    assert introspected(smart, demo["access_token"]) == {"active": False}
    assert introspected(smart, demo["refresh_token"]) == {"active": False}


def test_introspection_needs_client_authentication(smart: Any) -> None:
    demo = smart.tokens()
    response = smart.http.post(f"{smart.auth}/introspect", data={"token": demo["access_token"]})
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()


def test_a_public_client_cannot_introspect(smart: Any) -> None:
    demo = smart.tokens()
    response = smart.http.post(
        f"{smart.auth}/introspect",
        data={"token": demo["access_token"], "client_id": DEMO_CLIENT_ID},
    )
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert "active" not in response.json()


def test_introspection_with_a_wrong_secret_is_refused(smart: Any) -> None:
    response = smart.introspect("anything", auth=(SYMMETRIC_CLIENT_ID, "wrong-secret"))
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


# -- revocation ----------------------------------------------------------------------------------


def test_revoking_an_access_token_ends_it(smart: Any) -> None:
    demo = smart.tokens()
    assert reads(smart, demo["access_token"]) == 200
    response = smart.revoke(demo["access_token"])
    assert response.status_code == 200, response.text
    assert reads(smart, demo["access_token"]) == 401


def test_revoking_a_refresh_token_ends_its_access_tokens_too(smart: Any) -> None:
    demo = smart.tokens(scope=OFFLINE)
    assert reads(smart, demo["access_token"]) == 200
    assert smart.revoke(demo["refresh_token"]).status_code == 200
    assert reads(smart, demo["access_token"]) == 401
    refreshed = smart.refresh(demo["refresh_token"])
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"


def test_revoking_a_rotated_families_refresh_token_ends_the_new_access_token(smart: Any) -> None:
    demo = smart.tokens(scope=OFFLINE)
    second = smart.refresh(demo["refresh_token"]).json()
    assert smart.revoke(second["refresh_token"]).status_code == 200
    assert reads(smart, second["access_token"]) == 401


def test_revoking_another_clients_token_is_200_and_leaves_it_working(smart: Any) -> None:
    demo = smart.tokens(scope=OFFLINE)
    for token in (demo["access_token"], demo["refresh_token"]):
        response = smart.revoke(token, client_id=OTHER_CLIENT_ID)
        assert response.status_code == 200, response.text
    assert reads(smart, demo["access_token"]) == 200
    assert smart.refresh(demo["refresh_token"]).status_code == 200


def test_revoking_an_unknown_token_is_200(smart: Any) -> None:
    response = smart.revoke("not-a-token-of-this-server")
    assert response.status_code == 200, response.text


def test_revocation_needs_a_known_client(smart: Any) -> None:
    demo = smart.tokens()
    response = smart.revoke(demo["access_token"], client_id="no-such-client")
    assert response.status_code in (400, 401)
    assert response.json()["error"] == "invalid_client"
    assert reads(smart, demo["access_token"]) == 200
