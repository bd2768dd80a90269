"""A live SMART authorization server for the smart_auth tests, and a small kit (``smart``) over it.

The demo data set, the demo accounts and a few extra clients and accounts are built once per
session into a template SQLite file; every test module gets its own copy of it and its own
server (uvicorn on a loopback port, tokens required), so modules never see each other's codes,
tokens or lockouts. Tests drive it over real HTTP, as a browser and a SMART app would, with
real PKCE, real tokens and real signatures (joserfc).

Specs: SMART App Launch 2.2 (https://hl7.org/fhir/smart-app-launch/), RFC 6749, RFC 7636,
RFC 7523, RFC 7662, RFC 7009.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from html import unescape
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from click.testing import CliRunner
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from fhir_server.cli import _load_demo, main
from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.demo import DEMO_CLIENT_ID, DEMO_PASSWORD, DEMO_REDIRECT_URI, seed_demo_accounts
from smart_auth.testing import issue_token

FHIR_JSON = "application/fhir+json"
FORM = {"content-type": "application/x-www-form-urlencoded"}
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

# The demo public app's registration (smart_auth.demo), and a second public app.
CLIENT_SCOPE = (
    "launch/patient openid fhirUser offline_access online_access patient/*.cruds user/*.rs"
)
OTHER_CLIENT_ID = "other-public-app"
OTHER_REDIRECT_URI = "http://127.0.0.1:9091/callback"
SYMMETRIC_CLIENT_ID = "symmetric-app"
SYMMETRIC_REDIRECT_URI = "http://127.0.0.1:9092/callback"
ASYMMETRIC_CLIENT_ID = "asymmetric-app"
ASYMMETRIC_REDIRECT_URI = "http://127.0.0.1:9093/callback"
BACKEND_CLIENT_ID = "backend-app"
BACKEND_SCOPE = "system/Patient.rs system/Observation.rs"
RSA_KID = "client-rsa-1"
EC_KID = "client-ec-1"
BACKEND_KID = "backend-rsa-1"


# Accounts of their own for tests that change an account's state (failed-login counters).
TYPO_USER = "typo.user"
LOCKOUT_USER = "lockout.user"

# The standalone launch most tests use: the sponsor, their own record, read and search.
DEFAULT_SCOPE = "launch/patient openid fhirUser offline_access patient/*.rs"

PENDING_RE = re.compile(r"name='pending' value='([^']+)'")
KEEP_RE = re.compile(r"name='keep' value='([^']+)'")
PATIENT_RE = re.compile(r"name='patient' value='([^']+)'")
H1_RE = re.compile(r"<h1>(.*?)</h1>")


# -- helpers that need no server -----------------------------------------------------------------


def pkce() -> tuple[str, str]:
    """A fresh PKCE pair: (code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def query_of(location: str) -> dict[str, str]:
    """The query parameters of a redirect Location (each must appear once)."""
    parsed = parse_qs(urlsplit(location).query, keep_blank_values=True)
    assert all(len(v) == 1 for v in parsed.values()), f"repeated parameter in {location}"
    return {k: v[0] for k, v in parsed.items()}


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}", "accept": FHIR_JSON}


def pending_of(html: str) -> str:
    found = PENDING_RE.search(html)
    assert found, f"no pending id in page: {heading_of(html)}"
    return found.group(1)


def keeps_of(html: str) -> list[str]:
    """The resource scopes a consent page offers (each a ``keep`` checkbox)."""
    return [unescape(v) for v in KEEP_RE.findall(html)]


def patients_of(html: str) -> list[str]:
    """The patient ids a picker page offers."""
    return [unescape(v) for v in PATIENT_RE.findall(html)]


def heading_of(html: str) -> str:
    found = H1_RE.search(html)
    return unescape(found.group(1)) if found else ""


def client_assertion(
    key: RSAKey | ECKey,
    client_id: str,
    token_url: str,
    *,
    alg: str = "RS384",
    header: Mapping[str, Any] | None = None,
    **claims: Any,
) -> str:
    """A signed private_key_jwt client assertion (RFC 7523, SMART asymmetric authentication).

    ``claims`` override the defaults (iss = sub = client_id, aud = token URL, exp in 4 minutes,
    a fresh jti); an override of None removes the claim. ``header`` adds to (or, with None
    values, removes from) the JOSE header, whose ``kid`` defaults to the key's.
    """
    now = int(time.time())
    body: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": token_url,
        "exp": now + 240,
        "iat": now,
        "jti": secrets.token_urlsafe(16),
    }
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    head: dict[str, Any] = {"alg": alg, "typ": "JWT", "kid": key.kid}
    head.update(header or {})
    head = {k: v for k, v in head.items() if v is not None}
    return jwt.encode(head, body, key, algorithms=[alg])


def unsigned_assertion(header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """A hand-built ``alg: none`` JWT (nothing signs it; no library will make one)."""
    return ".".join(
        [
            b64url(json.dumps(dict(header)).encode()),
            b64url(json.dumps(dict(claims)).encode()),
            "",
        ]
    )


def hs256_assertion(secret: bytes, header: Mapping[str, Any], claims: Mapping[str, Any]) -> str:
    """A hand-built HS256 JWT with ``secret`` as the HMAC key (the key-confusion attack)."""
    signing_input = ".".join(
        [b64url(json.dumps(dict(header)).encode()), b64url(json.dumps(dict(claims)).encode())]
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


# -- the world: a database with demo data, accounts and clients ------------------------------------


@dataclass(frozen=True)
class ClientKeys:
    rsa: RSAKey
    ec: ECKey
    backend: RSAKey

    def public_jwks(self, *keys: RSAKey | ECKey) -> dict[str, Any]:
        return {"keys": [dict(k.as_dict(private=False)) for k in keys]}


@dataclass(frozen=True)
class Template:
    """The session's template database and the secrets that went into it."""

    path: Path
    keys: ClientKeys
    symmetric_secret: str
    expired_token: str  # an access token of the symmetric client that expired an hour ago


def _cli(database_url: str, *args: str, input: str | None = None) -> str:
    """Run ``mhs-fhir ARGS --database-url URL`` in process; its output."""
    result = CliRunner().invoke(main, [*args, "--database-url", database_url], input=input)
    assert result.exit_code == 0, result.output
    return result.output


def _seed_extra(database_url: str, keys: ClientKeys, directory: Path) -> tuple[str, str]:
    """Register the extra clients and accounts the way an administrator does (the CLI);
    the symmetric client's secret (shown once) and an access token that expired an hour ago."""
    rsa_jwks = directory / "asymmetric-jwks.json"
    rsa_jwks.write_text(json.dumps(keys.public_jwks(keys.rsa, keys.ec)))
    backend_jwks = directory / "backend-jwks.json"
    backend_jwks.write_text(json.dumps(keys.public_jwks(keys.backend)))
    add = ("clients", "add")
    _cli(
        database_url,
        *add,
        "Another public app",
        "--kind",
        "public",
        "--client-id",
        OTHER_CLIENT_ID,
        "--redirect-uri",
        OTHER_REDIRECT_URI,
        "--scope",
        CLIENT_SCOPE,
    )
    shown = _cli(
        database_url,
        *add,
        "A confidential app (secret)",
        "--kind",
        "symmetric",
        "--client-id",
        SYMMETRIC_CLIENT_ID,
        "--redirect-uri",
        SYMMETRIC_REDIRECT_URI,
        "--scope",
        CLIENT_SCOPE,
    )
    found = re.search(r"client_secret: (\S+)", shown)
    assert found, shown
    _cli(
        database_url,
        *add,
        "A confidential app (keys)",
        "--kind",
        "asymmetric",
        "--client-id",
        ASYMMETRIC_CLIENT_ID,
        "--redirect-uri",
        ASYMMETRIC_REDIRECT_URI,
        "--scope",
        CLIENT_SCOPE,
        "--jwks",
        str(rsa_jwks),
    )
    _cli(
        database_url,
        *add,
        "A backend service",
        "--kind",
        "backend",
        "--client-id",
        BACKEND_CLIENT_ID,
        "--scope",
        BACKEND_SCOPE,
        "--jwks",
        str(backend_jwks),
    )
    for username in (TYPO_USER, LOCKOUT_USER):
        _cli(
            database_url,
            "users",
            "add",
            username,
            "--name",
            username,
            "--assurance",
            "premium",
            "--password-stdin",
            input=DEMO_PASSWORD + "\n",
        )
    expired = issue_token(
        database_url, scope="patient/*.rs", client_id=SYMMETRIC_CLIENT_ID, lifetime=-3600.0
    )
    return found.group(1), expired


@pytest.fixture(scope="session")
def template(tmp_path_factory: pytest.TempPathFactory) -> Template:
    path = tmp_path_factory.mktemp("smart-template") / "template.db"
    settings = Settings(database_url=f"sqlite:///{path}")
    keys = ClientKeys(
        rsa=RSAKey.generate_key(2048, parameters={"kid": RSA_KID}, private=True),
        ec=ECKey.generate_key("P-384", parameters={"kid": EC_KID}, private=True),
        backend=RSAKey.generate_key(2048, parameters={"kid": BACKEND_KID}, private=True),
    )
    _load_demo(settings)
    seed_demo_accounts(settings)
    secret, expired = _seed_extra(settings.database_url, keys, path.parent)
    return Template(path=path, keys=keys, symmetric_secret=secret, expired_token=expired)


def _copy_database(source: Path, target: Path) -> None:
    with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    src.close()
    dst.close()


# -- the kit -------------------------------------------------------------------------------------


@dataclass
class Authorized:
    """Where an authorization ended: the redirect, and what the app must keep to redeem it."""

    response: httpx.Response
    verifier: str
    state: str
    nonce: str
    consent_offered: list[str] = field(default_factory=list)

    @property
    def location(self) -> str:
        return self.response.headers["location"]

    @property
    def params(self) -> dict[str, str]:
        return query_of(self.location)

    @property
    def code(self) -> str:
        return self.params["code"]


class Smart:
    """One live server (tokens required) and what a browser and an app do with it."""

    def __init__(self, base: str, settings: Settings, template: Template) -> None:
        self.base = base
        self.origin = base.rsplit("/fhir", 1)[0]
        self.settings = settings
        self.keys = template.keys
        self.symmetric_secret = template.symmetric_secret
        self.expired_token = template.expired_token
        self.http = httpx.Client(follow_redirects=False, timeout=30.0)
        self._browsers: list[httpx.Client] = []

    def close(self) -> None:
        for browser in self._browsers:
            browser.close()
        self.http.close()

    # endpoints

    @property
    def auth(self) -> str:
        return f"{self.origin}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.auth}/token"

    def browser(self) -> httpx.Client:
        """A fresh browser (its own cookie jar), never following redirects."""
        browser = httpx.Client(follow_redirects=False, timeout=30.0)
        self._browsers.append(browser)
        return browser

    # the authorization code flow

    def authorize_params(
        self,
        *,
        scope: str = DEFAULT_SCOPE,
        client_id: str = DEMO_CLIENT_ID,
        redirect_uri: str = DEMO_REDIRECT_URI,
        challenge: str | None = None,
        state: str | None = None,
        nonce: str | None = None,
        **extra: str | None,
    ) -> dict[str, str]:
        """An authorization request's parameters; an ``extra`` of None removes a parameter."""
        params: dict[str, str | None] = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "state": state or secrets.token_urlsafe(12),
            "nonce": nonce or secrets.token_urlsafe(12),
            "aud": self.base,
            "code_challenge": challenge or pkce()[1],
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None}

    def start(
        self,
        browser: httpx.Client,
        params: Mapping[str, str] | Sequence[tuple[str, str]],
        *,
        method: str = "GET",
    ) -> httpx.Response:
        """The authorization request itself (GET with a query, or POST with a form)."""
        url = f"{self.auth}/authorize"
        pairs = list(params.items()) if isinstance(params, Mapping) else list(params)
        if method == "POST":
            return browser.post(url, content=urlencode(pairs).encode(), headers=FORM)
        return browser.get(url, params=pairs)

    def login(
        self, browser: httpx.Client, pending: str, username: str, password: str
    ) -> httpx.Response:
        return browser.post(
            f"{self.auth}/login",
            data={"pending": pending, "username": username, "password": password},
        )

    def pick(self, browser: httpx.Client, pending: str, patient: str) -> httpx.Response:
        return browser.post(f"{self.auth}/pick", data={"pending": pending, "patient": patient})

    def consent(
        self, browser: httpx.Client, pending: str, *, decision: str, keep: Sequence[str]
    ) -> httpx.Response:
        return browser.post(
            f"{self.auth}/consent",
            data={"pending": pending, "decision": decision, "keep": list(keep)},
        )

    def authorize(
        self,
        *,
        username: str = "demo.sponsor",
        password: str = DEMO_PASSWORD,
        patient: str | None = "demo-sponsor",
        keep: Callable[[list[str]], list[str]] | None = None,
        decision: str = "allow",
        browser: httpx.Client | None = None,
        method: str = "GET",
        **params: str | None,
    ) -> Authorized:
        """authorize -> login -> (pick) -> consent; the consent's redirect (302) and the PKCE
        verifier. ``keep`` chooses which offered scopes stay ticked (default: all)."""
        browser = browser or self.browser()
        verifier, challenge = pkce()
        request = self.authorize_params(challenge=challenge, **params)
        page = self.start(browser, request, method=method)
        assert page.status_code == 200, (page.status_code, page.headers.get("location"))
        pending = pending_of(page.text)
        if heading_of(page.text) == "Sign in":
            page = self.login(browser, pending, username, password)
            assert page.status_code == 200, heading_of(page.text)
        if heading_of(page.text) == "Choose a patient":
            assert patient is not None, "the server asks for a patient"
            page = self.pick(browser, pending, patient)
            assert page.status_code == 200, heading_of(page.text)
        assert heading_of(page.text) == "Allow access?", heading_of(page.text)
        offered = keeps_of(page.text)
        kept = keep(offered) if keep is not None else offered
        done = self.consent(browser, pending, decision=decision, keep=kept)
        assert done.status_code == 302, (done.status_code, heading_of(done.text))
        return Authorized(
            response=done,
            verifier=verifier,
            state=request["state"],
            nonce=request["nonce"],
            consent_offered=offered,
        )

    # the token endpoint

    def token_request(
        self,
        data: Mapping[str, str],
        *,
        auth: tuple[str, str] | None = None,
        assertion: str | None = None,
    ) -> httpx.Response:
        form = dict(data)
        if assertion is not None:
            form["client_assertion_type"] = ASSERTION_TYPE
            form["client_assertion"] = assertion
        return self.http.post(self.token_url, data=form, auth=auth)

    def exchange_code(
        self,
        code: str,
        verifier: str,
        *,
        client_id: str | None = DEMO_CLIENT_ID,
        redirect_uri: str = DEMO_REDIRECT_URI,
        auth: tuple[str, str] | None = None,
        assertion: str | None = None,
    ) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        if client_id is not None:
            data["client_id"] = client_id
        return self.token_request(data, auth=auth, assertion=assertion)

    def refresh(
        self,
        refresh_token: str,
        *,
        client_id: str = DEMO_CLIENT_ID,
        scope: str | None = None,
    ) -> httpx.Response:
        data = {
            "grant_type": "refresh_token",
            "refresh_token": refresh_token,
            "client_id": client_id,
        }
        if scope is not None:
            data["scope"] = scope
        return self.token_request(data)

    def tokens(self, **authorize: Any) -> dict[str, Any]:
        """A whole standalone launch of the demo app: the token response's JSON."""
        done = self.authorize(**authorize)
        response = self.exchange_code(done.code, done.verifier)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    # introspection, revocation, FHIR

    def introspect(self, token: str, *, auth: tuple[str, str] | None = None) -> httpx.Response:
        return self.http.post(
            f"{self.auth}/introspect",
            data={"token": token},
            auth=auth or (SYMMETRIC_CLIENT_ID, self.symmetric_secret),
        )

    def revoke(self, token: str, *, client_id: str = DEMO_CLIENT_ID) -> httpx.Response:
        return self.http.post(f"{self.auth}/revoke", data={"token": token, "client_id": client_id})

    def fhir_get(self, path: str, token: str | None) -> httpx.Response:
        headers = bearer(token) if token is not None else {"accept": FHIR_JSON}
        return self.http.get(f"{self.base}/{path}", headers=headers)


@contextmanager
def serve(template: Template, directory: Path, **overrides: Any) -> Iterator[Smart]:
    """A server (tokens required unless overridden) on a fresh copy of the template."""
    path = directory / f"smart-{secrets.token_hex(4)}.db"
    _copy_database(template.path, path)
    settings = Settings(database_url=f"sqlite:///{path}", **overrides)
    with running_server(settings) as base:
        smart = Smart(base, settings.model_copy(update={"base_url": base}), template)
        try:
            yield smart
        finally:
            smart.close()


@pytest.fixture(scope="module")
def smart(template: Template, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Smart]:
    """This module's server, on its own copy of the template database."""
    with serve(template, tmp_path_factory.mktemp("smart")) as kit:
        yield kit


@pytest.fixture
def serve_with(template: Template, tmp_path: Path) -> Callable[..., AbstractContextManager[Smart]]:
    """Start a server with other settings: ``with serve_with(code_lifetime=1) as smart``."""

    def start(**overrides: Any) -> AbstractContextManager[Smart]:
        return serve(template, tmp_path, **overrides)

    return start
