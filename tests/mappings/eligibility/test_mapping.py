"""The mapping from one eligibility record to FHIR resources: every field lands somewhere,
the SSN is security-labelled, links use identifiers, and a termination ends, never deletes."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.resource_json import stamped
from fhir_server.validation import profile_registry, validate_resource
from ig.naming import (
    BENEFICIARY_CATEGORY_EXTENSION,
    BRANCH_OF_SERVICE_EXTENSION,
    DMIS_ID,
    DOD_BENEFITS_NUMBER,
    DOD_ID,
    DUTY_STATUS_EXTENSION,
    PAY_GRADE_EXTENSION,
    SSN,
)
from mappings.eligibility.mapping import INLINE_SECURITY_LABEL, map_record
from mappings.eligibility.records import EligibilityRecord, check
from mappings.imports import Reject

SPONSOR: dict[str, str] = {
    "record_action": "A",
    "record_timestamp": "2026-11-01T12:00:00Z",
    "dod_id": "1234567890",
    "dbn": "12345678900",
    "ssn": "123456789",
    "last_name": "Garcia",
    "first_name": "Luis",
    "middle_name": "Antonio",
    "name_suffix": "JR",
    "birth_date": "19880412",
    "sex": "M",
    "address_line1": "100 Demo Way",
    "address_line2": "Apt 2",
    "city": "Bethesda",
    "state": "MD",
    "postal_code": "20889",
    "country": "US",
    "phone": "3015550100",
    "email": "luis@example.mil",
    "sponsor_dod_id": "1234567890",
    "relationship": "SF",
    "beneficiary_category": "ADSM",
    "branch": "N",
    "pay_grade": "O03",
    "duty_status": "AD",
    "eligibility_begin": "20100601",
    "eligibility_end": "",
    "plan": "PRI",
    "enrollment_site": "0067",
    "pcm": "Dr. Dana Reyes",
}
CHILD = {
    **SPONSOR,
    "dod_id": "1234567892",
    "dbn": "12345678902",
    "ssn": "",
    "first_name": "Sofia",
    "middle_name": "",
    "name_suffix": "",
    "birth_date": "20160214",
    "sex": "F",
    "relationship": "CH",
    "beneficiary_category": "ADFM",
    "pay_grade": "",
    "duty_status": "",
}


def record(values: dict[str, str], line: int = 1) -> EligibilityRecord:
    parsed = check(line, values)
    assert isinstance(parsed, EligibilityRecord), parsed
    return parsed


def resources(values: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {r["resourceType"]: r for r, _ in map_record(record(values)).everything}


def extension_code(resource: dict[str, Any], url: str) -> str:
    [found] = [e for e in resource["extension"] if e["url"] == url]
    return str(found["valueCoding"]["code"])


def test_the_patient_carries_the_dod_id_dbn_names_birth_date_sex_and_contacts() -> None:
    patient = resources(SPONSOR)["Patient"]
    ids = {i["system"]: i["value"] for i in patient["identifier"]}
    assert ids[DOD_ID] == "1234567890"
    assert ids[DOD_BENEFITS_NUMBER] == "12345678900"
    assert patient["name"] == [
        {
            "use": "official",
            "family": "Garcia",
            "given": ["Luis", "Antonio"],
            "suffix": ["JR"],
        }
    ]
    assert patient["birthDate"] == "1988-04-12"
    assert patient["gender"] == "male"
    assert patient["address"][0]["line"] == ["100 Demo Way", "Apt 2"]
    assert patient["address"][0]["postalCode"] == "20889"
    assert {t["system"]: t["value"] for t in patient["telecom"]} == {
        "phone": "3015550100",
        "email": "luis@example.mil",
    }
    assert patient["generalPractitioner"] == [{"display": "Dr. Dana Reyes"}]
    assert patient["managingOrganization"]["identifier"] == {"system": DMIS_ID, "value": "0067"}


def test_the_patient_carries_category_branch_duty_status_and_pay_grade_extensions() -> None:
    patient = resources(SPONSOR)["Patient"]
    assert extension_code(patient, BENEFICIARY_CATEGORY_EXTENSION) == "ADSM"
    assert extension_code(patient, BRANCH_OF_SERVICE_EXTENSION) == "N"
    assert extension_code(patient, DUTY_STATUS_EXTENSION) == "AD"
    assert extension_code(patient, PAY_GRADE_EXTENSION) == "O03"


def test_the_ssn_is_kept_only_as_a_restricted_security_labelled_identifier() -> None:
    patient = resources(SPONSOR)["Patient"]
    [ssn] = [i for i in patient["identifier"] if i["system"] == SSN]
    assert ssn["value"] == "123456789"
    [label] = ssn["extension"]
    assert label["url"] == INLINE_SECURITY_LABEL
    assert label["valueCoding"]["code"] == "R"


def test_a_bad_ssn_is_rejected_without_showing_it() -> None:
    rejected = check(7, {**SPONSOR, "ssn": "12345X789"})
    assert isinstance(rejected, Reject)
    assert rejected.field == "ssn"
    assert "12345X789" not in str(rejected)


def test_a_sponsor_has_no_related_person_and_a_dependent_names_the_sponsor_by_dod_id() -> None:
    assert "RelatedPerson" not in resources(SPONSOR)
    link = resources(CHILD)["RelatedPerson"]
    assert {"system": DOD_ID, "value": "1234567890"} in link["identifier"]
    codes = {c["code"] for c in link["relationship"][0]["coding"]}
    assert "PRN" in codes  # the sponsor is the child's parent
    assert "CH" in codes
    assert link["patient"]["reference"].startswith("Patient?identifier=")
    assert link["active"] is True


def test_the_coverage_has_the_plan_the_sponsor_as_subscriber_and_the_eligibility_period() -> None:
    coverage = resources(CHILD)["Coverage"]
    assert coverage["class"][0]["value"] == "PRI"
    assert coverage["subscriber"] == {"identifier": {"system": DOD_ID, "value": "1234567890"}}
    assert coverage["subscriberId"] == "1234567890"
    assert coverage["relationship"]["coding"][0]["code"] == "child"
    assert coverage["period"] == {"start": "2010-06-01"}
    assert coverage["dependent"] == "02"
    assert coverage["status"] == "active"


def test_a_termination_ends_the_coverage_period_and_the_sponsor_link() -> None:
    ended = resources({**CHILD, "record_action": "T", "eligibility_end": "20261031"})
    assert ended["Coverage"]["period"] == {"start": "2010-06-01", "end": "2026-10-31"}
    assert ended["RelatedPerson"]["active"] is False


def test_a_termination_without_an_end_date_ends_on_the_record_date() -> None:
    ended = resources({**CHILD, "record_action": "T"})
    assert ended["Coverage"]["period"]["end"] == "2026-11-01"


def test_the_enrollment_site_becomes_an_organization_found_by_dmis_id() -> None:
    site = resources(SPONSOR)["Organization"]
    assert site["identifier"] == [{"system": DMIS_ID, "value": "0067"}]


@pytest.mark.parametrize("values", [SPONSOR, CHILD], ids=["sponsor", "child"])
def test_every_mapped_resource_is_valid_fhir(values: dict[str, str]) -> None:
    for resource, _ in map_record(record(values)).everything:
        document = stamped(
            _literal(resource), id="x", version=1, last_updated="2026-11-01T12:00:00.000Z"
        )
        validate_resource(document)


def _literal(node: Any) -> Any:
    """Conditional references (resolved by the import's transaction) as literal ones."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and "?" in reference:
            return {**node, "reference": "Patient/p"}
        return {k: _literal(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_literal(v) for v in node]
    return node


PROFILE_OF = {
    "Patient": "http://fhir.mhs-fhir.example/StructureDefinition/mhs-patient",
    "RelatedPerson": "http://fhir.mhs-fhir.example/StructureDefinition/mhs-related-person",
    "Coverage": "http://fhir.mhs-fhir.example/StructureDefinition/mhs-coverage",
}


@pytest.mark.parametrize("values", [SPONSOR, CHILD], ids=["sponsor", "child"])
def test_every_mapped_resource_meets_its_mhs_profile(values: dict[str, str]) -> None:
    registry = profile_registry()
    for resource, _ in map_record(record(values)).everything:
        profile = PROFILE_OF.get(resource["resourceType"])
        if profile is None:
            continue
        assert registry.issues(_literal(resource), profile) == []
