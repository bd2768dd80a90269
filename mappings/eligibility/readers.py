"""Reading an extract, one record at a time (constant memory whatever the file size).

Both readers are driven by the one layout: the fixed-width reader cuts each line at the
layout's offsets, the CSV reader maps header names to the layout's fields. Each yields, per
record, an :class:`EligibilityRecord` or a :class:`Reject` with the line number.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from typing import IO

from mappings.eligibility.layout import layout
from mappings.eligibility.records import EligibilityRecord, check
from mappings.imports import Reject

Parsed = EligibilityRecord | Reject
_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


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
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    names = [h.strip() for h in header]
    if names:
        names[0] = names[0].removeprefix("\ufeff")  # a byte order mark (Excel's UTF-8 CSV)
    unknown = [n for n in names if n not in layout().names]
    missing = [f.name for f in layout().fields if f.required and f.name not in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if unknown or missing or repeated:
        problems = []
        if unknown:
            # Only names that look like column names are shown: a first line of data (not
            # a header) must not end up in a reject, SSN and all.
            shown = [n for n in unknown if _COLUMN_NAME.match(n)]
            problems.append(
                f"{len(unknown)} unknown columns" + (f" ({', '.join(shown)})" if shown else "")
            )
        if missing:
            problems.append(f"missing required columns {', '.join(missing)}")
        if repeated:
            problems.append(f"repeated columns {', '.join(repeated)}")
        yield Reject(1, "(header)", "", "; ".join(problems))
        return
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(names):
            yield Reject(number, "(row)", f"{len(row)} cells", f"the header has {len(names)}")
            continue
        yield check(number, dict(zip(names, row, strict=True)))


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
