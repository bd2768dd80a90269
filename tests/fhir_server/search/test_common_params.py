"""Parameters for all resources (https://hl7.org/fhir/R4/search.html#all): ``_id``,
``_lastUpdated``, ``_tag``, ``_profile``, ``_security`` and ``_source`` (on ``meta``).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

TAGS = "http://acme.org/codes"
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"
LIPID = "http://hl7.org/fhir/StructureDefinition/lipidprofile"

PATIENTS = [
    {
        "resourceType": "Patient",
        "id": "tagged",
        "meta": {
            "tag": [{"system": TAGS, "code": "needs-review"}],
            "profile": [US_CORE],
            "security": [{"system": CONFIDENTIALITY, "code": "R"}],
            "source": "http://acme.org/feed#abc",
        },
    },
    {
        "resourceType": "Patient",
        "id": "other-tag",
        "meta": {
            "tag": [{"system": "http://other.org/codes", "code": "needs-review"}],
            "security": [{"system": CONFIDENTIALITY, "code": "N"}],
            "source": "http://other.org/feed",
        },
    },
    {
        "resourceType": "Patient",
        "id": "two-tags",
        "meta": {
            "tag": [{"system": TAGS, "code": "needs-review"}, {"system": TAGS, "code": "vip"}],
            "profile": [US_CORE, "http://example.org/fhir/StructureDefinition/local"],
        },
    },
    {"resourceType": "Patient", "id": "plain"},
    {"resourceType": "Patient", "id": "Plain"},
]
REPORT = {
    "resourceType": "DiagnosticReport",
    "id": "lipids",
    "meta": {"profile": [LIPID]},
    "status": "final",
    "code": {"text": "Lipid panel"},
}
ALL = {p["id"] for p in PATIENTS}


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*PATIENTS, REPORT)


# -- _id -------------------------------------------------------------------------------


def test_id_finds_the_resource(fhir: Any) -> None:
    """Patient?_id=23 "finds the patient resource with the given id"."""
    bundle = fhir.search("Patient", {"_id": "tagged"})
    assert fhir.match_ids(bundle) == {"tagged"}
    assert bundle["entry"][0]["resource"] == fhir.get("Patient/tagged").json()


def test_id_is_case_sensitive(fhir: Any) -> None:
    """Spec: "Note that matches on _id are always case sensitive"."""
    assert fhir.ids("Patient", {"_id": "plain"}) == {"plain"}
    assert fhir.ids("Patient", {"_id": "Plain"}) == {"Plain"}
    assert fhir.ids("Patient", {"_id": "PLAIN"}) == set()


def test_id_comma_is_or(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_id": "tagged,plain,nope"}) == {"tagged", "plain"}


def test_id_repeated_is_and(fhir: Any) -> None:
    assert fhir.ids("Patient", [("_id", "tagged,plain"), ("_id", "plain")]) == {"plain"}


def test_id_of_another_type_is_not_found(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_id": "lipids"}) == set()


def test_id_combines_with_other_parameters(fhir: Any) -> None:
    assert fhir.ids("Patient", [("_id", "tagged,plain"), ("_tag", "vip,needs-review")]) == {
        "tagged"
    }


# -- _lastUpdated ----------------------------------------------------------------------


def put_and_stamp(fhir: Any, id: str) -> str:
    [stored] = fhir.put(
        {"resourceType": "Observation", "id": id, "status": "final", "code": {"text": id}}
    )
    stamp: str = stored["meta"]["lastUpdated"]
    time.sleep(0.005)  # the next write gets a later (millisecond) stamp
    return stamp


def updated(fhir: Any, value: str, ids: str = "first,second") -> set[str]:
    return fhir.ids("Observation", [("_id", ids), ("_lastUpdated", value)])


@pytest.fixture(scope="module")
def stamps(fhir: Any) -> tuple[str, str]:
    return put_and_stamp(fhir, "first"), put_and_stamp(fhir, "second")


def test_last_updated_gt(fhir: Any, stamps: tuple[str, str]) -> None:
    """_lastUpdated=gt2010-10-01: "any observations changed since"."""
    first, second = stamps
    assert updated(fhir, f"gt{first}") == {"second"}
    assert updated(fhir, f"gt{second}") == set()


def test_last_updated_le_and_lt(fhir: Any, stamps: tuple[str, str]) -> None:
    first, second = stamps
    assert updated(fhir, f"le{first}") == {"first"}
    assert updated(fhir, f"lt{second}") == {"first"}
    assert updated(fhir, f"lt{first}") == set()


def test_last_updated_eq_the_exact_instant(fhir: Any, stamps: tuple[str, str]) -> None:
    first, second = stamps
    assert updated(fhir, first) == {"first"}
    assert updated(fhir, f"eq{second}") == {"second"}
    assert updated(fhir, f"ne{second}") == {"first"}


def test_last_updated_with_date_precision(fhir: Any, stamps: tuple[str, str]) -> None:
    first, _ = stamps
    year = int(first[:4])
    assert updated(fhir, str(year)) == {"first", "second"}
    assert updated(fhir, f"ge{first[:10]}") == {"first", "second"}
    assert updated(fhir, f"lt{year - 1}") == set()
    assert updated(fhir, f"gt{year + 1}") == set()
    assert "first" in updated(fhir, first[:19] + "Z")  # the second it falls in


def test_last_updated_changes_on_update(fhir: Any) -> None:
    before = put_and_stamp(fhir, "changing")
    assert updated(fhir, f"gt{before}", "changing") == set()
    put_and_stamp(fhir, "changing")
    assert updated(fhir, f"gt{before}", "changing") == {"changing"}


# -- _tag, _security, _profile, _source ------------------------------------------------


def test_tag_with_system_and_code(fhir: Any) -> None:
    """Condition?_tag=http://acme.org/codes|needs-review."""
    assert fhir.ids("Patient", {"_tag": f"{TAGS}|needs-review"}) == {"tagged", "two-tags"}


def test_tag_code_in_any_system(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_tag": "needs-review"}) == {"tagged", "other-tag", "two-tags"}


def test_tag_any_code_of_a_system(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_tag": f"{TAGS}|"}) == {"tagged", "two-tags"}


def test_tag_not(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_tag:not": f"{TAGS}|vip"}) == ALL - {"two-tags"}


def test_tag_missing(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_tag:missing": "true"}) == {"plain", "Plain"}


def test_security(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_security": f"{CONFIDENTIALITY}|R"}) == {"tagged"}
    assert fhir.ids("Patient", {"_security": "R,N"}) == {"tagged", "other-tag"}


def test_profile(fhir: Any) -> None:
    """DiagnosticReport?_profile=http://hl7.org/fhir/StructureDefinition/lipid."""
    assert fhir.ids("Patient", {"_profile": US_CORE}) == {"tagged", "two-tags"}
    assert fhir.ids("DiagnosticReport", {"_profile": LIPID}) == {"lipids"}
    assert fhir.ids("Patient", {"_profile": LIPID}) == set()


def test_profile_below(fhir: Any) -> None:
    found = fhir.ids("Patient", {"_profile:below": "http://hl7.org/fhir/us/core/"})
    assert found == {"tagged", "two-tags"}


def test_source(fhir: Any) -> None:
    assert fhir.ids("Patient", {"_source": "http://acme.org/feed#abc"}) == {"tagged"}
    assert fhir.ids("Patient", {"_source": "http://acme.org/feed"}) == set()


def test_meta_parameters_work_on_every_type(fhir: Any) -> None:
    assert fhir.ids("DiagnosticReport", {"_tag:missing": "true"}) == {"lipids"}
    assert fhir.ids("DiagnosticReport", {"_id": "lipids"}) == {"lipids"}
