"""An HL7 v2 message (or a file of them) -> legacy facts, or a :class:`Reject` saying why.

Rejects name the segment and field (``PID-3``) and carry the line (segment number) of the
message's MSH. ``MSH``/``MSH-9``/``MSH-7`` rejects mean the message itself is refused (an ACK
``AR``); the rest are errors in the content (``AE``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import tzinfo

from mappings.imports import Reject
from mappings.legacy.codes import ADT_EVENTS, MERGE_EVENT, SUPPORTED_MESSAGES
from mappings.legacy.hl7v2 import fields
from mappings.legacy.hl7v2.adt import read_demographics, read_merge
from mappings.legacy.hl7v2.fields import FieldError
from mappings.legacy.hl7v2.message import (
    Message,
    MessageError,
    message_zone,
    timestamp,
)
from mappings.legacy.hl7v2.pharmacy import read_pharmacy
from mappings.legacy.hl7v2.siu import read_siu
from mappings.legacy.records import Facts

REFUSED_FIELDS = frozenset(("MSH", "MSH-7", "MSH-9", "(message)"))
"""Reject fields that refuse the whole message (ACK AR rather than AE)."""
_ENVELOPE = ("FHS", "BHS", "BTS", "FTS")


def _supported() -> str:
    return ", ".join(f"{t}^{e}" for t, events in SUPPORTED_MESSAGES.items() for e in sorted(events))


def read_message(text: str, *, line: int = 1, zone: tzinfo | None = None) -> list[Facts | Reject]:
    """The facts of one message (several for a pharmacy message with several orders)."""
    try:
        message = Message(text)
    except MessageError as error:
        shown = text[:40].replace("\r", " ")
        return [Reject(line, "MSH", shown, str(error))]
    kind, event = message.type, message.event
    if event not in SUPPORTED_MESSAGES.get(kind, ()):
        return [
            Reject(line, "MSH-9", f"{kind}^{event}", f"not imported; supported: {_supported()}")
        ]
    zone = message_zone(message, zone)
    try:
        recorded = timestamp(message.msh.get(7), zone) if message.msh.get(7) else None
    except ValueError:
        return [Reject(line, "MSH-7", message.msh.get(7), "not an HL7 date/time")]
    if recorded is None:
        return [Reject(line, "MSH-7", "", "required: when the message was created")]
    pid = message.first("PID")
    if pid is None:
        return [Reject(line, "PID", "", f"a {kind}^{event} message needs a PID segment")]
    dod_id = fields.dod_id(pid, 3)
    if dod_id is None:
        return [
            Reject(
                line,
                "PID-3",
                fields.identifiers_shown(pid, 3),
                "no DoD ID (EDIPI): a 10-digit identifier with assigning authority USDOD"
                " (or DOD, EDIPI, DEERS, DMDC) or identifier type EDIPI",
            )
        ]
    try:
        if kind == "SIU":
            return [read_siu(message, dod_id=dod_id, recorded=recorded, zone=zone, line=line)]
        if kind in ("RDE", "RDS"):
            return list(
                read_pharmacy(message, dod_id=dod_id, recorded=recorded, zone=zone, line=line)
            )
        if event in ADT_EVENTS:
            return [
                read_demographics(message, dod_id=dod_id, recorded=recorded, zone=zone, line=line)
            ]
        assert event == MERGE_EVENT
        return [read_merge(message, dod_id=dod_id, recorded=recorded, zone=zone, line=line)]
    except FieldError as error:
        return [Reject(line, error.field, error.value, error.reason)]


def split_lines(lines: Iterable[str]) -> Iterator[tuple[int, str]]:
    """Each message in ``lines`` (segments, one a line, any line ending) as (its MSH's line
    number, its text with CR segment endings); batch envelopes and blank lines skipped, MLLP
    framing bytes and a byte order mark ignored."""
    start, segments = 0, list[str]()
    for number, raw in enumerate(lines, start=1):
        for segment in re.split(r"[\r\n\x0b\x1c]+", raw.removeprefix("\ufeff")):
            segment = segment.removeprefix("\ufeff")
            if not segment.strip() or segment[:3] in _ENVELOPE:
                continue
            if segment.startswith("MSH"):
                if segments:
                    yield start, "\r".join(segments)
                start, segments = number, [segment]
            elif segments:
                segments.append(segment)
            else:
                start, segments = number, [segment]  # no MSH: read_message rejects it
    if segments:
        yield start, "\r".join(segments)


def read_lines(lines: Iterable[str], *, zone: tzinfo | None = None) -> Iterator[Facts | Reject]:
    """Every message of a file (opened with universal newlines: CR, LF and CRLF all end a
    segment)."""
    for line, text in split_lines(lines):
        yield from read_message(text, line=line, zone=zone)
