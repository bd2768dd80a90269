"""Search plans: plain, printable data that every storage engine compiles and runs.

A plan is a conjunction of conditions; each condition is a disjunction of matches (FHIR's
repeated parameter = AND, comma = OR). Spec: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class IdIn:
    """``_id=a,b``: the logical id is one of ``ids``."""

    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TokenIn:
    """A token parameter; each ``(system, code)`` pair is one alternative.

    ``system is None`` matches any system; ``system == ""`` matches only codes without one;
    ``code is None`` matches any code in the system.
    """

    param: str
    pairs: tuple[tuple[str | None, str | None], ...]


Condition = IdIn | TokenIn


@dataclass(frozen=True, slots=True, kw_only=True)
class SearchPlan:
    """Current, non-deleted resources of ``type`` matching every condition, oldest first."""

    type: str
    conditions: tuple[Condition, ...] = ()
    count: int = 50
    after: int | None = field(default=None)

    def explain(self) -> str:
        parts = [repr(c) for c in self.conditions] or ["(all)"]
        return f"{self.type} WHERE " + " AND ".join(parts) + f" LIMIT {self.count}"
