"""Checks of single values, shared by the TOL and HL7 v2 readers: each returns the clean value
or raises :class:`Bad` with the reason (the reader adds the line and field)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

_DOD_ID = re.compile(r"^[0-9]{10}$")
_DMIS = re.compile(r"^[0-9A-Z]{4}$")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_NPI = re.compile(r"^[0-9]{10}$")
_INSTANT = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})$"
)
_DAY = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_NDC_SHAPES = {(4, 4, 2): "0{0}{1}{2}", (5, 3, 2): "{0}0{1}{2}", (5, 4, 1): "{0}{1}0{2}"}


class Bad(ValueError):
    """A value that cannot be imported; ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def dod_id(text: str) -> str:
    if not _DOD_ID.match(text):
        raise Bad("a DoD ID (EDIPI) is 10 digits")
    return text


def dmis_id(text: str) -> str:
    if not _DMIS.match(text):
        raise Bad("a DMIS id is 4 capital letters or digits")
    return text


def key(text: str) -> str:
    """An identifier value usable in a search: letters, digits, ``.``, ``_``, ``-``."""
    if not _KEY.match(text):
        raise Bad("must be 1-64 letters, digits, '.', '_' or '-' (starting with a letter or digit)")
    return text


def npi(text: str) -> str:
    if not _NPI.match(text):
        raise Bad("an NPI is 10 digits")
    return text


def instant(text: str) -> datetime:
    """ISO 8601 date and time with a zone (``Z`` or ``+hh:mm``)."""
    if not _INSTANT.match(text):
        raise Bad("must be a date and time with a zone, like 2026-10-05T08:30:00-05:00")
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Bad("not a valid date and time") from None
    return value


def day(text: str) -> date:
    if not _DAY.match(text):
        raise Bad("must be a date YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Bad("not a valid date") from None


def count(text: str, *, low: int = 0, high: int = 999) -> int:
    if not text.isdigit():
        raise Bad(f"must be a whole number {low}-{high}")
    value = int(text)
    if not low <= value <= high:
        raise Bad(f"must be a whole number {low}-{high}")
    return value


def amount(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Bad("must be a number") from None
    if not value.is_finite() or value <= 0 or value >= 1_000_000:
        raise Bad("must be a positive number below 1000000")
    return value


def ndc(text: str) -> str:
    """An NDC as the 11-digit 5-4-2 form: 11 digits, or a hyphenated 4-4-2, 5-3-2, 5-4-1 or
    5-4-2 (10 digits without hyphens are ambiguous and refused)."""
    parts = text.split("-")
    if len(parts) == 1:
        if len(text) == 11 and text.isdigit():
            return text
        raise Bad("an NDC is 11 digits, or 10 with hyphens (4-4-2, 5-3-2 or 5-4-1)")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        shape = tuple(len(p) for p in parts)
        if shape == (5, 4, 2):
            return "".join(parts)
        pattern = _NDC_SHAPES.get(shape)  # type: ignore[arg-type]
        if pattern is not None:
            return pattern.format(*parts)
    raise Bad("an NDC is 11 digits, or 10 with hyphens (4-4-2, 5-3-2 or 5-4-1)")


def text(value: str, *, limit: int, multiline: bool = False) -> str:
    if len(value) > limit:
        raise Bad(f"longer than {limit} characters")
    allowed = "\n\t" if multiline else ""
    if any(ord(c) < 32 and c not in allowed for c in value) or "\x7f" in value:
        raise Bad("control characters")
    return value


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def one_of(table: Mapping[str, object]) -> Callable[[str], str]:
    """A check that the text is one of ``table``'s codes."""

    def check(text: str) -> str:
        if text not in table:
            raise Bad(f"unknown code; one of {', '.join(table)}")
        return text

    return check
