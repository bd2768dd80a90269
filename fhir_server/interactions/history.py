"""history: ``GET [base]/[type]/[id]/_history``, ``[base]/[type]/_history`` and
``[base]/_history`` (https://hl7.org/fhir/R4/http.html#history), newest first, paged by cursor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from fhir_server.clock import format_instant, parse_instant
from fhir_server.errors import BadRequest, NotFound
from fhir_server.interactions.access import Permission, bind_cursor, may_version, unbind_cursors
from fhir_server.interactions.bundles import history_entry, new_bundle, page_url
from fhir_server.interactions.common import check_type
from fhir_server.interactions.context import Context, Outcome
from fhir_server.numbers import whole_number
from fhir_server.storage import HistoryQuery, StoredVersion
from smart_auth.context import Interaction

_KNOWN = frozenset({"_count", "_since", "_cursor", "_format", "_pretty"})


def _query(
    ctx: Context, type: str | None, id: str | None, params: Sequence[tuple[str, str]]
) -> HistoryQuery:
    count, since, before = ctx.default_count, None, None
    for name, value in params:
        if name not in _KNOWN:
            raise BadRequest(
                f"history does not support the parameter {name!r}", code="not-supported"
            )
        if name == "_count":
            asked = whole_number(value, cap=ctx.max_count)
            if asked is None:
                raise BadRequest(f"_count must be a whole number, not {value!r}", code="value")
            count = asked
        elif name == "_since":
            try:
                since = format_instant(parse_instant(value))
            except ValueError:
                raise BadRequest(
                    f"_since must be an instant, not {value!r}", code="value"
                ) from None
        elif name == "_cursor":
            before = whole_number(value)
            if before is None:
                raise BadRequest(f"invalid paging cursor {value!r}", code="value")
    return HistoryQuery(type=type, id=id, since=since, before_seq=before, count=count)


MAX_SCANNED = 5000
"""Versions one restricted history page may look through to fill itself."""


async def _require_known(ctx: Context, type: str, id: str) -> None:
    """404 for a resource never known, and, for a restricted token, for one none of whose
    versions it may see (whatever the page or cursor asked)."""
    if await ctx.store.read(type, id) is None:
        raise NotFound(f"{type}/{id} is not known")
    if ctx.access.unrestricted:
        return
    every = await ctx.store.history(HistoryQuery(type=type, id=id, count=MAX_SCANNED))
    for version in every:
        if await may_version(ctx, Permission.READ, version):
            return
    raise NotFound(f"{type}/{id} is not known")


async def _visible_page(
    ctx: Context, query: HistoryQuery
) -> tuple[list[StoredVersion], int | None]:
    """A page of only the versions this token may see, filled by reading on past the hidden
    ones, so page sizes and cursors say nothing about what is hidden. The next cursor is the
    last visible version's, unless MAX_SCANNED versions were looked through first."""
    visible: list[StoredVersion] = []
    before, scanned = query.before_seq, 0
    while query.count and len(visible) < query.count and scanned < MAX_SCANNED:
        batch = list(await ctx.store.history(replace(query, before_seq=before, count=query.count)))
        for version in batch:
            scanned += 1
            if await may_version(ctx, Permission.READ, version):
                visible.append(version)
                if len(visible) == query.count:
                    break
        if len(batch) < query.count:
            return visible, None  # the end of history
        before = batch[-1].seq
    if len(visible) == query.count:
        return visible, visible[-1].seq
    return visible, before if query.count else None


async def history(
    ctx: Context, *, type: str | None, id: str | None, params: Sequence[tuple[str, str]]
) -> Outcome:
    ctx.access.require(Interaction.HISTORY, type)
    if type is not None:
        check_type(type)
    query = _query(ctx, type, id, unbind_cursors(ctx, params))
    if id is not None and type is not None:
        await _require_known(ctx, type, id)
    if ctx.access.unrestricted:
        versions = list(await ctx.store.history(query)) if query.count else []
        next_seq = versions[-1].seq if query.count and len(versions) == query.count else None
    else:
        versions, next_seq = await _visible_page(ctx, query)
    path = "/".join(p for p in (type, id, "_history") if p)
    bundle = new_bundle("history")
    links = [{"relation": "self", "url": page_url(ctx, path, params)}]
    if next_seq is not None:
        links.append(
            {
                "relation": "next",
                "url": page_url(ctx, path, params, _cursor=bind_cursor(ctx, str(next_seq))),
            }
        )
    bundle["link"] = links
    bundle["entry"] = [history_entry(ctx, v) for v in versions]
    if not bundle["entry"]:
        del bundle["entry"]
    return Outcome(status=200, body=bundle)
