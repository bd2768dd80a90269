"""The writer process's wire: frames arrive whole however the stream splits them, and what the
store encodes fits the writer's statements."""

from __future__ import annotations

import socket
import threading
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.storage import sqlite_writer
from fhir_server.storage.records import (
    CompositeRow,
    DateRow,
    IndexRow,
    NumberRow,
    ReferenceRow,
    StringRow,
    TokenRow,
    UriRow,
)
from fhir_server.storage.schema import INDEX_TABLES
from fhir_server.storage.sqlite_rows import encode_row

messages = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=2**40),
        st.integers(min_value=0, max_value=5),
        st.one_of(st.none(), st.binary(max_size=3000), st.text(max_size=50)),
    ),
    min_size=1,
    max_size=20,
)


@settings(max_examples=50, deadline=None)
@given(sent=messages, cuts=st.lists(st.integers(min_value=1, max_value=4000), max_size=30))
def test_frames_come_back_whole_however_the_stream_is_cut(
    sent: list[tuple[Any, ...]], cuts: list[int]
) -> None:
    stream = b"".join(sqlite_writer.frame(message) for message in sent)
    ours, theirs = socket.socketpair()

    def send() -> None:
        position = 0
        for cut in [*cuts, len(stream)]:
            theirs.sendall(stream[position : position + cut])
            position += cut
            if position >= len(stream):
                break
        theirs.close()

    sender = threading.Thread(target=send)
    sender.start()
    frames = sqlite_writer.Frames(ours)
    received: list[Any] = []
    while (more := frames.read()) is not None:
        received.extend(more)
    sender.join()
    ours.close()
    assert received == sent


def test_the_writer_knows_the_schema_s_index_tables_in_order() -> None:
    assert sqlite_writer.INDEX_TABLES == INDEX_TABLES


ROWS: list[IndexRow] = [
    StringRow("Patient.name", "eve", "Eve"),
    TokenRow("Patient.identifier", "urn:x", "1"),
    ReferenceRow("Observation.subject", "Patient", "1", None),
    DateRow("Patient.birthdate", "2000-01-01T00:00:00.000000Z", "2000-01-01T23:59:59.999999Z"),
    NumberRow("Observation.value-quantity", 1.5, "http://unitsofmeasure.org", "mg", "mg"),
    UriRow("ValueSet.url", "http://example.org/vs"),
    CompositeRow(
        "Observation.code-value-quantity",
        (TokenRow("", "http://loinc.org", "1-8"), NumberRow("", 2.0, None, None, None)),
    ),
]


def test_every_kind_of_index_row_fits_its_table_s_insert() -> None:
    """An encoded row is its key and the columns after ``rid`` and ``pid``."""
    for row in ROWS:
        table, encoded = encode_row(row)
        placeholders = sqlite_writer.INDEX_INSERTS[table].count("?")
        assert len(encoded) == placeholders - 1, row
        assert encoded[0] == row.param
