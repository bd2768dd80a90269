"""CSV files with a header row, as every import reads them: columns by name in any order,
one record a row (RFC 4180 quoting). A bad header rejects the file as line 1; a row with
the wrong number of cells is rejected with its line; blank rows are skipped."""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator
from typing import IO

from mappings.imports import Reject

_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")


def csv_rows(
    stream: IO[str], *, known: Collection[str], required: Collection[str]
) -> Iterator[tuple[int, dict[str, str]] | Reject]:
    """Each row as (line number, cells by column name), or a Reject."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    names = [h.strip() for h in header]
    if names:
        names[0] = names[0].removeprefix("\ufeff")  # a byte order mark (Excel's UTF-8 CSV)
    problems = _header_problems(names, known, required)
    if problems:
        yield Reject(1, "(header)", "", problems)
        return
    for cells in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(names):
            yield Reject(line, "(row)", f"{len(cells)} cells", f"the header has {len(names)}")
            continue
        yield line, dict(zip(names, cells, strict=True))


def _header_problems(names: list[str], known: Collection[str], required: Collection[str]) -> str:
    unknown = [n for n in names if n not in known]
    missing = [n for n in required if n not in names]
    repeated = sorted({n for n in names if names.count(n) > 1})
    problems = []
    if unknown:
        # Only names that look like column names are shown: a first line of data (not a
        # header) must not end up in a reject, SSN and all.
        shown = [n for n in unknown if _COLUMN_NAME.match(n)]
        problems.append(
            f"{len(unknown)} unknown columns" + (f" ({', '.join(shown)})" if shown else "")
        )
    if missing:
        problems.append(f"missing required columns {', '.join(missing)}")
    if repeated:
        problems.append(f"repeated columns {', '.join(repeated)}")
    return "; ".join(problems)
