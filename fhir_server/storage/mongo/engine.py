"""The MongoDB engine: a :class:`~fhir_server.storage.protocol.Store` on pymongo's native async
client (``pymongo.AsyncMongoClient``).

Atomicity:

- On a replica set or a sharded cluster, ``write()`` runs its writes in one multi-document
  transaction (``with_transaction``: transient conflicts are retried, a failed guard aborts
  it), and ``transaction()`` is one transaction from the start of the block to its end.
  Write concern is the URL's ``w``, else ``majority``.
- If-Match is a compare-and-swap in one update: ``{_id, version: expected}`` either matches and
  is updated, or nothing changes and the write raises VersionConflict. A create is an insert
  whose duplicate ``_id`` is the conflict. History entries are unique by (type, id, version):
  a second guard that also holds on a sharded cluster.
- A standalone server (or mongomock) has no transactions. ``open()`` refuses it with
  :class:`StandaloneRefused` unless ``allow_standalone`` is set, and then logs a WARNING.
  What standalone keeps: every single-resource write is still guarded by its compare-and-swap;
  writes from this process are serialised by an asyncio lock (a ``transaction()`` block holds
  it to its end, so other writes of this process wait, as on SQLite), and a batch or
  transaction that fails is taken back by compensating writes, newest first. What it gives up:
  other readers and other processes can see a batch half-applied until it completes or is
  taken back, and a process that dies midway leaves the part it applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pymongo.errors import OperationFailure, PyMongoError
from pymongo.write_concern import WriteConcern

from fhir_server.search.plan import SearchPlan
from fhir_server.storage.mongo.compiler import Compiler, pipeline
from fhir_server.storage.mongo.documents import (
    SUMMARY_PROJECTION,
    index_fields,
    patients,
    resource_key,
    stored,
)
from fhir_server.storage.mongo.errors import StandaloneRefused, StorageUnavailable, translated
from fhir_server.storage.mongo.explain import describe
from fhir_server.storage.mongo.indexes import create_indexes
from fhir_server.storage.mongo.unit import Collections, Unit, run_undo, to_list
from fhir_server.storage.mongo.url import DEFAULT_DATABASE, parse_url
from fhir_server.storage.records import (
    HistoryQuery,
    IndexEntry,
    SearchPage,
    StorageError,
    StoredVersion,
    Write,
)

log = logging.getLogger(__name__)

STANDALONE_WARNING = (
    "MongoDB database %r has no multi-document transactions (standalone server); running"
    " with allow_standalone. Given up: transaction bundles and multi-resource writes are not"
    " atomic across documents (others may see them half-applied; a failure is undone by"
    " compensating writes from this process, lost if it dies midway). Kept: every"
    " single-resource write is guarded by its compare-and-swap on versionId, and writes"
    " from this process are serialised. Use a replica set in production."
)


class MongoStore:
    """A Store on one MongoDB database.

    Give it a ``url`` (``mongodb://`` or ``mongodb+srv://``; see ``url.py``) or an already
    made async ``client`` (tests inject a mongomock-motor client). ``allow_standalone``
    accepts a server without transactions (the module docstring says what that costs).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Any = None,
        database: str | None = None,
        allow_standalone: bool = False,
    ) -> None:
        if (url is None) == (client is None):
            raise ValueError("give MongoStore either a url or a client")
        self._client_url: str | None = None
        if url is not None:
            parsed = parse_url(url)
            self._client_url = parsed.client_url
            database = database or parsed.database
            allow_standalone = allow_standalone or parsed.allow_standalone
        self._client = client
        self._owns_client = client is None
        self.database = database or DEFAULT_DATABASE
        self.allow_standalone = allow_standalone
        self.transactions = False
        self._cols: Collections | None = None
        self._lock: asyncio.Lock | None = None
        self._write_concern: WriteConcern | None = None

    @classmethod
    def from_url(cls, url: str) -> MongoStore:
        return cls(url)

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> None:
        if self._client is None:
            from pymongo import AsyncMongoClient

            with translated("reading the database URL"):  # bad options, SRV look-up
                self._client = AsyncMongoClient(self._client_url)
        try:
            self.transactions = await self._has_transactions()
            if not self.transactions:
                if not self.allow_standalone:
                    raise StandaloneRefused(
                        f"the MongoDB server of database {self.database!r} has no"
                        " multi-document transactions (a standalone mongod): run a replica set"
                        " (mongod --replSet rs0), or add allow_standalone=true to the URL to"
                        " accept writes that are not atomic across documents"
                    )
                log.warning(STANDALONE_WARNING, self.database)
            db = self._client[self.database]
            with translated("creating indexes"):
                await create_indexes(db)
        except BaseException:
            await self.close()
            raise
        self._cols = Collections(db)
        self._lock = asyncio.Lock()
        wc = getattr(self._client, "write_concern", None)
        given = getattr(wc, "document", None)
        self._write_concern = wc if given else WriteConcern("majority")

    async def _has_transactions(self) -> bool:
        """A replica set member or a mongos: yes; a standalone server or mongomock: no."""
        assert self._client is not None
        try:
            with translated("connecting"):
                hello = await self._client["admin"].command("hello")
        except StorageUnavailable:
            raise
        except (NotImplementedError, StorageError):
            return False
        return "setName" in hello or hello.get("msg") == "isdbgrid"

    async def close(self) -> None:
        self._cols = None
        if self._owns_client and self._client is not None:
            await self._client.close()
            self._client = None

    def _collections(self) -> Collections:
        if self._cols is None:
            raise StorageError("store is not open")
        return self._cols

    def _unit(self) -> Unit:
        return Unit(self._collections(), None, None)

    # -- reads -----------------------------------------------------------------------------

    async def read(self, type: str, id: str) -> StoredVersion | None:
        return await self._unit().read(type, id)

    async def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        return await self._unit().vread(type, id, version)

    async def history(self, query: HistoryQuery) -> Sequence[StoredVersion]:
        return await self._unit().history(query)

    async def search(self, plan: SearchPlan) -> SearchPage:
        return await self._unit().search(plan)

    async def count(self, plan: SearchPlan) -> int:
        return await self._unit().count(plan)

    async def scan(self, *, after: int | None, limit: int) -> Sequence[StoredVersion]:
        cols = self._collections()
        with translated("scanning"):
            cursor = cols.resources.find(
                {"deleted": False, "rid": {"$gt": after or 0}}, SUMMARY_PROJECTION
            )
            docs = await to_list(cursor.sort("rid", 1).limit(limit))
        return [stored(doc, seq_field="rid") for doc in docs]

    async def get_meta(self, key: str) -> str | None:
        with translated("reading meta"):
            doc = await self._collections().meta.find_one({"_id": key})
        return None if doc is None else str(doc["value"])

    async def explain(self, plan: SearchPlan) -> list[str]:
        """How MongoDB runs a search: the pipeline, then the winning plan's stages (or, where
        the server cannot explain, as on mongomock, the pipeline alone)."""
        cols = self._collections()
        unit = self._unit()
        with translated("explaining"):
            stages = pipeline(plan, await Compiler(unit.find).match(plan))
            lines = [f"pipeline: {json.dumps(stages, default=str)}"]
            try:
                result = await cols.db.command(
                    {
                        "explain": {"aggregate": "resources", "pipeline": stages, "cursor": {}},
                        "verbosity": "queryPlanner",
                    }
                )
            except (NotImplementedError, OperationFailure) as exc:
                return [*lines, f"(no server explain: {exc})"]
        return [*lines, *describe(result)]

    # -- writes ----------------------------------------------------------------------------

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        cols = self._collections()
        if self.transactions:
            assert self._client is not None
            with translated("writing"):
                async with self._client.start_session() as session:
                    result: list[StoredVersion] = await session.with_transaction(
                        lambda s: Unit(cols, s, None).apply(writes),
                        write_concern=self._write_concern,
                    )
                    return result
        assert self._lock is not None
        async with self._lock:
            return await Unit(cols, None, []).write(writes)

    async def guard(self, type: str, key: str) -> None:
        """Nothing to do outside a transaction."""

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Unit]:
        """A unit of work: one MongoDB transaction, or (standalone) this process's writes
        serialised and undone when the block raises."""
        cols = self._collections()
        if not self.transactions:
            assert self._lock is not None
            async with self._lock:
                unit = Unit(cols, None, [])
                try:
                    yield unit
                except BaseException:
                    assert unit.undo is not None
                    await run_undo(unit.undo)
                    raise
            return
        assert self._client is not None
        session = self._client.start_session()
        try:
            with translated("starting a transaction"):
                await session.start_transaction(write_concern=self._write_concern)
            try:
                yield Unit(cols, session, None)
            except BaseException:
                if session.in_transaction:
                    try:
                        await session.abort_transaction()
                    except PyMongoError:  # the server drops it at transactionLifetimeLimit
                        log.warning("aborting a MongoDB transaction failed", exc_info=True)
                raise
            with translated("committing a transaction"):
                await session.commit_transaction()
        finally:
            with contextlib.suppress(PyMongoError):
                await session.end_session()

    async def replace_index(self, entries: Sequence[IndexEntry]) -> None:
        cols = self._collections()
        with translated("reindexing"):
            for type, id, version, rows in entries:
                await cols.resources.update_one(
                    {"_id": resource_key(type, id), "version": version, "deleted": False},
                    {"$set": {**index_fields(rows), "patients": patients(type, id, rows)}},
                )

    async def set_meta(self, key: str, value: str) -> None:
        with translated("writing meta"):
            await self._collections().meta.replace_one(
                {"_id": key}, {"_id": key, "value": value}, upsert=True
            )


__all__ = ["MongoStore"]
