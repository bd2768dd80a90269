"""ADT demographics and merges applied to the Patient the eligibility import made.

DEERS (the eligibility import) owns who a person is; an ADT update changes only what it sends:
names, birth date, gender, addresses, contact points, death (``""`` deletes addresses or
contact points). Everything else of the stored Patient (identifiers, DEERS extensions, the
managing organization) is kept.

A merge (A40) marks the merged record inactive and ``replaced-by`` the surviving one, which
gets a ``replaces`` link back (https://hl7.org/fhir/R4/patient.html#links).
"""

from __future__ import annotations

from typing import Any

from mappings.legacy.mapping.draft import Draft, patient_criteria
from mappings.legacy.records import CLEAR, Address, DemographicsFacts, MergeFacts, Name, Telecom


def _body(stored: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in stored.items() if k not in ("id", "meta")}


def _name(name: Name) -> dict[str, Any]:
    out: dict[str, Any] = {"use": name.use}
    if name.family:
        out["family"] = name.family
    if name.given:
        out["given"] = list(name.given)
    if name.prefix:
        out["prefix"] = [name.prefix]
    if name.suffix:
        out["suffix"] = [name.suffix]
    return out


def _address(address: Address) -> dict[str, Any]:
    out: dict[str, Any] = {"use": address.use}
    if address.lines:
        out["line"] = list(address.lines)
    for key, value in (
        ("city", address.city),
        ("state", address.state),
        ("postalCode", address.postal_code),
        ("country", address.country),
    ):
        if value:
            out[key] = value
    return out


def _telecom(point: Telecom) -> dict[str, Any]:
    out = {"system": point.system, "value": point.value}
    if point.use:
        out["use"] = point.use
    return out


def updated_patient(stored: dict[str, Any], facts: DemographicsFacts) -> dict[str, Any]:
    """``stored`` (a Patient) with what ``facts`` sends."""
    patient = _body(stored)
    if isinstance(facts.names, tuple):
        patient["name"] = [_name(n) for n in facts.names]
    if facts.birth_date is not None and not isinstance(facts.birth_date, str):
        patient["birthDate"] = facts.birth_date.isoformat()
    if facts.gender is not None:
        patient["gender"] = facts.gender
    if facts.addresses == CLEAR:
        patient.pop("address", None)
    elif isinstance(facts.addresses, tuple):
        patient["address"] = [_address(a) for a in facts.addresses]
    if facts.telecom == CLEAR:
        patient.pop("telecom", None)
    elif isinstance(facts.telecom, tuple):
        patient["telecom"] = [_telecom(t) for t in facts.telecom]
    if isinstance(facts.deceased, bool):
        patient.pop("deceasedDateTime", None)
        patient["deceasedBoolean"] = facts.deceased
    elif facts.deceased is not None:
        patient.pop("deceasedBoolean", None)
        patient["deceasedDateTime"] = facts.deceased.replace(microsecond=0).isoformat()
    return patient


def map_demographics(facts: DemographicsFacts, stored: dict[str, Any]) -> Draft:
    criteria = patient_criteria(facts.dod_id)
    return Draft(
        line=facts.line,
        key=f"Patient|{facts.dod_id}",
        recorded=facts.recorded,
        marker="Patient",
        resources=((updated_patient(stored, facts), criteria),),
        main=criteria,
    )


def _linked(stored: dict[str, Any], other_id: str, kind: str) -> list[dict[str, Any]]:
    target = f"Patient/{other_id}"
    links = [
        link
        for link in stored.get("link") or []
        if (link.get("other") or {}).get("reference") != target
    ]
    return [*links, {"other": {"reference": target}, "type": kind}]


def map_merge(facts: MergeFacts, survivor: dict[str, Any], prior: dict[str, Any]) -> Draft:
    merged = {
        **_body(prior),
        "active": False,
        "link": _linked(prior, survivor["id"], "replaced-by"),
    }
    kept = {**_body(survivor), "link": _linked(survivor, prior["id"], "replaces")}
    return Draft(
        line=facts.line,
        key=f"Patient|{facts.prior_dod_id}",
        recorded=None,
        marker="Patient",
        resources=(
            (merged, patient_criteria(facts.prior_dod_id)),
            (kept, patient_criteria(facts.dod_id)),
        ),
        main=patient_criteria(facts.prior_dod_id),
    )
