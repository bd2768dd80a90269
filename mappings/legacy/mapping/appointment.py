"""AppointmentFacts -> Appointment (and its Slot in the clinic's Schedule).

- identifier: the CHCS appointment number; status from the facts (TOL status or SIU event);
- participants: the patient (required), the provider (primary performer) and the clinic
  (Location), each ``accepted`` (``needs-action`` while pending or wait-listed, ``declined``
  once cancelled);
- start, end, minutesDuration; appointmentType (TOL type and its v2-0276 twin, or SCH-7);
  serviceType (AIS-3); cancelationReason (TOL reason and the R4 cancellation-reason code);
  comment;
- a Slot (identifier: the appointment number) in the clinic's Schedule, ``busy`` while the
  appointment holds it and ``free`` once cancelled.
"""

from __future__ import annotations

from typing import Any

from mappings.legacy.codes import (
    APPOINTMENT_ID,
    CANCELLATION_REASON,
    CANCELLATION_TO_FHIR,
    PARTICIPATION_TYPE,
    SLOT_ID,
    TOL_APPOINTMENT_TYPE,
    TOL_CANCELLATION_REASON,
    TOL_TYPE_TO_V2,
    V2_0276,
    V2_APPOINTMENT_REASONS,
)
from mappings.legacy.mapping.directory import Entry, clinic_reference, provider_reference, schedule
from mappings.legacy.mapping.draft import Draft, identifier_criteria, patient_reference
from mappings.legacy.records import AppointmentFacts, Coded

FREE_STATUSES = frozenset(("cancelled", "entered-in-error"))


def instant(value: Any) -> str:
    """An aware datetime as a FHIR instant (its own offset kept, seconds precision)."""
    return str(value.replace(microsecond=0).isoformat())


def codeable(coded: Coded, *more: dict[str, str]) -> dict[str, Any]:
    if not coded.system:
        return {"text": coded.display or coded.code}
    coding = {"system": coded.system, "code": coded.code}
    if coded.display:
        coding["display"] = coded.display
    return {"coding": [coding, *more]}


def _appointment_type(kind: Coded) -> dict[str, Any]:
    if kind.system == TOL_APPOINTMENT_TYPE:
        twin = V2_APPOINTMENT_REASONS[TOL_TYPE_TO_V2[kind.code]]
        return codeable(kind, twin.coding(V2_0276))
    return codeable(kind)


def _cancellation(reason: Coded) -> dict[str, Any]:
    if reason.system == TOL_CANCELLATION_REASON:
        return codeable(reason, CANCELLATION_TO_FHIR[reason.code].coding(CANCELLATION_REASON))
    return codeable(reason)


def _participant_status(status: str) -> str:
    if status in ("pending", "waitlist", "proposed"):
        return "needs-action"
    if status in FREE_STATUSES:
        return "declined"
    return "accepted"


def appointment_criteria(appointment_id: str) -> str:
    return identifier_criteria(APPOINTMENT_ID, appointment_id)


def slot_criteria(appointment_id: str) -> str:
    return identifier_criteria(SLOT_ID, appointment_id)


def map_appointment(facts: AppointmentFacts) -> Draft:
    directory: list[Entry] = []
    attends = _participant_status(facts.status)
    participants: list[dict[str, Any]] = [
        {
            "actor": patient_reference(facts.dod_id),
            "required": "required",
            "status": attends,
        }
    ]
    if facts.provider is not None:
        ref, entry = provider_reference(facts.provider)
        participants.append(
            {
                "type": [
                    {
                        "coding": [
                            {
                                "system": PARTICIPATION_TYPE,
                                "code": "PPRF",
                                "display": "primary performer",
                            }
                        ]
                    }
                ],
                "actor": ref,
                "status": attends,
            }
        )
        if entry is not None:
            directory.append(entry)
    if facts.clinic is not None:
        ref, entry = clinic_reference(facts.clinic)
        participants.append({"actor": ref, "status": attends})
        if entry is not None:
            directory.append(entry)
    resource: dict[str, Any] = {
        "resourceType": "Appointment",
        "identifier": [{"system": APPOINTMENT_ID, "value": facts.appointment_id}],
        "status": facts.status,
    }
    if facts.cancellation_reason is not None:
        resource["cancelationReason"] = _cancellation(facts.cancellation_reason)
    if facts.service is not None:
        resource["serviceType"] = [codeable(facts.service)]
    if facts.kind is not None:
        resource["appointmentType"] = _appointment_type(facts.kind)
    if facts.event is not None:
        resource["description"] = facts.event
    end = facts.end
    if facts.start is not None and end is not None:
        resource["start"] = instant(facts.start)
        resource["end"] = instant(end)
    if facts.minutes is not None:
        resource["minutesDuration"] = facts.minutes
    resources: list[tuple[dict[str, Any], str]] = []
    book = schedule(facts.clinic) if facts.clinic is not None else None
    if book is not None and facts.start is not None and end is not None:
        slot = {
            "resourceType": "Slot",
            "identifier": [{"system": SLOT_ID, "value": facts.appointment_id}],
            "schedule": book.ref(),
            "status": "free" if facts.status in FREE_STATUSES else "busy",
            "start": instant(facts.start),
            "end": instant(end),
        }
        directory.append(book)
        resource["slot"] = [{"reference": f"Slot?{slot_criteria(facts.appointment_id)}"}]
        resources.append((slot, slot_criteria(facts.appointment_id)))
    if facts.comment:
        resource["comment"] = facts.comment
    resource["participant"] = participants
    main = appointment_criteria(facts.appointment_id)
    return Draft(
        line=facts.line,
        key=f"Appointment|{facts.appointment_id}",
        recorded=facts.recorded,
        marker="Appointment",
        resources=((resource, main), *resources),
        directory=tuple(directory),
        main=main,
    )
