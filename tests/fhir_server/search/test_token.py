"""token parameters (https://hl7.org/fhir/R4/search.html#token).

``[code]`` (any system), ``[system]|[code]``, ``|[code]`` (no system), ``[system]|`` (any code
of the system); modifiers ``:not`` (also resources without a value), ``:text`` (display and
text), ``:of-type`` (Identifier type and value); booleans and ContactPoints; escaping.
"""

from __future__ import annotations

from typing import Any

import pytest

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def category(*codes: str) -> list[dict[str, Any]]:
    return [{"coding": [{"system": CATEGORY, "code": code}]} for code in codes]


def observation(id: str, code: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": id, "status": "final", "code": code, **fields}


OBSERVATIONS = [
    observation(
        "glucose",
        {
            "coding": [
                {
                    "system": LOINC,
                    "code": "2345-7",
                    "display": "Glucose [Mass/volume] in Serum or Plasma",
                }
            ],
            "text": "Serum glucose",
        },
        category=category("laboratory"),
        identifier=[{"system": "http://acme.org/obs", "value": "A,1"}],
    ),
    observation(
        "heart-rate",
        {"coding": [{"system": LOINC, "code": "8867-4", "display": "Heart rate"}]},
        category=category("vital-signs"),
    ),
    observation(
        "local",
        {"coding": [{"code": "2345-7"}], "text": "Local glucose"},
        status="preliminary",
        category=category("laboratory"),
    ),
    observation(
        "snomed",
        {"coding": [{"system": SNOMED, "code": "2345-7"}]},
        status="amended",
        category=category("vital-signs", "laboratory"),
    ),
    observation(
        "two-codings",
        {"coding": [{"system": LOINC, "code": "8867-4"}, {"system": SNOMED, "code": "364075005"}]},
        category=category("vital-signs"),
    ),
    observation("no-category", {"text": "Free text only"}, status="cancelled"),
]

PATIENTS = [
    {
        "resourceType": "Patient",
        "id": "mrn",
        "identifier": [
            {
                "type": {
                    "coding": [{"system": V2_0203, "code": "MR"}],
                    "text": "Medical record number",
                },
                "system": "http://hospital.org/mrn",
                "value": "446053",
            },
            {"system": "http://hl7.org/fhir/sid/us-ssn", "value": "123-45-6789"},
        ],
        "active": True,
        "gender": "female",
        "telecom": [
            {"system": "phone", "value": "555-1234"},
            {"system": "email", "value": "ann@example.org"},
        ],
    },
    {
        "resourceType": "Patient",
        "id": "no-system",
        "identifier": [{"value": "446053"}],
        "active": False,
        "gender": "male",
    },
    {
        "resourceType": "Patient",
        "id": "licence",
        "identifier": [
            {
                "type": {"coding": [{"system": V2_0203, "code": "DL"}]},
                "system": "http://dmv.example.org",
                "value": "446053",
            }
        ],
        "gender": "other",
    },
    {
        "resourceType": "Patient",
        "id": "odd-values",
        "identifier": [
            {"system": "http://odd.example.org", "value": "x|y"},
            {"system": "http://odd.example.org", "value": "a$b"},
            {"system": "http://odd.example.org", "value": "back\\slash"},
        ],
    },
]
OBS = {o["id"] for o in OBSERVATIONS}
PAT = {p["id"] for p in PATIENTS}


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*OBSERVATIONS, *PATIENTS)


# -- [code], [system]|[code], |[code], [system]| ------------------------------------------


def test_code_alone_matches_any_system(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code": "2345-7"}) == {"glucose", "local", "snomed"}


def test_system_and_code_match_both(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code": f"{LOINC}|2345-7"}) == {"glucose"}


def test_bar_code_matches_only_codings_without_system(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code": "|2345-7"}) == {"local"}


def test_system_bar_matches_any_code_of_the_system(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code": f"{LOINC}|"}) == {
        "glucose",
        "heart-rate",
        "two-codings",
    }


def test_any_coding_of_a_codeable_concept_matches(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code": f"{SNOMED}|364075005"}) == {"two-codings"}


def test_identifier_value_and_system(fhir: Any) -> None:
    assert fhir.ids("Patient", {"identifier": "http://hospital.org/mrn|446053"}) == {"mrn"}
    assert fhir.ids("Patient", {"identifier": "446053"}) == {"mrn", "no-system", "licence"}
    assert fhir.ids("Patient", {"identifier": "|446053"}) == {"no-system"}
    assert fhir.ids("Patient", {"identifier": "http://hl7.org/fhir/sid/us-ssn|"}) == {"mrn"}


def test_system_must_match_exactly(fhir: Any) -> None:
    assert fhir.ids("Patient", {"identifier": "http://hospital.org|446053"}) == set()


def test_comma_is_or(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code": f"8867-4,{LOINC}|2345-7"}) == {
        "glucose",
        "heart-rate",
        "two-codings",
    }


def test_repeated_parameter_is_and(fhir: Any) -> None:
    found = fhir.ids("Observation", [("category", "laboratory"), ("category", "vital-signs")])
    assert found == {"snomed"}


def test_token_combines_with_other_parameters(fhir: Any) -> None:
    assert fhir.ids("Observation", [("code", "2345-7"), ("status", "final")]) == {"glucose"}


# -- :not --------------------------------------------------------------------------------


def test_not_includes_resources_without_a_value(fhir: Any) -> None:
    """?gender:not=male "includes all patients that do not have gender = male, including
    patients that do not have a gender at all"."""
    assert fhir.ids("Patient", {"gender:not": "male"}) == {"mrn", "licence", "odd-values"}


def test_not_negates_the_set_not_each_value(fhir: Any) -> None:
    """section:not=48765-2 does not return "any document that has a section that is not" it:
    the negation applies to the set."""
    found = fhir.ids("Observation", {"category:not": "laboratory"})
    assert found == {"heart-rate", "two-codings", "no-category"}


def test_not_with_system_and_code(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code:not": f"{LOINC}|2345-7"}) == OBS - {"glucose"}


def test_not_with_several_values_excludes_each(fhir: Any) -> None:
    assert fhir.ids("Patient", {"gender:not": "male,female"}) == {"licence", "odd-values"}


# -- :text -------------------------------------------------------------------------------


def test_text_searches_codeable_concept_text(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code:text": "local"}) == {"local"}
    assert fhir.ids("Observation", {"code:text": "free text"}) == {"no-category"}


def test_text_searches_coding_display(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code:text": "heart"}) == {"heart-rate"}
    assert fhir.ids("Observation", {"code:text": "glucose [mass"}) == {"glucose"}


def test_text_is_a_case_insensitive_string_search(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code:text": "SERUM"}) == {"glucose"}


def test_text_does_not_search_codes(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code:text": "2345"}) == set()


def test_text_searches_identifier_type_text(fhir: Any) -> None:
    assert fhir.ids("Patient", {"identifier:text": "medical record"}) == {"mrn"}


def test_text_comma_is_or(fhir: Any) -> None:
    assert fhir.ids("Observation", {"code:text": "heart,local"}) == {"heart-rate", "local"}


# -- :of-type ----------------------------------------------------------------------------


def test_of_type_matches_identifier_type_and_value(fhir: Any) -> None:
    """identifier:of-type=http://terminology.hl7.org/CodeSystem/v2-0203|MR|446053."""
    assert fhir.ids("Patient", {"identifier:of-type": f"{V2_0203}|MR|446053"}) == {"mrn"}
    assert fhir.ids("Patient", {"identifier:of-type": f"{V2_0203}|DL|446053"}) == {"licence"}


def test_of_type_needs_the_value_to_match(fhir: Any) -> None:
    assert fhir.ids("Patient", {"identifier:of-type": f"{V2_0203}|MR|999"}) == set()


def test_of_type_needs_the_type_system_to_match(fhir: Any) -> None:
    assert fhir.ids("Patient", {"identifier:of-type": "http://other.org|MR|446053"}) == set()


def test_of_type_needs_all_three_parts(fhir: Any) -> None:
    """Spec: "All 3 parts must be present"."""
    outcome = fhir.error("Patient", {"identifier:of-type": "MR|446053"})
    assert "identifier" in fhir.diagnostics(outcome)


# -- booleans, ContactPoints, codes ------------------------------------------------------


def test_boolean_true_and_false(fhir: Any) -> None:
    assert fhir.ids("Patient", {"active": "true"}) == {"mrn"}
    assert fhir.ids("Patient", {"active": "false"}) == {"no-system"}


def test_boolean_missing(fhir: Any) -> None:
    assert fhir.ids("Patient", {"active:missing": "true"}) == {"licence", "odd-values"}


def test_contact_point_value(fhir: Any) -> None:
    assert fhir.ids("Patient", {"phone": "555-1234"}) == {"mrn"}
    assert fhir.ids("Patient", {"email": "ann@example.org"}) == {"mrn"}
    assert fhir.ids("Patient", {"telecom": "555-1234"}) == {"mrn"}


def test_phone_only_matches_phone_contact_points(fhir: Any) -> None:
    assert fhir.ids("Patient", {"phone": "ann@example.org"}) == set()


def test_code_element(fhir: Any) -> None:
    assert fhir.ids("Observation", {"status": "amended,preliminary"}) == {"snomed", "local"}


def test_missing_codeable_concept(fhir: Any) -> None:
    assert fhir.ids("Observation", {"category:missing": "true"}) == {"no-category"}
    assert fhir.ids("Observation", {"category:missing": "false"}) == OBS - {"no-category"}


# -- escaping ----------------------------------------------------------------------------


def test_escaped_comma_in_an_identifier_value(fhir: Any) -> None:
    """code=a\\,b "is a request for any Observation that has a code of a,b"."""
    assert fhir.ids("Observation", {"identifier": r"A\,1"}) == {"glucose"}
    assert fhir.ids("Observation", {"identifier": r"http://acme.org/obs|A\,1"}) == {"glucose"}


def test_unescaped_comma_splits_the_value(fhir: Any) -> None:
    assert fhir.ids("Observation", {"identifier": "A,1"}) == set()


def test_escaped_bar_in_a_value(fhir: Any) -> None:
    assert fhir.ids("Patient", {"identifier": r"x\|y"}) == {"odd-values"}
    assert fhir.ids("Patient", {"identifier": r"http://odd.example.org|x\|y"}) == {"odd-values"}


def test_unescaped_bar_is_the_system_separator(fhir: Any) -> None:
    assert fhir.ids("Patient", {"identifier": "x|y"}) == set()


def test_escaped_dollar_in_a_value(fhir: Any) -> None:
    """param=xx\\$xx "indicates that the parameter has the literal value xx$xx"."""
    assert fhir.ids("Patient", {"identifier": r"a\$b"}) == {"odd-values"}


def test_escaped_backslash_in_a_value(fhir: Any) -> None:
    """param=xx\\\\xx "indicates a literal value of xx\\xx"."""
    assert fhir.ids("Patient", {"identifier": "back\\\\slash"}) == {"odd-values"}
