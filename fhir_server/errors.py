"""The one error hierarchy of the FHIR server.

Every failure a client can see is a :class:`FhirError`; :mod:`fhir_server.api.outcomes` is the
only place that turns one into an OperationOutcome and an HTTP status code.

::

    FhirError                       (500 exception: never raised on purpose)
     ├── BadRequest                 400 invalid | structure | value
     │    └── InvalidSearch         400 invalid (a search parameter or value)
     ├── Unauthorized               401 login (no token, or not an active one)
     ├── Forbidden                  403 forbidden
     ├── NotFound                   404 not-found
     ├── MethodNotAllowed           405 not-supported
     ├── NotAcceptable              406 not-supported
     ├── Conflict                   409 conflict
     ├── Gone                       410 deleted
     ├── PreconditionFailed         412 conflict | multiple-matches
     ├── PayloadTooLarge            413 too-costly
     ├── UnsupportedMediaType       415 not-supported
     ├── Unprocessable              422 invalid | structure | required | value
     └── ServiceUnavailable         503 transient (the store could not complete the request)

Spec: https://hl7.org/fhir/R4/http.html#Status-Codes and
https://hl7.org/fhir/R4/operationoutcome.html
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

Severity = Literal["fatal", "error", "warning", "information"]


@dataclass(frozen=True, slots=True)
class Issue:
    """One OperationOutcome.issue: what went wrong and, when known, where."""

    code: str
    diagnostics: str
    severity: Severity = "error"
    expression: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "severity": self.severity,
            "code": self.code,
            "diagnostics": self.diagnostics,
        }
        if self.expression:
            out["expression"] = list(self.expression)
        return out


class FhirError(Exception):
    """Base of every error a client may see. ``status`` and ``code`` are per subclass."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "exception"

    def __init__(
        self,
        diagnostics: str,
        *,
        expression: tuple[str, ...] = (),
        issues: tuple[Issue, ...] = (),
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(diagnostics)
        self.diagnostics = diagnostics
        self.headers = headers or {}
        self.entry_index: int | None = None  # the Bundle entry that failed, in a transaction
        self.issues: tuple[Issue, ...] = issues or (
            Issue(code=code or self.code, diagnostics=diagnostics, expression=expression),
        )


class BadRequest(FhirError):
    """The request cannot be understood: malformed JSON, wrong ids, bad parameters."""

    status = 400
    code = "invalid"


class InvalidSearch(BadRequest):
    """A search (or conditional criteria) uses a parameter or value the server cannot honour."""


class Unauthorized(FhirError):
    """No bearer token, or one that is not active (RFC 6750 3: WWW-Authenticate says which)."""

    status = 401
    code = "login"


class Forbidden(FhirError):
    """The access context does not allow this interaction."""

    status = 403
    code = "forbidden"


class NotFound(FhirError):
    """No such resource, version, type or endpoint."""

    status = 404
    code = "not-found"


class MethodNotAllowed(FhirError):
    """The HTTP method is not defined for this URL."""

    status = 405
    code = "not-supported"


class NotAcceptable(FhirError):
    """The client asked for a format (Accept, _format) the server does not produce."""

    status = 406
    code = "not-supported"


class Conflict(FhirError):
    """The write conflicts with the current state (lost a race, id taken, ...)."""

    status = 409
    code = "conflict"


class Gone(FhirError):
    """The resource existed and was deleted."""

    status = 410
    code = "deleted"


class RequestTimeout(FhirError):
    """https://hl7.org/fhir/R4/valueset-issue-type.html#issue-type-timeout"""

    status = 408
    code = "timeout"


class PreconditionFailed(FhirError):
    """If-Match did not match, or conditional criteria matched more than one resource."""

    status = 412
    code = "conflict"


class PayloadTooLarge(FhirError):
    """The body is larger than the configured limit."""

    status = 413
    code = "too-costly"


class UnsupportedMediaType(FhirError):
    """The body's Content-Type is not one the server reads for this interaction."""

    status = 415
    code = "not-supported"


class Unprocessable(FhirError):
    """The body is well-formed JSON but not a valid FHIR resource."""

    status = 422
    code = "processing"


class ServiceUnavailable(FhirError):
    """The store could not complete the request (busy, out of space); nothing was changed."""

    status = 503
    code = "transient"
