"""Whole numbers from request text (versions, counts, cursors): one rule everywhere."""

from __future__ import annotations

LARGEST_NUMBER = 2**63 - 1
"""The largest version, sequence number or count a store holds (SQLite's 64-bit integers)."""


def whole_number(text: str, *, cap: int = LARGEST_NUMBER) -> int | None:
    """``text`` as a whole number no larger than ``cap`` (larger ones give ``cap``); None
    unless it is all ASCII digits (``str.isdigit`` alone also accepts ``²``, which ``int``
    refuses, and ``int`` refuses texts of thousands of digits)."""
    if not (text.isascii() and text.isdigit()):
        return None
    if len(text) > len(str(cap)):
        return cap
    return min(int(text), cap)
