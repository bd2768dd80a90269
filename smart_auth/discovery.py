"""Discovery documents: SMART's ``.well-known/smart-configuration`` and OpenID's.

Spec: https://hl7.org/fhir/smart-app-launch/conformance.html (SMART App Launch 2.2) and
https://openid.net/specs/openid-connect-discovery-1_0.html. Every URL is absolute.
"""

from __future__ import annotations

from typing import Any

from smart_auth.config import AuthConfig

CAPABILITIES = [
    "launch-ehr",
    "launch-standalone",
    "authorize-post",
    "client-public",
    "client-confidential-symmetric",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-banner",
    "context-style",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-offline",
    "permission-online",
    "permission-patient",
    "permission-user",
    "permission-v1",
    "permission-v2",
]

SCOPES_SUPPORTED = [
    "openid",
    "fhirUser",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "user/*.cruds",
    "system/*.cruds",
    "patient/*.read",
    "user/*.read",
    "system/*.read",
]


def smart_configuration(config: AuthConfig) -> dict[str, Any]:
    auth = config.auth_url
    return {
        "issuer": config.issuer,
        "jwks_uri": f"{auth}/jwks",
        "authorization_endpoint": f"{auth}/authorize",
        "token_endpoint": config.token_url,
        "introspection_endpoint": f"{auth}/introspect",
        "revocation_endpoint": f"{auth}/revoke",
        "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "private_key_jwt",
        ],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "scopes_supported": SCOPES_SUPPORTED,
        "response_types_supported": ["code"],
        "capabilities": CAPABILITIES,
        "code_challenge_methods_supported": ["S256"],
    }


def openid_configuration(config: AuthConfig) -> dict[str, Any]:
    auth = config.auth_url
    return {
        "issuer": config.issuer,
        "authorization_endpoint": f"{auth}/authorize",
        "token_endpoint": config.token_url,
        "jwks_uri": f"{auth}/jwks",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser"],
        "token_endpoint_auth_methods_supported": [
            "none",
            "client_secret_basic",
            "private_key_jwt",
        ],
        "code_challenge_methods_supported": ["S256"],
    }
