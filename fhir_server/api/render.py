"""Outcome -> HTTP response: status, ETag, Last-Modified, Location, Prefer, _pretty.

Stored resources are sent as their stored bytes unless ``_pretty`` asks for indentation.
Spec: https://hl7.org/fhir/R4/http.html#return and https://hl7.org/fhir/R4/http.html#versioning
"""

from __future__ import annotations

import orjson
from starlette.responses import Response

from fhir_server.api.media import Negotiated
from fhir_server.api.outcomes import operation_outcome
from fhir_server.clock import http_date
from fhir_server.errors import Issue
from fhir_server.interactions.common import etag
from fhir_server.interactions.context import Outcome
from fhir_server.resource_json import dumps, parse_json


def _pretty(body: bytes) -> bytes:
    return dumps(parse_json(body), pretty=True)


class FhirResponse(Response):
    """A response whose headers are made once, as bytes: Starlette's ``Response`` would add
    Content-Length and Content-Type by scanning, lower-casing and encoding them again (about
    2 µs of a 25 µs read). Its rules are kept: no Content-Length on a 1xx, 204 or 304, no
    Content-Type without a body."""

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        body: bytes | None = None,
        media_type: str | None = None,
    ) -> None:
        self.status_code = status
        self.background = None
        self.body = body or b""
        head: list[tuple[bytes, bytes]] = []
        if not (status < 200 or status in (204, 304)):
            head.append((b"content-length", str(len(self.body)).encode("latin-1")))
        if media_type is not None:
            head.append((b"content-type", media_type.encode("latin-1")))
        self.raw_headers = head + headers


def render(outcome: Outcome, how: Negotiated, *, is_write: bool = False) -> Response:
    headers: list[tuple[bytes, bytes]] = []
    version = outcome.version
    if version is not None:
        headers.append((b"etag", etag(version.version).encode("latin-1")))
        headers.append((b"last-modified", http_date(version.last_updated).encode("latin-1")))
    if outcome.location is not None:
        headers.append((b"location", outcome.location.encode("latin-1")))
    elif is_write and version is not None and version.body is not None:
        where = f"{version.type}/{version.id}/_history/{version.version}"
        headers.append((b"content-location", where.encode("latin-1")))
    if outcome.status == 304:
        return FhirResponse(304, headers)

    body: bytes | None
    if is_write and how.return_pref == "minimal":
        body = None
    elif is_write and how.return_pref == "OperationOutcome":
        issues = outcome.issues or (
            Issue(code="informational", diagnostics="ok", severity="information"),
        )
        body = orjson.dumps(operation_outcome(issues))
    elif outcome.body is not None:
        body = dumps(outcome.body)
    elif version is not None and version.body is not None and not outcome.issues:
        body = version.body
    elif outcome.issues:
        body = orjson.dumps(operation_outcome(outcome.issues))
    else:
        body = None
    if body is None:
        return FhirResponse(outcome.status, headers)
    if how.pretty:
        body = _pretty(body)
    return FhirResponse(outcome.status, headers, body, how.content_type)
