"""Search index rows extracted at write time, so search never parses stored JSON.

For now: the ``identifier`` token of every type that has one (what conditional interactions
need); the search work extends this to every parameter of the official definitions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_server.spec import search_parameters
from fhir_server.storage import TokenRow


def _has_identifier_param(type: str) -> bool:
    return "identifier" in search_parameters().get(type, {})


def _tokens(param: str, value: Any) -> list[TokenRow]:
    items = value if isinstance(value, list) else [value]
    rows = []
    for item in items:
        if isinstance(item, Mapping) and isinstance(item.get("value"), str):
            system = item.get("system")
            rows.append(TokenRow(param, system if isinstance(system, str) else None, item["value"]))
    return rows


def extract(resource: Mapping[str, Any]) -> tuple[TokenRow, ...]:
    """Index rows of one (valid) resource."""
    type = resource["resourceType"]
    rows: list[TokenRow] = []
    if _has_identifier_param(type) and "identifier" in resource:
        rows.extend(_tokens("identifier", resource["identifier"]))
    return tuple(dict.fromkeys(rows))
