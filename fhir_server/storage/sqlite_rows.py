"""How a write travels to the SQLite writer process: index rows as the engine stores them
(each kind's table, its columns after ``rid`` and ``pid``), a ``Write`` as plain tuples, and
the extraction the process runs for writes that leave it to the engine. Light to import: the
writer process imports this module the first time it extracts index rows."""

from __future__ import annotations

import marshal
from collections.abc import Sequence
from typing import Any

from fhir_server.indexing import extract, rows_of
from fhir_server.resource_json import parse_json
from fhir_server.storage import sqlite_writer
from fhir_server.storage.records import INDEX_OF_KIND, KIND_OF_ROW, CompositeRow, IndexRow, Write
from fhir_server.storage.sqlite_search import COMPONENT_COLUMNS
from fhir_server.storage.sqlite_writer import EncodedRow, EncodedWrite, Groups, IndexedWrite

_TABLE_OF_ROW: dict[type, int] = {
    row_type: sqlite_writer.INDEX_TABLES.index(INDEX_OF_KIND[kind])
    for row_type, kind in KIND_OF_ROW.items()
}


def _composite_values(row: CompositeRow) -> tuple[Any, ...]:
    """The 15 generic component columns of ``idx_composite`` (three components of five)."""
    out: list[Any] = []
    for part in (*row.parts, None, None, None)[:3]:
        slots = dict.fromkeys(("a", "b", "n", "lo", "hi"))
        if part is not None:
            layout = COMPONENT_COLUMNS[KIND_OF_ROW[type(part)]]
            for name, column in layout.items():
                if name != "top":  # a composite keeps one number per component
                    slots[column] = getattr(part, name)
        out.extend(slots.values())
    return tuple(out)


def encode_row(row: IndexRow) -> tuple[int, EncodedRow]:
    """(table number, the row as stored: its parameter key, then its columns after ``pid``)."""
    if isinstance(row, CompositeRow):
        return _TABLE_OF_ROW[CompositeRow], (row.param, *_composite_values(row))
    return _TABLE_OF_ROW[type(row)], tuple(row)


def encode_rows(rows: Sequence[IndexRow]) -> Groups:
    grouped: dict[int, list[EncodedRow]] = {}
    for row in rows:
        table, encoded = encode_row(row)
        grouped.setdefault(table, []).append(encoded)
    return tuple((table, tuple(encoded)) for table, encoded in grouped.items())


def indexed_write(w: Write) -> IndexedWrite:
    """``w`` with its index rows, encoded (extracted here if it left them to the engine)."""
    index = encode_rows(rows_of(w)) if w.body is not None else ()
    return (w.type, w.id, w.version, w.expected_version, w.last_updated, w.method, w.body, index)


def encode_write(w: Write) -> EncodedWrite:
    """``w`` as the writer process takes it: index rows it left to the engine
    (``index_base``) are extracted there, off the event loop."""
    if w.body is None or w.index_base is None:
        return indexed_write(w)
    head = (w.type, w.id, w.version, w.expected_version, w.last_updated, w.method, w.body)
    try:
        document = None if w.document is None else marshal.dumps(dict(w.document))
    except ValueError:  # not plain JSON values (exact decimals): the process parses the body
        document = None
    return (*head, w.index_base, document)


def index_groups(body: bytes, base_url: str, document: bytes | None) -> Groups:
    """The index rows of a stored body, encoded (the writer process's extraction): from the
    body as parsed by the server (``document``, marshalled) when it came along."""
    resource = marshal.loads(document) if document is not None else parse_json(body)
    return encode_rows(extract(resource, base_url=base_url))
