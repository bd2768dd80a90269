"""One filter builder per search parameter type, on one index entry (inside ``$elemMatch``).

Each builder states the same rule as its SQLite twin in ``sqlite_search``; ``path`` maps a
value's name (``code``, ``low``...) to its field: the entry's own, or ``c2.code`` for the
second component of a composite entry. A ``None`` where SQLite compares with ``=`` matches
nothing (SQL's ``NULL = x``), never "the field is missing".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fhir_server.search.plan import (
    CompositeMatch,
    DateMatch,
    NumberMatch,
    Predicate,
    ReferenceMatch,
    StringMatch,
    TokenMatch,
    UriMatch,
)
from fhir_server.search.types import date as date_type
from fhir_server.search.types.string import fold
from fhir_server.search.types.uri import below_prefix, parents
from fhir_server.storage.mongo.documents import COMPONENTS, Document

TOP_TEXT = "\U0010ffff"
NEVER: Document = {"_id": {"$in": []}}
"""A filter no document meets."""

Path = Callable[[str], str]
Clause = tuple[str, str, Any]
"""(field, comparison operator, value): one comparison of a conjunction."""


def _own(name: str) -> str:
    return name


def all_of(filters: Sequence[Document]) -> Document:
    """The conjunction of ``filters``: merged into one document when no field repeats."""
    kept = [f for f in filters if f]
    if not kept:
        return {}
    merged: Document = {}
    for f in kept:
        if merged.keys() & f.keys():
            return {"$and": kept}
        merged.update(f)
    return merged


def any_of(filters: Sequence[Document]) -> Document:
    """The disjunction of ``filters``; none at all matches nothing."""
    if not filters:
        return NEVER
    return filters[0] if len(filters) == 1 else {"$or": list(filters)}


def conjunction(clauses: Sequence[Clause]) -> Document:
    """Comparisons on fields, several on one field merged (``{low: {$gte, $lte}}``)."""
    out: Document = {}
    for field, op, value in clauses:
        ops = out.setdefault(field, {})
        if op in ops and ops[op] != value:  # the same bound twice: keep both, spelled out
            return {"$and": [{f: {o: v}} for f, o, v in clauses]}
        ops[op] = value
    return out


def equals(field: str, value: Any) -> Document:
    return NEVER if value is None else {field: value}


def _string(p: StringMatch, path: Path) -> Document:
    if p.mode == "exact":
        return {path("norm"): fold(p.value), path("exact"): p.value}
    if p.mode == "contains":
        return {path("norm"): {"$regex": re.escape(p.value)}}
    return {path("norm"): {"$gte": p.value, "$lt": p.value + TOP_TEXT}}


def _token(p: TokenMatch, path: Path) -> Document:
    parts: list[Document] = []
    if p.code is not None:
        parts.append({path("code"): p.code})
    if p.system == "":
        parts.append({path("system"): None})
    elif p.system is not None:
        parts.append({path("system"): p.system})
    return all_of(parts)


def _reference(p: ReferenceMatch, path: Path) -> Document:
    if p.url is not None:
        return {path("url"): p.url}
    if p.type is None:
        return equals(path("id"), p.id)
    return all_of([equals(path("id"), p.id), {path("type"): p.type}])


def ranges(prefix: str, low: str, high: str, s_low: Any, s_high: Any) -> Document:
    """``date_sql``'s prefix rule on fields ``low``/``high`` against ``[s_low, s_high]``."""
    contained: list[Clause] = [(low, "$gte", s_low), (high, "$lte", s_high)]
    rules: dict[str, list[list[Clause]]] = {
        "eq": [[(low, "$gte", s_low), (low, "$lte", s_high), (high, "$lte", s_high)]],
        "ne": [[(low, "$lt", s_low)], [(high, "$gt", s_high)]],
        "gt": [[(high, "$gt", s_high)]],
        "lt": [[(low, "$lt", s_low)]],
        "ge": [[(high, "$gt", s_high)], contained],
        "le": [[(low, "$lt", s_low)], contained],
        "sa": [[(low, "$gt", s_high)]],
        "eb": [[(high, "$lt", s_low)]],
        "ap": [[(low, "$lte", s_high), (high, "$gte", s_low)]],
    }
    return any_of([conjunction(alternative) for alternative in rules[prefix]])


def _date(p: DateMatch, path: Path) -> Document:
    s_low, s_high = date_type.approximately(p) if p.prefix == "ap" else (p.low, p.high)
    return ranges(p.prefix, path("low"), path("high"), s_low, s_high)


def _number(p: NumberMatch, path: Path, *, quantity: bool) -> Document:
    low, top = path("value"), path("top")
    slack = abs(p.value) * 0.1
    rules: dict[str, list[list[Clause]]] = {
        "eq": [[(low, "$gte", p.low), (low, "$lt", p.high), (top, "$lt", p.high)]],
        "ne": [[(low, "$lt", p.low)], [(top, "$gte", p.high)]],
        "gt": [[(top, "$gt", p.value)]],
        "sa": [[(low, "$gt", p.value)]],
        "lt": [[(low, "$lt", p.value)]],
        "eb": [[(top, "$lt", p.value)]],
        "ge": [[(top, "$gte", p.value)]],
        "le": [[(low, "$lte", p.value)]],
        "ap": [[(low, "$lte", p.value + slack), (top, "$gte", p.value - slack)]],
    }
    rule = any_of([conjunction(alternative) for alternative in rules[p.prefix]])
    if quantity and p.system is not None:
        return all_of([rule, {path("system"): p.system, path("code"): p.code}])
    if quantity and p.code is not None:
        return all_of([rule, {"$or": [{path("code"): p.code}, {path("unit"): p.code}]}])
    return rule


def _uri(p: UriMatch, path: Path) -> Document:
    if p.mode == "above":
        return {path("uri"): {"$in": parents(p.value)}}
    if p.mode == "below":
        prefix = below_prefix(p.value)
        return {
            "$or": [
                {path("uri"): p.value},
                {path("uri"): {"$gte": prefix, "$lt": prefix + TOP_TEXT}},
            ]
        }
    return {path("uri"): p.value}


def _composite(p: CompositeMatch) -> Document:
    parts = []
    for name, kind, part in zip(COMPONENTS, p.kinds, p.parts, strict=False):
        parts.append(predicate(kind, part, _within(name)))
    return all_of(parts)


def _within(component: str) -> Path:
    """Paths of one component of a composite entry (``c2.code``)."""
    return lambda field: f"{component}.{field}"


def predicate(kind: str, p: Predicate, path: Path = _own) -> Document:
    """The filter an index entry of a ``kind`` parameter meets when it matches ``p``."""
    if isinstance(p, StringMatch):
        return _string(p, path)
    if isinstance(p, TokenMatch):
        return _token(p, path)
    if isinstance(p, ReferenceMatch):
        return _reference(p, path)
    if isinstance(p, DateMatch):
        return _date(p, path)
    if isinstance(p, NumberMatch):
        return _number(p, path, quantity=kind == "quantity")
    if isinstance(p, UriMatch):
        return _uri(p, path)
    if isinstance(p, CompositeMatch):
        return _composite(p)
    raise TypeError(f"unsupported predicate {p!r}")  # pragma: no cover
