"""FHIR R4 (4.0.1) specification content shipped as data, not code.

Regenerate the JSON files here from the official definitions with ``tools/build_spec.py``.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from typing import Any

FHIR_VERSION = "4.0.1"


def load(name: str) -> Any:
    """Parse one JSON data file of this package."""
    return json.loads(resources.files(__name__).joinpath(name).read_bytes())


@cache
def r4_resource_types() -> tuple[str, ...]:
    """Every concrete R4 resource type, sorted."""
    return tuple(load("resource-types.json")["resourceTypes"])


@cache
def search_parameters() -> dict[str, dict[str, dict[str, str]]]:
    """Official R4 search parameters: ``{type: {code: {type, url, expression}}}``.

    ``Resource`` holds the parameters every type has (``_id``, ``_lastUpdated``, ...).
    """
    data: dict[str, dict[str, dict[str, str]]] = load("search-parameters.json")
    return data


@cache
def compartment_patient() -> dict[str, list[str]]:
    """The official Patient CompartmentDefinition: ``{type: [parameter codes]}``."""
    data: dict[str, list[str]] = load("compartment-patient.json")
    return data


@cache
def summary_elements() -> dict[str, dict[str, list[str]]]:
    """Top-level elements per type: ``summary`` (isSummary) and ``mandatory`` (min > 0)."""
    data: dict[str, dict[str, list[str]]] = load("summary-elements.json")
    return data
