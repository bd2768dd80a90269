"""For each rule kind the server enforces, a mutated IG example fails with the expression at
the offending element (through the whole write-time validation, as a 422 would report it)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from fhir_server.errors import Unprocessable
from fhir_server.resource_json import stamped
from fhir_server.validation import validate_resource
from ig import examples
from ig.naming import DOD_ID


def example(id: str) -> dict[str, Any]:
    [found] = [e for e in examples() if e["id"] == id]
    return copy.deepcopy(found)


def expressions(resource: dict[str, Any]) -> list[str]:
    document = stamped(resource, id=resource["id"], version=1, last_updated="2026-11-29T00:00:00Z")
    with pytest.raises(Unprocessable) as refused:
        validate_resource(document)
    return [e for issue in refused.value.issues for e in issue.expression]


def _drop_dod_id(r: dict[str, Any]) -> None:
    r["identifier"] = [i for i in r["identifier"] if i["system"] != DOD_ID]


def _short_dod_id(r: dict[str, Any]) -> None:
    for identifier in r["identifier"]:
        if identifier["system"] == DOD_ID:
            identifier["value"] = "12345"


MUTATIONS: list[tuple[str, str, Callable[[dict[str, Any]], None], str]] = [
    ("cardinality of a slice", "example-sponsor", _drop_dod_id, "Patient.identifier"),
    ("invariant", "example-sponsor", _short_dod_id, "Patient"),
    ("cardinality", "example-sponsor", lambda r: r.pop("birthDate"), "Patient.birthDate"),
    (
        "required binding",
        "example-coverage-sponsor",
        lambda r: r["class"][0].update(value="XYZ"),
        "Coverage.class[0].value",
    ),
    (
        "fixed value",
        "example-renewal-request",
        lambda r: r.update(intent="order"),
        "MedicationRequest.intent",
    ),
    (
        "cardinality from a parent profile",
        "example-renewal-request",
        lambda r: r.pop("priorPrescription"),
        "MedicationRequest.priorPrescription",
    ),
    (
        "type of a choice element",
        "example-prescription",
        lambda r: (
            r.update(
                medicationReference={"reference": "Medication/x"}, medicationCodeableConcept=None
            )
            or r.pop("medicationCodeableConcept")
        ),
        "MedicationRequest.medicationReference",
    ),
    (
        "reference target",
        "example-sponsor-of-spouse",
        lambda r: r.update(patient={"reference": "Practitioner/example-pcm"}),
        "RelatedPerson.patient.reference",
    ),
]


@pytest.mark.parametrize(
    ("kind", "id", "mutate", "where"), MUTATIONS, ids=[m[0] for m in MUTATIONS]
)
def test_a_mutated_example_fails_at_the_offending_element(
    kind: str, id: str, mutate: Callable[[dict[str, Any]], None], where: str
) -> None:
    resource = example(id)
    mutate(resource)
    assert where in expressions(resource), kind


def test_every_example_passes_unmutated() -> None:
    for resource in examples():
        document = stamped(
            resource, id=resource["id"], version=1, last_updated="2026-11-29T00:00:00Z"
        )
        validate_resource(document)
