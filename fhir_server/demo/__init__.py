"""A small demo data set: a sponsor, spouse and two children (linked to the sponsor by
RelatedPerson) with appointments, messages, medications."""

from __future__ import annotations

from importlib import resources
from typing import Any

import orjson

DEMO_MARKER = ("MedicationRequest", "demo-rx-3")


def demo_bundle() -> dict[str, Any]:
    """The demo transaction Bundle (PUT entries with fixed ids)."""
    data: dict[str, Any] = orjson.loads(
        resources.files(__name__).joinpath("demo-bundle.json").read_bytes()
    )
    return data
