"""How the server meets the network: uvicorn, with the limits a public server needs.

uvicorn times out idle keep-alive connections, but not a client that connects and never
finishes sending its request line and headers (slowloris): each such connection would be
held forever. :class:`DeadlineProtocol` gives every connection ``request_timeout`` seconds
from when it opens (or its previous response ends) to finish its headers, and closes it
otherwise; the body has the same time again (``read_body``, 408). ``max_connections``
bounds open connections per process (uvicorn answers 503 above it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fhir_server.config import Settings

log = logging.getLogger("mhs_fhir.serving")


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol; a request's headers must arrive within ``timeout``."""

    timeout: float = 30.0  # set per process by :func:`configure` (the settings' request_timeout)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()  # the next request on this connection gets its own time

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: its headers did arrive
        if not self.transport.is_closing():
            client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
            log.info("closed %s: no complete request within %gs", client, self.timeout)
            self.transport.close()


def configure(settings: Settings) -> None:
    """Apply ``settings`` to this process's protocol (each worker calls it at start-up)."""
    DeadlineProtocol.timeout = settings.request_timeout


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The options every uvicorn run of the server uses (``serve`` and tests alike)."""
    return {
        "http": DeadlineProtocol,
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 30,
    }


__all__ = ["DeadlineProtocol", "configure", "uvicorn_options"]
