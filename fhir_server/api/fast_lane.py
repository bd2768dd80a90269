"""read and create straight from the ASGI server, ahead of the framework's middleware stack.

Every other request goes through FastAPI's stack: error middleware, the audit layer, CORS,
exception handlers, FastAPI's exit stack and router, then Starlette's request/response
wrapper and the send wrapper each layer adds. For a read that is about half of the server's
own time (in process, 45 µs a read against the bare Starlette + SQLite ceiling's 15). The lane
answers the two hottest interactions with the same endpoint functions as the API routes
(:mod:`fhir_server.api.routes`), the audit layer's records (every request it answers is one the
layer covers) and the same error responses (:func:`fhir_server.api.outcomes.failure_response`),
and leaves the rest to the stack:

- only ``GET``/``HEAD [base]/[type]/[id]`` and ``POST [base]/[type]``, with the paths the API
  routes accept (a type starts with a capital letter, an id is ``[A-Za-z0-9-.]{1,64}``);
- only requests without an ``Origin`` header: a browser's request takes the stack, whose CORS
  layer adds its headers (server-to-server clients, imports and SMART backends send none).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from fhir_server.api.audit import AuditMiddleware
from fhir_server.api.http import scope_headers
from fhir_server.api.outcomes import failure_response
from fhir_server.api.routes import TYPE_PATTERN, create_route, read_route
from fhir_server.resource_json import ID_SYNTAX
from smart_auth.audit import AuditTrail

_READ_METHODS = ("GET", "HEAD")


class FastLane:
    """ASGI: read and create answered here, anything else passed to ``stack``."""

    def __init__(
        self, stack: ASGIApp, *, mount_path: str, trail: Callable[[], AuditTrail | None]
    ) -> None:
        self.stack = stack
        # Only its record() is used here, for the requests answered here; the stack has its own.
        self.audit = AuditMiddleware(stack, mount_path=mount_path, trail=trail)
        base = re.escape(mount_path)
        self._instance = re.compile(f"{base}/({TYPE_PATTERN})/({ID_SYNTAX})").fullmatch
        self._type = re.compile(f"{base}/({TYPE_PATTERN})").fullmatch

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method = scope["method"]
            if method in _READ_METHODS:
                match = self._instance(scope["path"])
            elif method == "POST":
                match = self._type(scope["path"])
            else:
                match = None
            if match is not None and "origin" not in scope_headers(scope):
                scope["path_params"] = dict(zip(("type", "id"), match.groups(), strict=False))
                await self._answer(scope, receive, send)
                return
        await self.stack(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer and audit: the record is the audit layer's, with the status of the response
        made here (the layer would read it from the message sent, through one more wrapper)."""
        status = 500
        try:
            request = Request(scope, receive)
            params = scope["path_params"]
            try:
                if "id" in params:
                    response = await read_route(request, params["type"], params["id"])
                else:
                    response = await create_route(request, params["type"])
            except Exception as exc:
                response = failure_response(request, exc)
            status = response.status_code
            await response(scope, receive, send)
        finally:
            self.audit.record(scope, status)
