"""quantity parameters: ``[prefix][number]|[system]|[code]``, ``[number]||[unit]`` or a bare
number; number semantics for the value, exact match of system and code (or the unit when
no system is given). No unit conversion.

Spec: https://hl7.org/fhir/R4/search.html#quantity
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from typing import Any

from fhir_server.errors import InvalidSearch
from fhir_server.search.fhirpath import Node
from fhir_server.search.plan import NumberMatch, ParamIn
from fhir_server.search.types.number import number, range_matches
from fhir_server.search.values import split_unescaped, unescape
from fhir_server.storage.records import NumberRow

CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


def _row(key: str, value: Any) -> NumberRow | None:
    if not isinstance(value, dict):
        return None
    amount = value.get("value")
    if isinstance(amount, bool) or not isinstance(amount, int | float | Decimal):
        return None
    system, code, unit = value.get("system"), value.get("code"), value.get("unit")
    if "currency" in value:  # Money
        system, code = CURRENCY_SYSTEM, value.get("currency")
    return NumberRow(
        key,
        float(amount),
        system if isinstance(system, str) else None,
        code if isinstance(code, str) else None,
        unit if isinstance(unit, str) else None,
    )


def extract(key: str, nodes: list[Node], base_url: str) -> list[NumberRow]:
    rows: list[NumberRow] = []
    for value, _ in nodes:
        if isinstance(value, dict) and ("low" in value or "high" in value):  # Range: one row
            low, high = _row(key, value.get("low")), _row(key, value.get("high"))
            if low is not None or high is not None:
                unit_of = low or high
                assert unit_of is not None
                rows.append(
                    unit_of._replace(
                        value=low.value if low else -1e308,
                        high=high.value if high else 1e308,
                    )
                )
        else:
            row = _row(key, value)
            if row is not None:
                rows.append(row)
    return rows


def quantity(raw: str) -> NumberMatch:
    parts = [unescape(p) for p in split_unescaped(raw, "|")]
    if len(parts) not in (1, 3):
        raise InvalidSearch(
            f"{raw!r} is not [number], [number]|[system]|[code] or [number]||[unit]"
        )
    match = number(parts[0])
    if len(parts) == 3:
        match = replace(match, system=parts[1] or None, code=parts[2] or None)
    return match


def parse(key: str, modifier: str | None, raw: str) -> ParamIn:
    if modifier is not None:
        raise InvalidSearch(f"quantity parameters do not take :{modifier}")
    return ParamIn(key, "quantity", tuple(quantity(v) for v in split_unescaped(raw, ",")))


def matches(row: NumberRow, predicate: NumberMatch) -> bool:
    if predicate.system is not None:
        if row.system != predicate.system or row.code != predicate.code:
            return False
    elif predicate.code is not None and predicate.code not in (row.code, row.unit):
        return False
    return range_matches(row.value, row.top, predicate)
