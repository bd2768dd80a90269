"""Writing an extract: the inverse of :mod:`mappings.eligibility.readers`.

A record here is a mapping of layout field name -> the raw text the readers accept (dates
``YYYYMMDD``, instants ``2026-11-01T12:00:00Z``, codes as in :mod:`codes`); a missing field is
written empty. Both formats are driven by the one layout (``layout.json``):

- ``fixed``: one line per record, each field left-aligned and padded with spaces to its width,
  in layout order, ending ``\\n``. A value wider than its field is a :class:`ValueError` (it
  cannot be written without losing text).
- ``csv``: a header row naming every layout field in layout order, then one row per record
  (:mod:`csv`'s default dialect, ``\\r\\n`` line ends: open files with ``newline=""``). Widths
  are not enforced here: the reader rejects an over-long value, which the tests rely on.

Error messages name fields, never values (a value may be an SSN).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from typing import IO

from mappings.eligibility.layout import layout

FORMATS = ("fixed", "csv")
"""The extract formats, as :func:`mappings.eligibility.readers.read` names them."""


def _unknown(values: Mapping[str, str]) -> None:
    names = layout().names
    unknown = sorted(name for name in values if name not in names)
    if unknown:
        raise ValueError(f"not layout fields: {', '.join(unknown)}")


def fixed_line(values: Mapping[str, str]) -> str:
    """One fixed-width line (without its line end) holding ``values``."""
    _unknown(values)
    parts: list[str] = []
    for field in layout().fields:
        value = values.get(field.name, "")
        if len(value) > field.width:
            raise ValueError(f"{field.name}: {len(value)} characters, wider than its {field.width}")
        if "\n" in value or "\r" in value:
            raise ValueError(f"{field.name}: a line end cannot be written in a fixed-width line")
        parts.append(value.ljust(field.width))
    return "".join(parts)


def csv_header() -> list[str]:
    """The CSV header row: every layout field, in layout order."""
    return list(layout().names)


def write(records: Iterable[Mapping[str, str]], stream: IO[str], format: str) -> int:
    """Write ``records`` to ``stream`` as a ``fixed`` or ``csv`` extract; the number written.

    Streams: one record is held at a time. A CSV extract always has its header row, even with no
    records.
    """
    count = 0
    if format == "fixed":
        for values in records:
            stream.write(fixed_line(values) + "\n")
            count += 1
        return count
    if format == "csv":
        header = csv_header()
        writer = csv.writer(stream)
        writer.writerow(header)
        for values in records:
            _unknown(values)
            writer.writerow([values.get(name, "") for name in header])
            count += 1
        return count
    raise ValueError(f"unknown extract format {format!r}: fixed or csv")
