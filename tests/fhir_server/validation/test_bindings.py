"""Required bindings: a code outside its value set is an issue at the element's path."""

from __future__ import annotations

from fhir_server.validation.bindings import binding_issues


def test_a_code_in_the_required_value_set_passes() -> None:
    assert binding_issues({"resourceType": "Patient", "gender": "female"}) == []


def test_a_code_outside_the_required_value_set_is_code_invalid_at_its_path() -> None:
    [issue] = binding_issues({"resourceType": "Patient", "gender": "robot"})
    assert issue.code == "code-invalid"
    assert issue.expression == ("Patient.gender",)
    assert "'robot'" in issue.diagnostics
    assert "female" in issue.diagnostics


def test_codes_inside_repeating_backbone_elements_are_checked_each() -> None:
    patient = {
        "resourceType": "Patient",
        "contact": [{"gender": "male"}, {"gender": "martian"}],
    }
    [issue] = binding_issues(patient)
    assert issue.expression == ("Patient.contact[1].gender",)


def test_contained_resources_are_checked_by_their_own_type() -> None:
    patient = {
        "resourceType": "Patient",
        "contained": [{"resourceType": "Observation", "id": "o", "status": "guessed"}],
    }
    [issue] = binding_issues(patient)
    assert issue.expression == ("Patient.contained[0].status",)


def test_codes_are_case_sensitive() -> None:
    assert binding_issues({"resourceType": "Observation", "status": "Final"}) != []
    assert binding_issues({"resourceType": "Observation", "status": "final"}) == []


def test_types_without_required_code_bindings_have_no_issues() -> None:
    assert binding_issues({"resourceType": "Binary", "contentType": "text/plain"}) == []
