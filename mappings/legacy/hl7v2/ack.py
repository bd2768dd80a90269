"""HL7 v2 acknowledgements (original mode, HL7 v2 chapter 2.9): ``AA`` the message was
stored (or changed nothing), ``AE`` it was read but could not be imported (the reason in
MSA-3 and ERR), ``AR`` it was refused (not HL7, or a message type, event or version this
server does not take).

The ACK is built from the inbound MSH as far as it can be read, so even garbage gets an
answer the sender can match (MSA-2 is the inbound MSH-10 when there is one).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from mappings.legacy.hl7v2.escape import escape

APPLICATION = "MHS-FHIR"
_COUNTER = itertools.count(1)
_ERROR_CODES = {
    "required": ("101", "Required field missing"),
    "patient": ("204", "Unknown key identifier"),
    "type": ("200", "Unsupported message type"),
    "other": ("207", "Application internal error"),
}


def _msh(inbound: str) -> list[str]:
    first = inbound.lstrip("\ufeff\x0b \r\n").split("\r", 1)[0].split("\n", 1)[0]
    if not first.startswith("MSH") or len(first) < 4:
        return []
    return first.split(first[3])


def _field(msh: list[str], number: int) -> str:
    """MSH-n of a split MSH line (MSH-1 is the separator itself, so MSH-n is index n-1)."""
    index = number - 1
    return msh[index] if 0 < index < len(msh) else ""


def _error_code(field: str, reason: str) -> tuple[str, str]:
    if field == "MSH-9":
        return _ERROR_CODES["type"]
    if reason.startswith("required") or "required" in reason.split(":")[0]:
        return _ERROR_CODES["required"]
    if reason.startswith("no patient"):
        return _ERROR_CODES["patient"]
    return _ERROR_CODES["other"]


def _location(field: str) -> str:
    segment, _, number = field.partition("-")
    if len(segment) == 3 and number.isdigit():
        return f"{segment}^1^{number}"
    return segment if len(segment) == 3 and segment.isalnum() else ""


def ack(
    inbound: str,
    code: str,
    *,
    field: str = "",
    reason: str = "",
    now: datetime | None = None,
) -> str:
    """The ACK (segments joined by CR, no framing) answering ``inbound`` with ``code``."""
    msh = _msh(inbound)
    event = _field(msh, 9).split("^")[1] if "^" in _field(msh, 9) else ""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%d%H%M%S+0000")
    control = f"ACK{stamp[:14]}{next(_COUNTER):06d}"
    out = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                APPLICATION,
                escape(_field(msh, 6).split("^")[0]),
                escape(_field(msh, 3).split("^")[0]),
                escape(_field(msh, 4).split("^")[0]),
                stamp,
                "",
                f"ACK^{escape(event)}^ACK" if event else "ACK",
                control,
                escape(_field(msh, 11).split("^")[0]) or "P",
                escape(_field(msh, 12).split("^")[0]) or "2.5.1",
            ]
        ),
        "|".join(
            ["MSA", code, escape(_field(msh, 10))] + ([escape(reason[:200])] if reason else [])
        ),
    ]
    if code != "AA":
        number, text = _error_code(field, reason)
        detail = f"{field}: {reason}" if field else reason
        out.append(
            "|".join(
                [
                    "ERR",
                    "",
                    _location(field),
                    f"{number}^{text}^HL70357",
                    "E",
                    "",
                    "",
                    "",
                    escape(detail[:250]),
                ]
            )
        )
    return "\r".join(out) + "\r"
