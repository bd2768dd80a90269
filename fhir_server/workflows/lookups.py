"""What a workflow rule looks up, as the server (not the caller's token): one search each."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import orjson

from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from smart_auth.context import AccessContext


def as_server(ctx: Context, purpose: str) -> Context:
    """``ctx`` with the server's own access, for ``purpose`` (the audit's name for it)."""
    return replace(ctx, access=AccessContext.internal(purpose))


async def found(
    ctx: Context, purpose: str, type: str, params: list[tuple[str, str]]
) -> list[dict[str, Any]]:
    """Every ``type`` resource matching ``params`` (at most a page of ``max_count``)."""
    outcome = await search(
        as_server(ctx, purpose),
        types=[type],
        params=[*params, ("_count", str(ctx.max_count))],
        strict=True,
        path=type,
    )
    entries = (outcome.body or {}).get("entry") or []
    return [
        orjson.loads(orjson.dumps(entry["resource"]))
        for entry in entries
        if entry.get("search", {}).get("mode") == "match"
    ]


async def count(ctx: Context, purpose: str, type: str, params: list[tuple[str, str]]) -> int:
    """How many ``type`` resources match ``params``."""
    outcome = await search(
        as_server(ctx, purpose),
        types=[type],
        params=[*params, ("_summary", "count")],
        strict=True,
        path=type,
    )
    return int((outcome.body or {}).get("total") or 0)
