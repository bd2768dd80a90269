"""The MHS IG's own search parameters are indexed and searchable like the core ones."""

from __future__ import annotations

import httpx

from ig.naming import BENEFICIARY_CATEGORY_EXTENSION, BENEFICIARY_CATEGORY_SYSTEM, DOD_ID

FHIR = {"content-type": "application/fhir+json"}


def _patient(dod_id: str, category: str) -> dict[str, object]:
    return {
        "resourceType": "Patient",
        "extension": [
            {
                "url": BENEFICIARY_CATEGORY_EXTENSION,
                "valueCoding": {"system": BENEFICIARY_CATEGORY_SYSTEM, "code": category},
            }
        ],
        "identifier": [{"system": DOD_ID, "value": dod_id}],
    }


def test_patients_are_found_by_beneficiary_category(client: httpx.Client) -> None:
    client.post("Patient", json=_patient("1000000001", "ADSM"), headers=FHIR)
    client.post("Patient", json=_patient("1000000002", "RET"), headers=FHIR)
    found = client.get("Patient", params={"beneficiary-category": "ADSM"}).json()
    values = [e["resource"]["identifier"][0]["value"] for e in found.get("entry", [])]
    assert values == ["1000000001"]


def test_patients_are_found_by_dod_id(client: httpx.Client) -> None:
    client.post("Patient", json=_patient("1000000003", "ADFM"), headers=FHIR)
    found = client.get("Patient", params={"dod-id": "1000000003"}).json()
    assert found["total"] == 1


def test_the_capability_statement_lists_the_ig_parameters(client: httpx.Client) -> None:
    statement = client.get("metadata").json()
    [patient] = [r for r in statement["rest"][0]["resource"] if r["type"] == "Patient"]
    names = {p["name"]: p["definition"] for p in patient["searchParam"]}
    assert names["beneficiary-category"].startswith("http://fhir.mhs-fhir.example/")
