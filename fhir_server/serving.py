"""How the server meets the network: uvicorn, with the limits a public server needs.

uvicorn times out idle keep-alive connections, but not a client that connects and never
finishes sending its request line and headers (slowloris): each such connection would be
held forever. :class:`DeadlineProtocol` gives every connection ``request_timeout`` seconds
from when it opens (or its previous response ends) to finish its headers, and closes it
otherwise (checked every quarter of that time); the body has the same time again
(``read_body``, 408). ``max_connections`` bounds open connections per process (uvicorn
answers 503 above it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fhir_server.config import Settings

log = logging.getLogger("mhs_fhir.serving")


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol; a request's headers must arrive within ``timeout``, and
    what one turn of the event loop writes to a connection goes out together.

    A connection notes when it started waiting for headers; one sweep per server, every
    quarter of the timeout (at most a second), closes the overdue ones. (A timer armed and
    cancelled per request cost about 4% of a read's CPU.)
    """

    timeout: float = 30.0  # set per process by :func:`configure` (the settings' request_timeout)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._waiting_since: float | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(_Coalescing(transport, self.loop))  # type: ignore[arg-type]
        self._waiting_since = self.loop.time()
        _Sweep.of(self.loop, self.connections, self.timeout)

    def on_headers_complete(self) -> None:
        self._waiting_since = None
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._waiting_since = self.loop.time()  # the next request gets its own time

    def close_if_overdue(self, now: float) -> None:
        since = self._waiting_since
        if since is None or now - since < self.timeout or self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered: its headers did arrive
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.info("closed %s: no complete request within %gs", client, self.timeout)
        self.transport.close()


class _Coalescing:
    """A connection's transport whose writes within one turn of the event loop are sent as
    one: uvicorn writes a response's status line and headers, then its body, each straight
    to the socket; on loopback a small send costs several µs of kernel time, and two make
    two TCP segments. Held data goes out at the end of the turn, before the transport
    closes, or at once when it grows past ``HOLD_BYTES`` (so large or streamed bodies meet
    the real transport's flow control as before)."""

    HOLD_BYTES = 64 * 1024

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0

    def write(self, data: bytes) -> None:
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)
        self._size += len(data)
        if self._size > self.HOLD_BYTES:
            self.flush()

    def flush(self) -> None:
        if not self._held:
            return
        data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
        self._held = []
        self._size = 0
        if not self._transport.is_closing():  # the client may have gone meanwhile
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def __getattr__(self, name: str) -> Any:  # the rest of the transport, as it is
        return getattr(self._transport, name)


class _Sweep:
    """The periodic check of one server's open connections, running while it has any."""

    _running: dict[int, _Sweep] = {}  # by id() of the server's set of connections

    def __init__(self, loop: asyncio.AbstractEventLoop, connections: set[Any], period: float):
        self.loop = loop
        self.connections = connections  # held, so its id() stays this server's
        self.period = period
        self.loop.call_later(period, self.run)

    @classmethod
    def of(cls, loop: asyncio.AbstractEventLoop, connections: set[Any], timeout: float) -> None:
        if id(connections) not in cls._running:
            period = min(1.0, max(0.05, timeout / 4))
            cls._running[id(connections)] = cls(loop, connections, period)

    def run(self) -> None:
        now = self.loop.time()
        for connection in list(self.connections):
            if isinstance(connection, DeadlineProtocol):
                connection.close_if_overdue(now)
        if self.connections:
            self.loop.call_later(self.period, self.run)
        else:
            del self._running[id(self.connections)]


def configure(settings: Settings) -> None:
    """Apply ``settings`` to this process's protocol (each worker calls it at start-up)."""
    DeadlineProtocol.timeout = settings.request_timeout


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """The options every uvicorn run of the server uses (``serve`` and tests alike)."""
    return {
        "http": DeadlineProtocol,
        # uvicorn formats each request's access-log arguments before the logger's level is
        # asked; below info nothing would be printed (the audit trail records every request).
        "access_log": settings.log_level.lower() in ("debug", "info"),
        "limit_concurrency": settings.max_connections,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 30,
    }


__all__ = ["DeadlineProtocol", "configure", "uvicorn_options"]
