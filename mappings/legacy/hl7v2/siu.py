"""SIU^S12/S13/S14/S15/S26 (scheduling) -> :class:`AppointmentFacts`.

- appointment id: SCH-2.1 filler appointment id (SCH-1.1, the placer id, when SCH-2 is empty);
- status: S15 cancelled, S26 noshow; S12-S14 SCH-25 filler status (table 0278) or the
  resources' (AIS-10, AIL-12, AIP-12), else booked;
- recorded: MSH-7;
- start, minutes: TQ1-7/TQ1-8 (v2.5+), else SCH-11.4/11.5 (TQ, v2.3-2.4), else AIS-4, AIL-6
  or AIP-6 with their durations; SCH-9/SCH-10 for the minutes last;
- clinic: AIL-3 (PL), else PV1-3; provider: AIP-3 (XCN), else PV1-7;
- type: SCH-7 (table 0276); service: AIS-3; cancellation reason: SCH-6 of an S15;
- comment: the NTE segments after SCH.
"""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from mappings.legacy import values
from mappings.legacy.codes import (
    FILLER_STATUS,
    SIU_EVENTS,
    TOL_CANCELLATION_REASON,
    TOL_CANCELLATION_REASONS,
    V2_0276,
    V2_APPOINTMENT_REASONS,
)
from mappings.legacy.hl7v2 import fields
from mappings.legacy.hl7v2.fields import FieldError
from mappings.legacy.hl7v2.message import Message, Segment
from mappings.legacy.records import AppointmentFacts, Coded


def _appointment_id(sch: Segment) -> str:
    value = sch.get(2) or sch.get(1)
    if not value:
        raise FieldError("SCH-2", "", "no appointment id (SCH-2 filler id or SCH-1 placer id)")
    try:
        return values.key(value)
    except values.Bad as bad:
        raise FieldError("SCH-2", value, bad.reason) from None


def _status(event: str, sch: Segment, resources: list[Segment]) -> str:
    implied, _ = SIU_EVENTS[event]
    if event in ("S15", "S26"):
        return implied
    stated = sch.get(25)
    for segment in resources if not stated else ():
        status_field = 10 if segment.name == "AIS" else 12
        stated = stated or segment.get(status_field)
    return FILLER_STATUS.get(stated.lower(), implied) if stated else implied


def _times(message: Message, sch: Segment, zone: tzinfo) -> tuple[datetime | None, int | None]:
    start: datetime | None = None
    minutes: int | None = None
    tq1 = message.first("TQ1")
    if tq1 is not None:
        start = fields.instant(tq1, 7, zone)
        end = fields.instant(tq1, 8, zone)
        if start is not None and end is not None and end > start:
            minutes = round((end - start) / timedelta(minutes=1))
    if start is None:
        start = fields.instant(sch, 11, zone, component=4)
        end = fields.instant(sch, 11, zone, component=5)
        if start is not None and end is not None and end > start:
            minutes = round((end - start) / timedelta(minutes=1))
    for name, start_at, amount_at in (("AIS", 4, 7), ("AIL", 6, 9), ("AIP", 6, 9)):
        segment = message.first(name)
        if segment is None:
            continue
        if start is None:
            start = fields.instant(segment, start_at, zone)
        if minutes is None:
            minutes = fields.minutes(segment.get(amount_at), segment.get(amount_at + 1))
    if minutes is None and sch.get(9):
        minutes = fields.minutes(sch.get(9), sch.get(10) or "min")
    return start, minutes


def _kind(sch: Segment) -> Coded | None:
    code = sch.get(7).upper()
    known = V2_APPOINTMENT_REASONS.get(code)
    if known is not None:
        return Coded(V2_0276, known.code, known.display)
    text = sch.get(7, 2) or sch.get(7)
    return Coded("", "", text) if text else None


def _cancellation(sch: Segment) -> Coded | None:
    code = sch.get(6).upper()
    known = TOL_CANCELLATION_REASONS.get(code)
    if known is not None:
        return Coded(TOL_CANCELLATION_REASON, known.code, known.display)
    text = sch.get(6, 2) or sch.get(6)
    return Coded("", "", text) if text else None


def _comment(message: Message) -> str | None:
    notes: list[str] = []
    after_sch = False
    for segment in message.segments:
        if segment.name == "SCH":
            after_sch = True
        elif segment.name == "NTE" and after_sch:
            notes.extend(segment.get(3, rep=r) for r in range(1, len(segment.repetitions(3)) + 1))
        elif segment.name not in ("TQ1", "TQ2"):
            after_sch = False
    text = "\n".join(n for n in notes if n)
    return text[:500] or None


def read_siu(
    message: Message, *, dod_id: str, recorded: datetime, zone: tzinfo, line: int
) -> AppointmentFacts:
    sch = message.first("SCH")
    if sch is None:
        raise FieldError("SCH", "", "an SIU message needs an SCH segment")
    event = message.event
    facility = message.msh.get(4)
    resources = message.all("AIS") + message.all("AIL") + message.all("AIP")
    start, minutes = _times(message, sch, zone)
    ail, aip, pv1 = message.first("AIL"), message.first("AIP"), message.first("PV1")
    clinic = fields.clinic(ail, 3, facility=facility) if ail is not None else None
    if clinic is None and pv1 is not None:
        clinic = fields.clinic(pv1, 3, facility=facility)
    provider = fields.provider(aip, 3) if aip is not None else None
    if provider is None and pv1 is not None:
        provider = fields.provider(pv1, 7)
    ais = message.first("AIS")
    return AppointmentFacts(
        line=line,
        appointment_id=_appointment_id(sch),
        dod_id=dod_id,
        recorded=recorded,
        status=_status(event, sch, resources),
        start=start,
        minutes=minutes,
        clinic=clinic,
        provider=provider,
        kind=_kind(sch),
        cancellation_reason=_cancellation(sch) if event == "S15" else None,
        service=fields.coded(ais, 3) if ais is not None else None,
        comment=_comment(message),
        event=SIU_EVENTS[event][1],
    )
