"""A real SMART client library (``fhirclient``) completes a standalone launch with PKCE against
a live server: discovery from /metadata, authorize, login, patient picker, consent, the code
exchange, then FHIR reads with its token."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fhirclient import client as smart_client
from fhirclient.models.patient import Patient

from fhir_server.cli import _load_demo
from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.demo import DEMO_CLIENT_ID, DEMO_PASSWORD, DEMO_REDIRECT_URI, seed_demo_accounts


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/fhirclient.db")
    _load_demo(settings)
    seed_demo_accounts(settings)
    with running_server(settings) as url:
        yield url


def _pending(page: str) -> str:
    found = re.search(r"name='pending' value='([^']+)'", page)
    assert found, page
    return found.group(1)


def test_fhirclient_completes_a_standalone_launch_with_pkce_and_reads_the_chosen_patient(
    base: str,
) -> None:
    smart = smart_client.FHIRClient(
        settings={
            "app_id": DEMO_CLIENT_ID,
            "api_base": base,
            "redirect_uri": DEMO_REDIRECT_URI,
            "scope": "launch/patient openid fhirUser patient/*.rs",
        }
    )
    authorize_url = smart.authorize_url
    assert authorize_url is not None
    assert "code_challenge_method=S256" in authorize_url

    with httpx.Client(follow_redirects=False, timeout=30) as browser:
        page = browser.get(authorize_url)
        assert page.status_code == 200, page.text
        pending = _pending(page.text)
        page = browser.post(
            authorize_url.split("/authorize")[0] + "/login",
            data={"pending": pending, "username": "demo.sponsor", "password": DEMO_PASSWORD},
        )
        assert "Choose a patient" in page.text
        page = browser.post(
            authorize_url.split("/authorize")[0] + "/pick",
            data={"pending": pending, "patient": "demo-child"},
        )
        keep = re.findall(r"name='keep' value='([^']+)'", page.text)
        done = browser.post(
            authorize_url.split("/authorize")[0] + "/consent",
            data={"pending": pending, "decision": "allow", "keep": keep},
        )
    assert done.status_code == 302
    callback = done.headers["location"]
    assert callback.startswith(DEMO_REDIRECT_URI)

    smart.handle_callback(callback)

    assert smart.ready
    assert smart.patient_id == "demo-child"
    patient = Patient.read("demo-child", smart.server)
    assert patient.birthDate is not None
    assert patient.name[0].given == ["Sofia"]
