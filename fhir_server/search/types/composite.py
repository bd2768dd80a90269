"""composite parameters: several components that must match the same element, written
``[value1]$[value2]`` (``code-value-quantity=http://loinc.org|8480-6$gt100``).

Each component is a parameter of its own type; its values come from the component's
expression evaluated on each node of the composite's expression.
Spec: https://hl7.org/fhir/R4/search.html#composite
"""

from __future__ import annotations

import itertools
from functools import cache
from typing import Any, cast

from fhir_server.errors import InvalidSearch
from fhir_server.search.fhirpath import Node, compile_relative
from fhir_server.search.plan import ComponentMatch, CompositeMatch, Kind, ParamIn
from fhir_server.search.registry import lookup
from fhir_server.search.values import split_unescaped
from fhir_server.storage.records import (
    ComponentRow,
    CompositeRow,
    DateRow,
    NumberRow,
    ReferenceRow,
    StringRow,
    TokenRow,
    UriRow,
)

_PRIMARY: dict[str, type] = {
    "string": StringRow,
    "token": TokenRow,
    "reference": ReferenceRow,
    "date": DateRow,
    "number": NumberRow,
    "quantity": NumberRow,
    "uri": UriRow,
}


@cache
def components(key: str) -> tuple[tuple[Kind, str, Any], ...]:
    """(type, key, accessor) of each component of the composite parameter ``key``."""
    base, _, code = key.partition(".")
    param = lookup(base, code)
    if param is None or param.kind != "composite":
        raise KeyError(key)
    out: list[tuple[Kind, str, Any]] = []
    for component_code, expression in param.components:
        component = lookup(base, component_code)
        if component is None or component.kind not in _PRIMARY:
            raise NotImplementedError(f"{key}: component {component_code} is not searchable")
        kind = cast(Kind, component.kind)
        out.append((kind, component.key, compile_relative(expression)))
    return tuple(out)


def _single(row: ComponentRow) -> ComponentRow:
    """A component keeps one number: a Range component counts as its low end."""
    if isinstance(row, NumberRow) and row.high is not None:
        return row._replace(high=None)
    return row


def extract(key: str, nodes: list[Node], base_url: str) -> list[CompositeRow]:
    from fhir_server.search.types import module_for

    rows = []
    parts = components(key)
    for node in nodes:
        per_component: list[list[ComponentRow]] = []
        for kind, component_key, accessor in parts:
            found = module_for(kind).extract(component_key, accessor(node), base_url)
            per_component.append(
                [
                    _single(cast(ComponentRow, r))
                    for r in found
                    if r.param == component_key and isinstance(r, _PRIMARY[kind])
                ]
            )
        for combination in itertools.product(*per_component):
            rows.append(CompositeRow(key, tuple(combination)))
    return rows


def parse(key: str, modifier: str | None, raw: str, *, base_url: str) -> ParamIn:
    from fhir_server.search.types import module_for, reference

    if modifier is not None:
        raise InvalidSearch(f"composite parameters do not take :{modifier}")
    parts = components(key)
    alternatives = []
    for alternative in split_unescaped(raw, ","):
        values = split_unescaped(alternative, "$")
        if len(values) != len(parts):
            raise InvalidSearch(f"{alternative!r} needs {len(parts)} values joined by '$'")
        predicates: list[ComponentMatch] = []
        for (kind, component_key, _), value in zip(parts, values, strict=True):
            if kind == "reference":
                parsed = reference.parse(component_key, None, value, targets=(), base_url=base_url)
            else:
                parsed = module_for(kind).parse(component_key, None, value)
            predicates.append(cast(ComponentMatch, parsed.any_of[0]))
        kinds = tuple(kind for kind, _, _ in parts)
        alternatives.append(CompositeMatch(kinds, tuple(predicates)))
    return ParamIn(key, "composite", tuple(alternatives))


def matches(row: CompositeRow, predicate: CompositeMatch) -> bool:
    from fhir_server.search.types import module_for

    return len(row.parts) == len(predicate.parts) and all(
        module_for(kind).matches(part, p)
        for kind, part, p in zip(predicate.kinds, row.parts, predicate.parts, strict=True)
    )
