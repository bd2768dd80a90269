"""Where a search starts (https://hl7.org/fhir/R4/search.html#Introduction and
https://hl7.org/fhir/R4/http.html#search): ``GET [base]/[type]?``, ``POST [base]/[type]/_search``
(form-encoded), all types ``GET [base]?_type=``, and a compartment
``GET [base]/Patient/[id]/[type]`` (or ``*``), by the official Patient CompartmentDefinition.
"""

from __future__ import annotations

from typing import Any

import pytest

TEST = "http://test.org"


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


def tagged(code: str = "entry") -> dict[str, Any]:
    return {"tag": [{"system": TEST, "code": code}]}


RESOURCES = [
    {"resourceType": "Organization", "id": "acme", "name": "Acme", "meta": tagged()},
    {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Acme"}]},
    {
        "resourceType": "Patient",
        "id": "ann",
        "name": [{"family": "Acme", "given": ["Ann"]}],
        "gender": "female",
        "meta": tagged(),
    },
    {"resourceType": "Patient", "id": "bob", "name": [{"family": "Bond"}], "gender": "male"},
    {
        "resourceType": "Patient",
        "id": "ann-alias",
        "name": [{"family": "Alias"}],
        "link": [{"other": ref("Patient/ann"), "type": "seealso"}],
    },
    {
        "resourceType": "Observation",
        "id": "ann-glucose",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": ref("Patient/ann"),
        "meta": tagged(),
    },
    {
        "resourceType": "Observation",
        "id": "ann-heart",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": ref("Patient/ann"),
    },
    {
        "resourceType": "Observation",
        "id": "bob-by-ann",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": ref("Patient/bob"),
        "performer": [ref("Patient/ann")],
    },
    {
        "resourceType": "Observation",
        "id": "bob-glucose",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2345-7"}]},
        "subject": ref("Patient/bob"),
    },
    {
        "resourceType": "Encounter",
        "id": "ann-visit",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": ref("Patient/ann"),
    },
    {
        "resourceType": "Appointment",
        "id": "ann-appointment",
        "status": "booked",
        "participant": [
            {"actor": ref("Patient/ann"), "status": "accepted"},
            {"actor": ref("Practitioner/doc"), "status": "accepted"},
        ],
    },
    {
        "resourceType": "Communication",
        "id": "to-ann",
        "status": "completed",
        "recipient": [ref("Patient/ann")],
        "sender": ref("Practitioner/doc"),
    },
    {
        "resourceType": "Communication",
        "id": "to-bob",
        "status": "completed",
        "recipient": [ref("Patient/bob")],
    },
    {
        "resourceType": "MedicationRequest",
        "id": "ann-rx",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "aspirin"},
        "subject": ref("Patient/ann"),
    },
    {
        "resourceType": "MedicationRequest",
        "id": "bob-rx",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "aspirin"},
        "subject": ref("Patient/bob"),
    },
]


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*RESOURCES)


def keys(bundle: dict[str, Any]) -> set[str]:
    return {
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == "match"
    }


def ordered(bundle: dict[str, Any]) -> list[str]:
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


# -- GET and POST ----------------------------------------------------------------------

QUERIES = [
    [("code", "http://loinc.org|2345-7")],
    [("subject:Patient.name", "acme"), ("_sort", "-_id")],
    [("code", "2345-7,8867-4"), ("subject", "Patient/ann")],
    [("_has:Observation:patient:code", "2345-7"), ("_sort", "_id"), ("_include", "Patient:link")],
]


@pytest.mark.parametrize("query", QUERIES, ids=["token", "chain", "or-and", "has"])
def test_post_search_gives_the_same_result_as_get(fhir: Any, query: list[tuple[str, str]]) -> None:
    """Spec: "the parameters are a series of name=[value] pairs encoded in the URL or as an
    application/x-www-form-urlencoded submission for a POST"."""
    type = "Patient" if query[0][0].startswith("_has") else "Observation"
    got = fhir.search(type, query)
    posted = fhir.post_search(f"{type}/_search", query)
    assert ordered(posted) == ordered(got)
    assert posted["total"] == got["total"]
    assert [e["fullUrl"] for e in posted.get("entry", [])] == [
        e["fullUrl"] for e in got.get("entry", [])
    ]


def test_post_search_combines_url_and_body_parameters(fhir: Any) -> None:
    bundle = fhir.post_search(
        "Observation/_search", [("subject", "Patient/bob")], params={"code": "2345-7"}
    )
    assert set(ordered(bundle)) == {"bob-by-ann", "bob-glucose"}


def test_post_search_repeated_body_parameter_is_and(fhir: Any) -> None:
    bundle = fhir.post_search(
        "Observation/_search", [("code", "2345-7,8867-4"), ("code", "8867-4")]
    )
    assert ordered(bundle) == ["ann-heart"]


def test_post_search_links_lead_to_the_next_page(fhir: Any) -> None:
    first = fhir.post_search("Observation/_search", [("_count", "2"), ("_sort", "_id")])
    second = fhir.http.get(fhir.link(first, "next")).json()
    assert ordered(first) == ["ann-glucose", "ann-heart"]
    assert ordered(second) == ["bob-by-ann", "bob-glucose"]


def test_post_search_rejects_a_malformed_value_like_get(fhir: Any) -> None:
    response = fhir.http.post(
        "Patient/_search",
        content="birthdate=not-a-date",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400
    assert response.json()["resourceType"] == "OperationOutcome"


# -- all types -------------------------------------------------------------------------


def test_system_search_with_type(fhir: Any) -> None:
    """GET [base]/?_type=Observation,Condition&other params."""
    bundle = fhir.search("", {"_type": "Patient,Organization", "_tag": f"{TEST}|entry"})
    assert keys(bundle) == {"Patient/ann", "Organization/acme"}


def test_system_search_without_type_searches_every_type(fhir: Any) -> None:
    bundle = fhir.search("", {"_tag": f"{TEST}|entry"})
    assert keys(bundle) == {"Patient/ann", "Organization/acme", "Observation/ann-glucose"}


def test_system_search_by_id(fhir: Any) -> None:
    assert keys(fhir.search("", {"_id": "ann,acme,doc"})) == {
        "Patient/ann",
        "Organization/acme",
        "Practitioner/doc",
    }


def test_system_search_with_a_parameter_common_to_the_types(fhir: Any) -> None:
    """Spec: "If multiple types are specified, any search parameters shared across the entire set
    of specified resources may be used": name is on Patient, Practitioner and Organization."""
    bundle = fhir.search("", {"_type": "Patient,Practitioner,Organization", "name": "acme"})
    assert keys(bundle) == {"Patient/ann", "Practitioner/doc", "Organization/acme"}


def test_system_search_by_post(fhir: Any) -> None:
    bundle = fhir.post_search(
        "_search", [("_type", "Patient,Organization"), ("_tag", f"{TEST}|entry")]
    )
    assert keys(bundle) == {"Patient/ann", "Organization/acme"}


def test_system_search_pages(fhir: Any) -> None:
    first = fhir.search("", {"_type": "Patient,Organization,Practitioner", "_count": "3"})
    second = fhir.http.get(fhir.link(first, "next")).json()
    found = keys(first) | keys(second)
    assert len(keys(first)) == 3
    assert found == {
        "Patient/ann",
        "Patient/bob",
        "Patient/ann-alias",
        "Organization/acme",
        "Practitioner/doc",
    }


# -- compartments ----------------------------------------------------------------------


def test_compartment_search_of_one_type(fhir: Any) -> None:
    """Patient/[id]/Observation: the Observations whose subject or performer is the patient."""
    bundle = fhir.search("Patient/ann/Observation")
    assert keys(bundle) == {
        "Observation/ann-glucose",
        "Observation/ann-heart",
        "Observation/bob-by-ann",
    }


def test_compartment_search_with_parameters(fhir: Any) -> None:
    """Patient/23/Procedure?date=ge2010-01-01&date=le2011-12-31."""
    bundle = fhir.search("Patient/ann/Observation", {"code": "2345-7"})
    assert keys(bundle) == {"Observation/ann-glucose", "Observation/bob-by-ann"}


def test_compartment_search_of_another_type(fhir: Any) -> None:
    assert keys(fhir.search("Patient/ann/MedicationRequest")) == {"MedicationRequest/ann-rx"}
    assert keys(fhir.search("Patient/bob/Communication")) == {"Communication/to-bob"}


def test_compartment_search_of_every_type(fhir: Any) -> None:
    """Patient/[id]/*: every resource in the compartment, whatever its type."""
    found = keys(fhir.search("Patient/ann/*"))
    assert {
        "Observation/ann-glucose",
        "Observation/ann-heart",
        "Observation/bob-by-ann",
        "Encounter/ann-visit",
        "Appointment/ann-appointment",
        "Communication/to-ann",
        "MedicationRequest/ann-rx",
        "Patient/ann-alias",
    } <= found
    assert found.isdisjoint(
        {
            "Observation/bob-glucose",
            "Communication/to-bob",
            "MedicationRequest/bob-rx",
            "Organization/acme",
            "Practitioner/doc",
            "Patient/bob",
        }
    )


def test_compartment_search_of_every_type_with_a_common_parameter(fhir: Any) -> None:
    found = keys(fhir.search("Patient/ann/*", {"_tag": f"{TEST}|entry"}))
    assert "Observation/ann-glucose" in found
    assert "Organization/acme" not in found
    assert found <= {"Observation/ann-glucose", "Patient/ann"}


def test_compartment_of_an_unknown_patient_is_empty(fhir: Any) -> None:
    assert keys(fhir.search("Patient/nobody/Observation")) == set()


def test_compartment_links_stay_in_the_compartment(fhir: Any) -> None:
    first = fhir.search("Patient/ann/Observation", {"_count": "2", "_sort": "_id"})
    assert fhir.link(first, "self").startswith(fhir.base + "/Patient/ann/Observation")
    second = fhir.http.get(fhir.link(first, "next")).json()
    assert ordered(first) + ordered(second) == ["ann-glucose", "ann-heart", "bob-by-ann"]
