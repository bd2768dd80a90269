"""A real server for tests (ours and integrators'): uvicorn on a free loopback port, in a
thread, with the full application and a real store."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from fhir_server.app import create_app
from fhir_server.config import Settings
from fhir_server.serving import uvicorn_options
from fhir_server.storage import Store


@contextmanager
def running_server(settings: Settings, *, store: Store | None = None) -> Iterator[str]:
    """Serve the app on a free loopback port in a thread; yield the FHIR base URL.
    ``store``: an engine to use instead of the one the database URL names (its records, the
    authorization server's, stay at the URL)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    settings = settings.model_copy(
        update={"port": port, "base_url": f"http://127.0.0.1:{port}/fhir"}
    )
    config = uvicorn.Config(
        create_app(settings, store=store),
        log_level="warning",
        lifespan="on",
        **{**uvicorn_options(settings), "access_log": False},
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
