"""The token endpoint: code exchange, refresh, and client authentication.

Spec: RFC 6749 4.1.3-5.2 and 6 (refresh), RFC 7636 4.6 (PKCE), RFC 7523 and SMART App
Launch 2.2 client-confidential-asymmetric (RS384/ES384, iss = sub = client_id, aud = token URL,
exp at most five minutes ahead, jti never reused, kid / jku), OAuth 2.0 Security BCP (RFC 9700
4.14.2: refresh token rotation and replay detection).
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from joserfc import jws, jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from smart_auth.demo import DEMO_CLIENT_ID, DEMO_REDIRECT_URI

from .conftest import (
    ASYMMETRIC_CLIENT_ID,
    ASYMMETRIC_REDIRECT_URI,
    OTHER_CLIENT_ID,
    OTHER_REDIRECT_URI,
    RSA_KID,
    SYMMETRIC_CLIENT_ID,
    SYMMETRIC_REDIRECT_URI,
    client_assertion,
    hs256_assertion,
    unsigned_assertion,
)

OFFLINE = "launch/patient openid fhirUser offline_access patient/*.rs"
NARROW = "launch/patient openid fhirUser offline_access patient/Observation.rs"
NOT_A_CODE = "not-a-code-issued-by-this-server"


def assert_token_error(response: Any, error: str) -> None:
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] == error, response.text
    assert "access_token" not in response.json()


def demo_read(smart: Any, token: str) -> int:
    status: int = smart.fhir_get("Patient/demo-sponsor", token).status_code
    return status


# -- the code exchange ---------------------------------------------------------------------------


def test_code_exchange_returns_a_smart_token_response(smart: Any) -> None:
    done = smart.authorize(scope=OFFLINE)
    response = smart.exchange_code(done.code, done.verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["access_token"]
    assert body["token_type"] == "Bearer"
    assert isinstance(body["expires_in"], int)
    assert 0 < body["expires_in"] <= 3600
    assert body["scope"].split() == OFFLINE.split()
    assert body["patient"] == "demo-sponsor"
    assert body["need_patient_banner"] is True
    assert body["smart_style_url"].startswith(smart.origin + "/")
    assert body["id_token"]
    assert body["refresh_token"]
    assert demo_read(smart, body["access_token"]) == 200


def test_id_token_is_rs256_signed_with_a_published_key_and_names_the_user(smart: Any) -> None:
    done = smart.authorize(scope=OFFLINE)
    body = smart.exchange_code(done.code, done.verifier).json()
    header = jws.extract_compact(body["id_token"].encode()).headers()
    assert header["alg"] == "RS256"
    keys = smart.http.get(f"{smart.auth}/jwks").json()
    assert header["kid"] in {k["kid"] for k in keys["keys"]}
    token = jwt.decode(body["id_token"], KeySet.import_key_set(keys), algorithms=["RS256"])
    claims = token.claims
    assert claims["iss"] == smart.base
    assert claims["aud"] == DEMO_CLIENT_ID
    assert claims["sub"] == "demo.sponsor"
    assert claims["fhirUser"] == f"{smart.base}/Patient/demo-sponsor"
    assert claims["nonce"] == done.nonce
    assert claims["iat"] <= time.time() < claims["exp"]


def test_id_token_needs_openid_and_fhiruser(smart: Any) -> None:
    body = smart.tokens(scope="launch/patient patient/*.rs")
    assert "id_token" not in body


def test_token_responses_are_not_cached(smart: Any) -> None:
    done = smart.authorize()
    response = smart.exchange_code(done.code, done.verifier)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"


def test_token_errors_are_not_cached(smart: Any) -> None:
    response = smart.exchange_code(NOT_A_CODE, "verifier-" * 6)
    assert_token_error(response, "invalid_grant")
    assert response.headers["cache-control"] == "no-store"


def test_code_is_single_use(smart: Any) -> None:
    done = smart.authorize()
    assert smart.exchange_code(done.code, done.verifier).status_code == 200
    assert_token_error(smart.exchange_code(done.code, done.verifier), "invalid_grant")


def test_code_replay_ends_the_tokens_issued_from_it(smart: Any) -> None:
    done = smart.authorize(scope=OFFLINE)
    body = smart.exchange_code(done.code, done.verifier).json()
    assert demo_read(smart, body["access_token"]) == 200
    assert_token_error(smart.exchange_code(done.code, done.verifier), "invalid_grant")
    assert demo_read(smart, body["access_token"]) == 401
    assert_token_error(smart.refresh(body["refresh_token"]), "invalid_grant")


def test_expired_code_is_refused(serve_with: Any) -> None:
    with serve_with(code_lifetime=1) as smart:
        done = smart.authorize()
        time.sleep(1.5)
        assert_token_error(smart.exchange_code(done.code, done.verifier), "invalid_grant")


def test_unknown_code_is_refused(smart: Any) -> None:
    assert_token_error(smart.exchange_code(NOT_A_CODE, "x" * 43), "invalid_grant")


@pytest.mark.parametrize("verifier", ["", "wrong-verifier-0123456789-0123456789-0123456789"])
def test_blank_or_wrong_code_verifier_is_refused(smart: Any, verifier: str) -> None:
    done = smart.authorize()
    response = smart.exchange_code(done.code, verifier)
    assert response.status_code == 400, response.text
    assert response.json()["error"] in ("invalid_request", "invalid_grant")


def test_missing_code_verifier_is_refused(smart: Any) -> None:
    done = smart.authorize()
    response = smart.token_request(
        {
            "grant_type": "authorization_code",
            "code": done.code,
            "redirect_uri": DEMO_REDIRECT_URI,
            "client_id": DEMO_CLIENT_ID,
        }
    )
    assert_token_error(response, "invalid_request")


@pytest.mark.parametrize("redirect_uri", [OTHER_REDIRECT_URI, DEMO_REDIRECT_URI])
def test_code_redeemed_by_another_client_is_refused(smart: Any, redirect_uri: str) -> None:
    done = smart.authorize()
    response = smart.exchange_code(
        done.code, done.verifier, client_id=OTHER_CLIENT_ID, redirect_uri=redirect_uri
    )
    assert_token_error(response, "invalid_grant")


def test_code_with_another_redirect_uri_is_refused(smart: Any) -> None:
    done = smart.authorize()
    response = smart.exchange_code(done.code, done.verifier, redirect_uri=DEMO_REDIRECT_URI + "/")
    assert_token_error(response, "invalid_grant")


# -- refresh -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("access", "refreshable"),
    [("", False), (" offline_access", True), (" online_access", True)],
    ids=["neither", "offline_access", "online_access"],
)
def test_refresh_token_only_with_offline_or_online_access(
    smart: Any, access: str, refreshable: bool
) -> None:
    body = smart.tokens(scope="launch/patient openid fhirUser patient/*.rs" + access)
    assert ("refresh_token" in body) is refreshable


def test_refresh_gives_new_tokens(smart: Any) -> None:
    first = smart.tokens(scope=OFFLINE)
    response = smart.refresh(first["refresh_token"])
    assert response.status_code == 200, response.text
    second = response.json()
    assert response.headers["cache-control"] == "no-store"
    assert second["token_type"] == "Bearer"
    assert second["scope"].split() == OFFLINE.split()
    assert second["patient"] == "demo-sponsor"
    assert second["access_token"] != first["access_token"]
    assert second["refresh_token"] != first["refresh_token"]
    assert demo_read(smart, second["access_token"]) == 200


def test_refresh_rotates_the_refresh_token(smart: Any) -> None:
    first = smart.tokens(scope=OFFLINE)
    assert smart.refresh(first["refresh_token"]).status_code == 200
    assert_token_error(smart.refresh(first["refresh_token"]), "invalid_grant")


def test_replayed_refresh_token_ends_the_new_tokens_too(smart: Any) -> None:
    first = smart.tokens(scope=OFFLINE)
    second = smart.refresh(first["refresh_token"]).json()
    assert demo_read(smart, second["access_token"]) == 200
    assert_token_error(smart.refresh(first["refresh_token"]), "invalid_grant")
    assert_token_error(smart.refresh(second["refresh_token"]), "invalid_grant")
    assert demo_read(smart, second["access_token"]) == 401
    assert demo_read(smart, first["access_token"]) == 401


def test_refresh_may_narrow_the_scope(smart: Any) -> None:
    first = smart.tokens(scope=OFFLINE)
    response = smart.refresh(first["refresh_token"], scope="offline_access patient/Patient.rs")
    assert response.status_code == 200, response.text
    assert response.json()["scope"].split() == ["offline_access", "patient/Patient.rs"]


def test_refresh_with_wider_scope_is_invalid_scope(smart: Any) -> None:
    first = smart.tokens(scope=NARROW)
    response = smart.refresh(first["refresh_token"], scope="offline_access patient/*.rs")
    assert_token_error(response, "invalid_scope")


def test_refused_refresh_leaves_the_refresh_token_usable(smart: Any) -> None:
    first = smart.tokens(scope=NARROW)
    wider = smart.refresh(first["refresh_token"], scope="offline_access patient/*.rs")
    assert_token_error(wider, "invalid_scope")
    assert smart.fhir_get("Observation", first["access_token"]).status_code == 200
    retry = smart.refresh(first["refresh_token"])
    assert retry.status_code == 200, retry.text
    assert smart.fhir_get("Observation", first["access_token"]).status_code == 200


def test_refresh_by_another_client_is_refused(smart: Any) -> None:
    first = smart.tokens(scope=OFFLINE)
    response = smart.refresh(first["refresh_token"], client_id=OTHER_CLIENT_ID)
    assert_token_error(response, "invalid_grant")


def test_unknown_refresh_token_is_refused(smart: Any) -> None:
    assert_token_error(smart.refresh("not-a-refresh-token"), "invalid_grant")


def test_access_token_is_not_a_refresh_token(smart: Any) -> None:
    first = smart.tokens(scope=OFFLINE)
    assert_token_error(smart.refresh(first["access_token"]), "invalid_grant")


# -- confidential clients: a client secret (HTTP Basic) ------------------------------------------


def symmetric_code(smart: Any) -> Any:
    return smart.authorize(client_id=SYMMETRIC_CLIENT_ID, redirect_uri=SYMMETRIC_REDIRECT_URI)


def test_symmetric_client_exchanges_a_code_with_http_basic(smart: Any) -> None:
    done = symmetric_code(smart)
    response = smart.exchange_code(
        done.code,
        done.verifier,
        client_id=None,
        redirect_uri=SYMMETRIC_REDIRECT_URI,
        auth=(SYMMETRIC_CLIENT_ID, smart.symmetric_secret),
    )
    assert response.status_code == 200, response.text
    assert demo_read(smart, response.json()["access_token"]) == 200


@pytest.mark.parametrize(
    "secret", ["wrong-secret", "", "{secret}x"], ids=["wrong", "blank", "longer"]
)
def test_symmetric_client_with_a_wrong_secret_is_refused(smart: Any, secret: str) -> None:
    done = symmetric_code(smart)
    response = smart.exchange_code(
        done.code,
        done.verifier,
        client_id=None,
        redirect_uri=SYMMETRIC_REDIRECT_URI,
        auth=(SYMMETRIC_CLIENT_ID, secret.format(secret=smart.symmetric_secret)),
    )
    assert_token_error(response, "invalid_client")
    assert response.status_code == 401
    assert "www-authenticate" in response.headers


def test_symmetric_client_without_its_secret_is_refused(smart: Any) -> None:
    done = symmetric_code(smart)
    response = smart.exchange_code(
        done.code, done.verifier, client_id=SYMMETRIC_CLIENT_ID, redirect_uri=SYMMETRIC_REDIRECT_URI
    )
    assert_token_error(response, "invalid_client")


# -- confidential clients: private_key_jwt (RS384 / ES384) ---------------------------------------


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_asymmetric_client_exchanges_a_code_with_a_signed_assertion(smart: Any, alg: str) -> None:
    key = smart.keys.rsa if alg == "RS384" else smart.keys.ec
    done = smart.authorize(client_id=ASYMMETRIC_CLIENT_ID, redirect_uri=ASYMMETRIC_REDIRECT_URI)
    assertion = client_assertion(key, ASYMMETRIC_CLIENT_ID, smart.token_url, alg=alg)
    response = smart.exchange_code(
        done.code,
        done.verifier,
        client_id=None,
        redirect_uri=ASYMMETRIC_REDIRECT_URI,
        assertion=assertion,
    )
    assert response.status_code == 200, response.text
    assert demo_read(smart, response.json()["access_token"]) == 200


def authenticate(smart: Any, assertion: str) -> Any:
    """A token request that only client authentication can fail first (the code is bogus:
    an authenticated client gets invalid_grant, an unauthenticated one invalid_client)."""
    return smart.exchange_code(
        NOT_A_CODE,
        "x" * 43,
        client_id=None,
        redirect_uri=ASYMMETRIC_REDIRECT_URI,
        assertion=assertion,
    )


@pytest.mark.parametrize("alg", ["RS384", "ES384"])
def test_a_valid_assertion_authenticates_the_client(smart: Any, alg: str) -> None:
    key = smart.keys.rsa if alg == "RS384" else smart.keys.ec
    assertion = client_assertion(key, ASYMMETRIC_CLIENT_ID, smart.token_url, alg=alg)
    assert_token_error(authenticate(smart, assertion), "invalid_grant")


def bad_assertion(smart: Any, case: str) -> str:
    now = int(time.time())
    rsa, url = smart.keys.rsa, smart.token_url
    claims = {
        "iss": ASYMMETRIC_CLIENT_ID,
        "sub": ASYMMETRIC_CLIENT_ID,
        "aud": url,
        "exp": now + 240,
        "jti": f"{case}-{now}-{time.perf_counter_ns()}",
    }
    if case == "alg-RS256":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, alg="RS256")
    if case == "alg-ES256":
        key = ECKey.generate_key("P-256", parameters={"kid": "p256"}, private=True)
        return client_assertion(key, ASYMMETRIC_CLIENT_ID, url, alg="ES256")
    if case == "HS256-with-the-public-key":
        header = {"alg": "HS256", "typ": "JWT", "kid": RSA_KID}
        return hs256_assertion(rsa.as_pem(private=False), header, claims)
    if case == "alg-none":
        return unsigned_assertion({"alg": "none", "typ": "JWT", "kid": RSA_KID}, claims)
    if case == "expired":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, exp=now - 5, iat=now - 65)
    if case == "exp-too-far-ahead":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, exp=now + 360)
    if case == "no-exp":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, exp=None)
    if case == "iss-not-sub":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, iss=OTHER_CLIENT_ID)
    if case == "wrong-aud":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, aud=smart.base)
    if case == "no-jti":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, jti=None)
    if case == "unknown-kid":
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, header={"kid": "no-such-kid"})
    if case == "jku-not-registered":
        header = {"jku": "https://evil.example/jwks.json"}
        return client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, header=header)
    if case == "signed-by-another-key":
        other = RSAKey.generate_key(2048, parameters={"kid": RSA_KID}, private=True)
        return client_assertion(other, ASYMMETRIC_CLIENT_ID, url)
    if case == "tampered-payload":
        good = client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url)
        head, _, signature = good.split(".")
        other = client_assertion(rsa, ASYMMETRIC_CLIENT_ID, url, exp=now + 200)
        return f"{head}.{other.split('.')[1]}.{signature}"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "alg-RS256",
        "alg-ES256",
        "HS256-with-the-public-key",
        "alg-none",
        "expired",
        "exp-too-far-ahead",
        "no-exp",
        "iss-not-sub",
        "wrong-aud",
        "no-jti",
        "unknown-kid",
        "jku-not-registered",
        "signed-by-another-key",
        "tampered-payload",
    ],
)
def test_a_bad_assertion_is_refused(smart: Any, case: str) -> None:
    # Each case differs from the assertion of test_a_valid_assertion_authenticates_the_client in
    # one thing only.
    assert_token_error(authenticate(smart, bad_assertion(smart, case)), "invalid_client")


def test_a_replayed_assertion_jti_is_refused(smart: Any) -> None:
    assertion = client_assertion(smart.keys.rsa, ASYMMETRIC_CLIENT_ID, smart.token_url)
    assert_token_error(authenticate(smart, assertion), "invalid_grant")  # authenticated once
    assert_token_error(authenticate(smart, assertion), "invalid_client")


def test_a_reused_jti_in_a_new_assertion_is_refused(smart: Any) -> None:
    jti = f"reused-{time.time_ns()}"
    key, url = smart.keys.rsa, smart.token_url
    first = client_assertion(key, ASYMMETRIC_CLIENT_ID, url, jti=jti)
    second = client_assertion(key, ASYMMETRIC_CLIENT_ID, url, jti=jti, exp=int(time.time()) + 200)
    assert_token_error(authenticate(smart, first), "invalid_grant")
    assert_token_error(authenticate(smart, second), "invalid_client")


def test_a_public_client_cannot_authenticate_with_an_assertion_of_its_own(smart: Any) -> None:
    assertion = client_assertion(smart.keys.rsa, DEMO_CLIENT_ID, smart.token_url)
    assert_token_error(authenticate(smart, assertion), "invalid_client")
