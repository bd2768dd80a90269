"""reference parameters, chaining and reverse chaining.

https://hl7.org/fhir/R4/search.html#reference, #chaining and #has: ``[id]``, ``[type]/[id]``,
``[url]`` (absolute under the server's base = local), ``:[type]``, ``:identifier``,
``:missing``; chains of one and two levels (each chained parameter evaluated on its own);
``_has`` (OR, AND, nested).
"""

from __future__ import annotations

from typing import Any

import pytest

MRN = "http://acme.org/mrn"


def observation(id: str, code: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        **fields,
    }


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(
        {"resourceType": "Organization", "id": "acme", "name": "Acme Health"},
        {
            "resourceType": "Organization",
            "id": "beta",
            "name": "Beta Clinic",
            "partOf": ref("Organization/acme"),
        },
        {
            "resourceType": "Practitioner",
            "id": "joe",
            "name": [{"given": ["Joe"], "family": "Jones"}],
            "address": [{"state": "CA"}],
        },
        {
            "resourceType": "Practitioner",
            "id": "jane",
            "name": [{"given": ["Jane"], "family": "Jansen"}],
            "address": [{"state": "MN"}],
        },
        {
            "resourceType": "Patient",
            "id": "peter",
            "name": [{"given": ["Peter"], "family": "Parker"}],
            "managingOrganization": ref("Organization/acme"),
            "generalPractitioner": [ref("Practitioner/joe"), ref("Practitioner/jane")],
        },
        {
            "resourceType": "Patient",
            "id": "paul",
            "name": [{"given": ["Paul"], "family": "Parker"}],
            "generalPractitioner": [ref("Practitioner/joe")],
        },
        {
            "resourceType": "Patient",
            "id": "mary",
            "name": [{"given": ["Mary"], "family": "Major"}],
            "identifier": [{"system": MRN, "value": "M1"}],
            "managingOrganization": ref("Organization/beta"),
        },
        {"resourceType": "Patient", "id": "shared", "name": [{"given": ["Shared"]}]},
        {"resourceType": "Group", "id": "shared", "type": "person", "actual": True},
        {
            "resourceType": "Encounter",
            "id": "mary-visit",
            "status": "finished",
            "class": {"code": "AMB"},
            "subject": ref("Patient/mary"),
            "serviceProvider": ref("Organization/beta"),
        },
        observation("peter-relative", "1111-1", subject=ref("Patient/peter")),
        observation(
            "peter-absolute",
            "1111-1",
            subject=ref(f"{fhir.base}/Patient/peter"),
            performer=[ref("Practitioner/jane")],
        ),
        observation(
            "peter-elsewhere", "2222-2", subject=ref("http://other.example.org/fhir/Patient/peter")
        ),
        observation(
            "mary-obs",
            "2222-2",
            subject=ref("Patient/mary"),
            encounter=ref("Encounter/mary-visit"),
        ),
        observation(
            "mary-by-identifier",
            "3333-3",
            subject={"identifier": {"system": MRN, "value": "M1"}, "display": "Mary"},
        ),
        observation("shared-patient", "4444-4", subject=ref("Patient/shared")),
        observation("shared-group", "4444-4", subject=ref("Group/shared")),
        observation("no-subject", "5555-5"),
    )


# -- plain references ----------------------------------------------------------------------


def test_type_and_id(fhir: Any) -> None:
    assert fhir.ids("Observation", {"subject": "Patient/peter"}) == {
        "peter-relative",
        "peter-absolute",
    }


def test_bare_id_on_a_parameter_with_one_target_type(fhir: Any) -> None:
    """patient "must always" refer to a Patient: no ":Patient" or "Patient/" needed."""
    assert fhir.ids("Observation", {"patient": "peter"}) == {"peter-relative", "peter-absolute"}


def test_absolute_url_under_the_server_base_matches_relative_references(fhir: Any) -> None:
    """Spec: "A relative reference resolving to the same value as a specified absolute URL, or vice
    versa, qualifies as a match"."""
    found = fhir.ids("Observation", {"subject": f"{fhir.base}/Patient/peter"})
    assert found == {"peter-relative", "peter-absolute"}


def test_reference_to_another_server_is_not_local(fhir: Any) -> None:
    url = "http://other.example.org/fhir/Patient/peter"
    assert fhir.ids("Observation", {"subject": url}) == {"peter-elsewhere"}


def test_type_modifier(fhir: Any) -> None:
    """subject:Patient=23 "has the same effect as" subject=Patient/23."""
    assert fhir.ids("Observation", {"subject:Patient": "shared"}) == {"shared-patient"}
    assert fhir.ids("Observation", {"subject:Group": "shared"}) == {"shared-group"}
    assert fhir.ids("Observation", {"subject": "Group/shared"}) == {"shared-group"}


def test_bare_id_of_several_types_is_rejected(fhir: Any) -> None:
    """search.html#reference: "Servers SHOULD reject a search where the logical id refers to
    more than one matching resource across different types" (Patient/shared, Group/shared)."""
    fhir.error("Observation", {"subject": "shared"})


def test_type_modifier_must_be_a_target_of_the_parameter(fhir: Any) -> None:
    outcome = fhir.error("Observation", {"subject:Organization": "acme"})
    assert "subject" in fhir.diagnostics(outcome)


def test_identifier_modifier(fhir: Any) -> None:
    """subject:identifier=http://acme.org/fhir/identifier/mrn|123456 works as a token."""
    assert fhir.ids("Observation", {"subject:identifier": f"{MRN}|M1"}) == {"mary-by-identifier"}
    assert fhir.ids("Observation", {"subject:identifier": "M1"}) == {"mary-by-identifier"}
    assert fhir.ids("Observation", {"subject:identifier": "http://other.org|M1"}) == set()


def test_identifier_only_reference_does_not_match_a_literal_search(fhir: Any) -> None:
    assert "mary-by-identifier" not in fhir.ids("Observation", {"subject": "Patient/mary"})


def test_comma_is_or(fhir: Any) -> None:
    found = fhir.ids("Observation", {"subject": "Patient/mary,Patient/shared"})
    assert found == {"mary-obs", "shared-patient"}


def test_missing_true_finds_resources_without_the_reference(fhir: Any) -> None:
    found = fhir.ids("Observation", {"subject:missing": "true"})
    assert "no-subject" in found
    assert found.isdisjoint({"peter-relative", "peter-absolute", "peter-elsewhere", "mary-obs"})


def test_missing_false_finds_resources_with_the_reference(fhir: Any) -> None:
    found = fhir.ids("Observation", {"subject:missing": "false"})
    assert "no-subject" not in found
    assert {"peter-relative", "peter-absolute", "peter-elsewhere", "shared-group"} <= found


def test_reference_with_only_an_identifier_is_not_missing(fhir: Any) -> None:
    """search.html#modifiers: :missing=true returns "all the resources that don't have a
    value for the parameter (which usually equates to not having the relevant element in the
    resource)"; Observation.subject is there, as {identifier, display}."""
    assert fhir.ids("Observation", {"subject:missing": "true"}) == {"no-subject"}
    assert "mary-by-identifier" in fhir.ids("Observation", {"subject:missing": "false"})


def test_reference_to_a_missing_resource_is_an_empty_result(fhir: Any) -> None:
    """Spec: "GET [base]/Observation?subject=101, where "101" does not exist" is not an error."""
    assert fhir.ids("Observation", {"subject": "Patient/101"}) == set()


# -- chains ------------------------------------------------------------------------------


def test_chain_with_type(fhir: Any) -> None:
    """DiagnosticReport?subject:Patient.name=peter."""
    found = fhir.ids("Observation", {"subject:Patient.name": "peter"})
    assert found == {"peter-relative", "peter-absolute"}


def test_chain_without_type(fhir: Any) -> None:
    found = fhir.ids("Observation", {"subject.name": "peter"})
    assert found == {"peter-relative", "peter-absolute"}


def test_chain_through_a_single_target_parameter(fhir: Any) -> None:
    assert fhir.ids("Observation", {"patient.family": "major"}) == {"mary-obs"}
    assert fhir.ids("Observation", {"patient.identifier": f"{MRN}|M1"}) == {"mary-obs"}


def test_chain_does_not_follow_references_to_other_servers(fhir: Any) -> None:
    assert "peter-elsewhere" not in fhir.ids("Observation", {"subject:Patient.name": "peter"})


def test_chain_to_the_id_of_the_target(fhir: Any) -> None:
    assert fhir.ids("Observation", {"subject:Patient._id": "shared"}) == {"shared-patient"}


def test_two_level_chain(fhir: Any) -> None:
    """subject:Patient.organization.name=...: the Observation's patient's organization."""
    assert fhir.ids("Observation", {"subject:Patient.organization.name": "beta"}) == {"mary-obs"}
    assert fhir.ids("Observation", {"subject:Patient.organization.name": "acme"}) == {
        "peter-relative",
        "peter-absolute",
    }


def test_three_level_chain(fhir: Any) -> None:
    found = fhir.ids("Observation", {"encounter.service-provider.partof.name": "acme"})
    assert found == {"mary-obs"}


def test_chain_comma_is_or(fhir: Any) -> None:
    found = fhir.ids("Observation", {"subject:Patient.given": "mary,shared"})
    assert found == {"mary-obs", "shared-patient"}


def test_chained_parameters_are_evaluated_independently(fhir: Any) -> None:
    """general-practitioner.name=Joe&general-practitioner.address-state=MN "may return
    Patients cared for by Joe from CA and Jane from MN"."""
    found = fhir.ids(
        "Patient",
        [("general-practitioner.name", "Joe"), ("general-practitioner.address-state", "MN")],
    )
    assert found == {"peter"}
    assert fhir.ids("Patient", {"general-practitioner.name": "Joe"}) == {"peter", "paul"}


def test_chain_with_a_modifier_at_the_end(fhir: Any) -> None:
    assert fhir.ids("Observation", {"subject:Patient.name:exact": "Peter"}) == {
        "peter-relative",
        "peter-absolute",
    }
    assert fhir.ids("Observation", {"subject:Patient.name:exact": "peter"}) == set()


def test_chain_on_a_parameter_that_is_not_a_reference_is_rejected(fhir: Any) -> None:
    outcome = fhir.error("Observation", {"code.name": "x"})
    assert "code" in fhir.diagnostics(outcome)


# -- _has --------------------------------------------------------------------------------


def test_has_selects_resources_referred_to_by_matching_resources(fhir: Any) -> None:
    """Patient?_has:Observation:patient:code=1234-5."""
    assert fhir.ids("Patient", {"_has:Observation:patient:code": "1111-1"}) == {"peter"}
    assert fhir.ids("Patient", {"_has:Observation:patient:code": "2222-2"}) == {"mary"}


def test_has_through_an_absolute_reference(fhir: Any) -> None:
    found = fhir.ids("Practitioner", {"_has:Observation:performer:code": "1111-1"})
    assert found == {"jane"}


def test_has_comma_is_or(fhir: Any) -> None:
    found = fhir.ids("Patient", {"_has:Observation:patient:code": "1111-1,4444-4"})
    assert found == {"peter", "shared"}


def test_repeated_has_parameters_are_each_satisfied_independently(fhir: Any) -> None:
    found = fhir.ids(
        "Patient",
        [
            ("_has:Observation:patient:code", "2222-2"),
            ("_has:Encounter:patient:status", "finished"),
        ],
    )
    assert found == {"mary"}
    found = fhir.ids(
        "Patient",
        [
            ("_has:Observation:patient:code", "1111-1"),
            ("_has:Encounter:patient:status", "finished"),
        ],
    )
    assert found == set()


def test_has_nested_twice(fhir: Any) -> None:
    """_has:Observation:patient:_has:AuditEvent:entity:user=MyUserId, here: patients with an
    Encounter that some Observation with code 2222-2 refers to."""
    found = fhir.ids(
        "Patient", {"_has:Encounter:patient:_has:Observation:encounter:code": "2222-2"}
    )
    assert found == {"mary"}
    found = fhir.ids(
        "Patient", {"_has:Encounter:patient:_has:Observation:encounter:code": "1111-1"}
    )
    assert found == set()


def test_has_with_a_chain_at_the_end(fhir: Any) -> None:
    found = fhir.ids(
        "Organization", {"_has:Patient:organization:general-practitioner.name": "Jane"}
    )
    assert found == {"acme"}


def test_has_with_a_parameter_that_does_not_refer_to_the_type_is_rejected(fhir: Any) -> None:
    outcome = fhir.error("Organization", {"_has:Observation:patient:code": "1111-1"})
    assert "_has" in fhir.diagnostics(outcome)


def test_malformed_has_is_rejected(fhir: Any) -> None:
    outcome = fhir.error("Patient", {"_has:Observation:patient": "1111-1"})
    assert "_has" in fhir.diagnostics(outcome)
