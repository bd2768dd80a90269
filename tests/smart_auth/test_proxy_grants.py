"""Explicit proxy grants: an adult dependent lets the sponsor act for them; the grant is
stored, listed and revocable, and revoking it ends the sponsor's tokens at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fhir_server.cli import _load_demo, main
from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.demo import DEMO_CLIENT_ID, DEMO_PASSWORD, DEMO_REDIRECT_URI, seed_demo_accounts

SPONSOR_DOD_ID = "1234567890"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/grants.db")
    _load_demo(settings)
    seed_demo_accounts(settings)
    with running_server(settings) as base:
        yield base, settings.database_url


def cli(*args: str) -> str:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def picker_choices(base: str) -> list[str]:
    """Sign in as the sponsor and read the patient picker's choices."""
    origin = base.rsplit("/fhir", 1)[0]
    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        page = browser.get(
            f"{origin}/auth/authorize",
            params={
                "response_type": "code",
                "client_id": DEMO_CLIENT_ID,
                "redirect_uri": DEMO_REDIRECT_URI,
                "scope": "launch/patient patient/*.rs",
                "state": "s",
                "aud": base,
                "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
                "code_challenge_method": "S256",
            },
        )
        pending = re.search(r"name='pending' value='([^']+)'", page.text)
        assert pending, page.text
        picker = browser.post(
            f"{origin}/auth/login",
            data={
                "pending": pending.group(1),
                "username": "demo.sponsor",
                "password": DEMO_PASSWORD,
            },
        )
        return re.findall(r"name='patient' value='([^']+)'", picker.text)


def test_without_a_grant_the_sponsor_cannot_pick_the_adult_spouse(
    server: tuple[str, str],
) -> None:
    base, _ = server
    assert "demo-spouse" not in picker_choices(base)


def test_a_grant_from_the_adult_spouse_lets_the_sponsor_pick_her(server: tuple[str, str]) -> None:
    base, database_url = server
    cli(
        "grants",
        "add",
        "--patient",
        "demo-spouse",
        "--to",
        SPONSOR_DOD_ID,
        "--database-url",
        database_url,
    )
    assert "demo-spouse" in picker_choices(base)


def test_grants_are_listed_and_a_revoked_grant_is_gone(server: tuple[str, str]) -> None:
    _, database_url = server
    added = cli(
        "grants",
        "add",
        "--patient",
        "demo-spouse",
        "--to",
        SPONSOR_DOD_ID,
        "--note",
        "spouse consent form 2026-11",
        "--database-url",
        database_url,
    )
    grant_id = added.split()[1].rstrip(":")
    listed = cli("grants", "list", "--database-url", database_url)
    assert grant_id in listed
    assert "spouse consent form 2026-11" in listed

    cli("grants", "revoke", grant_id, "--database-url", database_url)

    assert grant_id not in cli("grants", "list", "--database-url", database_url)


def test_revoking_a_grant_ends_the_grantees_live_tokens(server: tuple[str, str]) -> None:
    base, database_url = server
    from smart_auth.proxy import Link
    from smart_auth.records import Role
    from smart_auth.testing import issue_token

    added = cli(
        "grants",
        "add",
        "--patient",
        "demo-spouse",
        "--to",
        SPONSOR_DOD_ID,
        "--database-url",
        database_url,
    )
    token = issue_token(
        database_url,
        scope="user/*.rs",
        role=Role.BENEFICIARY,
        username="demo.sponsor",
        links=(Link("demo-sponsor", "self"), Link("demo-spouse", "granted")),
    )
    headers = {"authorization": f"Bearer {token}"}
    assert httpx.get(f"{base}/Patient/demo-spouse", headers=headers).status_code == 200

    cli("grants", "revoke", added.split()[1].rstrip(":"), "--database-url", database_url)

    assert httpx.get(f"{base}/Patient/demo-spouse", headers=headers).status_code == 401
