"""The R4B models behind validation: which types are served, and that each has a model."""

from __future__ import annotations

from fhir_server.spec import r4_resource_types
from fhir_server.validation import served_types
from fhir_server.validation.models import load_all, model_issues


def test_every_served_type_has_a_model_that_validates_a_minimal_resource() -> None:
    load_all()
    for name in sorted(served_types()):
        issues = model_issues({"resourceType": name, "id": "x"})
        assert all(issue.code == "required" for issue in issues), (name, issues)


def test_the_first_class_types_and_the_common_clinical_types_are_served() -> None:
    expected = {"Patient", "Appointment", "Communication", "MedicationRequest", "Observation"}
    assert expected <= served_types()


def test_types_that_r4b_dropped_are_not_served() -> None:
    # R4 types that R4B no longer has (replaced by Evidence and the medicinal-product
    # definitions): the server answers for them as for any type it does not serve.
    dropped = {"EffectEvidenceSynthesis", "RiskEvidenceSynthesis", "MedicinalProduct"}
    assert dropped <= set(r4_resource_types())
    assert not dropped & served_types()
