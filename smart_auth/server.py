"""authlib's AuthorizationServer on Starlette: our adapter, the way its Flask integration does it.

authlib is synchronous, so every call into it runs in a worker thread with the request already
read: :class:`CapturedRequest` holds the method, URL, headers and every parameter (repeated ones
included, in order) and :class:`SmartAuthorizationServer` turns it into authlib's request
objects and authlib's ``(status, body, headers)`` into a Starlette response.
"""

from __future__ import annotations

import hmac
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request
from starlette.datastructures import MultiDict
from starlette.responses import Response

from smart_auth.config import AuthConfig
from smart_auth.keys import sign
from smart_auth.records import AuthStore, Client, ClientKind, Grant, Token, digest
from smart_auth.scopes import parse_scopes

__all__ = ["CapturedRequest", "OAuthClient", "SmartAuthorizationServer"]

# authlib logs whole token responses at DEBUG ("Issue token ..."): secrets must never reach a
# log, whatever level the server runs at.
logging.getLogger("authlib").setLevel(logging.INFO)


@dataclass(frozen=True, slots=True)
class CapturedRequest:
    """An HTTP request, fully read, that a worker thread can hand to authlib."""

    method: str
    url: str
    headers: Mapping[str, str]  # case-insensitive (starlette's Headers), as authlib expects
    params: list[tuple[str, str]] = field(default_factory=list)  # query (GET) or form (POST)


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, params: list[tuple[str, str]]) -> None:
        self._multi = MultiDict(params)
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in params:
            self._datalist[key].append(value)

    @property
    def data(self) -> MultiDict:
        return self._multi

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, captured: CapturedRequest) -> None:
        super().__init__(method=captured.method, uri=captured.url, headers=captured.headers)
        self.payload = _Payload(captured.params)
        self._captured = captured

    @property
    def args(self) -> MultiDict:
        return self.payload.data if self.method == "GET" else MultiDict()

    @property
    def form(self) -> MultiDict:
        return self.payload.data if self.method == "POST" else MultiDict()


_AUTH_METHODS: dict[ClientKind, str] = {
    ClientKind.PUBLIC: "none",
    ClientKind.SYMMETRIC: "client_secret_basic",
    ClientKind.ASYMMETRIC: "private_key_jwt",
    ClientKind.BACKEND: "private_key_jwt",
}


class OAuthClient(ClientMixin):  # type: ignore[misc]
    """A registered client as authlib sees it."""

    def __init__(self, record: Client) -> None:
        self.record = record

    @property
    def client_id(self) -> str:
        return self.record.client_id

    def get_client_id(self) -> str:
        return self.record.client_id

    def get_default_redirect_uri(self) -> str | None:
        # SMART clients always send redirect_uri; never guess one.
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        """The requested scopes this client is registered for (the rest are dropped)."""
        requested = parse_scopes(scope)
        return str(requested.narrowed_to(parse_scopes(self.record.scope)))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        # Exact string match against a registered URI (RFC 6749 3.1.2.3, SMART).
        return redirect_uri in self.record.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        # Client secrets are 256 random bits made by `mhs-fhir clients add`: a plain digest
        # is enough (no password stretching needed), compared in constant time.
        stored = self.record.secret_digest
        return stored is not None and hmac.compare_digest(digest(client_secret), stored)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        del endpoint
        return hmac.compare_digest(method, _AUTH_METHODS[self.record.kind])

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and self.record.kind is not ClientKind.BACKEND

    def check_grant_type(self, grant_type: str) -> bool:
        if self.record.kind is ClientKind.BACKEND:
            return grant_type == "client_credentials"
        return grant_type in ("authorization_code", "refresh_token")


class SmartAuthorizationServer(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server over our :class:`AuthStore`."""

    def __init__(self, store: AuthStore, config: AuthConfig) -> None:
        super().__init__()
        self.store = store
        self.config = config
        self.register_token_generator("default", self._generate_token)

    # authlib's framework hooks -----------------------------------------------------------------

    def query_client(self, client_id: str) -> OAuthClient | None:
        if not isinstance(client_id, str):
            return None
        record = self.store.get_client(client_id)
        return OAuthClient(record) if record is not None else None

    def create_oauth2_request(self, request: CapturedRequest | _Request) -> _Request:
        if isinstance(request, _Request):
            return request
        return _Request(request)

    def create_json_request(self, request: CapturedRequest) -> Any:
        raise NotImplementedError("no JSON endpoints")

    def handle_response(self, status: int, body: Any, headers: Any) -> Response:
        content = orjson.dumps(body) if isinstance(body, dict) else (body or b"")
        response = Response(content=content, status_code=status)
        for name, value in headers or []:
            response.headers[name] = value
        if isinstance(body, dict):
            response.headers["content-type"] = "application/json"
            # Token responses (and their errors) are never cached (RFC 6749 5.1, SMART).
            response.headers["cache-control"] = "no-store"
            response.headers["pragma"] = "no-cache"
        return response

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        return None

    def validate_requested_scope(self, scope: str | None) -> None:
        # Unknown or malformed scopes are dropped by the parser, never granted: nothing to do.
        return None

    # tokens --------------------------------------------------------------------------------------

    def _generate_token(
        self,
        *,
        grant_type: str,
        client: OAuthClient,
        user: Grant | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        granted = parse_scopes(scope)
        lifetime = expires_in or (
            self.config.backend_token_lifetime
            if grant_type == "client_credentials"
            else self.config.access_token_lifetime
        )
        token: dict[str, Any] = {
            "access_token": secrets.token_urlsafe(32),
            "token_type": "Bearer",
            "expires_in": int(lifetime),
            "scope": str(granted),
        }
        wants_refresh = granted.offline_access or granted.online_access
        if include_refresh_token and wants_refresh and grant_type != "client_credentials":
            token["refresh_token"] = secrets.token_urlsafe(32)
        if user is not None:
            token.update(self.launch_context(user, granted_openid=granted.openid))
            if granted.openid and granted.fhir_user and user.username is not None:
                token["id_token"] = self.id_token(client, user)
        return token

    def launch_context(self, grant: Grant, *, granted_openid: bool) -> dict[str, Any]:
        """SMART launch context parameters of a token response."""
        del granted_openid
        context: dict[str, Any] = {}
        if grant.patient:
            context["patient"] = grant.patient
            context["need_patient_banner"] = grant.banner
        if grant.encounter:
            context["encounter"] = grant.encounter
        if grant.patient or grant.encounter:
            context["smart_style_url"] = self.config.style_url
            fhir_context: list[dict[str, str]] = []
            if grant.encounter:
                fhir_context.append({"reference": f"Encounter/{grant.encounter}"})
            if fhir_context:
                context["fhirContext"] = fhir_context
        return context

    def id_token(self, client: OAuthClient, grant: Grant) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.config.issuer,
            "sub": grant.username,
            "aud": client.client_id,
            "iat": now,
            "exp": now + self.config.access_token_lifetime,
        }
        if grant.fhir_user:
            claims["fhirUser"] = f"{self.config.base_url}/{grant.fhir_user}"
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if grant.auth_time is not None:
            claims["auth_time"] = int(grant.auth_time)
        return sign(self.store, claims)

    def save_token(self, token: dict[str, Any], request: _Request) -> None:
        grant: Grant | None = request.user
        client: OAuthClient = request.client
        now = time.time()
        base = grant or Grant(client_id=client.client_id, scope=token["scope"])
        base = Grant(**{**_grant_fields(base), "scope": token["scope"]})
        family = getattr(request, "token_family", None) or secrets.token_hex(16)
        records = [
            Token(
                digest=digest(token["access_token"]),
                kind="access",
                grant=base,
                issued_at=now,
                expires_at=now + token["expires_in"],
                family=family,
            )
        ]
        if "refresh_token" in token:
            records.append(
                Token(
                    digest=digest(token["refresh_token"]),
                    kind="refresh",
                    grant=base,
                    issued_at=now,
                    expires_at=now + self.config.refresh_token_lifetime,
                    family=family,
                )
            )
        self.store.put_tokens(records)


def _grant_fields(grant: Grant) -> dict[str, Any]:
    return {name: getattr(grant, name) for name in Grant.__dataclass_fields__}
