"""Query parameters -> SearchPlan, for search and for conditional interactions' criteria.

Supported so far: ``_id``, ``identifier`` (on types that define it) and ``_count``. Every other
parameter is reported, never silently dropped from conditional criteria.
Spec: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from fhir_server.errors import InvalidSearch, Issue
from fhir_server.search import values
from fhir_server.search.plan import Condition, IdIn, SearchPlan, TokenIn
from fhir_server.spec import search_parameters

# Parameters about the result or the response, not about which resources match.
RESULT_PARAMETERS = frozenset({"_count", "_format", "_pretty", "_cursor", "_summary", "_total"})


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    plan: SearchPlan
    ignored: tuple[Issue, ...]


def _count(raw: str, *, maximum: int) -> int:
    try:
        count = int(raw)
    except ValueError:
        raise InvalidSearch(f"_count must be a whole number, not {raw!r}") from None
    if count < 0:
        raise InvalidSearch(f"_count must not be negative, not {raw!r}")
    return min(count, maximum)


def parse(
    type: str,
    query: Sequence[tuple[str, str]],
    *,
    strict: bool,
    default_count: int = 50,
    max_count: int = 1000,
) -> ParsedSearch:
    """Build the plan; unknown parameters raise under ``strict``, else become warnings."""
    conditions: list[Condition] = []
    ignored: list[Issue] = []
    count, after = default_count, None
    has_identifier = "identifier" in search_parameters().get(type, {})
    for name, raw in query:
        if name == "_count":
            count = _count(raw, maximum=max_count)
        elif name == "_cursor":
            try:
                after = int(raw)
            except ValueError:
                raise InvalidSearch(f"invalid paging cursor {raw!r}") from None
        elif name in RESULT_PARAMETERS:
            continue
        elif name == "_id":
            ids = tuple(values.unescape(v) for v in values.split_unescaped(raw, ","))
            conditions.append(IdIn(ids))
        elif name == "identifier" and has_identifier:
            try:
                pairs = tuple(values.token(v) for v in values.split_unescaped(raw, ","))
            except ValueError as exc:
                raise InvalidSearch(f"identifier: {exc}", expression=("identifier",)) from None
            conditions.append(TokenIn("identifier", pairs))
        else:
            message = f"search parameter {name!r} is not supported for {type}"
            if strict:
                raise InvalidSearch(message, code="not-supported")
            ignored.append(Issue(code="not-supported", diagnostics=message, severity="warning"))
    plan = SearchPlan(type=type, conditions=tuple(conditions), count=count, after=after)
    return ParsedSearch(plan=plan, ignored=tuple(ignored))


def conditional(type: str, query: Sequence[tuple[str, str]]) -> SearchPlan:
    """Criteria of a conditional create/update/patch/delete: strict, and never empty."""
    parsed = parse(type, query, strict=True, default_count=2, max_count=2)
    if not parsed.plan.conditions:
        raise InvalidSearch("conditional interactions need search criteria", code="required")
    return SearchPlan(type=type, conditions=parsed.plan.conditions, count=2)
