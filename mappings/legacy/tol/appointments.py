"""TOL appointments export (CSV) -> :class:`AppointmentFacts`, one per row."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from mappings.imports import Reject
from mappings.legacy import values
from mappings.legacy.codes import (
    TOL_APPOINTMENT_STATUS,
    TOL_APPOINTMENT_TYPE,
    TOL_APPOINTMENT_TYPES,
    TOL_CANCELLATION_REASON,
    TOL_CANCELLATION_REASONS,
)
from mappings.legacy.records import AppointmentFacts, Clinic, Coded
from mappings.legacy.tol.people import name_text, provider
from mappings.legacy.tol.table import Column, Row, RowError, read_table, write_table

COLUMNS = (
    Column("appointment_id", True, "CHCS appointment number (letters, digits, . _ -)"),
    Column("dod_id", True, "the patient's DoD ID (EDIPI), 10 digits"),
    Column("clinic_code", True, "the clinic's code within its MTF (letters, digits, . _ -)"),
    Column("clinic_name", False, "the clinic's name"),
    Column("dmis_id", True, "DMIS id of the MTF, 4 letters or digits"),
    Column("provider_npi", False, "the provider's NPI, 10 digits"),
    Column("provider_name", False, "the provider's name, LAST, FIRST MIDDLE"),
    Column("start", True, "start, local time with its offset: 2026-10-05T08:30:00-05:00"),
    Column("duration", True, "minutes, 5-720"),
    Column("type", True, "ROUTINE, ACUTE, FOLLOWUP, WELLNESS, PROCEDURE, TELEHEALTH"),
    Column(
        "status",
        True,
        "PENDING, WAITLIST, BOOKED, ARRIVED, CHECKED-IN, KEPT, CANCELLED, NO-SHOW, ERROR",
    ),
    Column(
        "cancellation_reason",
        False,
        "for CANCELLED only (and then required): PATIENT, PORTAL, PROVIDER, FACILITY,"
        " WEATHER, DECEASED, ERROR, OTHER",
    ),
    Column("comment", False, "free text, up to 500 characters"),
    Column("last_updated", True, "when TOL recorded this state, UTC: 2026-10-01T12:00:00Z"),
)


def check(row: Row) -> AppointmentFacts:
    status_code = row.get("status", values.one_of(TOL_APPOINTMENT_STATUS))
    status = TOL_APPOINTMENT_STATUS[status_code]
    reason_code = row.optional("cancellation_reason", values.one_of(TOL_CANCELLATION_REASONS))
    if status == "cancelled" and reason_code is None:
        raise RowError("cancellation_reason", "", "required when the status is CANCELLED")
    if status != "cancelled" and reason_code is not None:
        raise RowError("cancellation_reason", reason_code, "only for a CANCELLED appointment")
    type_code = row.get("type", values.one_of(TOL_APPOINTMENT_TYPES))
    kind = TOL_APPOINTMENT_TYPES[type_code]
    reason = None
    if reason_code is not None:
        tol = TOL_CANCELLATION_REASONS[reason_code]
        reason = Coded(TOL_CANCELLATION_REASON, tol.code, tol.display)
    dmis = row.get("dmis_id", values.dmis_id)
    clinic = Clinic(
        dmis,
        row.get("clinic_code", values.key),
        row.optional("clinic_name", lambda t: values.text(t, limit=80)),
    )
    return AppointmentFacts(
        line=row.line,
        appointment_id=row.get("appointment_id", values.key),
        dod_id=row.get("dod_id", values.dod_id),
        recorded=row.get("last_updated", values.instant),
        status=status,
        start=row.get("start", values.instant),
        minutes=row.get("duration", lambda t: values.count(t, low=5, high=720)),
        clinic=clinic,
        provider=provider(row, "provider_npi", "provider_name"),
        kind=Coded(TOL_APPOINTMENT_TYPE, kind.code, kind.display),
        cancellation_reason=reason,
        comment=row.optional("comment", lambda t: values.text(t, limit=500)),
    )


def read(stream: IO[str]) -> Iterator[AppointmentFacts | Reject]:
    return read_table(stream, COLUMNS, check)


def row_of(facts: AppointmentFacts) -> dict[str, str]:
    """The CSV row that reads back as ``facts`` (the generator's writer)."""
    status = next(k for k, v in TOL_APPOINTMENT_STATUS.items() if v == facts.status)
    clinic = facts.clinic
    provider_ = facts.provider
    return {
        "appointment_id": facts.appointment_id,
        "dod_id": facts.dod_id,
        "clinic_code": (clinic.code or "") if clinic else "",
        "clinic_name": (clinic.name or "") if clinic else "",
        "dmis_id": (clinic.dmis_id or "") if clinic else "",
        "provider_npi": (provider_.value or "") if provider_ else "",
        "provider_name": name_text(provider_),
        "start": facts.start.isoformat() if facts.start else "",
        "duration": str(facts.minutes or ""),
        "type": facts.kind.code if facts.kind else "",
        "status": status,
        "cancellation_reason": facts.cancellation_reason.code if facts.cancellation_reason else "",
        "comment": facts.comment or "",
        "last_updated": facts.recorded.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write(stream: IO[str], rows: Iterator[AppointmentFacts]) -> int:
    return write_table(stream, COLUMNS, (row_of(f) for f in rows))
