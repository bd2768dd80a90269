"""Shared fixtures: a real server (uvicorn on a loopback port) on a fresh SQLite file.

Tests talk to it over real HTTP with httpx, as every client of the server does.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from fhir_server.app import create_app
from fhir_server.config import Settings

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FHIR_JSON = "application/fhir+json"


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data; skips the test when the shared data is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    return path


@contextmanager
def running_server(settings: Settings) -> Iterator[str]:
    """Serve the app on a free loopback port in a thread; yield the FHIR base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings.model_copy(
        update={"port": port, "base_url": f"http://127.0.0.1:{port}/fhir"}
    )
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    try:
        yield settings.base_url
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/test.db", max_body_bytes=1024 * 1024)


@pytest.fixture
def base_url(settings: Settings) -> Iterator[str]:
    with running_server(settings) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    """An HTTP client whose relative URLs are FHIR paths (``Patient/1``)."""
    with httpx.Client(base_url=base_url + "/", headers={"accept": FHIR_JSON}, timeout=30.0) as http:
        yield http
