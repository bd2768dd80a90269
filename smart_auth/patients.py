"""Finding who a signed-in beneficiary may act for, in the FHIR data: their own Patient (by
DoD ID) and the dependents whose RelatedPerson names them (by DoD ID) as sponsor or guardian.
The rules about how far that reaches are :mod:`smart_auth.proxy`'s."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from fhir_server.resource_json import parse_json
from ig.naming import DOD_ID
from smart_auth.proxy import Link, Reach, reach_for_dependent


@dataclass(frozen=True, slots=True)
class ActingFor:
    patient_id: str
    name: str
    birth_date: str | None
    relationship: str  # "self" or the RelatedPerson's relationship text
    reach: Reach

    def link(self) -> Link:
        if self.relationship == "self":
            kind = "self"
        elif self.relationship.endswith("by their grant"):
            kind = "granted"
        else:
            kind = "dependent"
        return Link(patient_id=self.patient_id, relationship=kind, birth_date=self.birth_date)


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


async def patients_for(
    ctx: Context, dod_id: str, today: date, granted: Sequence[str] = ()
) -> list[ActingFor]:
    """Everyone the holder of ``dod_id`` may act for, themselves first; ``granted`` are the
    Patient ids whose explicit grants name them (full access, whatever the age)."""
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
        ctx,
        "RelatedPerson",
        [("identifier", token), ("active:not", "false"), ("_include", "RelatedPerson:patient")],
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
        reach = (
            Reach.FULL
            if patient_id in granted
            else reach_for_dependent(body.get("birthDate"), today)
        )
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
                relationship=(relationship or "dependent")
                + (", by their grant" if patient_id in granted else ""),
                reach=reach,
            )
        )
    for patient_id in granted:
        if any(a.patient_id == patient_id for a in found):
            continue
        grantor = await ctx.current("Patient", patient_id)
        if grantor is None or grantor.body is None:
            continue
        body = parse_json(grantor.body)
        found.append(
            ActingFor(
                patient_id=patient_id,
                name=display_name(body),
                birth_date=body.get("birthDate"),
                relationship="by their grant",
                reach=Reach.FULL,
            )
        )
    return found
