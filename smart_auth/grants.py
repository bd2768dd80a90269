"""The grants and client authentication SMART asks for, as authlib extensions.

- authorization code (RFC 6749 4.1) with PKCE S256 required of every client (RFC 7636;
  SMART App Launch 2.x: ``plain`` is not allowed), codes single-use: a replayed code ends every
  token issued from it;
- refresh (RFC 6749 6) with rotation: the old refresh token dies, a replayed one ends its
  family; scope may only narrow;
- client credentials (RFC 6749 4.4) for SMART Backend Services, ``system/`` scopes only,
  capped by the client's registration;
- ``private_key_jwt`` (RFC 7523, SMART asymmetric authentication): RS384 or ES384 only,
  ``iss`` = ``sub`` = client_id, ``aud`` = token URL, ``exp`` at most five minutes ahead,
  ``jti`` never reused, key chosen by ``kid`` from the registered JWKS (``jku`` only when it is
  the registered JWKS URL).
"""

from __future__ import annotations

import secrets
import threading
import time
from datetime import date
from typing import Any

from authlib.oauth2.rfc6749 import (
    InvalidClientError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc6749.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
)
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from smart_auth.jwks import fetch_jwks
from smart_auth.records import ClientKind, Code, Grant, Role, Token, digest
from smart_auth.scopes import parse_scopes
from smart_auth.server import OAuthClient, SmartAuthorizationServer

ASSERTION_ALGORITHMS = ("RS384", "ES384")
MAX_ASSERTION_LIFETIME = 300


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE with ``S256``, required of every client, public or confidential."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge (S256)")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)

    def get_authorization_code_challenge(self, authorization_code: _CodeView) -> str:
        return authorization_code.code.code_challenge

    def get_authorization_code_challenge_method(self, authorization_code: _CodeView) -> str:
        return "S256"


class _CodeView:
    """A stored code as authlib's AuthorizationCodeMixin sees it."""

    def __init__(self, code: Code) -> None:
        self.code = code

    def get_redirect_uri(self) -> str:
        return self.code.redirect_uri

    def get_scope(self) -> str:
        return self.code.grant.scope

    def get_nonce(self) -> str | None:
        return self.code.grant.nonce

    def get_auth_time(self) -> float | None:
        return self.code.grant.auth_time


class AuthorizationCode(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "private_key_jwt"]
    server: SmartAuthorizationServer

    def generate_authorization_code(self) -> str:
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code: str, request: Any) -> None:
        # The scope is the grant's: what the user approved at consent (authlib resets
        # request.scope to the client's allowance when it validates the request again).
        grant: Grant = request.user
        data = request.payload.data
        self.server.store.put_code(
            Code(
                digest=digest(code),
                grant=grant,
                redirect_uri=data.get("redirect_uri"),
                code_challenge=data.get("code_challenge"),
                expires_at=time.time() + self.server.config.code_lifetime,
                family=secrets.token_hex(16),
            )
        )

    def query_authorization_code(self, code: str, client: OAuthClient) -> _CodeView | None:
        now = time.time()
        stored = self.server.store.take_code(digest(code), now)
        if stored is None:
            return None
        if stored.used:
            # RFC 6749 4.1.2: a code used twice ends what it was used for.
            self.server.store.revoke_family(stored.family)
            return None
        if stored.expires_at <= now or stored.grant.client_id != client.client_id:
            return None
        self.request.token_family = stored.family
        return _CodeView(stored)

    def delete_authorization_code(self, authorization_code: _CodeView) -> None:
        return None  # taken (marked used) atomically when it was queried

    def authenticate_user(self, authorization_code: _CodeView) -> Grant:
        return authorization_code.code.grant


class RefreshToken(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["none", "client_secret_basic", "private_key_jwt"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: SmartAuthorizationServer

    def authenticate_refresh_token(self, refresh_token: str) -> _TokenView | None:
        store = self.server.store
        stored = store.get_token(digest(refresh_token))
        if stored is None or stored.kind != "refresh":
            return None
        if stored.revoked:
            store.revoke_family(stored.family)  # a rotated-out token came back: stolen
            return None
        if not stored.is_active(time.time()) or not self._user_still_allowed(stored.grant):
            return None
        self.request.token_family = stored.family
        return _TokenView(stored)

    def _user_still_allowed(self, grant: Grant) -> bool:
        """An account that is gone or locked, or a proxy whose reach over the patient in
        context has ended (a birthday, a removed link), refreshes nothing."""
        if grant.username is None:
            return True
        user = self.server.store.get_user(grant.username)
        if user is None or user.locked:
            return False
        if grant.role is Role.BENEFICIARY and grant.patient is not None:
            today = date.today()
            return any(
                link.patient_id == grant.patient and link.reach_on(today) is not None
                for link in grant.links
            )
        return True

    def _validate_token_scope(self, token: _TokenView) -> None:
        asked = self.request.payload.scope
        if asked and not parse_scopes(asked).is_within(parse_scopes(token.get_scope())):
            raise InvalidScopeError("a refresh may only keep or narrow the granted scope")

    def authenticate_user(self, refresh_token: _TokenView) -> Grant:
        return refresh_token.token.grant

    def revoke_old_credential(self, refresh_token: _TokenView) -> None:
        """Rotation, once the new tokens are stored: the old refresh token dies. Had a
        concurrent refresh already taken it, the token was used twice: end the family."""
        store = self.server.store
        taken = store.take_refresh_token(refresh_token.token.digest)
        if taken is None or taken.revoked:
            store.revoke_family(refresh_token.token.family)

    def issue_token(self, user: Grant, refresh_token: _TokenView) -> dict[str, Any]:
        token: dict[str, Any] = super().issue_token(user, refresh_token)
        token.pop("id_token", None)
        return token


class _TokenView:
    def __init__(self, token: Token) -> None:
        self.token = token

    def check_client(self, client: OAuthClient) -> bool:
        return self.token.grant.client_id == client.client_id

    def get_scope(self) -> str:
        return self.token.grant.scope

    def get_expires_in(self) -> int:
        return int(self.token.expires_at - self.token.issued_at)

    def is_expired(self) -> bool:
        return time.time() >= self.token.expires_at

    def is_revoked(self) -> bool:
        return self.token.revoked


class BackendServices(ClientCredentialsGrant):  # type: ignore[misc]
    """SMART Backend Services: client_credentials with a signed JWT assertion."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["private_key_jwt"]
    server: SmartAuthorizationServer

    def validate_token_request(self) -> None:
        super().validate_token_request()
        client: OAuthClient = self.request.client
        granted = parse_scopes(client.get_allowed_scope(self.request.payload.scope))
        if not granted.resources or any(r.level != "system" for r in granted.resources):
            raise InvalidScopeError("backend services are granted system/ scopes only")

    def create_token_response(self) -> tuple[int, dict[str, Any], list[tuple[str, str]]]:
        client: OAuthClient = self.request.client
        scope = client.get_allowed_scope(self.request.payload.scope)
        token: dict[str, Any] = self.generate_token(
            scope=scope, include_refresh_token=False, expires_in=None
        )
        self.save_token(token)
        return 200, token, self.TOKEN_RESPONSE_HEADER


class PrivateKeyJwt(JWTBearerClientAssertion):  # type: ignore[misc]
    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, server: SmartAuthorizationServer) -> None:
        super().__init__(validate_jti=True, leeway=0)
        self.server = server
        self._local = threading.local()  # one token request per worker thread at a time

    def get_audiences(self) -> list[str]:
        return [self.server.config.token_url]

    def extract_assertion(self, assertion: str) -> tuple[dict[str, Any], dict[str, Any]]:
        headers, claims = super().extract_assertion(assertion)
        if headers.get("alg") not in ASSERTION_ALGORITHMS:
            raise InvalidClientError(description="client assertions must be signed RS384 or ES384")
        self._local.headers = headers
        return headers, claims

    def process_assertion_claims(self, assertion: str, resolve_key: Any) -> dict[str, Any]:
        # joserfc's default registry refuses RS384/ES384 as "not recommended"; SMART requires
        # exactly those, so they are the only algorithms this decode accepts.
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return dict(token.claims)

    def verify_claims(self, claims: Any) -> None:
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or exp > time.time() + MAX_ASSERTION_LIFETIME:
            raise InvalidClientError(description="exp must be at most five minutes ahead")
        super().verify_claims(claims)

    def validate_jti(self, claims: dict[str, Any], jti: Any) -> bool:
        if not isinstance(jti, str) or not jti:
            return False
        return self.server.store.remember_jti(claims["sub"], jti, float(claims["exp"]), time.time())

    def resolve_client_public_key(self, client: OAuthClient) -> KeySet:
        record = client.record
        if record.kind not in (ClientKind.ASYMMETRIC, ClientKind.BACKEND):
            raise InvalidClientError(description="this client has no registered keys")
        headers: dict[str, Any] = getattr(self._local, "headers", {})
        jku = headers.get("jku")
        if jku is not None and jku != record.jwks_url:
            raise InvalidClientError(description="jku is not the client's registered JWKS URL")
        if record.jwks is not None:
            key_set = record.jwks
        elif record.jwks_url is not None:
            key_set = fetch_jwks(record.jwks_url)
        else:
            raise InvalidClientError(description="this client has no registered keys")
        keys = [
            k
            for k in key_set.get("keys", [])
            if isinstance(k, dict) and k.get("kid") == headers.get("kid")
        ]
        if not keys:
            raise InvalidClientError(description="no registered key has the assertion's kid")
        try:
            return KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError) as exc:
            raise InvalidClientError(description="the registered key cannot be used") from exc


def _fields(grant: Grant) -> dict[str, Any]:
    return {name: getattr(grant, name) for name in Grant.__dataclass_fields__}


class Introspection(IntrospectionEndpoint):  # type: ignore[misc]
    """RFC 7662 with SMART's fields; an inactive token is exactly ``{"active": false}``.

    A client may introspect the tokens issued to it; for any other token the answer is
    inactive, so introspection tells nobody about another client's tokens.
    """

    CLIENT_AUTH_METHODS = ["client_secret_basic", "private_key_jwt"]
    server: SmartAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> _TokenView | None:
        stored = self.server.store.get_token(digest(token_string))
        return _TokenView(stored) if stored is not None else None

    def check_permission(self, token: _TokenView, client: OAuthClient, request: Any) -> bool:
        return token.check_client(client)

    def create_introspection_payload(self, token: _TokenView | None) -> dict[str, Any]:
        if token is None or not token.token.is_active(time.time()):
            return {"active": False}
        stored = token.token
        grant = stored.grant
        body: dict[str, Any] = {
            "active": True,
            "scope": grant.scope,
            "client_id": grant.client_id,
            "token_type": "Bearer" if stored.kind == "access" else "refresh_token",
            "exp": int(stored.expires_at),
            "iat": int(stored.issued_at),
            "iss": self.server.config.issuer,
            "sub": grant.username or grant.client_id,
        }
        if grant.patient:
            body["patient"] = grant.patient
        if grant.fhir_user:
            body["fhirUser"] = f"{self.server.config.base_url}/{grant.fhir_user}"
        return body


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: revoking a refresh token ends its whole family (the access tokens too).

    Another client's token, or an unknown one, is answered 200 and left alone (RFC 7009 2.2).
    """

    CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "private_key_jwt"]
    server: SmartAuthorizationServer

    def query_token(self, token_string: str, token_type_hint: str | None) -> _TokenView | None:
        stored = self.server.store.get_token(digest(token_string))
        return _TokenView(stored) if stored is not None else None

    def authenticate_token(self, request: Any, client: OAuthClient) -> _TokenView | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: _TokenView, request: Any) -> None:
        stored = token.token
        if stored.kind == "refresh":
            self.server.store.revoke_family(stored.family)
        else:
            self.server.store.revoke(stored.digest)


def build_server(server: SmartAuthorizationServer) -> SmartAuthorizationServer:
    """Register SMART's grants, client authentication and endpoints on ``server``."""
    server.register_client_auth_method("private_key_jwt", PrivateKeyJwt(server))
    server.register_grant(AuthorizationCode, [S256Only(required=True)])
    server.register_grant(RefreshToken)
    server.register_grant(BackendServices)
    server.register_endpoint(Introspection(server))
    server.register_endpoint(Revocation(server))
    return server
