"""The one place that turns an error into an OperationOutcome and a status code."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.http import negotiate_leniently
from fhir_server.api.media import FHIR_JSON
from fhir_server.errors import FhirError, Issue, ServiceUnavailable
from fhir_server.storage.records import StorageError

log = logging.getLogger(__name__)


def operation_outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [issue.to_json() for issue in issues]}


def error_response(
    error: FhirError, *, media_type: str = FHIR_JSON, pretty: bool = False
) -> Response:
    option = orjson.OPT_INDENT_2 if pretty else 0
    return Response(
        orjson.dumps(operation_outcome(error.issues), option=option),
        status_code=error.status,
        media_type=f"{media_type}; charset=utf-8",
        headers=error.headers,
    )


def internal_error_response(exc: BaseException) -> Response:
    """A 500 that says nothing of the internals; the traceback goes to the log only."""
    log.error("unhandled error", exc_info=exc)
    error = FhirError("internal server error; the request was not completed")
    return error_response(error)


def failure_response(request: Request, exc: Exception) -> Response:
    """The answer to a request that raised ``exc``: a FHIR error as itself, a storage failure
    as 503 (retry later), anything else as a 500 that names nothing of the internals."""
    if isinstance(exc, StorageError):
        log.error("storage error: %s", exc)
        exc = ServiceUnavailable(
            "the database could not complete the request; retry later",
            headers={"Retry-After": "1"},
        )
    if not isinstance(exc, FhirError):
        return internal_error_response(exc)
    how = negotiate_leniently(request)
    return error_response(exc, media_type=how.media_type, pretty=how.pretty)
