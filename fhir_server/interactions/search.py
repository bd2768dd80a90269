"""search: ``GET [base]/[type]?params`` and ``POST [base]/[type]/_search``
(https://hl7.org/fhir/R4/http.html#search, https://hl7.org/fhir/R4/search.html)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.interactions.bundles import embedded, new_bundle, page_url
from fhir_server.interactions.common import check_type
from fhir_server.interactions.context import Context, Outcome
from fhir_server.search import criteria
from smart_auth.context import Interaction


async def search(
    ctx: Context, *, type: str, params: Sequence[tuple[str, str]], strict: bool
) -> Outcome:
    ctx.access.require(Interaction.SEARCH, type)
    check_type(type)
    parsed = criteria.parse(
        type, params, strict=strict, default_count=ctx.default_count, max_count=ctx.max_count
    )
    plan = parsed.plan
    found = list(await ctx.store.search(plan)) if plan.count else []
    bundle = new_bundle("searchset")
    bundle["total"] = await ctx.store.count(plan)
    links = [{"relation": "self", "url": page_url(ctx, type, params)}]
    if plan.count and len(found) == plan.count:
        links.append(
            {"relation": "next", "url": page_url(ctx, type, params, _cursor=str(found[-1].seq))}
        )
    bundle["link"] = links
    entries: list[dict[str, Any]] = [
        {"fullUrl": ctx.url(v.type, v.id), "resource": embedded(v), "search": {"mode": "match"}}
        for v in found
    ]
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
