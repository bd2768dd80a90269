"""The authorization endpoint and the pages behind it: login, patient picker, consent.

Spec: RFC 6749 4.1 and 4.1.2.1 (errors: a page when the client or redirect URI cannot be
trusted, a redirect with ``error`` and ``state`` otherwise), RFC 7636 (PKCE), SMART App
Launch 2.2 (``aud``, S256 only, ``authorize-post``).
"""

from __future__ import annotations

from typing import Any

import pytest

from smart_auth.demo import DEMO_PASSWORD, DEMO_REDIRECT_URI
from smart_auth.routes import SESSION_COOKIE

from .conftest import (
    LOCKOUT_USER,
    OTHER_REDIRECT_URI,
    TYPO_USER,
    heading_of,
    keeps_of,
    patients_of,
    pending_of,
    query_of,
)

PLAIN_VERIFIER = "plain-verifier-0123456789-0123456789-0123456789"  # "plain": challenge = verifier
NARROWABLE = "launch/patient openid fhirUser patient/Observation.rs patient/Patient.rs"
CLINICAL = (
    "launch/patient openid fhirUser patient/Patient.rs patient/Appointment.rs"
    " patient/Observation.rs patient/MedicationRequest.rs patient/*.rs"
)


def assert_error_page(response: Any, status: int = 400) -> None:
    """An HTML error page shown to the user: never a redirect to the app."""
    assert response.status_code == status, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("text/html")


def assert_error_redirect(response: Any, error: str, state: str) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(DEMO_REDIRECT_URI + "?")
    params = query_of(location)
    assert params["error"] == error
    assert params["state"] == state
    assert "code" not in params
    return params


def resource_scopes(scope: str) -> set[str]:
    return {s for s in scope.split() if "/" in s and s.split("/")[0] in ("patient", "user")}


# -- requests that cannot be trusted: a page, never a redirect -----------------------------------


def test_unknown_client_gets_an_error_page(smart: Any) -> None:
    response = smart.start(smart.browser(), smart.authorize_params(client_id="no-such-app"))
    assert_error_page(response)
    assert SESSION_COOKIE not in response.cookies


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        OTHER_REDIRECT_URI,  # registered, but for another client
        DEMO_REDIRECT_URI + "/",
        DEMO_REDIRECT_URI + "?x=1",
        DEMO_REDIRECT_URI.upper(),
    ],
)
def test_redirect_uri_mismatch_gets_an_error_page_never_a_redirect(
    smart: Any, redirect_uri: str
) -> None:
    response = smart.start(smart.browser(), smart.authorize_params(redirect_uri=redirect_uri))
    assert_error_page(response)


def test_missing_redirect_uri_gets_an_error_page(smart: Any) -> None:
    response = smart.start(smart.browser(), smart.authorize_params(redirect_uri=None))
    assert_error_page(response)


# -- requests from a known client to its own redirect URI: errors go back by redirect -------------


def test_error_redirects_echo_the_state(smart: Any) -> None:
    state = "opaque-state-\u00e9-42"
    response = smart.start(smart.browser(), smart.authorize_params(state=state, aud=None))
    assert_error_redirect(response, "invalid_request", state)


@pytest.mark.parametrize(
    "aud",
    [None, "https://evil.example/fhir", "{origin}", "{base}/Patient", "{base}x"],
    ids=["missing", "other-server", "origin", "below-base", "longer-base"],
)
def test_bad_or_missing_aud_is_refused_by_redirect(smart: Any, aud: str | None) -> None:
    value = aud.format(origin=smart.origin, base=smart.base) if aud else None
    params = smart.authorize_params(aud=value)
    response = smart.start(smart.browser(), params)
    assert_error_redirect(response, "invalid_request", params["state"])


@pytest.mark.parametrize(
    "pkce_params",
    [
        {"code_challenge": None, "code_challenge_method": None},
        {"code_challenge": None},
        {"code_challenge": PLAIN_VERIFIER, "code_challenge_method": "plain"},
        {"code_challenge_method": None},
        {"code_challenge_method": "S512"},
        {"code_challenge_method": "s256"},
    ],
    ids=["missing", "challenge-missing", "plain", "method-missing", "S512", "lowercase"],
)
def test_pkce_missing_plain_or_wrong_method_is_refused_by_redirect(
    smart: Any, pkce_params: dict[str, str | None]
) -> None:
    params = smart.authorize_params(**pkce_params)
    response = smart.start(smart.browser(), params)
    assert_error_redirect(response, "invalid_request", params["state"])


def test_response_type_token_is_refused(smart: Any) -> None:
    params = smart.authorize_params(response_type="token")
    response = smart.start(smart.browser(), params)
    assert_error_redirect(response, "unsupported_response_type", params["state"])
    assert "access_token" not in response.headers["location"]


def test_repeated_parameter_is_refused(smart: Any) -> None:
    params = [*smart.authorize_params().items(), ("scope", "patient/*.cruds")]
    response = smart.start(smart.browser(), params)
    assert response.status_code in (302, 400)
    location = response.headers.get("location", "")
    assert "code=" not in location
    assert "pending" not in response.text
    if response.status_code == 302:
        assert query_of(location)["error"] == "invalid_request"


def test_repeated_scope_with_a_valid_redirect_uri_is_refused_by_redirect(smart: Any) -> None:
    single = smart.authorize_params()
    params = [*single.items(), ("scope", "patient/*.cruds")]
    response = smart.start(smart.browser(), params)
    assert_error_redirect(response, "invalid_request", single["state"])


# -- the happy paths and the user's choices ------------------------------------------------------


def test_post_authorize_works_like_get(smart: Any) -> None:
    done = smart.authorize(method="POST")
    assert done.params["state"] == done.state
    response = smart.exchange_code(done.code, done.verifier)
    assert response.status_code == 200, response.text
    assert response.json()["patient"] == "demo-sponsor"


def test_post_authorize_shows_the_login_page(smart: Any) -> None:
    response = smart.start(smart.browser(), smart.authorize_params(), method="POST")
    assert response.status_code == 200
    assert heading_of(response.text) == "Sign in"
    assert pending_of(response.text)


def test_code_redirect_goes_to_the_registered_uri_with_state(smart: Any) -> None:
    done = smart.authorize()
    assert done.location.startswith(DEMO_REDIRECT_URI + "?")
    assert set(done.params) == {"code", "state"}
    assert done.params["state"] == done.state


def test_deny_at_consent_redirects_access_denied_with_state(smart: Any) -> None:
    done = smart.authorize(decision="deny")
    params = assert_error_redirect(done.response, "access_denied", done.state)
    assert "code" not in params


def test_consent_offers_each_asked_resource_scope(smart: Any) -> None:
    done = smart.authorize(scope=NARROWABLE, keep=lambda offered: ["patient/Patient.rs"])
    assert set(done.consent_offered) == {"patient/Observation.rs", "patient/Patient.rs"}


def test_unticked_scope_is_not_in_the_token(smart: Any) -> None:
    done = smart.authorize(scope=NARROWABLE, keep=lambda offered: ["patient/Patient.rs"])
    response = smart.exchange_code(done.code, done.verifier)
    assert response.status_code == 200, response.text
    granted = response.json()["scope"].split()
    assert "patient/Patient.rs" in granted
    assert "patient/Observation.rs" not in granted
    token = response.json()["access_token"]
    assert smart.fhir_get("Observation?patient=demo-sponsor", token).status_code == 403


def test_wrong_password_gets_a_401_page_and_no_session(smart: Any) -> None:
    browser = smart.browser()
    page = smart.start(browser, smart.authorize_params())
    pending = pending_of(page.text)
    response = smart.login(browser, pending, TYPO_USER, DEMO_PASSWORD + "x")
    assert response.status_code == 401
    assert heading_of(response.text) == "Sign in"
    assert "not right" in response.text
    assert SESSION_COOKIE not in response.cookies
    assert SESSION_COOKIE not in browser.cookies
    again = smart.start(browser, smart.authorize_params())
    assert heading_of(again.text) == "Sign in"


def test_unknown_account_gets_the_same_401_page(smart: Any) -> None:
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    unknown = smart.login(browser, pending, "no.such.user", DEMO_PASSWORD)
    typo = smart.login(browser, pending, TYPO_USER, "wrong-password")
    assert unknown.status_code == typo.status_code == 401
    assert unknown.text.replace(pending, "") == typo.text.replace(pending, "")


def test_lockout_after_five_failures_refuses_even_the_right_password(smart: Any) -> None:
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    for _ in range(5):
        assert smart.login(browser, pending, LOCKOUT_USER, "not-the-password").status_code == 401
    response = smart.login(browser, pending, LOCKOUT_USER, DEMO_PASSWORD)
    assert response.status_code == 401
    assert "locked" in response.text
    assert SESSION_COOKIE not in browser.cookies


def test_basic_assurance_account_is_offered_only_patient_and_appointment_scopes(
    smart: Any,
) -> None:
    done = smart.authorize(username="demo.basic", patient=None, scope=CLINICAL)
    assert set(done.consent_offered) == {"patient/Patient.rs", "patient/Appointment.rs"}


def test_basic_assurance_account_gets_only_patient_and_appointment_scopes(smart: Any) -> None:
    done = smart.authorize(username="demo.basic", patient=None, scope=CLINICAL)
    response = smart.exchange_code(done.code, done.verifier)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["patient"] == "demo-teen"
    assert resource_scopes(body["scope"]) == {"patient/Patient.rs", "patient/Appointment.rs"}
    token = body["access_token"]
    assert smart.fhir_get("MedicationRequest?patient=demo-teen", token).status_code == 403


def test_picker_offers_self_and_minor_dependents_but_not_the_adult_spouse(smart: Any) -> None:
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    page = smart.login(browser, pending, "demo.sponsor", DEMO_PASSWORD)
    assert page.status_code == 200
    assert heading_of(page.text) == "Choose a patient"
    offered = patients_of(page.text)
    assert sorted(offered) == ["demo-child", "demo-sponsor", "demo-teen"]
    assert "demo-spouse" not in offered


@pytest.mark.parametrize("patient", ["demo-spouse", "no-such-patient", ""])
def test_picking_a_patient_not_offered_is_forbidden(smart: Any, patient: str) -> None:
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    smart.login(browser, pending, "demo.sponsor", DEMO_PASSWORD)
    response = smart.pick(browser, pending, patient)
    assert_error_page(response, 403)
    consent = smart.consent(browser, pending, decision="allow", keep=["patient/*.rs"])
    assert "code=" not in consent.headers.get("location", "")


def test_a_minor_child_is_reached_in_full(smart: Any) -> None:
    body = smart.tokens(patient="demo-child")
    assert body["patient"] == "demo-child"
    assert smart.fhir_get("Patient/demo-child", body["access_token"]).status_code == 200


def test_a_teen_dependent_is_offered_only_patient_and_appointment_scopes(smart: Any) -> None:
    done = smart.authorize(patient="demo-teen", scope=CLINICAL)
    assert set(done.consent_offered) == {"patient/Patient.rs", "patient/Appointment.rs"}


def test_a_teen_dependent_is_reached_only_for_patient_and_appointment(smart: Any) -> None:
    done = smart.authorize(patient="demo-teen", scope=CLINICAL)
    body = smart.exchange_code(done.code, done.verifier).json()
    assert body["patient"] == "demo-teen"
    assert resource_scopes(body["scope"]) == {"patient/Patient.rs", "patient/Appointment.rs"}
    token = body["access_token"]
    assert smart.fhir_get("MedicationRequest?patient=demo-teen", token).status_code == 403


# -- forged forms (another site posting them) ------------------------------------------------------


def test_forged_login_without_the_pending_cookie_is_refused(smart: Any) -> None:
    victim = smart.browser()
    pending = pending_of(smart.start(victim, smart.authorize_params()).text)
    attacker = smart.browser()
    response = smart.login(attacker, pending, "demo.sponsor", DEMO_PASSWORD)
    assert_error_page(response)
    assert SESSION_COOKIE not in attacker.cookies


def test_forged_consent_without_the_matching_pending_cookie_is_refused(smart: Any) -> None:
    victim = smart.browser()
    victim_pending = pending_of(smart.start(victim, smart.authorize_params()).text)
    user = smart.browser()  # signed in, with a pending request of its own
    own = pending_of(smart.start(user, smart.authorize_params()).text)
    smart.login(user, own, "demo.sponsor", DEMO_PASSWORD)
    smart.pick(user, own, "demo-sponsor")
    response = smart.consent(user, victim_pending, decision="allow", keep=["patient/*.rs"])
    assert_error_page(response)


def test_consent_without_a_session_is_refused(smart: Any) -> None:
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    response = smart.consent(browser, pending, decision="allow", keep=["patient/*.rs"])
    assert_error_page(response)


def test_the_consent_page_names_the_client_and_offers_the_asked_scopes(smart: Any) -> None:
    browser = smart.browser()
    pending = pending_of(smart.start(browser, smart.authorize_params()).text)
    smart.login(browser, pending, "demo.sponsor", DEMO_PASSWORD)
    page = smart.pick(browser, pending, "demo-child")
    assert heading_of(page.text) == "Allow access?"
    assert "MHS demo app" in page.text
    assert keeps_of(page.text) == ["patient/*.rs"]
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
