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
    headers: dict[str, str] = {}
    version = outcome.version
    if version is not None:
        headers["ETag"] = etag(version.version)
        headers["Last-Modified"] = http_date(version.last_updated)
    if outcome.location is not None:
        headers["Location"] = outcome.location
    elif is_write and version is not None and version.body is not None:
        headers["Content-Location"] = f"{version.type}/{version.id}/_history/{version.version}"
    if outcome.status == 304:
        return Response(status_code=304, headers=headers)

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
        return Response(status_code=outcome.status, headers=headers)
    if how.pretty:
        body = _pretty(body)
    return Response(body, status_code=outcome.status, headers=headers, media_type=how.content_type)
