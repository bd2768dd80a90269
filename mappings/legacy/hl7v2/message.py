"""One HL7 v2 message, parsed by python-hl7, with forgiving accessors: a field, component or
repetition that is not there reads as ``""`` (optional fields are often left out), escape
sequences are decoded, ``""`` (HL7's explicit null) is told apart from absent.

Also: HL7 timestamps (``YYYY[MM[DD[HH[MM[SS[.S...]]]]]][+/-ZZZZ]``) with the zone rules of
the README.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from typing import Any, Protocol

import hl7
from hl7.parser import create_parse_plan
from hl7.util import unescape

_SEGMENT_NAME = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_TIMESTAMP = re.compile(
    r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,6}))?([+-]\d{4})?$"
)
NULL = '""'

Components = list[list[str]]  # components -> subcomponents (raw, still escaped)


class MessageError(ValueError):
    """Not a readable HL7 v2 message."""


class _Escapes(Protocol):
    """What python-hl7's ``unescape`` reads of a message: its escape character and separators
    (its parse plan has both)."""

    esc: str
    separators: str


def _as_list() -> Any:
    """A container maker that keeps the plain list. The parser tells the levels apart by
    which maker it holds, so each level needs its own."""

    def make(sequence: list[Any], **_: Any) -> list[Any]:
        return sequence

    return staticmethod(make)


class _Lists(hl7.Factory):  # type: ignore[misc]  # python-hl7 has no type hints
    """python-hl7's parser, building plain lists instead of its container classes (a custom
    Factory is its documented way to choose them): the containers took half of a parse
    (276 -> 151 µs a message), and Segment copies the tree into lists anyway."""

    create_message = _as_list()
    create_segment = _as_list()
    create_field = _as_list()
    create_repetition = _as_list()
    create_component = _as_list()


def _normal(field: object) -> list[Components]:
    """python-hl7's field (strings or repetitions of components) as plain nested lists."""
    out: list[Components] = []
    for rep in field:  # type: ignore[attr-defined]
        if isinstance(rep, str):
            out.append([[rep]])
        else:
            out.append([[c] if isinstance(c, str) else [str(s) for s in c] for c in rep])
    return out


class Segment:
    """A segment's fields by HL7 number (``seg.get(3, 1)`` is PID-3.1)."""

    __slots__ = ("_fields", "_message", "name")

    def __init__(self, raw: list[Any], message: _Escapes) -> None:
        self.name = str(raw[0][0])
        self._message = message
        self._fields = [_normal(f) for f in raw]

    def repetitions(self, field: int) -> list[Components]:
        if field >= len(self._fields):
            return []
        reps = self._fields[field]
        return [] if reps == [[[""]]] else reps

    def raw(self, field: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        reps = self.repetitions(field)
        if rep > len(reps):
            return ""
        components = reps[rep - 1]
        if component > len(components):
            return ""
        subs = components[component - 1]
        return subs[sub - 1] if sub <= len(subs) else ""

    def get(self, field: int, component: int = 1, sub: int = 1, rep: int = 1) -> str:
        """The decoded text (escape sequences resolved; ``\\.br\\`` as a new line)."""
        text = self.raw(field, component, sub, rep)
        if not text or text == NULL:
            return ""
        if "\\" in text:
            text = unescape(self._message, text).replace("\r", "\n")
        return text.strip()

    def is_null(self, field: int) -> bool:
        """The field is HL7's explicit null ``""`` (delete the stored value)."""
        return self.raw(field) == NULL and len(self.repetitions(field)) == 1

    def decode(self, text: str) -> str:
        return unescape(self._message, text).replace("\r", "\n").strip() if "\\" in text else text


class Message:
    """A parsed message: its segments in order, and MSH shortcuts."""

    def __init__(self, text: str) -> None:
        if not text.startswith("MSH") or len(text) < 8:
            raise MessageError("a message starts with an MSH segment")
        try:
            parsed = hl7.parse(text, factory=_Lists)
            escapes = create_parse_plan(text.strip())
        except Exception as error:  # python-hl7 raises several kinds on bad input
            raise MessageError(f"not an HL7 v2 message: {error}") from None
        self.segments = [Segment(s, escapes) for s in parsed]
        if not self.segments or self.segments[0].name != "MSH":
            raise MessageError("a message starts with an MSH segment")
        self.msh = self.segments[0]

    @property
    def type(self) -> str:
        return self.msh.get(9, 1)

    @property
    def event(self) -> str:
        return self.msh.get(9, 2)

    @property
    def control_id(self) -> str:
        return self.msh.get(10)

    @property
    def version(self) -> str:
        return self.msh.get(12)

    def first(self, name: str) -> Segment | None:
        return next((s for s in self.segments if s.name == name), None)

    def all(self, name: str) -> list[Segment]:
        return [s for s in self.segments if s.name == name]


def timestamp(text: str, zone: tzinfo | None) -> datetime | None:
    """An HL7 DTM/TS; without an offset it is read in ``zone`` (None: not readable)."""
    match = _TIMESTAMP.match(text)
    if not match:
        raise ValueError(f"not an HL7 timestamp: {text!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    value = datetime(
        int(year),
        int(month or 1),
        int(day or 1),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        int((fraction or "0").ljust(6, "0")),
    )
    if offset:
        sign = 1 if offset[0] == "+" else -1
        delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
        return value.replace(tzinfo=timezone(sign * delta))
    if zone is None:
        return None
    return value.replace(tzinfo=zone)


def day(text: str) -> date:
    """The date part of an HL7 DT/DTM (no zone conversion: a birth date is a calendar day)."""
    match = _TIMESTAMP.match(text)
    if not match or not match.group(3):
        raise ValueError(f"not an HL7 date: {text!r}")
    return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))


def message_zone(message: Message, zone: tzinfo | None) -> tzinfo:
    """The zone for timestamps without an offset: the feed's (``--timezone``), else MSH-7's
    offset, else UTC."""
    if zone is not None:
        return zone
    sent = message.msh.get(7)
    try:
        stamp = timestamp(sent, None) if sent else None
    except ValueError:
        stamp = None
    return stamp.tzinfo if stamp is not None and stamp.tzinfo is not None else UTC


def is_segment_name(text: str) -> bool:
    return bool(_SEGMENT_NAME.match(text))
