"""A request's context is its server's shared context acting for the request's caller."""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from fhir_server.interactions.context import Context, Limits, Prepared
from smart_auth.context import AccessContext


def every_field_set() -> Context:
    """A context whose every field differs from its default, so a field left out shows."""
    values: dict[str, Any] = {
        "store": object(),
        "access": AccessContext.anyone(),
        "base_url": "https://fhir.example.mil/fhir",
        "max_count": 7,
        "default_count": 3,
        "limits": Limits(bundle_entries=5),
        "auth_url": "https://fhir.example.mil/auth",
        "required_profiles": {"Patient": "https://example.mil/StructureDefinition/p"},
        "after_transaction": [],
        "prepared": {("Patient", "p"): Prepared({"resourceType": "Patient"}, None, ())},
    }
    assert {f.name for f in fields(Context)} == set(values), "a new field: set it here too"
    return Context(**values)


def values_of(context: Context) -> list[Any]:
    return [getattr(context, f.name) for f in fields(Context)]


def test_acting_for_changes_the_access_and_keeps_every_other_field() -> None:
    shared = every_field_set()
    caller = AccessContext.open_server()
    assert values_of(shared.acting_for(caller)) == values_of(replace(shared, access=caller))
    assert shared.acting_for(caller).access is caller
