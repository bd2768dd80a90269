"""CSV exports with a header row: columns by name, in any order, optional ones may be left
out; one record a row (RFC 4180 quoting). Shared by the appointment and prescription readers."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import IO, TypeVar

from mappings.csv_rows import csv_rows
from mappings.imports import Reject
from mappings.legacy.values import Bad

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    required: bool
    meaning: str


class Row:
    """One row's cells by column name; :meth:`get` checks a cell and names it on failure."""

    def __init__(self, line: int, cells: Mapping[str, str]) -> None:
        self.line = line
        self.cells = cells

    def raw(self, name: str) -> str:
        return self.cells.get(name, "").strip()

    def get(self, name: str, check: Callable[[str], T]) -> T:
        text = self.raw(name)
        if not text:
            raise RowError(name, "", "required")
        try:
            return check(text)
        except Bad as bad:
            raise RowError(name, text, bad.reason) from None

    def optional(self, name: str, check: Callable[[str], T]) -> T | None:
        return self.get(name, check) if self.raw(name) else None


class RowError(Exception):
    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason

    def reject(self, line: int) -> Reject:
        return Reject(line, self.field, self.value, self.reason)


def read_table(
    stream: IO[str], columns: Sequence[Column], check: Callable[[Row], T]
) -> Iterator[T | Reject]:
    """Each row of ``stream`` through ``check``: its facts, or a Reject naming the line and
    the column (a problem with the header rejects the file as line 1)."""
    known = [c.name for c in columns]
    required = [c.name for c in columns if c.required]
    for row in csv_rows(stream, known=known, required=required):
        if isinstance(row, Reject):
            yield row
            continue
        line, cells = row
        try:
            yield check(Row(line, cells))
        except RowError as error:
            yield error.reject(line)


def write_table(stream: IO[str], columns: Sequence[Column], rows: Iterator[dict[str, str]]) -> int:
    """Write a header and ``rows`` (column name -> text); the number of rows."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow([c.name for c in columns])
    count = 0
    for row in rows:
        writer.writerow([row.get(c.name, "") for c in columns])
        count += 1
    return count
