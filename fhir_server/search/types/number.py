"""number parameters: prefixes against the value; ``eq`` and ``ne`` honour the precision of
the search value (``100`` means 99.5 up to 100.5, ``1e2`` 50 up to 150).

Spec: https://hl7.org/fhir/R4/search.html#number
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fhir_server.errors import InvalidSearch
from fhir_server.search.fhirpath import Node
from fhir_server.search.plan import NumberMatch, ParamIn, Prefix
from fhir_server.search.types.date import PREFIXES
from fhir_server.search.values import split_unescaped, unescape
from fhir_server.storage.records import NumberRow


def split_prefix(raw: str) -> tuple[Prefix, str]:
    if raw[:2] in PREFIXES:
        return raw[:2], raw[2:]  # type: ignore[return-value]
    return "eq", raw


def number(raw: str) -> NumberMatch:
    """A prefixed number with its implied range."""
    prefix, text = split_prefix(raw)
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InvalidSearch(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise InvalidSearch(f"{text!r} is not a finite number")
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)
    half = Decimal(5) * Decimal(10) ** (exponent - 1)
    return NumberMatch(prefix, float(value), float(value - half), float(value + half))


def _values(value: Any) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float | Decimal):
        return [float(value)]
    return []


def extract(key: str, nodes: list[Node], base_url: str) -> list[NumberRow]:
    return [NumberRow(key, v) for value, _ in nodes for v in _values(value)]


def parse(key: str, modifier: str | None, raw: str) -> ParamIn:
    if modifier is not None:
        raise InvalidSearch(f"number parameters do not take :{modifier}")
    return ParamIn(key, "number", tuple(number(unescape(v)) for v in split_unescaped(raw, ",")))


def range_matches(low: float, high: float, predicate: NumberMatch) -> bool:
    """A target from ``low`` to ``high`` (equal for a single value) against the search value
    (search.html#prefix: eq means the search range contains the target's)."""
    p, v = predicate.prefix, predicate.value
    if p == "eq":
        return predicate.low <= low and high < predicate.high
    if p == "ne":
        return not (predicate.low <= low and high < predicate.high)
    if p == "gt":
        return high > v
    if p == "sa":
        return low > v
    if p == "lt":
        return low < v
    if p == "eb":
        return high < v
    if p == "ge":
        return high >= v
    if p == "le":
        return low <= v
    if p == "ap":
        slack = abs(v) * 0.1
        return low <= v + slack and high >= v - slack
    raise ValueError(p)


def matches(row: NumberRow, predicate: NumberMatch) -> bool:
    return range_matches(row.value, row.top, predicate)
