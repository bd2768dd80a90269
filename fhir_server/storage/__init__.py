"""Storage engines behind the :class:`Store` protocol, chosen by database URL."""

from __future__ import annotations

from fhir_server.storage.protocol import Session, Store
from fhir_server.storage.records import (
    HistoryQuery,
    IndexRow,
    SearchPage,
    StoredVersion,
    VersionConflict,
    Write,
)

__all__ = [
    "HistoryQuery",
    "IndexRow",
    "SearchPage",
    "Session",
    "Store",
    "StoredVersion",
    "VersionConflict",
    "Write",
    "open_store",
]


def open_store(database_url: str) -> Store:
    """The engine for ``database_url`` (not yet opened): ``sqlite:///path`` or ``sqlite://:memory:``."""
    if database_url.startswith("sqlite:"):
        from fhir_server.storage.sqlite import SqliteStore

        return SqliteStore.from_url(database_url)
    raise ValueError(f"unsupported database URL {database_url!r}: use sqlite:///path/to/file.db")
