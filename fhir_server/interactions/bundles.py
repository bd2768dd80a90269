"""Bundles the server builds (searchset, history, batch/transaction responses).

Stored resources go in as ``orjson.Fragment``: their stored bytes, never re-serialized.
Spec: https://hl7.org/fhir/R4/bundle.html and https://hl7.org/fhir/R4/http.html#paging
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server.clock import now_instant
from fhir_server.ids import new_id
from fhir_server.interactions.context import Context
from fhir_server.storage import StoredVersion

STATUS_TEXT = {
    200: "200 OK",
    201: "201 Created",
    204: "204 No Content",
    304: "304 Not Modified",
    400: "400 Bad Request",
    403: "403 Forbidden",
    404: "404 Not Found",
    405: "405 Method Not Allowed",
    409: "409 Conflict",
    410: "410 Gone",
    412: "412 Precondition Failed",
    413: "413 Payload Too Large",
    415: "415 Unsupported Media Type",
    422: "422 Unprocessable Entity",
    500: "500 Internal Server Error",
}


def status_line(status: int) -> str:
    return STATUS_TEXT.get(status, str(status))


def embedded(version: StoredVersion) -> orjson.Fragment:
    assert version.body is not None
    return orjson.Fragment(version.body)


def new_bundle(type: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": new_id(),
        "meta": {"lastUpdated": now_instant()},
        "type": type,
    }


def page_url(ctx: Context, path: str, query: Sequence[tuple[str, str]], **extra: str) -> str:
    """``[base]/path?query`` with paging parameters replaced by ``extra``."""
    kept = [(k, v) for k, v in query if k not in extra and k != "_cursor"]
    kept.extend(extra.items())
    url = ctx.url(path) if path else ctx.base_url.rstrip("/")
    return f"{url}?{urlencode(kept)}" if kept else url


def history_entry(ctx: Context, version: StoredVersion) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": ctx.url(version.type, version.id)}
    if version.body is not None:
        entry["resource"] = embedded(version)
    url = version.type if version.method == "POST" else f"{version.type}/{version.id}"
    status = {"POST": 201, "DELETE": 204}.get(version.method, 200)
    entry["request"] = {"method": version.method, "url": url}
    entry["response"] = {
        "status": status_line(status),
        "etag": f'W/"{version.version}"',
        "lastModified": version.last_updated,
    }
    return entry
