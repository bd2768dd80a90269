"""PrescriptionFacts -> MedicationRequest.

- identifier: the Rx number; intent ``order``; subject the patient; requester the prescriber;
- medicationCodeableConcept: NDC (11 digits) and RxNorm codings where known, text the drug
  name and strength;
- dosageInstruction.text: the sig;
- dispenseRequest: quantity (UCUM when the unit is one), numberOfRepeatsAllowed (refills
  authorized), validityPeriod (written to expiry), expectedSupplyDuration (days supply),
  performer (the pharmacy);
- status: what the pharmacy states, and for an active prescription what follows from its
  dates and refills (:func:`derived_status`); refills remaining and the last fill date as
  extensions;
- priorPrescription: the prescription renewed, by Rx number (a logical reference, so the
  renewal may come before the original).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mappings.legacy.codes import (
    LAST_FILL_EXTENSION,
    NDC,
    NDC_TO_RXNORM,
    REFILLS_REMAINING_EXTENSION,
    RX_NUMBER,
    RX_UNITS,
    RXNORM,
    UCUM,
    UCUM_UNITS,
)
from mappings.legacy.mapping.directory import Entry, pharmacy, provider_reference
from mappings.legacy.mapping.draft import Draft, identifier_criteria, patient_reference
from mappings.legacy.records import PrescriptionFacts


def derived_status(facts: PrescriptionFacts) -> tuple[str, str | None]:
    """The MedicationRequest.status and why, as of the record's own date (never "today", so
    that importing a file again gives the same answer): an active prescription past its
    expiry date, or with no refills left after its last fill, is ``completed``."""
    if facts.stated_status != "active":
        return facts.stated_status, None
    as_of = facts.recorded.date()
    if facts.expires is not None and facts.expires < as_of:
        return "completed", f"expired on {facts.expires.isoformat()}"
    if facts.refills_remaining == 0 and facts.last_fill is not None:
        return "completed", "no refills left"
    return "active", None


def number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _medication(facts: PrescriptionFacts) -> dict[str, Any]:
    coding = []
    if facts.ndc is not None:
        coding.append({"system": NDC, "code": facts.ndc, "display": facts.drug_name})
    rxnorm = facts.rxnorm
    known = NDC_TO_RXNORM.get(facts.ndc) if facts.ndc else None
    if rxnorm is None and known is not None:
        rxnorm = known.code
    if rxnorm is not None:
        coding.append({"system": RXNORM, "code": rxnorm})
    text = facts.drug_name
    if facts.strength and facts.strength.lower() not in text.lower():
        text = f"{text} {facts.strength}"
    out: dict[str, Any] = {"text": text}
    if coding:
        out = {"coding": coding, "text": text}
    return out


def _quantity(value: Decimal, unit: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"value": number(value)}
    if unit is None:
        return out
    out["unit"] = RX_UNITS.get(unit, unit)
    if unit in UCUM_UNITS:
        out["system"] = UCUM
        out["code"] = UCUM_UNITS[unit]
    return out


def rx_criteria(rx_number: str) -> str:
    return identifier_criteria(RX_NUMBER, rx_number)


def map_prescription(facts: PrescriptionFacts) -> Draft:
    directory: list[Entry] = []
    status, reason = derived_status(facts)
    extensions: list[dict[str, Any]] = []
    if facts.refills_remaining is not None:
        extensions.append(
            {"url": REFILLS_REMAINING_EXTENSION, "valueUnsignedInt": facts.refills_remaining}
        )
    if facts.last_fill is not None:
        extensions.append({"url": LAST_FILL_EXTENSION, "valueDate": facts.last_fill.isoformat()})
    resource: dict[str, Any] = {"resourceType": "MedicationRequest"}
    if extensions:
        resource["extension"] = extensions
    resource["identifier"] = [{"system": RX_NUMBER, "value": facts.rx_number}]
    resource["status"] = status
    if reason is not None:
        resource["statusReason"] = {"text": reason}
    resource["intent"] = "order"
    resource["medicationCodeableConcept"] = _medication(facts)
    resource["subject"] = patient_reference(facts.dod_id)
    if facts.written is not None:
        resource["authoredOn"] = facts.written.isoformat()
    if facts.prescriber is not None:
        ref, entry = provider_reference(facts.prescriber)
        resource["requester"] = ref
        if entry is not None:
            directory.append(entry)
    if facts.sig:
        resource["dosageInstruction"] = [{"text": facts.sig}]
    dispense: dict[str, Any] = {}
    if facts.written is not None or facts.expires is not None:
        period = {}
        if facts.written is not None:
            period["start"] = facts.written.isoformat()
        if facts.expires is not None:
            period["end"] = facts.expires.isoformat()
        dispense["validityPeriod"] = period
    if facts.refills_authorized is not None:
        dispense["numberOfRepeatsAllowed"] = facts.refills_authorized
    if facts.quantity is not None:
        dispense["quantity"] = _quantity(facts.quantity, facts.quantity_unit)
    if facts.days_supply is not None:
        dispense["expectedSupplyDuration"] = {
            "value": facts.days_supply,
            "unit": "days",
            "system": UCUM,
            "code": "d",
        }
    if facts.pharmacy is not None:
        entry = pharmacy(facts.pharmacy)
        dispense["performer"] = entry.ref(entry.resource["name"])
        directory.append(entry)
    if dispense:
        resource["dispenseRequest"] = dispense
    if facts.prior_rx_number is not None:
        resource["priorPrescription"] = {
            "identifier": {"system": RX_NUMBER, "value": facts.prior_rx_number},
            "display": f"Rx {facts.prior_rx_number}",
        }
    main = rx_criteria(facts.rx_number)
    return Draft(
        line=facts.line,
        key=f"MedicationRequest|{facts.rx_number}",
        recorded=facts.recorded,
        marker="MedicationRequest",
        resources=((resource, main),),
        directory=tuple(directory),
        main=main,
    )
