"""An in-memory evaluation of search plans over resources held in a dict.

It shares extraction (index rows) and the per-type ``matches`` rules with the engines but
none of their query compilation, so it is the brute-force oracle the search tests compare
every engine with. It ignores sorting and paging: it answers which resources match.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from fhir_server.indexing import extract
from fhir_server.search.plan import (
    AllOf,
    AnyOf,
    Chain,
    Condition,
    Has,
    IdIn,
    LastUpdated,
    Missing,
    ParamIn,
    SearchPlan,
    TypeIn,
)
from fhir_server.search.types import date as date_type
from fhir_server.search.types import module_for
from fhir_server.storage.records import DateRow, IndexRow, ReferenceRow

Key = tuple[str, str]


class Matcher:
    """Matches plans against ``resources`` (current, non-deleted), keyed by (type, id)."""

    def __init__(
        self,
        resources: Mapping[Key, Mapping[str, Any]],
        *,
        base_url: str,
        only: Collection[str] | None = None,
    ) -> None:
        """``only``: extract just these parameter keys (all the conditions will ask about)."""
        self.resources = resources
        self.rows: dict[Key, dict[str, list[IndexRow]]] = {}
        for key, resource in resources.items():
            grouped: dict[str, list[IndexRow]] = {}
            for row in extract(resource, base_url=base_url, only=only):
                grouped.setdefault(row.param, []).append(row)
            self.rows[key] = grouped

    def search(self, plan: SearchPlan) -> set[Key]:
        return {
            key for key in self.resources if key[0] in plan.types and self.all(key, plan.conditions)
        }

    def all(self, key: Key, conditions: Iterable[Condition]) -> bool:
        return all(self.holds(key, c) for c in conditions)

    def holds(self, key: Key, c: Condition) -> bool:
        rows = self.rows[key]
        if isinstance(c, IdIn):
            return key[1] in c.ids
        if isinstance(c, LastUpdated):
            stamp = str(self.resources[key]["meta"]["lastUpdated"])
            instant = stamp[:23] + "000Z"
            stamp_row = DateRow("_lastUpdated", instant, instant)
            return any(date_type.matches(stamp_row, p) for p in c.any_of)
        if isinstance(c, ParamIn):
            module = module_for(c.kind)
            hit = any(module.matches(row, p) for row in rows.get(c.param, ()) for p in c.any_of)
            return not hit if c.negate else hit
        if isinstance(c, Missing):
            return (c.param not in rows) == c.missing
        if isinstance(c, Chain):
            for row in rows.get(c.param, ()):
                if not isinstance(row, ReferenceRow) or row.type != c.target_type:
                    continue
                target = (row.type, row.id or "")
                if target in self.resources and self.all(target, c.where):
                    return True
            return False
        if isinstance(c, Has):
            for source, source_rows in self.rows.items():
                if source[0] != c.source_type:
                    continue
                points = any(
                    isinstance(row, ReferenceRow) and (row.type, row.id) == key
                    for row in source_rows.get(c.param, ())
                )
                if points and self.all(source, c.where):
                    return True
            return False
        if isinstance(c, AnyOf):
            return any(self.holds(key, sub) for sub in c.conditions)
        if isinstance(c, AllOf):
            return all(self.holds(key, sub) for sub in c.conditions)
        if isinstance(c, TypeIn):
            return key[0] in c.types
        raise TypeError(f"unsupported condition {c!r}")  # pragma: no cover


def params_of(conditions: Iterable[Condition]) -> set[str]:
    """Every parameter key ``conditions`` look at on the resource itself (not through chains
    or ``_has``, which need other resources)."""
    out: set[str] = set()
    for c in conditions:
        if isinstance(c, ParamIn | Missing):
            out.add(c.param)
        elif isinstance(c, AnyOf | AllOf):
            out |= params_of(c.conditions)
        elif isinstance(c, Chain):
            out.add(c.param)
    return out


def ids(keys: Sequence[Key] | set[Key]) -> list[str]:
    return sorted(f"{t}/{i}" for t, i in keys)
