"""Shared fixtures: a real server (uvicorn on a loopback port) on a fresh SQLite file.

Tests talk to it over real HTTP with httpx, as every client of the server does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FHIR_JSON = "application/fhir+json"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when the shared data is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        database_url=f"sqlite:///{tmp_path}/test.db",
        max_body_bytes=1024 * 1024,
        insecure_no_auth=True,  # these suites test FHIR; tests/smart_auth tests the tokens
    )


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with running_server(settings) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    """An HTTP client whose relative URLs are FHIR paths (``Patient/1``)."""
    with httpx.Client(base_url=base_url + "/", headers={"accept": FHIR_JSON}, timeout=30.0) as http:
        yield http
