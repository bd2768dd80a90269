"""Content negotiation: Accept and ``_format`` out, Content-Type in.

Spec: https://hl7.org/fhir/R4/http.html#mime-type and https://hl7.org/fhir/R4/http.html#parameters
"""

from __future__ import annotations

from dataclasses import dataclass

from fhir_server.errors import NotAcceptable, UnsupportedMediaType

FHIR_JSON = "application/fhir+json"
JSON = "application/json"
JSON_PATCH = "application/json-patch+json"
FORM = "application/x-www-form-urlencoded"

_FORMAT_ALIASES = {
    "json": FHIR_JSON,
    FHIR_JSON: FHIR_JSON,
    "application/json+fhir": FHIR_JSON,
    JSON: JSON,
}
_XML = ("xml", "text/xml", "application/xml", "application/fhir+xml", "application/xml+fhir")
_ACCEPTABLE = {FHIR_JSON: FHIR_JSON, "application/json+fhir": FHIR_JSON, JSON: JSON}
_ANY = {"*/*", "application/*"}


def _media(value: str) -> str:
    return value.split(";", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Negotiated:
    """How to answer: the media type, pretty-printing, and the Prefer header's wishes."""

    media_type: str = FHIR_JSON
    pretty: bool = False
    return_pref: str | None = None
    strict: bool = False

    @property
    def content_type(self) -> str:
        return f"{self.media_type}; charset=utf-8"


def response_media_type(accept: str | None, format_param: str | None) -> str:
    """The media type to answer with; 406 when the client accepts nothing we produce."""
    if format_param is not None:
        wanted = format_param.strip().lower()
        if wanted in _FORMAT_ALIASES:
            return _FORMAT_ALIASES[wanted]
        if wanted in _XML:
            raise NotAcceptable("this server speaks FHIR JSON only; XML is not supported")
        raise NotAcceptable(f"_format {format_param!r} is not supported; use json")
    if not accept:
        return FHIR_JSON
    ranges = [_media(part) for part in accept.split(",") if part.strip()]
    for media in ranges:
        if media in _ACCEPTABLE:
            return _ACCEPTABLE[media]
    if any(media in _ANY for media in ranges):
        return FHIR_JSON
    raise NotAcceptable(f"cannot produce {accept!r}; this server answers in {FHIR_JSON}")


def parse_prefer(header: str | None) -> tuple[str | None, bool]:
    """``Prefer: return=...`` and ``handling=strict|lenient`` (lenient is the default)."""
    return_pref, strict = None, False
    if header:
        for part in header.split(","):
            for token in part.split(";"):
                key, _, value = token.strip().partition("=")
                value = value.strip().strip('"')
                if key.strip().lower() == "return" and value in (
                    "minimal",
                    "representation",
                    "OperationOutcome",
                ):
                    return_pref = value
                elif key.strip().lower() == "handling":
                    strict = value.lower() == "strict"
    return return_pref, strict


def require_body_type(content_type: str | None, *, allowed: tuple[str, ...]) -> None:
    """415 unless the body's Content-Type is one of ``allowed``."""
    media = _media(content_type or "")
    if media == "application/json+fhir":
        media = FHIR_JSON
    if media not in allowed:
        shown = content_type or "no Content-Type"
        raise UnsupportedMediaType(f"{shown} is not accepted here; send {' or '.join(allowed)}")
