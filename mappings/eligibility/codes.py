"""The extract's code tables and what each code becomes in FHIR.

The extract's codes are our own design (see ``deers-notes.md``: no public DEERS code lists were
found); the CodeSystems they map to are the MHS IG's (``ig/naming.py``), plus the standard
``subscriber-relationship`` (Coverage) and ``v3-RoleCode`` (RelatedPerson) codes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ig.naming import (
    BENEFICIARY_CATEGORY_SYSTEM,
    BRANCH_OF_SERVICE_SYSTEM,
    DEERS_RELATIONSHIP_SYSTEM,
    DUTY_STATUS_SYSTEM,
    PAY_GRADE_SYSTEM,
    TRICARE_PLAN_SYSTEM,
)

SUBSCRIBER_RELATIONSHIP = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


@dataclass(frozen=True, slots=True)
class Code:
    code: str
    display: str

    def coding(self, system: str) -> dict[str, str]:
        return {"system": system, "code": self.code, "display": self.display}


def _table(*codes: tuple[str, str]) -> dict[str, Code]:
    return {code: Code(code, display) for code, display in codes}


ACTIONS = {"A": "add", "C": "change", "T": "terminate"}

SEX = {"M": "male", "F": "female", "U": "unknown"}

RELATIONSHIPS = _table(
    ("SF", "Self (sponsor)"),
    ("SP", "Spouse"),
    ("CH", "Child"),
    ("SC", "Stepchild"),
    ("WD", "Ward"),
    ("PA", "Parent"),
    ("OT", "Other"),
)

# Coverage.relationship: the beneficiary's relationship to the subscriber (the sponsor).
COVERAGE_RELATIONSHIP = {
    "SF": "self",
    "SP": "spouse",
    "CH": "child",
    "SC": "child",
    "WD": "other",
    "PA": "parent",
    "OT": "other",
}

# RelatedPerson.relationship: what the sponsor is to the patient (v3-RoleCode).
SPONSOR_ROLE = {
    "SP": Code("SPS", "spouse"),
    "CH": Code("PRN", "parent"),
    "SC": Code("STPPRN", "step parent"),
    "WD": Code("GUARD", "guardian"),
    "PA": Code("CHILD", "child"),
}
"""(v3-RoleCode has no plain "other": an ``OT`` link carries only its DEERS coding.)"""

BENEFICIARY_CATEGORIES = _table(
    ("ADSM", "Active duty service member"),
    ("ADFM", "Active duty family member"),
    ("RET", "Retiree"),
    ("RETFM", "Retiree family member"),
    ("GRD", "National Guard / Reserve member"),
    ("GRDFM", "National Guard / Reserve family member"),
    ("SURV", "Survivor"),
    ("FMSP", "Former spouse"),
    ("VET", "Veteran"),
    ("MOH", "Medal of Honor recipient"),
)

BRANCHES = _table(
    ("A", "Army"),
    ("N", "Navy"),
    ("F", "Air Force"),
    ("M", "Marine Corps"),
    ("S", "Space Force"),
    ("C", "Coast Guard"),
    ("P", "U.S. Public Health Service"),
    ("O", "NOAA Commissioned Corps"),
)

DUTY_STATUSES = _table(
    ("AD", "Active duty"),
    ("AG", "Active Guard / Reserve"),
    ("SR", "Selected Reserve"),
    ("RR", "Retired Reserve"),
    ("RT", "Retired"),
    ("DS", "Discharged (veteran)"),
)

PLANS = _table(
    ("PRI", "TRICARE Prime"),
    ("PRR", "TRICARE Prime Remote"),
    ("SEL", "TRICARE Select"),
    ("TFL", "TRICARE For Life"),
    ("TRS", "TRICARE Reserve Select"),
    ("TRR", "TRICARE Retired Reserve"),
    ("TYA", "TRICARE Young Adult"),
    ("USF", "US Family Health Plan"),
)

PAY_GRADES = _table(
    *((f"E{n:02d}", f"Enlisted E-{n}") for n in range(1, 10)),
    *((f"W{n:02d}", f"Warrant officer W-{n}") for n in range(1, 6)),
    *((f"O{n:02d}", f"Officer O-{n}") for n in range(1, 11)),
)

TABLES: dict[str, dict[str, Code] | dict[str, str]] = {
    "action": ACTIONS,
    "sex": SEX,
    "relationship": RELATIONSHIPS,
    "beneficiary_category": BENEFICIARY_CATEGORIES,
    "branch": BRANCHES,
    "duty_status": DUTY_STATUSES,
    "plan": PLANS,
    "pay_grade": PAY_GRADES,
}
"""Every coded field's table, by the name after ``code:`` in the layout's field types."""

SYSTEMS = {
    "relationship": DEERS_RELATIONSHIP_SYSTEM,
    "beneficiary_category": BENEFICIARY_CATEGORY_SYSTEM,
    "branch": BRANCH_OF_SERVICE_SYSTEM,
    "duty_status": DUTY_STATUS_SYSTEM,
    "plan": TRICARE_PLAN_SYSTEM,
    "pay_grade": PAY_GRADE_SYSTEM,
}
