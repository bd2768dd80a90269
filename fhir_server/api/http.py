"""Reading a FHIR HTTP request: negotiation, preconditions, bodies, the interaction context."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from starlette.requests import Request
from starlette.types import Scope

from fhir_server.api.media import (
    FHIR_JSON,
    JSON,
    Negotiated,
    parse_prefer,
    require_body_type,
    response_media_type,
)
from fhir_server.config import Settings
from fhir_server.errors import PayloadTooLarge, RequestTimeout
from fhir_server.interactions.context import Context, Limits, Preconditions
from fhir_server.numbers import whole_number
from fhir_server.resource_json import parse_json, parse_resource
from fhir_server.storage import Store
from fhir_server.validation import first_class_profiles
from smart_auth.context import AccessContext
from smart_auth.guard import access_for

_NO_QUERY: Mapping[str, str] = {}
_HEADERS = "mhs_fhir.headers"  # where headers_of keeps its map in the ASGI scope


def headers_of(request: Request) -> Mapping[str, str]:
    """The request's headers by (lower-case) name, the first of a repeated one: Starlette's
    ``request.headers`` with lookups in constant time (it scans every header for each)."""
    return scope_headers(request.scope)


def scope_headers(scope: Scope) -> Mapping[str, str]:
    """:func:`headers_of` an ASGI scope, made once per request and kept in it."""
    found: dict[str, str] | None = scope.get(_HEADERS)
    if found is None:
        found = {}
        for name, value in scope["headers"]:
            found.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))
        scope[_HEADERS] = found
    return found


def negotiate(request: Request) -> Negotiated:
    query = request.query_params if request.scope.get("query_string") else _NO_QUERY
    headers = headers_of(request)
    return _negotiated(
        headers.get("accept"),
        query.get("_format"),
        query.get("_pretty", "false"),
        headers.get("prefer"),
    )


@lru_cache(maxsize=256)
def _negotiated(
    accept: str | None, format: str | None, pretty: str, prefer: str | None
) -> Negotiated:
    """What these headers and parameters ask for (clients send the same few, over and over;
    a refusal is raised, not remembered)."""
    return_pref, strict = parse_prefer(prefer)
    return Negotiated(
        media_type=response_media_type(accept, format),
        pretty=pretty.lower() == "true",
        return_pref=return_pref,
        strict=strict,
    )


def negotiate_leniently(request: Request) -> Negotiated:
    """For error responses: never fails, falls back to FHIR JSON."""
    try:
        return negotiate(request)
    except Exception:
        return Negotiated()


def preconditions(request: Request) -> Preconditions:
    headers = headers_of(request)
    if _CONDITIONAL.isdisjoint(headers):
        return _UNCONDITIONAL
    return Preconditions(
        if_match=headers.get("if-match"),
        if_none_match=headers.get("if-none-match"),
        if_modified_since=headers.get("if-modified-since"),
        if_none_exist=headers.get("if-none-exist"),
    )


_CONDITIONAL = frozenset(("if-match", "if-none-match", "if-modified-since", "if-none-exist"))
_UNCONDITIONAL = Preconditions()


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def shared_context(settings: Settings, store: Store, *, auth_url: str | None) -> Context:
    """What the contexts of one server's requests share, made once when its store is open
    (``app.state.shared_context``); :func:`context` gives it each request's access."""
    return Context(
        store=store,
        access=AccessContext.anyone(),
        base_url=settings.base_url,
        max_count=settings.max_count,
        default_count=settings.default_count,
        limits=Limits.of(settings),
        auth_url=auth_url,
        required_profiles=first_class_profiles() if settings.require_mhs_profiles else {},
    )


def context(request: Request, *, public: bool = False) -> Context:
    """The interaction context of a request: its store, settings, and the access its bearer
    token gives (``public``: the CapabilityStatement, which anyone may read)."""
    state = request.app.state
    access = AccessContext.anyone() if public else access_for(headers_of(request), state.auth_guard)
    request.scope.setdefault("state", {})["access"] = access  # for the audit trail
    shared: Context = state.shared_context
    return shared.acting_for(access)


async def read_body(request: Request) -> bytes:
    """The body, refusing (413) anything over the size limit before reading all of it, and
    (408) a client that takes longer than the request timeout to send it."""
    settings = settings_of(request)
    limit = settings.max_body_bytes
    declared = headers_of(request).get("content-length")
    size = None if declared is None else whole_number(declared)
    if size is not None and size > limit:
        raise PayloadTooLarge(f"the body ({declared} bytes) is over the limit of {limit} bytes")
    chunks, size = [], 0
    try:
        async with asyncio.timeout(settings.request_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise RequestTimeout(
            f"the body did not arrive within {settings.request_timeout:g} seconds"
        ) from None
    return b"".join(chunks)


async def resource_body(request: Request) -> dict[str, Any]:
    require_body_type(headers_of(request).get("content-type"), allowed=(FHIR_JSON, JSON))
    return parse_resource(await read_body(request))


async def json_body(request: Request, *, allowed: tuple[str, ...]) -> Any:
    require_body_type(headers_of(request).get("content-type"), allowed=allowed)
    return parse_json(await read_body(request))


def query_pairs(request: Request) -> list[tuple[str, str]]:
    return request.query_params.multi_items()
