"""search: ``GET [base]/[type]?params``, ``POST [base]/[type]/_search``, system search
``GET [base]?_type=...`` and compartment search ``GET [base]/Patient/[id]/[type]``
(https://hl7.org/fhir/R4/http.html#search, https://hl7.org/fhir/R4/search.html).

Results are a searchset Bundle: matches, then ``_include``/``_revinclude`` resources (each
once), an OperationOutcome entry for ignored parameters, ``total`` per ``_total``, and
self/next/previous links whose ``_cursor`` stays right while data is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import orjson

from fhir_server.errors import InvalidSearch
from fhir_server.interactions.access import Permission, bind_cursor, scoped, unbind_cursors
from fhir_server.interactions.bundles import embedded, new_bundle, page_url
from fhir_server.interactions.common import check_type
from fhir_server.interactions.context import Context, Outcome
from fhir_server.interactions.subsetting import subset
from fhir_server.resource_json import parse_json
from fhir_server.search.parse import Include, ParsedSearch, encode_cursor, parse_search
from fhir_server.search.plan import AnyOf, Condition, IdIn, ParamIn, ReferenceMatch, SearchPlan
from fhir_server.search.registry import compartment_params, lookup, params_for
from fhir_server.search.types.reference import local
from fhir_server.storage import StoredVersion
from fhir_server.validation import served_types
from smart_auth.context import Interaction

MAX_INCLUDE_ROUNDS = 4


async def search(
    ctx: Context,
    *,
    types: Sequence[str],
    params: Sequence[tuple[str, str]],
    strict: bool,
    path: str,
    compartment: tuple[str, str] | None = None,
) -> Outcome:
    """Search ``types`` (one, or several for a system search) with ``params``."""
    for type in types:
        ctx.access.require(Interaction.SEARCH, type)
        check_type(type)
    parsed = parse_search(
        types,
        unbind_cursors(ctx, params),
        base_url=ctx.base_url,
        strict=strict,
        default_count=ctx.default_count,
        max_count=ctx.max_count,
        max_params=ctx.limits.search_params,
        max_depth=ctx.limits.chain_depth,
        compartment=compartment,
    )
    plan = scoped(ctx, Permission.SEARCH, parsed.plan)
    await _reject_ambiguous_ids(ctx, plan)
    page = await ctx.store.search(plan) if plan.count else None
    matches = page.versions if page else []
    bundle = new_bundle("searchset")
    if parsed.total != "none" or parsed.summary == "count":
        # A first page that holds every match already knows the total.
        whole = page is not None and plan.cursor is None and not page.more
        bundle["total"] = len(matches) if whole else await ctx.store.count(plan)
    used = parsed.used
    links = [{"relation": "self", "url": page_url(ctx, path, used)}]
    if page is not None:
        backward = plan.cursor is not None and plan.cursor.before
        # Going forward there is a next page when rows were left over, and a previous one when
        # this page was reached by a cursor; going backward, the other way round.
        has_next = page.more if not backward else True
        has_previous = page.more if backward else plan.cursor is not None
        if has_next and page.last is not None:
            after = bind_cursor(ctx, encode_cursor(page.last))
            links.append({"relation": "next", "url": page_url(ctx, path, used, _cursor=after)})
        if has_previous and page.first is not None:
            before = bind_cursor(ctx, encode_cursor(replace(page.first, before=True)))
            links.append({"relation": "previous", "url": page_url(ctx, path, used, _cursor=before)})
    bundle["link"] = links
    entries = [_entry(ctx, v, "match", parsed) for v in matches]
    if parsed.includes and matches:
        included = await _included(ctx, matches, parsed.includes)
        entries.extend(_entry(ctx, v, "include", parsed) for v in included)
    if parsed.ignored:
        entries.append(
            {
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [issue.to_json() for issue in parsed.ignored],
                },
                "search": {"mode": "outcome"},
            }
        )
    if entries:
        bundle["entry"] = entries
    return Outcome(status=200, body=bundle)


async def _reject_ambiguous_ids(ctx: Context, plan: SearchPlan) -> None:
    """A bare id on a reference parameter with several target types must name one resource
    (search.html#reference: servers SHOULD reject one that names resources of several types)."""
    for condition in plan.conditions:
        if not isinstance(condition, ParamIn) or condition.kind != "reference":
            continue
        base, _, code = condition.param.partition(".")
        param = lookup(base, code)
        if param is None or len(param.targets) < 2:
            continue
        for match in condition.any_of:
            if isinstance(match, ReferenceMatch) and match.type is None and match.id:
                types = tuple(t for t in param.targets if t in served_types())
                probe = SearchPlan(types=types, conditions=(IdIn((match.id,)),), count=len(types))
                probe = scoped(ctx, Permission.SEARCH, probe)
                found = {v.type for v in (await ctx.store.search(probe)).versions}
                if len(found) > 1:
                    raise InvalidSearch(
                        f"{code}={match.id} could be {' or '.join(sorted(found))}/{match.id};"
                        f" write {code}=[type]/{match.id} or {code}:[type]={match.id}"
                    )


def compartment_types() -> list[str]:
    """Every served type that can be in a Patient compartment (``Patient/[id]/*``)."""
    return sorted(t for t in served_types() if compartment_params(t) or t == "Patient")


def system_types(params: Sequence[tuple[str, str]]) -> list[str]:
    """The types of a system-level search: ``_type`` or every served type."""
    named = [
        t.strip() for name, raw in params if name == "_type" for t in raw.split(",") if t.strip()
    ]
    return named or sorted(served_types())


def _entry(ctx: Context, version: StoredVersion, mode: str, parsed: ParsedSearch) -> dict[str, Any]:
    resource: Any = embedded(version)
    elements = parsed.elements if mode == "match" else ()  # not for includes (#elements)
    if parsed.summary not in (None, "false") or elements:
        assert version.body is not None
        resource = subset(parse_json(version.body), summary=parsed.summary, elements=elements)
    return {
        "fullUrl": ctx.url(version.type, version.id),
        "resource": resource,
        "search": {"mode": mode},
    }


def _references(ctx: Context, version: StoredVersion, include: Include) -> list[tuple[str, str]]:
    """Local ``(type, id)`` targets of one resource through an include's parameter(s)."""
    assert version.body is not None
    data = orjson.loads(version.body)
    codes = (
        [p.code for p in params_for(version.type).values() if p.kind == "reference" and p.indexed]
        if include.param == "*"
        else [include.param]
    )
    out = []
    for code in codes:
        param = lookup(version.type, code)
        if param is None or param.accessor is None:
            continue
        for node, _ in param.accessor(data):
            reference = node.get("reference") if isinstance(node, dict) else None
            target = local(reference, ctx.base_url) if isinstance(reference, str) else None
            if target and (include.target_type is None or target[0] == include.target_type):
                out.append(target)
    return out


async def _load(ctx: Context, keys: Sequence[tuple[str, str]]) -> list[StoredVersion]:
    by_type: dict[str, list[str]] = {}
    for type, id in keys:
        if type in served_types():
            by_type.setdefault(type, []).append(id)
    out: list[StoredVersion] = []
    for type, ids in by_type.items():
        plan = SearchPlan(types=(type,), conditions=(IdIn(tuple(ids)),), count=len(ids))
        out.extend((await ctx.store.search(scoped(ctx, Permission.READ, plan))).versions)
    return out


async def _referencing(
    ctx: Context, targets: Sequence[StoredVersion], include: Include
) -> list[StoredVersion]:
    """Resources of the include's source type that point at ``targets`` (_revinclude)."""
    codes = (
        [
            p.code
            for p in params_for(include.source_type).values()
            if p.kind == "reference" and p.indexed
        ]
        if include.param == "*"
        else [include.param]
    )
    matches = tuple(ReferenceMatch(t.type, t.id) for t in targets)
    conditions: list[Condition] = []
    for code in codes:
        param = lookup(include.source_type, code)
        if param is not None and param.indexed:
            conditions.append(ParamIn(param.key, "reference", matches))
    if not conditions or include.source_type not in served_types():
        return []
    where = conditions[0] if len(conditions) == 1 else AnyOf(tuple(conditions))
    count = ctx.limits.included + 1  # one more than may be included: over the limit shows
    plan = SearchPlan(types=(include.source_type,), conditions=(where,), count=count)
    return (await ctx.store.search(scoped(ctx, Permission.READ, plan))).versions


async def _included(
    ctx: Context, matches: Sequence[StoredVersion], includes: Sequence[Include]
) -> list[StoredVersion]:
    seen = {(v.type, v.id) for v in matches}
    found: list[StoredVersion] = []
    frontier = list(matches)
    for round in range(MAX_INCLUDE_ROUNDS):
        active = [i for i in includes if round == 0 or i.iterate]
        fresh: list[StoredVersion] = []
        for include in active:
            if include.reverse:
                candidates = await _referencing(ctx, frontier, include)
            else:
                keys = [
                    key
                    for v in frontier
                    if v.type == include.source_type
                    for key in _references(ctx, v, include)
                ]
                candidates = await _load(ctx, list(dict.fromkeys(k for k in keys if k not in seen)))
            for candidate in candidates:
                if (candidate.type, candidate.id) not in seen:
                    seen.add((candidate.type, candidate.id))
                    fresh.append(candidate)
        found.extend(fresh)
        if len(found) > ctx.limits.included:
            raise InvalidSearch(
                f"_include and _revinclude would add more than {ctx.limits.included} resources"
                " to this page, over this server's limit (max_included): ask for a smaller"
                " _count or fewer includes",
                code="too-costly",
            )
        if not fresh or not any(i.iterate for i in includes):
            break
        frontier = fresh
    return found
