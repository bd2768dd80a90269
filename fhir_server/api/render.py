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


def render(outcome: Outcome, how: Negotiated, *, is_write: bool = False) -> Response:
    # Headers go to the response already as bytes: Starlette would lower-case, encode and
    # scan a dict of them again (about 0.8 µs a response).
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
        return _with(Response(status_code=304), headers)

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
        return _with(Response(status_code=outcome.status), headers)
    if how.pretty:
        body = _pretty(body)
    return _with(Response(body, status_code=outcome.status, media_type=how.content_type), headers)


def _with(response: Response, headers: list[tuple[bytes, bytes]]) -> Response:
    response.raw_headers += headers
    return response
