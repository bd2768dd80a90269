"""EHR launch: an EHR user's token asks for an opaque launch id bound to one client and to that
user; the app sends it to /authorize, and the token carries the EHR's patient context."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from fhir_server.cli import _load_demo
from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.demo import DEMO_CLIENT_ID, DEMO_REDIRECT_URI, seed_demo_accounts
from smart_auth.passwords import hash_password
from smart_auth.records import Assurance, Client, ClientKind, Role, User
from smart_auth.service import open_auth_store
from smart_auth.sqlite_store import SCHEMA_VERSION
from smart_auth.testing import issue_token

CLINICIAN_PASSWORD = "Clinician-Passw0rd!"


@dataclass(frozen=True)
class Ehr:
    base: str
    origin: str
    database_url: str
    token: str  # the EHR user's own (user/) token


@pytest.fixture(scope="module")
def ehr(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ehr]:
    folder = tmp_path_factory.mktemp("ehr")
    settings = Settings(database_url=f"sqlite:///{folder}/ehr.db")
    _load_demo(settings)
    seed_demo_accounts(settings)
    store = open_auth_store(settings.database_url)
    store.open()
    for username in ("dr.reyes", "dr.other"):
        store.put_user(
            User(
                username=username,
                password_hash=hash_password(CLINICIAN_PASSWORD),
                name=username,
                fhir_user="Practitioner/demo-pcm",
                assurance=Assurance.PREMIUM,
                created=time.time(),
            )
        )
    store.put_client(
        Client(
            client_id="other-app",
            name="Another app",
            kind=ClientKind.PUBLIC,
            scope="launch openid fhirUser patient/*.rs",
            redirect_uris=("http://127.0.0.1:9999/cb",),
            created=time.time(),
        )
    )
    store.close()
    token = issue_token(
        settings.database_url,
        scope="user/*.rs",
        role=Role.CLINICIAN,
        username="dr.reyes",
        fhir_user="Practitioner/demo-pcm",
    )
    with running_server(settings) as base:
        yield Ehr(base, base.rsplit("/fhir", 1)[0], settings.database_url, token)


def new_launch(ehr: Ehr, *, patient: str = "demo-child", client_id: str = DEMO_CLIENT_ID) -> str:
    answer = httpx.post(
        f"{ehr.origin}/auth/launch",
        data={"client_id": client_id, "patient": patient},
        headers={"authorization": f"Bearer {ehr.token}"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["iss"] == ehr.base
    return str(answer.json()["launch"])


def launch_app(ehr: Ehr, launch: str, username: str) -> httpx.Response:
    """The app's authorize request with ``launch``, then ``username`` signs in and allows."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        page = browser.get(
            f"{ehr.origin}/auth/authorize",
            params={
                "response_type": "code",
                "client_id": DEMO_CLIENT_ID,
                "redirect_uri": DEMO_REDIRECT_URI,
                "scope": "launch openid fhirUser patient/*.rs",
                "state": "ehr",
                "aud": ehr.base,
                "launch": launch,
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            },
        )
        pending = re.search(r"name='pending' value='([^']+)'", page.text)
        if pending is None:
            return page
        consent = browser.post(
            f"{ehr.origin}/auth/login",
            data={
                "pending": pending.group(1),
                "username": username,
                "password": CLINICIAN_PASSWORD,
            },
        )
        if consent.status_code != 200:
            return consent
        keep = re.findall(r"name='keep' value='([^']+)'", consent.text)
        done = browser.post(
            f"{ehr.origin}/auth/consent",
            data={"pending": pending.group(1), "decision": "allow", "keep": keep},
        )
        if done.status_code != 302:
            return done
        code = parse_qs(urlsplit(done.headers["location"]).query).get("code")
        if not code:
            return done
        return httpx.post(
            f"{ehr.origin}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code[0],
                "redirect_uri": DEMO_REDIRECT_URI,
                "client_id": DEMO_CLIENT_ID,
                "code_verifier": verifier,
            },
        )


def test_an_ehr_launch_gives_the_app_the_ehrs_patient_without_a_banner(ehr: Ehr) -> None:
    token = launch_app(ehr, new_launch(ehr), "dr.reyes")
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["patient"] == "demo-child"
    assert body["need_patient_banner"] is False
    read = httpx.get(
        f"{ehr.base}/Patient/demo-child",
        headers={"authorization": f"Bearer {body['access_token']}"},
    )
    assert read.status_code == 200


def test_a_launch_id_works_once(ehr: Ehr) -> None:
    launch = new_launch(ehr)
    assert launch_app(ehr, launch, "dr.reyes").status_code == 200
    again = launch_app(ehr, launch, "dr.reyes")
    assert again.status_code == 302
    assert "error=invalid_request" in again.headers["location"]


def test_a_launch_id_is_bound_to_the_client_it_was_made_for(ehr: Ehr) -> None:
    made_for_another_app = new_launch(ehr, client_id="other-app")
    answer = launch_app(ehr, made_for_another_app, "dr.reyes")
    assert answer.status_code == 302
    assert "error=invalid_request" in answer.headers["location"]


def test_a_launch_for_an_unknown_client_is_refused(ehr: Ehr) -> None:
    answer = httpx.post(
        f"{ehr.origin}/auth/launch",
        data={"client_id": "no-such-client", "patient": "demo-child"},
        headers={"authorization": f"Bearer {ehr.token}"},
    )
    assert answer.status_code == 400


def test_a_launch_is_bound_to_the_user_who_launched(ehr: Ehr) -> None:
    answer = launch_app(ehr, new_launch(ehr), "dr.other")
    assert answer.status_code == 403
    assert "launched for another user" in answer.text


def test_only_a_user_or_system_token_may_launch(ehr: Ehr) -> None:
    patient_token = issue_token(
        ehr.database_url, scope="patient/*.rs", role=Role.BENEFICIARY, patient="demo-child"
    )
    answer = httpx.post(
        f"{ehr.origin}/auth/launch",
        data={"client_id": DEMO_CLIENT_ID, "patient": "demo-child"},
        headers={"authorization": f"Bearer {patient_token}"},
    )
    assert answer.status_code == 403
    assert httpx.post(f"{ehr.origin}/auth/launch", data={}).status_code == 401


def test_old_databases_gain_the_launch_and_pending_columns(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript(
        "CREATE TABLE auth_schema (version INTEGER NOT NULL);"
        "INSERT INTO auth_schema VALUES (1);"
        "CREATE TABLE auth_launches (digest TEXT PRIMARY KEY, client_id TEXT NOT NULL,"
        " patient TEXT, encounter TEXT, expires_at REAL NOT NULL, used INTEGER NOT NULL);"
        "CREATE TABLE auth_pending (digest TEXT PRIMARY KEY, params TEXT NOT NULL,"
        " expires_at REAL NOT NULL, username TEXT, patient TEXT);"
    )
    conn.close()
    store = open_auth_store(f"sqlite:///{path}")
    store.open()
    store.close()
    conn = sqlite3.connect(path)
    launches = {r[1] for r in conn.execute("PRAGMA table_info(auth_launches)")}
    pending = {r[1] for r in conn.execute("PRAGMA table_info(auth_pending)")}
    version = conn.execute("SELECT version FROM auth_schema").fetchone()[0]
    conn.close()
    assert "username" in launches
    assert {"encounter", "launched_by"} <= pending
    assert version == SCHEMA_VERSION
