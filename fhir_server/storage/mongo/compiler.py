"""Search plans -> MongoDB filters and aggregation pipelines (the second compiler of the one
plan; ``sqlite_search`` is the first).

- Each condition becomes a filter on the resource document: ``$elemMatch`` on the index array
  of its parameter type (so a multikey index on ``(p, value...)`` serves it), ``$nor`` for
  ``:not``, ``$or``/``$and`` for AnyOf/AllOf.
- Chains and ``_has`` resolve in steps: the inner query runs first (in the caller's session,
  so a transaction sees its own writes), and its ids become an ``$in``. A chain whose inner
  query matches very many resources costs as many ids; say so in an explain.
- Sorting and keyset paging follow SQLite exactly: a key's value is the smallest (ascending)
  or largest (descending) of the resource's values, missing values sort last both ways (the
  same sentinels), ties break by ``rid`` (creation order), and the cursor is those values
  plus the rid.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fhir_server.search.plan import (
    AllOf,
    AnyOf,
    Chain,
    Condition,
    Cursor,
    Has,
    IdIn,
    LastUpdated,
    Missing,
    ParamIn,
    SearchPlan,
    SortKey,
    TypeIn,
)
from fhir_server.search.types import date as date_type
from fhir_server.storage.mongo.documents import (
    ARRAYS,
    PAGE_FIELDS,
    Document,
    resource_key,
    sort_field,
    stored,
)
from fhir_server.storage.mongo.predicates import (
    NEVER,
    TOP_TEXT,
    all_of,
    any_of,
    predicate,
    ranges,
)
from fhir_server.storage.records import SearchPage

Finder = Callable[[Document, Document], Awaitable[list[Document]]]
"""Runs an inner query on ``resources`` (filter, projection) in the caller's session."""

_NUMERIC = frozenset({"number", "quantity"})


def _ms(instant: str) -> str:
    """A search bound (microseconds) at the millisecond precision of meta.lastUpdated."""
    return instant[:23] + "Z"


def _one_of(field: str, values: Sequence[str]) -> Document:
    return {field: values[0]} if len(values) == 1 else {field: {"$in": list(values)}}


class Compiler:
    """Compiles the conditions of one plan; ``find`` runs the inner queries of chains and
    ``_has``."""

    def __init__(self, find: Finder) -> None:
        self.find = find

    async def match(self, plan: SearchPlan) -> Document:
        """The filter of the plan's resources: live, of its types, meeting every condition."""
        parts = [_one_of("type", plan.types), {"deleted": False}]
        parts.extend([await self.condition(c) for c in plan.conditions])
        return all_of(parts)

    async def condition(self, c: Condition) -> Document:
        if isinstance(c, TypeIn):
            return _one_of("type", c.types) if c.types else NEVER
        if isinstance(c, IdIn):
            return {"id": {"$in": list(c.ids)}}
        if isinstance(c, LastUpdated):
            alternatives = []
            for d in c.any_of:
                s_low, s_high = date_type.approximately(d) if d.prefix == "ap" else (d.low, d.high)
                alternatives.append(
                    ranges(d.prefix, "lastUpdated", "lastUpdated", _ms(s_low), _ms(s_high))
                )
            return any_of(alternatives)
        if isinstance(c, ParamIn):
            entry = all_of([{"p": c.param}, any_of([predicate(c.kind, p) for p in c.any_of])])
            found = {ARRAYS[c.kind]: {"$elemMatch": entry}}
            return {"$nor": [found]} if c.negate else found
        if isinstance(c, Missing):
            field = ARRAYS[c.kind] + ".p"
            return {field: {"$ne": c.param}} if c.missing else {field: c.param}
        if isinstance(c, Chain):
            return await self._chain(c)
        if isinstance(c, Has):
            return await self._has(c)
        if isinstance(c, AnyOf):
            return any_of([await self.condition(sub) for sub in c.conditions])
        if isinstance(c, AllOf):
            return all_of([await self.condition(sub) for sub in c.conditions])
        raise TypeError(f"unsupported condition {c!r}")  # pragma: no cover

    async def _where(self, type: str, where: Sequence[Condition], *extra: Document) -> Document:
        parts = [{"type": type, "deleted": False}, *extra]
        parts.extend([await self.condition(c) for c in where])
        return all_of(parts)

    async def _chain(self, c: Chain) -> Document:
        """Targets first (their ids), then who refers to them by ``c.param``."""
        targets = await self.find(await self._where(c.target_type, c.where), {"id": 1})
        ids = sorted({str(doc["id"]) for doc in targets})
        if not ids:
            return NEVER
        entry = {"p": c.param, "type": c.target_type, "id": _one_of("id", ids)["id"]}
        return {"idx_reference": {"$elemMatch": entry}}

    async def _has(self, c: Has) -> Document:
        """Referring resources first, then the resources their ``c.param`` points at."""
        sources = await self.find(
            await self._where(c.source_type, c.where, {"idx_reference.p": c.param}),
            {"idx_reference": 1},
        )
        keys = sorted(
            {
                resource_key(entry["type"], entry["id"])
                for doc in sources
                for entry in doc.get("idx_reference", ())
                if entry.get("p") == c.param and entry.get("type") and entry.get("id")
            }
        )
        return {"_id": {"$in": keys}} if keys else NEVER


def sort_expression(key: SortKey) -> Any:
    """What ``key`` sorts by, with missing values last either way (SQLite's sentinels)."""
    if key.kind == "id":
        return "$id"
    if key.kind == "lastUpdated":
        return "$lastUpdated"
    numeric = key.kind in _NUMERIC
    if key.descending:
        missing: Any = -1e308 if numeric else ""
    else:
        missing = 1e308 if numeric else TOP_TEXT
    side = "desc" if key.descending else "asc"
    field = sort_field(ARRAYS[key.kind], key.param)
    return {"$ifNull": [f"$sort.{field}.{side}", missing]}


def keyset(sort: Sequence[SortKey], cursor: Cursor | None) -> Document:
    """Rows strictly after (or before) the cursor in (sort keys..., rid) order."""
    if cursor is None:
        return {}
    if len(cursor.values) != len(sort):
        return NEVER
    alternatives: list[Document] = []
    for i in range(len(sort) + 1):
        parts: Document = {f"s{j}": cursor.values[j] for j in range(i)}
        if i < len(sort):
            later = sort[i].descending == cursor.before
            parts[f"s{i}"] = {"$gt" if later else "$lt": cursor.values[i]}
        else:
            parts["rid"] = {"$lt" if cursor.before else "$gt": cursor.rid}
        alternatives.append(parts)
    return any_of(alternatives)


def pipeline(plan: SearchPlan, match: Document) -> list[Document]:
    """The aggregation that reads one page (plus one row: is there more?)."""
    after = keyset(plan.sort, plan.cursor)
    stages: list[Document] = []
    if plan.sort:
        stages.append({"$match": match})
        stages.append(
            {"$addFields": {f"s{i}": sort_expression(key) for i, key in enumerate(plan.sort)}}
        )
        if after:
            stages.append({"$match": after})
    else:  # paging by rid alone: one filter, which an index on (type, rid) serves
        stages.append({"$match": all_of([match, after])})
    backward = plan.cursor is not None and plan.cursor.before
    order: Document = {
        f"s{i}": -1 if key.descending != backward else 1 for i, key in enumerate(plan.sort)
    }
    order["rid"] = -1 if backward else 1
    stages.append({"$sort": order})
    stages.append({"$limit": plan.count + 1})
    kept = dict.fromkeys((*PAGE_FIELDS, *(f"s{i}" for i in range(len(plan.sort)))), 1)
    stages.append({"$project": kept})
    return stages


def page(plan: SearchPlan, docs: list[Document]) -> SearchPage:
    """A page from documents fetched with one row of lookahead."""
    more = len(docs) > plan.count
    docs = docs[: plan.count]
    if plan.cursor is not None and plan.cursor.before:
        docs.reverse()
    versions = [stored(doc, seq_field="rid") for doc in docs]
    if not docs:
        return SearchPage(versions=versions, more=more)

    def cursor(doc: Document) -> Cursor:
        values = tuple(doc[f"s{i}"] for i in range(len(plan.sort)))
        return Cursor(values=values, rid=int(doc["rid"]))

    return SearchPage(versions=versions, first=cursor(docs[0]), last=cursor(docs[-1]), more=more)
