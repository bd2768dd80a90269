"""Search plans: plain, printable data that every storage engine compiles and runs.

A plan is a conjunction of conditions; a condition on one parameter is a disjunction of
predicates (FHIR's repeated parameter = AND, comma = OR). Parameters are named by key:
``Observation.code``, ``Resource._tag``; derived keys carry a suffix (``Observation.code:text``
for token text, ``Observation.subject:identifier`` for reference identifiers,
``Patient.identifier:of-type``).

Spec: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]
Kind = Literal["string", "token", "reference", "date", "number", "quantity", "uri", "composite"]


@dataclass(frozen=True, slots=True)
class StringMatch:
    """``start``: the folded value starts with ``value``; ``contains``: has it anywhere
    (both on folded text); ``exact``: equals ``value`` as written."""

    mode: Literal["start", "contains", "exact"]
    value: str


@dataclass(frozen=True, slots=True)
class TokenMatch:
    """``system is None``: any system; ``""``: no system; ``code is None``: any code."""

    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class ReferenceMatch:
    """A local ``type``/``id`` (``type`` None: any type), or an absolute/canonical ``url``."""

    type: str | None
    id: str | None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class DateMatch:
    """``prefix`` against the search value's range ``[low, high]`` (inclusive, UTC text)."""

    prefix: Prefix
    low: str
    high: str


@dataclass(frozen=True, slots=True)
class NumberMatch:
    """``prefix`` against ``value``; ``eq``/``ne`` use the implied range ``[low, high)``;
    quantities may also require ``system``/``code`` (or the ``unit`` when no system)."""

    prefix: Prefix
    value: float
    low: float
    high: float
    system: str | None = None
    code: str | None = None


@dataclass(frozen=True, slots=True)
class UriMatch:
    mode: Literal["eq", "above", "below"]
    value: str


ComponentMatch = StringMatch | TokenMatch | ReferenceMatch | DateMatch | NumberMatch | UriMatch


@dataclass(frozen=True, slots=True)
class CompositeMatch:
    """Every component matches the same composite row; ``kinds`` are the components' types."""

    kinds: tuple[Kind, ...]
    parts: tuple[ComponentMatch, ...]


Predicate = ComponentMatch | CompositeMatch


@dataclass(frozen=True, slots=True)
class ParamIn:
    """Some index row of ``param`` matches one of ``any_of``; ``negate``: none does
    (``:not``, which also keeps resources without the element)."""

    param: str
    kind: Kind
    any_of: tuple[Predicate, ...]
    negate: bool = False


@dataclass(frozen=True, slots=True)
class Missing:
    """``:missing=true``: no index row for ``param``; ``false``: at least one."""

    param: str
    kind: Kind
    missing: bool


@dataclass(frozen=True, slots=True)
class IdIn:
    """``_id=a,b``: the logical id is one of ``ids``."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LastUpdated:
    """``_lastUpdated``: the resource's meta.lastUpdated matches one of ``any_of``."""

    any_of: tuple[DateMatch, ...]


@dataclass(frozen=True, slots=True)
class Chain:
    """``param`` (a reference) points at a ``target_type`` resource meeting ``where``."""

    param: str
    target_type: str
    where: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class Has:
    """``_has``: some ``source_type`` resource refers to this one by ``param`` and meets
    ``where``."""

    source_type: str
    param: str
    where: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """At least one of ``conditions`` holds (compartment membership by several params)."""

    conditions: tuple[Condition, ...]


@dataclass(frozen=True, slots=True)
class TypeIn:
    """The resource is of one of ``types`` (a per-type rule inside a multi-type search)."""

    types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every one of ``conditions`` holds (inside an AnyOf: one scope's compartment and its
    granular filters)."""

    conditions: tuple[Condition, ...]


Condition = ParamIn | Missing | IdIn | LastUpdated | Chain | Has | AnyOf | AllOf | TypeIn


@dataclass(frozen=True, slots=True)
class SortKey:
    """``_sort`` by ``param`` (or ``_id`` / ``_lastUpdated``) of ``kind``."""

    param: str
    kind: Kind | Literal["id", "lastUpdated"]
    descending: bool = False


@dataclass(frozen=True, slots=True)
class Cursor:
    """A position between rows: after (or, with ``before``, before) the row with these sort
    values and row id."""

    values: tuple[str | float | None, ...]
    rid: int
    before: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPlan:
    """Current, non-deleted resources of ``types`` meeting every condition, in ``sort``
    order (then by creation), ``count`` at a time after ``cursor``."""

    types: tuple[str, ...]
    conditions: tuple[Condition, ...] = ()
    sort: tuple[SortKey, ...] = ()
    count: int = 50
    cursor: Cursor | None = field(default=None)

    def explain(self) -> str:
        where = " AND ".join(map(repr, self.conditions)) or "(all)"
        order = ", ".join(f"{'-' if s.descending else ''}{s.param}" for s in self.sort)
        return (
            f"{'|'.join(self.types)} WHERE {where}"
            + (f" ORDER BY {order}" if order else "")
            + f" LIMIT {self.count}"
            + (f" AFTER {self.cursor}" if self.cursor else "")
        )
