"""What every interaction receives (a context) and returns (an outcome).

``Context.commit`` is the seam between "one request" and "one transaction Bundle": outside a
transaction it writes at once; inside one it collects the writes, answers later reads of the
same resources from what it collected, and the transaction stores them all in one atomic
engine write at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir_server.errors import BadRequest, Issue
from fhir_server.storage import Store, StoredVersion, Write
from smart_auth.context import AccessContext


@dataclass(frozen=True, slots=True, kw_only=True)
class Preconditions:
    """Conditional request headers (or their Bundle.entry.request twins)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_none_exist: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The result of one interaction, independent of HTTP.

    ``version`` carries a stored resource (served as its stored bytes); ``body`` a document
    the server built (Bundle, OperationOutcome, CapabilityStatement).
    """

    status: int
    version: StoredVersion | None = None
    body: dict[str, Any] | None = None
    location: str | None = None
    issues: tuple[Issue, ...] = ()


@dataclass(slots=True, kw_only=True)
class Context:
    """The store, the caller's access and the public base URL, for one request."""

    store: Store
    access: AccessContext
    base_url: str
    max_count: int = 1000
    default_count: int = 50
    pending: dict[tuple[str, str], StoredVersion] | None = field(default=None)
    _writes: list[Write] = field(default_factory=list)

    def in_transaction(self) -> Context:
        """A context whose writes are collected for one atomic commit."""
        return Context(
            store=self.store,
            access=self.access,
            base_url=self.base_url,
            max_count=self.max_count,
            default_count=self.default_count,
            pending={},
        )

    async def current(self, type: str, id: str) -> StoredVersion | None:
        """The current version, as this request (or transaction so far) sees it."""
        if self.pending is not None and (type, id) in self.pending:
            return self.pending[(type, id)]
        return await self.store.read(type, id)

    async def commit(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        if self.pending is None:
            return await self.store.write(writes)
        out = []
        for w in writes:
            if (w.type, w.id) in self.pending:
                raise BadRequest(
                    f"the transaction changes {w.type}/{w.id} more than once",
                    code="invalid",
                )
            stored = StoredVersion(
                type=w.type,
                id=w.id,
                version=w.version,
                last_updated=w.last_updated,
                method=w.method,
                body=w.body,
            )
            self.pending[(w.type, w.id)] = stored
            self._writes.append(w)
            out.append(stored)
        return out

    def collected(self) -> list[Write]:
        return list(self._writes)

    def url(self, *parts: str) -> str:
        return "/".join([self.base_url.rstrip("/"), *parts])
