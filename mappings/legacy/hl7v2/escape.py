"""Escaping text for HL7 v2 fields (the default ``|^~\\&`` encoding characters)."""

from __future__ import annotations

_ESCAPES = {
    "\\": "\\E\\",
    "|": "\\F\\",
    "^": "\\S\\",
    "&": "\\T\\",
    "~": "\\R\\",
    "\n": "\\.br\\",
    "\r": "\\.br\\",
}


def escape(text: str) -> str:
    """``text`` with the separators and line breaks as HL7 escape sequences."""
    if not any(c in _ESCAPES for c in text):
        return text
    return "".join(_ESCAPES.get(c, c) for c in text)
