"""Who a signed-in beneficiary may act for: themselves and the dependents DEERS links to them.

The one place for the proxy rules (the access issue makes them configurable and adds grants):

- a beneficiary acts for their own Patient (the one carrying their DoD ID) with full access;
- a sponsor or guardian, named by DoD ID on a dependent's RelatedPerson, acts for a dependent
  under 13 with full access, for a dependent aged 13 to 17 with limited access (Patient
  demographics and Appointments), and for an adult dependent not at all without a grant.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import orjson

from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from fhir_server.resource_json import parse_json
from ig.naming import DOD_ID

FULL_ACCESS_BELOW = 13
ADULT_AT = 18
LIMITED_TYPES = ("Patient", "Appointment")


class Reach(StrEnum):
    FULL = "full"
    LIMITED = "limited"  # LIMITED_TYPES only


@dataclass(frozen=True, slots=True)
class ActingFor:
    patient_id: str
    name: str
    birth_date: str | None
    relationship: str  # "self" or the RelatedPerson's relationship text
    reach: Reach


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


def display_name(patient: dict[str, Any]) -> str:
    for name in patient.get("name") or []:
        if not isinstance(name, dict):
            continue
        if name.get("text"):
            return str(name["text"])
        parts = [*(name.get("given") or []), name.get("family") or ""]
        text = " ".join(str(p) for p in parts if p)
        if text:
            return text
    return f"Patient/{patient.get('id')}"


async def _resources(ctx: Context, type: str, params: list[tuple[str, str]]) -> list[Any]:
    outcome = await search(ctx, types=[type], params=params, strict=False, path=type)
    # Entries hold the stored bytes as they are (orjson fragments): read them back as JSON.
    bundle = orjson.loads(orjson.dumps(outcome.body or {}))
    entries = bundle.get("entry") or []
    return [e["resource"] for e in entries if e.get("search", {}).get("mode") == "match"]


async def patients_for(ctx: Context, dod_id: str, today: date) -> list[ActingFor]:
    """Everyone the holder of ``dod_id`` may act for, themselves first."""
    token = f"{DOD_ID}|{dod_id}"
    found: list[ActingFor] = []
    for patient in await _resources(ctx, "Patient", [("identifier", token)]):
        found.append(
            ActingFor(
                patient_id=patient["id"],
                name=display_name(patient),
                birth_date=patient.get("birthDate"),
                relationship="self",
                reach=Reach.FULL,
            )
        )
    links = await _resources(
        ctx, "RelatedPerson", [("identifier", token), ("_include", "RelatedPerson:patient")]
    )
    for link in links:
        reference = (link.get("patient") or {}).get("reference", "")
        if not reference.startswith("Patient/"):
            continue
        patient_id = reference.removeprefix("Patient/")
        if any(a.patient_id == patient_id for a in found):
            continue
        dependent = await ctx.current("Patient", patient_id)
        if dependent is None or dependent.body is None:
            continue
        body = parse_json(dependent.body)
        reach = reach_for_dependent(body.get("birthDate"), today)
        if reach is None:
            continue
        relationship = ", ".join(
            c.get("text") or (c.get("coding") or [{}])[0].get("display") or "dependent"
            for c in link.get("relationship") or [{}]
        )
        found.append(
            ActingFor(
                patient_id=patient_id,
                name=display_name(body),
                birth_date=body.get("birthDate"),
                relationship=relationship or "dependent",
                reach=reach,
            )
        )
    return found
