"""Validation against a profile's differential: each rule kind fails a mutated resource with
the offending element as the expression, and a conforming resource passes."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from fhir_server.validation.profiles import ProfileRegistry

BASE = "http://example.org/fhir"
DOD = "http://fhir.mhs-fhir.example/sid/dod-id"
CATEGORY_URL = f"{BASE}/StructureDefinition/category"
CATEGORY_SYSTEM = f"{BASE}/CodeSystem/category"

PROFILE: dict[str, Any] = {
    "resourceType": "StructureDefinition",
    "url": f"{BASE}/StructureDefinition/TestPatient",
    "type": "Patient",
    "derivation": "constraint",
    "differential": {
        "element": [
            {
                "id": "Patient",
                "path": "Patient",
                "constraint": [
                    {
                        "key": "dod-10",
                        "severity": "error",
                        "human": "a DoD ID is 10 digits",
                        "expression": f"identifier.where(system='{DOD}').value"
                        ".all(matches('^[0-9]{10}$'))",
                    }
                ],
            },
            {"id": "Patient.extension", "path": "Patient.extension", "slicing": {}},
            {
                "id": "Patient.extension:category",
                "path": "Patient.extension",
                "sliceName": "category",
                "min": 1,
                "max": "1",
                "type": [{"code": "Extension", "profile": [CATEGORY_URL]}],
            },
            {
                "id": "Patient.extension:category.value[x]",
                "path": "Patient.extension.value[x]",
                "binding": {"strength": "required", "valueSet": f"{BASE}/ValueSet/category"},
            },
            {"id": "Patient.identifier", "path": "Patient.identifier", "min": 1},
            {
                "id": "Patient.identifier:dodId",
                "path": "Patient.identifier",
                "sliceName": "dodId",
                "min": 1,
                "max": "1",
            },
            {
                "id": "Patient.identifier:dodId.system",
                "path": "Patient.identifier.system",
                "min": 1,
                "fixedUri": DOD,
            },
            {"id": "Patient.active", "path": "Patient.active", "fixedBoolean": True},
            {
                "id": "Patient.name",
                "path": "Patient.name",
                "min": 1,
                "max": "2",
                "patternHumanName": {"use": "official"},
            },
            {
                "id": "Patient.managingOrganization",
                "path": "Patient.managingOrganization",
                "type": [
                    {
                        "code": "Reference",
                        "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Organization"],
                    }
                ],
            },
        ]
    },
}
CODES: list[dict[str, Any]] = [
    {
        "resourceType": "CodeSystem",
        "url": CATEGORY_SYSTEM,
        "concept": [{"code": "ADSM"}, {"code": "ADFM"}],
    },
    {
        "resourceType": "ValueSet",
        "url": f"{BASE}/ValueSet/category",
        "compose": {"include": [{"system": CATEGORY_SYSTEM}]},
    },
]
GOOD: dict[str, Any] = {
    "resourceType": "Patient",
    "id": "p",
    "extension": [
        {"url": CATEGORY_URL, "valueCoding": {"system": CATEGORY_SYSTEM, "code": "ADSM"}}
    ],
    "identifier": [{"system": DOD, "value": "1234567890"}, {"system": "urn:x", "value": "7"}],
    "active": True,
    "name": [{"use": "official", "family": "Garcia"}],
    "managingOrganization": {"reference": "Organization/mtf"},
}


@pytest.fixture(scope="module")
def registry() -> ProfileRegistry:
    return ProfileRegistry.from_resources([PROFILE, *CODES])


def problems(registry: ProfileRegistry, resource: dict[str, Any]) -> list[tuple[str, str]]:
    issues = registry.issues(resource, PROFILE["url"])
    return [(i.code, i.expression[0]) for i in issues]


def mutated(change: Any) -> dict[str, Any]:
    resource = copy.deepcopy(GOOD)
    change(resource)
    return resource


def test_a_conforming_resource_passes(registry: ProfileRegistry) -> None:
    assert problems(registry, GOOD) == []


def test_a_missing_required_slice_names_its_parent(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r["identifier"].pop(0))
    assert ("required", "Patient.identifier") in problems(registry, resource)


def test_a_slice_over_its_maximum_names_the_extra_item(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r["identifier"].append({"system": DOD, "value": "1234567891"}))
    assert ("structure", "Patient.identifier[2]") in problems(registry, resource)


def test_an_element_over_its_maximum_is_refused(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r["name"].extend([{"use": "official"}, {"use": "official"}]))
    assert ("structure", "Patient.name[2]") in problems(registry, resource)


def test_a_fixed_value_must_be_equal(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r.update(active=False))
    assert ("value", "Patient.active") in problems(registry, resource)


def test_a_pattern_must_be_contained(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r["name"][0].update(use="nickname"))
    assert ("value", "Patient.name[0]") in problems(registry, resource)


def test_a_required_binding_refuses_other_codes(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r["extension"][0]["valueCoding"].update(code="XYZ"))
    assert ("code-invalid", "Patient.extension[0].valueCoding") in problems(registry, resource)


def test_a_missing_extension_slice_is_required(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r.pop("extension"))
    assert ("required", "Patient.extension") in problems(registry, resource)


def test_an_invariant_is_evaluated_with_fhirpath(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r["identifier"][0].update(value="12345"))
    assert ("invariant", "Patient") in problems(registry, resource)


def test_a_reference_must_name_an_allowed_target_type(registry: ProfileRegistry) -> None:
    resource = mutated(lambda r: r.update(managingOrganization={"reference": "Patient/x"}))
    assert ("value", "Patient.managingOrganization.reference") in problems(registry, resource)


def test_an_unknown_profile_is_one_issue(registry: ProfileRegistry) -> None:
    [issue] = registry.issues(GOOD, f"{BASE}/StructureDefinition/Nope")
    assert issue.code == "not-supported"


def test_a_profile_of_another_type_does_not_apply(registry: ProfileRegistry) -> None:
    [issue] = registry.issues({"resourceType": "Observation"}, PROFILE["url"])
    assert issue.code == "invalid"
