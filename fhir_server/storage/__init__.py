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
    "redacted",
]


def redacted(url: str) -> str:
    """``url`` without its password, for logs and messages (``mongodb://user:***@host/db``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    hosts_end = min((i for i in (rest.find("/"), rest.find("?")) if i >= 0), default=len(rest))
    credentials, at, hosts = rest[:hosts_end].rpartition("@")
    if not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{hosts}{rest[hosts_end:]}"


def open_store(database_url: str, *, bulk: bool = False) -> Store:
    """The engine for ``database_url`` (not yet opened): ``sqlite:///path``;
    ``mongodb://...`` or ``mongodb+srv://...`` (options pass to
    pymongo; the path names the database, default ``mhs_fhir``; ``allow_standalone=true``
    accepts a server without transactions). ``bulk``: the store is opened for an import,
    which writes much in few transactions (SQLite gives its writer a larger page cache)."""
    if database_url.startswith("sqlite:"):
        from fhir_server.storage.sqlite import SqliteStore

        return SqliteStore.from_url(database_url, bulk=bulk)
    if database_url.startswith(("mongodb://", "mongodb+srv://")):
        from fhir_server.storage.mongo import MongoStore

        return MongoStore.from_url(database_url)
    raise ValueError(
        f"unsupported database URL {database_url!r}: use sqlite:///path/to/file.db or"
        " mongodb://host/database"
    )
