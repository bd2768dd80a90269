"""Eligibility record -> FHIR resources: pure functions, no I/O.

One record is one person's current eligibility. It becomes:

- **Patient**, found again by its DoD ID: names, birth date, sex, address, telecom, the DoD
  ID, DoD Benefits Number and (security-labelled) SSN identifiers, and the beneficiary
  category, branch, duty status and pay grade extensions;
- **RelatedPerson** for a dependent: the sponsor (named by DoD ID) as related to the patient,
  which the proxy rules read;
- **Coverage**: the person's TRICARE eligibility, one per person (found again by its own
  identifier), the plan as ``class``, subscriber the sponsor, period from the eligibility
  dates; a termination ends the period, it never deletes;
- **Organization** for the enrollment site (by DMIS id).

Links to the sponsor use the sponsor's DoD ID (logical references), never ids, so records can
come in any order: a dependent before the sponsor still links. Links to the person's own
Patient (from the RelatedPerson and the Coverage) are conditional references the batch's
transaction resolves, since that Patient is always in the same batch.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from ig.naming import (
    BENEFICIARY_CATEGORY_EXTENSION,
    BRANCH_OF_SERVICE_EXTENSION,
    DMIS_ID,
    DOD_BENEFITS_NUMBER,
    DOD_ID,
    DUTY_STATUS_EXTENSION,
    PAY_GRADE_EXTENSION,
    SSN,
    TRICARE_PLAN_SYSTEM,
)
from mappings.eligibility.codes import (
    BENEFICIARY_CATEGORIES,
    BRANCHES,
    COVERAGE_RELATIONSHIP,
    DUTY_STATUSES,
    PAY_GRADES,
    PLANS,
    RELATIONSHIPS,
    ROLE_CODE,
    SEX,
    SPONSOR_ROLE,
    SUBSCRIBER_RELATIONSHIP,
    SYSTEMS,
)
from mappings.eligibility.records import EligibilityRecord
from mappings.imports import Mapped

TRICARE_COVERAGE = "http://fhir.mhs-fhir.example/sid/tricare-coverage"
"""Coverage identifier system: one TRICARE eligibility Coverage per person (by DoD ID)."""

SPONSOR_LINK = "http://fhir.mhs-fhir.example/sid/sponsor-link"
"""RelatedPerson identifier system: ``<sponsor DoD ID>-<patient DoD ID>``, one per link."""

INLINE_SECURITY_LABEL = (
    "http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-inline-sec-label"
)
CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
DHA = {"display": "Defense Health Agency (TRICARE)"}


def patient_criteria(dod_id: str) -> str:
    return f"identifier={DOD_ID}|{dod_id}"


def _extension(url: str, system: str, code: str, display: str) -> dict[str, Any]:
    return {"url": url, "valueCoding": {"system": system, "code": code, "display": display}}


def _day(value: date) -> str:
    return value.isoformat()


def patient(r: EligibilityRecord) -> dict[str, Any]:
    identifiers: list[dict[str, Any]] = [
        {"use": "official", "type": {"text": "DoD ID"}, "system": DOD_ID, "value": r.dod_id},
        {
            "use": "secondary",
            "type": {"text": "DoD Benefits Number"},
            "system": DOD_BENEFITS_NUMBER,
            "value": r.dbn,
        },
    ]
    if r.ssn is not None:
        identifiers.append(
            {
                "extension": [
                    {
                        "url": INLINE_SECURITY_LABEL,
                        "valueCoding": {
                            "system": CONFIDENTIALITY,
                            "code": "R",
                            "display": "restricted",
                        },
                    }
                ],
                "use": "secondary",
                "type": {
                    "coding": [
                        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}
                    ]
                },
                "system": SSN,
                "value": r.ssn,
            }
        )
    name: dict[str, Any] = {
        "use": "official",
        "family": r.last_name,
        "given": [r.first_name, *([r.middle_name] if r.middle_name else [])],
    }
    if r.name_suffix:
        name["suffix"] = [r.name_suffix]
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "extension": _patient_extensions(r),
        "identifier": identifiers,
        "active": True,
        "name": [name],
        "gender": SEX[r.sex],
        "birthDate": _day(r.birth_date),
    }
    telecom = []
    if r.phone:
        telecom.append({"system": "phone", "value": r.phone, "use": "home"})
    if r.email:
        telecom.append({"system": "email", "value": r.email})
    if telecom:
        resource["telecom"] = telecom
    address = _address(r)
    if address:
        resource["address"] = [address]
    if r.pcm:
        resource["generalPractitioner"] = [{"display": r.pcm}]
    if r.enrollment_site:
        resource["managingOrganization"] = {
            "identifier": {"system": DMIS_ID, "value": r.enrollment_site},
            "display": f"DMIS {r.enrollment_site}",
        }
    if not resource["extension"]:
        del resource["extension"]
    return resource


def _patient_extensions(r: EligibilityRecord) -> list[dict[str, Any]]:
    category = BENEFICIARY_CATEGORIES[r.beneficiary_category]
    out = [
        _extension(
            BENEFICIARY_CATEGORY_EXTENSION,
            SYSTEMS["beneficiary_category"],
            category.code,
            category.display,
        )
    ]
    if r.branch:
        branch = BRANCHES[r.branch]
        out.append(
            _extension(BRANCH_OF_SERVICE_EXTENSION, SYSTEMS["branch"], branch.code, branch.display)
        )
    if r.duty_status:
        duty = DUTY_STATUSES[r.duty_status]
        out.append(
            _extension(DUTY_STATUS_EXTENSION, SYSTEMS["duty_status"], duty.code, duty.display)
        )
    if r.pay_grade:
        grade = PAY_GRADES[r.pay_grade]
        out.append(_extension(PAY_GRADE_EXTENSION, SYSTEMS["pay_grade"], grade.code, grade.display))
    return out


def _address(r: EligibilityRecord) -> dict[str, Any] | None:
    lines = [line for line in (r.address_line1, r.address_line2) if line]
    parts: dict[str, Any] = {}
    if lines:
        parts["line"] = lines
    for key, value in (
        ("city", r.city),
        ("state", r.state),
        ("postalCode", r.postal_code),
        ("country", r.country),
    ):
        if value:
            parts[key] = value
    if not parts:
        return None
    return {"use": "home", **parts}


def related_person(r: EligibilityRecord, *, patient_ref: dict[str, Any]) -> dict[str, Any] | None:
    """The sponsor as related to a dependent (None for a sponsor's own record);
    ``patient_ref`` is the reference to the dependent's Patient."""
    if r.is_sponsor:
        return None
    role = SPONSOR_ROLE.get(r.relationship)
    deers = RELATIONSHIPS[r.relationship]
    return {
        "resourceType": "RelatedPerson",
        "identifier": [
            {"system": DOD_ID, "value": r.sponsor_dod_id},
            {"system": SPONSOR_LINK, "value": f"{r.sponsor_dod_id}-{r.dod_id}"},
        ],
        "active": r.record_action != "T",
        "patient": patient_ref,
        "relationship": [
            {
                "coding": [
                    *([role.coding(ROLE_CODE)] if role is not None else []),
                    deers.coding(SYSTEMS["relationship"]),
                ],
                "text": f"sponsor (the patient is the sponsor's {deers.display.lower()})",
            }
        ],
    }


def coverage(r: EligibilityRecord, *, beneficiary: dict[str, Any]) -> dict[str, Any]:
    """The person's TRICARE eligibility; ``beneficiary`` is the reference to their Patient."""
    end = r.eligibility_end
    if r.record_action == "T" and end is None:
        end = r.record_timestamp.date()
    period: dict[str, str] = {"start": _day(r.eligibility_begin)}
    if end is not None:
        period["end"] = _day(end)
    sponsor = {"identifier": {"system": DOD_ID, "value": r.sponsor_dod_id}}
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "identifier": [{"system": TRICARE_COVERAGE, "value": r.dod_id}],
        "status": "active",
        "type": {"text": "TRICARE"},
        "policyHolder": sponsor,
        "subscriber": sponsor,
        "subscriberId": r.sponsor_dod_id,
        "beneficiary": beneficiary,
        "dependent": r.dbn[-2:],
        "relationship": {
            "coding": [
                {"system": SUBSCRIBER_RELATIONSHIP, "code": COVERAGE_RELATIONSHIP[r.relationship]}
            ]
        },
        "period": period,
        "payor": [DHA],
    }
    if r.plan:
        plan = PLANS[r.plan]
        resource["class"] = [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/coverage-class",
                            "code": "plan",
                        }
                    ]
                },
                "value": plan.code,
                "name": plan.display,
            }
        ]
        resource["type"] = {
            "coding": [{"system": TRICARE_PLAN_SYSTEM, "code": plan.code, "display": plan.display}],
            "text": "TRICARE",
        }
    return resource


def enrollment_site(r: EligibilityRecord) -> dict[str, Any] | None:
    if not r.enrollment_site:
        return None
    return {
        "resourceType": "Organization",
        "identifier": [{"system": DMIS_ID, "value": r.enrollment_site}],
        "active": True,
        "type": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/organization-type",
                        "code": "prov",
                        "display": "Healthcare Provider",
                    }
                ]
            }
        ],
        "name": f"Military treatment facility DMIS {r.enrollment_site}",
    }


def map_record(r: EligibilityRecord) -> Mapped:
    """Every resource of one record, each with the criteria that find it again."""
    out: list[tuple[dict[str, Any], str]] = []
    site = enrollment_site(r)
    directory = () if site is None else ((site, f"identifier={DMIS_ID}|{r.enrollment_site}"),)
    out.append((patient(r), patient_criteria(r.dod_id)))
    # The person's own Patient is in the same batch: a conditional reference resolves to it.
    own = {"reference": f"Patient?{patient_criteria(r.dod_id)}"}
    link = related_person(r, patient_ref=own)
    if link is not None:
        out.append((link, f"identifier={SPONSOR_LINK}|{r.sponsor_dod_id}-{r.dod_id}"))
    out.append((coverage(r, beneficiary=own), f"identifier={TRICARE_COVERAGE}|{r.dod_id}"))
    return Mapped(tuple(out), directory)
