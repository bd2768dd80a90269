"""One eligibility record, checked field by field against the layout, or the reason it is not
(a :class:`~mappings.imports.Reject`).

:func:`check` is the one place a raw record (field name -> text, from either reader) becomes an
:class:`EligibilityRecord`; every problem is a :class:`Reject` naming the line and the field.
An SSN's value never appears in a reject.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

from mappings.eligibility.codes import TABLES
from mappings.eligibility.layout import Field, layout
from mappings.imports import Reject

_DIGITS = re.compile(r"^[0-9]+$")
_DATE = re.compile(r"^[0-9]{8}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DMIS = re.compile(r"^[0-9A-Z]{4}$")
_INSTANT = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ().-]{5,14}$")
_STATE = re.compile(r"^[A-Z]{2}$")
_POSTAL = re.compile(r"^[0-9A-Z][0-9A-Z -]{1,9}$")
SECRET_FIELDS = frozenset({"ssn"})


@dataclass(frozen=True, slots=True, kw_only=True)
class EligibilityRecord:
    line: int
    record_action: str
    record_timestamp: datetime
    dod_id: str
    dbn: str
    ssn: str | None
    last_name: str
    first_name: str
    middle_name: str | None
    name_suffix: str | None
    birth_date: date
    sex: str
    address_line1: str | None
    address_line2: str | None
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    phone: str | None
    email: str | None
    sponsor_dod_id: str
    relationship: str
    beneficiary_category: str
    branch: str | None
    pay_grade: str | None
    duty_status: str | None
    eligibility_begin: date
    eligibility_end: date | None
    plan: str | None
    enrollment_site: str | None
    pcm: str | None

    @property
    def is_sponsor(self) -> bool:
        return self.relationship == "SF"


class _Bad(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _value(field: Field, raw: str) -> object:
    text = raw.strip()
    if not text:
        if field.required:
            raise _Bad("required")
        return None
    if len(text) > field.width:
        raise _Bad(f"longer than {field.width} characters")
    kind = field.type
    if kind == "digits":
        if not _DIGITS.match(text) or len(text) != field.width:
            raise _Bad(f"must be {field.width} digits")
        return text
    if kind == "date":
        if not _DATE.match(text):
            raise _Bad("must be a date YYYYMMDD")
        try:  # the pattern matched: eight digits (strptime is ten times slower)
            return date(int(text[:4]), int(text[4:6]), int(text[6:]))
        except ValueError:
            raise _Bad("must be a date YYYYMMDD") from None
    if kind == "instant":
        if not _INSTANT.match(text):
            raise _Bad("must be an instant like 2026-11-01T12:00:00Z")
        try:
            return datetime(
                int(text[:4]),
                int(text[5:7]),
                int(text[8:10]),
                int(text[11:13]),
                int(text[14:16]),
                int(text[17:19]),
                tzinfo=UTC,
            )
        except ValueError:
            raise _Bad("must be an instant like 2026-11-01T12:00:00Z") from None
    if kind == "email":
        if not _EMAIL.match(text):
            raise _Bad("not an email address")
        return text
    if kind == "phone":
        if not _PHONE.match(text):
            raise _Bad("not a phone number (digits, optionally +, spaces, dashes, brackets)")
        return text
    if kind in ("state", "country"):
        if not _STATE.match(text):
            raise _Bad("two capital letters")
        return text
    if kind == "postal":
        if not _POSTAL.match(text):
            raise _Bad("not a postal code")
        return text
    if kind == "dmis":
        if not _DMIS.match(text):
            raise _Bad("a DMIS id is 4 letters or digits")
        return text
    table = field.table
    if table is not None:
        if text not in TABLES[table]:
            raise _Bad(f"unknown code; one of {', '.join(TABLES[table])}")
        return text
    if any(ord(c) < 32 for c in text):
        raise _Bad("control characters")
    return text


def _shown(field: str, raw: str) -> str:
    return "***" if field in SECRET_FIELDS else raw.strip()


def check(line: int, raw: Mapping[str, str]) -> EligibilityRecord | Reject:
    """The record in ``raw`` (field name -> text), or the first problem with it."""
    values: dict[str, object] = {}
    for field in layout().fields:
        text = raw.get(field.name, "")
        try:
            values[field.name] = _value(field, text)
        except _Bad as bad:
            return Reject(line, field.name, _shown(field.name, text), bad.reason)
    record = EligibilityRecord(line=line, **values)  # type: ignore[arg-type]
    return _consistent(record) or record


def _consistent(r: EligibilityRecord) -> Reject | None:
    """Rules across fields."""
    if r.is_sponsor and r.sponsor_dod_id != r.dod_id:
        return Reject(r.line, "sponsor_dod_id", r.sponsor_dod_id, "a sponsor (SF) is their own")
    if not r.is_sponsor and r.sponsor_dod_id == r.dod_id:
        return Reject(r.line, "relationship", r.relationship, "only a sponsor is their own sponsor")
    if r.eligibility_end is not None and r.eligibility_end < r.eligibility_begin:
        return Reject(
            r.line, "eligibility_end", r.eligibility_end.strftime("%Y%m%d"), "before the begin"
        )
    if r.birth_date > r.record_timestamp.date():
        return Reject(r.line, "birth_date", r.birth_date.strftime("%Y%m%d"), "in the future")
    if r.plan is not None and r.enrollment_site is None and r.plan in ("PRI", "PRR"):
        return Reject(r.line, "enrollment_site", "", "Prime enrollment needs an enrollment site")
    return None
