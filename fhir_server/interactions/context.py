"""What every interaction receives (a context) and returns (an outcome).

``Context.store`` is the store itself, or inside a transaction Bundle the store's transaction
session: the interactions do not know the difference, and every read in a transaction sees
the transaction's own writes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from fhir_server.config import Settings
from fhir_server.errors import Issue
from fhir_server.fixed import fixed
from fhir_server.storage import IndexRow, Session, StoredVersion, Write
from smart_auth.context import AccessContext


@dataclass(frozen=True, slots=True, kw_only=True)
class Preconditions:
    """Conditional request headers (or their Bundle.entry.request twins)."""

    if_match: str | None = None
    if_none_match: str | None = None
    if_modified_since: str | None = None
    if_none_exist: str | None = None


@fixed
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


UNLIMITED = 2**62
"""A bound nothing reaches (and that a database integer still holds, plus one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How much one request may ask of the server (the settings of the same names, max_*);
    over one, the answer is an OperationOutcome saying which and how to stay within it.
    Requests get :meth:`of` their settings; the server's own work (imports, the command
    line) is not limited (the defaults)."""

    bundle_entries: int = UNLIMITED
    search_params: int = UNLIMITED
    chain_depth: int = UNLIMITED
    included: int = UNLIMITED

    @classmethod
    def of(cls, settings: Settings) -> Limits:
        return cls(
            bundle_entries=settings.max_bundle_entries,
            search_params=settings.max_search_params,
            chain_depth=settings.max_chain_depth,
            included=settings.max_included,
        )


@dataclass(frozen=True, slots=True)
class Prepared:
    """A resource checked and indexed ahead of its write (``common.prepare``): the write
    uses ``index`` instead of checking again when it stores exactly ``resource`` under the
    same required profile."""

    resource: dict[str, Any]
    required_profile: str | None
    index: tuple[IndexRow, ...]


@fixed
class Context:
    """The store (or transaction), the caller's access and the public base URL.

    ``@fixed`` (:mod:`fhir_server.fixed`): every request makes one (:meth:`acting_for`)."""

    store: Session
    access: AccessContext
    base_url: str
    max_count: int = 1000
    default_count: int = 50
    limits: Limits = Limits()
    auth_url: str | None = None  # the authorization server's; None when authorization is off
    required_profiles: Mapping[str, str] = field(default_factory=dict)  # type -> profile URL
    after_transaction: list[Callable[[], None]] | None = None  # inside one: run when it ends
    prepared: Mapping[tuple[str, str], Prepared] = field(default_factory=dict)  # (type, id)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Context]:
        """The same context working inside a transaction of its store. What its writes must
        undo once stored or refused (``after_transaction``: e.g. in-process claims) runs when
        the transaction has ended, committed or not; inside one, it is that same one."""
        if self.after_transaction is not None:
            yield self
            return
        after: list[Callable[[], None]] = []
        try:
            async with self.store.transaction() as session:
                yield replace(self, store=session, after_transaction=after)
        finally:
            for hook in after:
                hook()

    def acting_for(self, access: AccessContext) -> Context:
        """This context for a caller with ``access`` (a request's context, from the one its
        server's requests share): as ``replace(self, access=access)``, in half the time."""
        return Context(
            store=self.store,
            access=access,
            base_url=self.base_url,
            max_count=self.max_count,
            default_count=self.default_count,
            limits=self.limits,
            auth_url=self.auth_url,
            required_profiles=self.required_profiles,
            after_transaction=self.after_transaction,
            prepared=self.prepared,
        )

    def when_stored_or_refused(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` once this context's last write is stored or refused: now, or when
        the transaction it works in ends."""
        if self.after_transaction is None:
            hook()
        else:
            self.after_transaction.append(hook)

    async def current(self, type: str, id: str) -> StoredVersion | None:
        return await self.store.read(type, id)

    async def commit(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        return await self.store.write(writes)

    def url(self, *parts: str) -> str:
        return "/".join([self.base_url.rstrip("/"), *parts])
