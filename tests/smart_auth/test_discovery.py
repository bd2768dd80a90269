"""Discovery: ``.well-known/smart-configuration``, OpenID configuration and the JWKS.

Spec: https://hl7.org/fhir/smart-app-launch/conformance.html (SMART App Launch 2.2),
https://openid.net/specs/openid-connect-discovery-1_0.html.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from joserfc import jws, jwt
from joserfc.jwk import KeySet

from smart_auth.discovery import CAPABILITIES

URL_FIELDS = (
    "issuer",
    "jwks_uri",
    "authorization_endpoint",
    "token_endpoint",
    "introspection_endpoint",
    "revocation_endpoint",
)


def smart_configuration(smart: Any, accept: str = "application/json") -> dict[str, Any]:
    response = smart.http.get(
        f"{smart.base}/.well-known/smart-configuration", headers={"accept": accept}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.mark.parametrize("name", URL_FIELDS)
def test_smart_configuration_urls_are_absolute(smart: Any, name: str) -> None:
    url = smart_configuration(smart)[name]
    parts = urlsplit(url)
    assert parts.scheme == "http"
    assert parts.netloc == urlsplit(smart.base).netloc
    assert url.startswith(smart.origin + "/")


def test_smart_configuration_endpoints_are_the_auth_endpoints(smart: Any) -> None:
    config = smart_configuration(smart)
    assert config["authorization_endpoint"] == f"{smart.auth}/authorize"
    assert config["token_endpoint"] == smart.token_url
    assert config["jwks_uri"] == f"{smart.auth}/jwks"


def test_smart_configuration_lists_exactly_the_capabilities(smart: Any) -> None:
    assert smart_configuration(smart)["capabilities"] == CAPABILITIES


def test_smart_configuration_offers_only_s256_pkce(smart: Any) -> None:
    assert smart_configuration(smart)["code_challenge_methods_supported"] == ["S256"]


@pytest.mark.parametrize(
    "accept", ["application/json", "application/fhir+json", "text/html", "*/*", "image/png"]
)
def test_smart_configuration_is_served_for_any_accept_header(smart: Any, accept: str) -> None:
    response = smart.http.get(
        f"{smart.base}/.well-known/smart-configuration", headers={"accept": accept}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["capabilities"] == CAPABILITIES


def test_smart_configuration_needs_no_token(smart: Any) -> None:
    response = smart.http.get(f"{smart.base}/.well-known/smart-configuration")
    assert response.status_code == 200
    assert "authorization" not in response.request.headers


@pytest.mark.parametrize(
    "path",
    [
        "{base}/.well-known/smart-configuration",
        "{origin}/.well-known/openid-configuration",
        "{origin}/auth/jwks",
    ],
)
def test_discovery_documents_carry_a_cors_header(smart: Any, path: str) -> None:
    url = path.format(base=smart.base, origin=smart.origin)
    response = smart.http.get(url, headers={"origin": "https://app.example"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"


def test_openid_configuration_issuer_is_the_fhir_base_url(smart: Any) -> None:
    response = smart.http.get(f"{smart.origin}/.well-known/openid-configuration")
    assert response.status_code == 200
    config = response.json()
    assert config["issuer"] == smart.base
    assert config["issuer"] == smart_configuration(smart)["issuer"]
    assert config["jwks_uri"] == f"{smart.auth}/jwks"


def test_jwks_holds_the_kid_of_an_id_token_and_verifies_it(smart: Any) -> None:
    id_token = smart.tokens()["id_token"]
    header = jws.extract_compact(id_token.encode()).headers()
    keys = smart.http.get(f"{smart.auth}/jwks").json()
    assert header["kid"] in [k["kid"] for k in keys["keys"]]
    assert all("d" not in k for k in keys["keys"]), "the JWKS publishes a private key"
    token = jwt.decode(id_token, KeySet.import_key_set(keys), algorithms=["RS256"])
    assert token.claims["iss"] == smart.base
