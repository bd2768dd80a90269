"""history: ``GET [base]/[type]/[id]/_history``, ``[base]/[type]/_history`` and
``[base]/_history`` (https://hl7.org/fhir/R4/http.html#history), newest first, paged by cursor.
"""

from __future__ import annotations

from collections.abc import Sequence

from fhir_server.clock import format_instant, parse_instant
from fhir_server.errors import BadRequest, NotFound
from fhir_server.interactions.access import Permission, bind_cursor, may_version, unbind_cursors
from fhir_server.interactions.bundles import history_entry, new_bundle, page_url
from fhir_server.interactions.common import check_type
from fhir_server.interactions.context import Context, Outcome
from fhir_server.storage import HistoryQuery
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
            if not value.isdigit():
                raise BadRequest(f"_count must be a whole number, not {value!r}", code="value")
            count = min(int(value), ctx.max_count)
        elif name == "_since":
            try:
                since = format_instant(parse_instant(value))
            except ValueError:
                raise BadRequest(
                    f"_since must be an instant, not {value!r}", code="value"
                ) from None
        elif name == "_cursor":
            if not value.isdigit():
                raise BadRequest(f"invalid paging cursor {value!r}", code="value")
            before = int(value)
    return HistoryQuery(type=type, id=id, since=since, before_seq=before, count=count)


async def history(
    ctx: Context, *, type: str | None, id: str | None, params: Sequence[tuple[str, str]]
) -> Outcome:
    ctx.access.require(Interaction.HISTORY, type)
    if type is not None:
        check_type(type)
    query = _query(ctx, type, id, unbind_cursors(ctx, params))
    if id is not None and type is not None and await ctx.store.read(type, id) is None:
        raise NotFound(f"{type}/{id} is not known")
    found = list(await ctx.store.history(query)) if query.count else []
    next_seq = found[-1].seq if query.count and len(found) == query.count else None
    versions = found
    if not ctx.access.unrestricted:
        # Each version on its own: a resource moved between patients shows each patient
        # only the versions that were theirs.
        versions = [v for v in found if await may_version(ctx, Permission.READ, v)]
        if id is not None and not versions and query.before_seq is None:
            raise NotFound(f"{type}/{id} is not known")
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
