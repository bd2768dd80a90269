"""The proxy rules: how far a beneficiary reaches into the records of the people they act for.

The one place for them (grants and configuration come with the access issue):

- a beneficiary acts for their own Patient (the one carrying their DoD ID) with full access;
- a sponsor or guardian, named by DoD ID on a dependent's RelatedPerson, acts for a dependent
  under 13 with full access, for a dependent aged 13 to 17 with limited access (Patient
  demographics and Appointments only, and nothing labelled sensitive), and for an adult
  dependent not at all;
- an explicit grant (``mhs-fhir grants``: stored, listed, revocable) gives its grantee full
  access to the granting patient: how an adult dependent lets a sponsor in, or a teen lets a
  parent see more. Revoking it ends every token the grantee holds.

Reach is decided from the birth date on the day of each request, so it ends on the birthday
that ends it: live tokens stop reaching, and refresh fails.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

FULL_ACCESS_BELOW = 13
ADULT_AT = 18
LIMITED_TYPES = ("Patient", "Appointment")

_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
SENSITIVE_LABELS = (
    (_CONFIDENTIALITY, "R"),  # restricted
    (_CONFIDENTIALITY, "V"),  # very restricted
    (_ACT_CODE, "BH"),  # behavioral health
    (_ACT_CODE, "PSY"),  # psychiatry
    (_ACT_CODE, "ETH"),  # substance abuse
    (_ACT_CODE, "SDV"),  # sexual and domestic violence
    (_ACT_CODE, "SEX"),  # sexuality and reproductive health
    (_ACT_CODE, "STD"),  # sexually transmitted disease
    (_ACT_CODE, "HIV"),
    (_ACT_CODE, "MST"),  # military sexual trauma
)
"""``meta.security`` labels that hide a resource from the proxy of a dependent 13 or over."""
SENSITIVE = ",".join(f"{system}|{code}" for system, code in SENSITIVE_LABELS)


class Reach(StrEnum):
    FULL = "full"
    LIMITED = "limited"  # LIMITED_TYPES only

    def allows(self, type: str) -> bool:
        return self is Reach.FULL or type in LIMITED_TYPES


@dataclass(frozen=True, slots=True)
class Link:
    """Whom an account acts for, as a token remembers it: decided anew on every request."""

    patient_id: str
    relationship: str  # "self", "dependent" (DEERS) or "granted" (an explicit grant)
    birth_date: str | None = None

    def reach_on(self, today: date) -> Reach | None:
        if self.relationship in ("self", "granted"):
            return Reach.FULL  # revoking a grant ends the grantee's tokens
        return reach_for_dependent(self.birth_date, today)


def age_on(birth_date: str, today: date) -> int | None:
    try:
        born = date.fromisoformat(birth_date[:10])
    except ValueError:
        return None
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def reach_for_dependent(birth_date: str | None, today: date) -> Reach | None:
    """The sponsor's or guardian's reach over a dependent of this birth date (None: none)."""
    age = age_on(birth_date, today) if birth_date else None
    if age is None or age >= ADULT_AT:
        return None
    return Reach.FULL if age < FULL_ACCESS_BELOW else Reach.LIMITED


DEERS_OWNED_TYPES = frozenset({"RelatedPerson"})
"""Types only eligibility data (imports, staff, systems) may write: the sponsor links."""

DEERS_OWNED_PATIENT_ELEMENTS = ("identifier", "birthDate", "link")
"""Patient elements the proxy rules read: a beneficiary's token may not change them, nor
create a Patient (who is whose dependent, and how old, is DEERS's to say)."""
