"""Secrets never reach the logs, even at DEBUG: passwords, codes, tokens, client secrets.

Every log record of the process is captured (the server runs in a thread of this process) with
the root logger at DEBUG, and each secret of a whole flow is searched for in the formatted
text and in every record's message and arguments (but for the records of the tests' own HTTP
client).

Spec: OWASP ASVS 7.1.1 (no credentials or session tokens in logs); RFC 6819 5.1.4.1.3 (token
secrets are not to be disclosed).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import pytest

from smart_auth.demo import DEMO_PASSWORD

from .conftest import (
    SYMMETRIC_CLIENT_ID,
    SYMMETRIC_REDIRECT_URI,
    TYPO_USER,
    pending_of,
)

OFFLINE = "launch/patient openid fhirUser offline_access patient/*.rs"


# The tests' own HTTP client logs what it sends and receives (the code in a Location header, the
# Authorization header): those records are the app's side, not the server's.
CLIENT_SIDE = ("httpx", "httpcore", "hpack", "h11")


def server_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name.split(".")[0] not in CLIENT_SIDE]


def captured_text(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    parts = []
    for record in server_records(caplog):
        parts.append(formatter.format(record))
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_text:
            parts.append(record.exc_text)
    return "\n".join(parts)


def assert_not_logged(caplog: pytest.LogCaptureFixture, secrets: Iterable[str]) -> None:
    assert server_records(caplog), "nothing was captured: the capture itself is broken"
    text = captured_text(caplog)
    for secret in secrets:
        assert secret, "an empty secret proves nothing"
        assert secret not in text, f"a secret is in the logs: {secret[:6]}..."


@pytest.fixture
def debug_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def test_the_capture_sees_the_servers_records(smart: Any, debug_logs: Any) -> None:
    smart.tokens()
    names = {record.name for record in debug_logs.records}
    assert "smart_auth.routes" in names  # "login: demo.sponsor signed in"


def test_passwords_are_never_logged(smart: Any, debug_logs: Any) -> None:
    wrong = "Wrong-Password-Typed-0417!"
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    assert smart.login(browser, pending, TYPO_USER, wrong).status_code == 401
    assert smart.login(browser, pending, "no.such.account", wrong).status_code == 401
    smart.tokens()
    assert_not_logged(debug_logs, [wrong, DEMO_PASSWORD])


def test_codes_and_pending_ids_are_never_logged(smart: Any, debug_logs: Any) -> None:
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    done = smart.authorize(browser=browser)
    assert smart.exchange_code(done.code, done.verifier).status_code == 200
    replay = smart.exchange_code(done.code, done.verifier)
    assert replay.status_code == 400
    assert_not_logged(debug_logs, [done.code, done.verifier, pending])


def test_access_and_refresh_tokens_are_never_logged(smart: Any, debug_logs: Any) -> None:
    first = smart.tokens(scope=OFFLINE)
    second = smart.refresh(first["refresh_token"]).json()
    assert smart.fhir_get("Patient/demo-sponsor", second["access_token"]).status_code == 200
    assert smart.revoke(second["access_token"]).status_code == 200
    assert_not_logged(
        debug_logs,
        [
            first["access_token"],
            first["refresh_token"],
            first["id_token"],
            second["access_token"],
            second["refresh_token"],
        ],
    )


def test_bearer_tokens_presented_to_the_fhir_api_are_never_logged(
    smart: Any, debug_logs: Any
) -> None:
    presented = "presented-but-unknown-bearer-token-0123456789"
    assert smart.fhir_get("Patient/demo-sponsor", presented).status_code == 401
    assert smart.revoke(presented).status_code == 200
    assert smart.refresh(presented).status_code == 400
    assert_not_logged(debug_logs, [presented])


def test_client_secrets_are_never_logged(smart: Any, debug_logs: Any) -> None:
    done = smart.authorize(client_id=SYMMETRIC_CLIENT_ID, redirect_uri=SYMMETRIC_REDIRECT_URI)
    for secret in (smart.symmetric_secret, "a-wrong-client-secret-0123456789"):
        smart.exchange_code(
            done.code,
            done.verifier,
            client_id=None,
            redirect_uri=SYMMETRIC_REDIRECT_URI,
            auth=(SYMMETRIC_CLIENT_ID, secret),
        )
        smart.introspect("some-token", auth=(SYMMETRIC_CLIENT_ID, secret))
    assert_not_logged(debug_logs, [smart.symmetric_secret, "a-wrong-client-secret-0123456789"])


def test_a_confidential_clients_whole_flow_logs_no_secret(smart: Any, debug_logs: Any) -> None:
    done = smart.authorize(client_id=SYMMETRIC_CLIENT_ID, redirect_uri=SYMMETRIC_REDIRECT_URI)
    auth = (SYMMETRIC_CLIENT_ID, smart.symmetric_secret)
    response = smart.exchange_code(
        done.code, done.verifier, client_id=None, redirect_uri=SYMMETRIC_REDIRECT_URI, auth=auth
    )
    assert response.status_code == 200, response.text
    assert smart.introspect(response.json()["access_token"], auth=auth).status_code == 200
    assert_not_logged(debug_logs, [smart.symmetric_secret, done.code])
