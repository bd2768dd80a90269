"""Auditing every FHIR request: one pure ASGI layer around the API (refused requests too).

The access context the request was decided with is left in the request's state by
:func:`fhir_server.api.http.context`; this layer adds the status that went out and hands one
record to the audit trail, which writes it off the request path.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smart_auth.audit import AuditRecord, AuditTrail
from smart_auth.context import AccessContext

_PUBLIC = ("/metadata", "/.well-known/")


class AuditMiddleware:
    def __init__(self, app: ASGIApp, *, mount_path: str, trail: Callable[[], AuditTrail | None]):
        self.app = app
        self.prefix = mount_path + "/"
        self.trail = trail

    def covers(self, scope: Scope) -> bool:
        """Whether this request is audited: HTTP under the FHIR base, except CORS preflights
        (they carry no data) and what anyone may read (the CapabilityStatement, discovery)."""
        path: str = scope.get("path", "")
        return (
            scope["type"] == "http"
            and scope.get("method") != "OPTIONS"
            and (path.startswith(self.prefix) or path == self.prefix[:-1])
            and not path[len(self.prefix) - 1 :].startswith(_PUBLIC)
        )

    def record(self, scope: Scope, status: int) -> None:
        """Hand the trail the record of a covered request that ended with ``status``."""
        trail = self.trail()
        if trail is not None:
            trail.record(_record(scope, scope["path"], status))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.covers(scope):
            await self.app(scope, receive, send)
            return
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.record(scope, status)


def _record(scope: Scope, path: str, status: int) -> AuditRecord:
    access = scope.get("state", {}).get("access")
    query = scope.get("query_string", b"").decode("latin-1")
    client = scope.get("client")
    if isinstance(access, AccessContext):
        subject, role = access.subject, access.role.value
        client_id, patient = access.client_id, access.patient
    else:
        subject, role, client_id, patient = "unauthenticated", "none", None, None
    return AuditRecord(
        recorded=time.time(),
        subject=subject,
        role=role,
        client_id=client_id,
        patient=patient,
        action=scope.get("method", ""),
        what=path + (f"?{query}" if query else ""),
        status=status,
        source=client[0] if client else None,
    )
