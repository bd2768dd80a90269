"""Reading an extract, one record at a time (constant memory whatever the file size).

Both readers are driven by the one layout: the fixed-width reader cuts each line at the
layout's offsets, the CSV reader maps header names to the layout's fields. Each yields, per
record, an :class:`EligibilityRecord` or a :class:`Reject` with the line number.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import IO

from mappings.csv_rows import csv_rows
from mappings.eligibility.layout import layout
from mappings.eligibility.records import EligibilityRecord, check
from mappings.imports import Reject

Parsed = EligibilityRecord | Reject


def read_fixed(stream: IO[str]) -> Iterator[Parsed]:
    width = layout().line_width
    for number, line in enumerate(stream, start=1):
        text = line.rstrip("\r\n")
        if not text.strip():
            continue
        if len(text) > width:
            yield Reject(number, "(line)", f"{len(text)} characters", f"longer than {width}")
            continue
        text = text.ljust(width)
        raw = {f.name: text[f.start : f.start + f.width] for f in layout().fields}
        yield check(number, raw)


def read_csv(stream: IO[str]) -> Iterator[Parsed]:
    fields = layout().fields
    required = [f.name for f in fields if f.required]
    for row in csv_rows(stream, known=layout().names, required=required):
        yield row if isinstance(row, Reject) else check(*row)


def read(stream: IO[str], format: str) -> Iterator[Parsed]:
    if format == "fixed":
        return read_fixed(stream)
    if format == "csv":
        return read_csv(stream)
    raise ValueError(f"unknown extract format {format!r}: fixed or csv")


def detect_format(sample: str) -> str:
    """``csv`` when the first line is a header naming layout fields, else ``fixed``."""
    first = io.StringIO(sample).readline()
    return "csv" if first.startswith(layout().fields[0].name) or "dod_id" in first else "fixed"
