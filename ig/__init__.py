"""The MHS implementation guide: profiles, extensions, terminology and search parameters.

Conformance resources live beside this file as JSON data and ship with the package.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
GENERATED = ROOT / "fsh-generated" / "resources"
"""SUSHI's output: the IG's conformance resources and examples, committed (see README.md)."""


def conformance_resources() -> list[dict[str, Any]]:
    """Every conformance resource of the IG (not the examples), as JSON."""
    return [r for r in _generated() if not _is_example(r)]


def examples() -> list[dict[str, Any]]:
    """The IG's example instances."""
    return [r for r in _generated() if _is_example(r)]


_CONFORMANCE = frozenset(
    {
        "StructureDefinition",
        "CodeSystem",
        "ValueSet",
        "NamingSystem",
        "SearchParameter",
        "CapabilityStatement",
        "ImplementationGuide",
    }
)


def _is_example(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") not in _CONFORMANCE


def _generated() -> list[dict[str, Any]]:
    if not GENERATED.is_dir():
        return []
    out = []
    for path in sorted(GENERATED.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(data, dict) and "resourceType" in data:
            out.append(data)
    return out
