"""Plain data that crosses the storage boundary: stored versions, writes, history queries.

An engine knows these shapes and its database; it knows nothing of FHIR HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

from fhir_server.fixed import fixed
from fhir_server.search.plan import Cursor

Method = Literal["POST", "PUT", "PATCH", "DELETE"]


class StoredVersion(NamedTuple):
    """One version of one resource, as the store keeps it.

    ``body`` is the resource JSON exactly as stored (id and meta included); it is served as it
    is. A delete is a version too: ``deleted`` is true and ``body`` is ``None``. A named tuple:
    every read and every search hit makes one (0.3 µs against 1 for a frozen dataclass).
    """

    type: str
    id: str
    version: int
    last_updated: str
    method: Method
    body: bytes | None
    seq: int = 0

    @property
    def deleted(self) -> bool:
        return self.body is None


# Index rows: what a resource's search parameter values become at write time. ``param`` is
# the parameter's key (``Observation.code``; ``Resource._tag`` for the common ones). Named
# tuples, not dataclasses: a Patient makes about 40 on the event loop, each made and hashed
# (duplicates dropped) three times faster, and a row is already its columns in order. Rows
# compare as tuples: the rows of one parameter key are all of one kind.


class StringRow(NamedTuple):
    """A string value: ``norm`` folded for matching (case, accents, spaces), ``exact`` as is."""

    param: str
    norm: str
    exact: str


class TokenRow(NamedTuple):
    """A code with its system (``None``: the value has no system)."""

    param: str
    system: str | None
    code: str | None


class ReferenceRow(NamedTuple):
    """A reference: a local ``type``/``id``, or else the absolute or canonical ``url``."""

    param: str
    type: str | None
    id: str | None
    url: str | None


class DateRow(NamedTuple):
    """The instants a date, dateTime, instant, Period or Timing covers, both ends inclusive,
    as UTC text that sorts (``2026-01-01T00:00:00.000000Z``)."""

    param: str
    low: str
    high: str


class NumberRow(NamedTuple):
    """A number, or a quantity's value with its ``system``/``code`` and ``unit``. A Range
    is one row from ``value`` (its low) to ``high``; ``high`` is None for a single value."""

    param: str
    value: float
    system: str | None = None
    code: str | None = None
    unit: str | None = None
    high: float | None = None

    @property
    def top(self) -> float:
        return self.value if self.high is None else self.high


class UriRow(NamedTuple):
    param: str
    uri: str


ComponentRow = StringRow | TokenRow | ReferenceRow | DateRow | NumberRow | UriRow


class CompositeRow(NamedTuple):
    """A composite parameter's value: one row per component, all from the same element."""

    param: str
    parts: tuple[ComponentRow, ...]


IndexRow = StringRow | TokenRow | ReferenceRow | DateRow | NumberRow | UriRow | CompositeRow
IndexEntry = tuple[str, str, int, Sequence[IndexRow]]
"""Index rows for version ``[2]`` of ``[0]/[1]``, as a reindex replaces them."""


@fixed  # every write makes one
class Write:
    """One new version of one resource: the unit an engine applies atomically with others.

    ``expected_version`` is the compare-and-swap guard: the engine applies the write only if
    the current version is exactly that (``None``: no version exists at all). Otherwise the
    whole batch of writes fails with :class:`VersionConflict` and nothing is stored.

    ``index`` holds the version's index rows, unless ``index_base`` is set: then the engine
    extracts them from ``body`` itself (``fhir_server.indexing.rows_of``), references under
    that base URL being local, wherever that costs the server's event loop least (the SQLite
    engine: in its writer process). ``document``: ``body`` as parsed, when the writer of the
    write has it (extraction then need not parse the body again); never changed afterwards.
    """

    type: str
    id: str
    version: int
    expected_version: int | None
    last_updated: str
    method: Method
    body: bytes | None
    index: tuple[IndexRow, ...] = ()
    index_base: str | None = None
    document: Mapping[str, Any] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryQuery:
    """History at system (no type), type (no id) or instance level, newest first.

    ``before_seq`` is the paging cursor: only versions written before that sequence number.
    """

    type: str | None = None
    id: str | None = None
    since: str | None = None
    at: str | None = None
    before_seq: int | None = None
    count: int = 50


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of search results in result order. ``first``/``last`` locate its first and
    last rows (for the previous and next links); ``more`` says whether rows were left over
    in the direction the page was read."""

    versions: list[StoredVersion]
    first: Cursor | None = None
    last: Cursor | None = None
    more: bool = False


KIND_OF_ROW: dict[type, str] = {
    StringRow: "string",
    TokenRow: "token",
    ReferenceRow: "reference",
    DateRow: "date",
    NumberRow: "number",
    UriRow: "uri",
    CompositeRow: "composite",
}
"""The parameter kind of each index row type (a quantity's rows are NumberRows)."""

INDEX_OF_KIND: dict[str, str] = {
    "string": "idx_string",
    "token": "idx_token",
    "reference": "idx_reference",
    "date": "idx_date",
    "number": "idx_number",
    "quantity": "idx_number",
    "uri": "idx_uri",
    "composite": "idx_composite",
}
"""Where each parameter kind's index entries live, in every engine: a SQLite table, the
array of a MongoDB resource document (quantities share the numbers')."""


class StorageError(Exception):
    """Base of storage-level errors; the interactions layer turns them into FHIR errors."""


class VersionConflict(StorageError):
    """A compare-and-swap guard failed: the resource changed since it was read."""

    def __init__(self, type: str, id: str, expected: int | None) -> None:
        super().__init__(f"{type}/{id}: expected version {expected}")
        self.type = type
        self.id = id
        self.expected = expected
