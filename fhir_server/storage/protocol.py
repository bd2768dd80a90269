"""The storage boundary: what every engine (SQLite, MongoDB) implements.

Each method names the part of the FHIR spec it serves. The contract suite in
``tests/fhir_server/storage/`` takes an engine as a fixture and proves engines interchangeable.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from fhir_server.search.plan import SearchPlan
from fhir_server.storage.records import (
    HistoryQuery,
    IndexEntry,
    SearchPage,
    StoredVersion,
    Write,
)


class Session(Protocol):
    """What interactions use: the reads and writes of one store, or of one transaction."""

    async def read(self, type: str, id: str) -> StoredVersion | None:
        """Current version, deleted ones included (https://hl7.org/fhir/R4/http.html#read)."""

    async def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        """One version (https://hl7.org/fhir/R4/http.html#vread)."""

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        """Apply all writes atomically (resource + history + index), each guarded by its
        compare-and-swap on the current version; raise VersionConflict and store nothing if
        any guard fails (https://hl7.org/fhir/R4/http.html#concurrency,
        https://hl7.org/fhir/R4/http.html#transaction)."""

    async def history(self, query: HistoryQuery) -> Sequence[StoredVersion]:
        """Versions newest first (https://hl7.org/fhir/R4/http.html#history)."""

    async def search(self, plan: SearchPlan) -> SearchPage:
        """Current, non-deleted resources matching the plan, in its sort order, one page after
        its cursor (https://hl7.org/fhir/R4/search.html)."""

    async def count(self, plan: SearchPlan) -> int:
        """How many resources match the plan, ignoring count and cursor (``_total``)."""

    async def guard(self, type: str, key: str) -> None:
        """Within a transaction: make every concurrent transaction that guards the same
        ``key`` conflict with this one (all but one fail with VersionConflict(type, key),
        storing nothing), so a check-then-write such as a conditional create cannot happen
        twice at once (https://hl7.org/fhir/R4/http.html#ccreate). Outside one: nothing.
        An engine whose transactions run one at a time has nothing to do."""

    def transaction(self) -> AbstractAsyncContextManager[Session]:
        """A unit of work whose reads and searches see its own writes and whose writes are
        stored together when the block ends, or not at all when it raises
        (https://hl7.org/fhir/R4/http.html#trules). Inside one, it is that same unit."""


class Store(Session, Protocol):
    async def open(self) -> None:
        """Connect, create or migrate the schema. Called once before any other method."""

    async def close(self) -> None:
        """Finish pending writes and release connections."""

    async def scan(self, *, after: int | None, limit: int) -> Sequence[StoredVersion]:
        """Current, non-deleted resources in storage order after ``after`` (their ``seq``);
        for reindexing."""

    async def replace_index(self, entries: Sequence[IndexEntry]) -> None:
        """Replace the index rows of resources still at the given version (reindex)."""

    async def get_meta(self, key: str) -> str | None:
        """A value the server keeps about the store itself (e.g. the index version)."""

    async def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` (durably)."""
