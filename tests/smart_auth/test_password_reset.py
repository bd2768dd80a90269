"""Password reset by emailed code: the mail carries a one-time code, the answer never tells
whether an account exists, the new password must meet the policy, and a lockout is cleared."""

from __future__ import annotations

import email
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.demo import DEMO_CLIENT_ID, DEMO_REDIRECT_URI, seed_demo_accounts
from smart_auth.passwords import hash_password
from smart_auth.records import Assurance, User
from smart_auth.service import open_auth_store

OLD = "Old-Password-2026!x"
NEW = "Brand-New-Passw0rd!"


@pytest.fixture
def outbox(tmp_path: Path) -> Path:
    return tmp_path / "outbox"


@pytest.fixture
def origin(tmp_path: Path, outbox: Path) -> Iterator[str]:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/reset.db",
        mail_url=f"file://{outbox}",
        login_lock_after=2,
    )
    seed_demo_accounts(settings)
    store = open_auth_store(settings.database_url)
    store.open()
    store.put_user(
        User(
            username="jane.doe",
            password_hash=hash_password(OLD),
            name="Jane Doe",
            assurance=Assurance.PREMIUM,
            email="jane@example.mil",
            created=time.time(),
        )
    )
    store.close()
    with running_server(settings) as base:
        yield base.rsplit("/fhir", 1)[0]


def mailed_codes(outbox: Path) -> list[str]:
    codes = []
    for path in sorted(outbox.glob("*.eml")) if outbox.exists() else []:
        message = email.message_from_bytes(path.read_bytes())
        body = message.get_payload(decode=True)
        assert isinstance(body, bytes)
        found = re.search(r"Reset code: ([A-Z2-7-]+)", body.decode())
        assert found
        codes.append(found.group(1))
    return codes


def login_status(origin: str, username: str, password: str) -> int:
    """Start an authorization and try to sign in: 200 means signed in (consent shown)."""
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        page = browser.get(
            f"{origin}/auth/authorize",
            params={
                "response_type": "code",
                "client_id": DEMO_CLIENT_ID,
                "redirect_uri": DEMO_REDIRECT_URI,
                "scope": "openid fhirUser user/Patient.rs",
                "state": "s",
                "aud": f"{origin}/fhir",
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
        found = re.search(r"name='pending' value='([^']+)'", page.text)
        assert found, page.text
        answer = browser.post(
            f"{origin}/auth/login",
            data={"pending": found.group(1), "username": username, "password": password},
        )
        return answer.status_code


def ask_reset(origin: str, username: str) -> httpx.Response:
    return httpx.post(f"{origin}/auth/reset", data={"username": username})


def confirm(origin: str, username: str, code: str, password: str) -> httpx.Response:
    return httpx.post(
        f"{origin}/auth/reset/confirm",
        data={"username": username, "code": code, "password": password},
    )


def test_a_reset_code_is_mailed_and_sets_a_new_password_that_signs_in(
    origin: str, outbox: Path
) -> None:
    assert ask_reset(origin, "jane.doe").status_code == 200
    [code] = mailed_codes(outbox)

    assert confirm(origin, "jane.doe", code, NEW).status_code == 200

    assert login_status(origin, "jane.doe", NEW) == 200
    assert login_status(origin, "jane.doe", OLD) == 401


def test_a_reset_request_for_an_unknown_account_looks_the_same_and_sends_nothing(
    origin: str, outbox: Path
) -> None:
    known = ask_reset(origin, "jane.doe")
    unknown = ask_reset(origin, "nobody.here")

    assert unknown.status_code == known.status_code == 200
    assert unknown.text == known.text
    assert len(mailed_codes(outbox)) == 1


def test_a_reset_code_works_once(origin: str, outbox: Path) -> None:
    ask_reset(origin, "jane.doe")
    [code] = mailed_codes(outbox)
    assert confirm(origin, "jane.doe", code, NEW).status_code == 200

    assert confirm(origin, "jane.doe", code, NEW + "2").status_code == 400
    assert login_status(origin, "jane.doe", NEW) == 200


def test_a_reset_code_only_works_with_its_own_username(origin: str, outbox: Path) -> None:
    ask_reset(origin, "jane.doe")
    [code] = mailed_codes(outbox)

    assert confirm(origin, "demo.sponsor", code, NEW).status_code == 400
    assert login_status(origin, "demo.sponsor", NEW) == 401


def test_a_weak_new_password_is_refused_and_the_code_stays_usable(
    origin: str, outbox: Path
) -> None:
    ask_reset(origin, "jane.doe")
    [code] = mailed_codes(outbox)

    refused = confirm(origin, "jane.doe", code, "qwzxqwzx")
    assert refused.status_code == 400
    assert "qwzxqwzx" not in refused.text  # the page never echoes the password

    assert confirm(origin, "jane.doe", code, NEW).status_code == 200


def test_a_reset_clears_a_lockout_after_failed_logins(origin: str, outbox: Path) -> None:
    for _ in range(2):
        assert login_status(origin, "jane.doe", "Wrong-Password-123!") == 401
    assert login_status(origin, "jane.doe", OLD) == 401  # locked out

    ask_reset(origin, "jane.doe")
    [code] = mailed_codes(outbox)
    assert confirm(origin, "jane.doe", code, NEW).status_code == 200

    assert login_status(origin, "jane.doe", NEW) == 200
