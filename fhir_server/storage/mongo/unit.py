"""The reads and writes of the MongoDB engine through one client session.

A :class:`Unit` is what callers of ``Store.transaction()`` get, and what ``Store`` itself
uses for each call. With a client session (replica set, sharded cluster) every operation runs
inside that session's transaction. Without one (standalone server, mongomock) each applied
write records how to undo it, so the store can take a failed batch or transaction back.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from fhir_server.search.plan import SearchPlan
from fhir_server.storage.mongo.compiler import Compiler, page, pipeline
from fhir_server.storage.mongo.documents import (
    SUMMARY_PROJECTION,
    Document,
    current_fields,
    history_entry,
    new_resource,
    resource_key,
    stored,
)
from fhir_server.storage.mongo.errors import translated
from fhir_server.storage.records import (
    HistoryQuery,
    SearchPage,
    StoredVersion,
    VersionConflict,
    Write,
)

log = logging.getLogger(__name__)

Undo = Callable[[], Awaitable[Any]]


_WRITE_CONFLICT = 112
"""MongoDB's WriteConflict: another transaction wrote the same document."""


class Collections:
    """The engine's collections in one database (pymongo's async API or mongomock-motor's)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.resources = db["resources"]
        self.history = db["history"]
        self.meta = db["meta"]
        self.counters = db["counters"]
        self.guards = db["guards"]

    async def next_seq(self, n: int) -> int:
        """The first of ``n`` new sequence numbers. Taken outside any transaction (a counter
        inside one would make every concurrent transaction conflict): a rolled-back write
        leaves a gap, never a repeat."""
        doc = await self.counters.find_one_and_update(
            {"_id": "seq"}, {"$inc": {"n": n}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return int(doc["n"]) - n + 1


async def to_list(cursor: Any) -> list[Document]:
    """All documents of a find or aggregate cursor (pymongo's aggregate is awaited first)."""
    if isinstance(cursor, Awaitable):
        cursor = await cursor
    docs: list[Document] = await cursor.to_list(None)
    return docs


class Unit:
    """One session's reads and writes; ``undo`` is kept when there is no transaction."""

    def __init__(self, cols: Collections, session: Any, undo: list[Undo] | None) -> None:
        self.cols = cols
        self.session = session
        self.undo = undo

    def _kw(self) -> dict[str, Any]:
        return {} if self.session is None else {"session": self.session}

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Unit]:
        """Already one unit of work: a nested transaction is the same one."""
        yield self

    async def guard(self, type: str, key: str) -> None:
        """Write the guard document of ``key`` in this transaction: two transactions that
        both do are a write conflict, and MongoDB lets only one commit. Standalone (no
        session), this process's transactions already run one at a time."""
        if self.session is None:
            return
        try:
            await self.cols.guards.update_one(
                {"_id": key}, {"$inc": {"n": 1}}, upsert=True, session=self.session
            )
        except DuplicateKeyError:
            raise VersionConflict(type, key, None) from None
        except OperationFailure as exc:
            if exc.code == _WRITE_CONFLICT or exc.has_error_label("TransientTransactionError"):
                raise VersionConflict(type, key, None) from None
            raise

    # -- reads -----------------------------------------------------------------------------

    async def read(self, type: str, id: str) -> StoredVersion | None:
        with translated("reading"):
            doc = await self.cols.resources.find_one(
                {"_id": resource_key(type, id)}, SUMMARY_PROJECTION, **self._kw()
            )
        return None if doc is None else stored(doc, seq_field="seq")

    async def vread(self, type: str, id: str, version: int) -> StoredVersion | None:
        with translated("reading a version"):
            doc = await self.cols.history.find_one(
                {"type": type, "id": id, "version": version}, **self._kw()
            )
        return None if doc is None else stored(doc, seq_field="_id")

    async def history(self, query: HistoryQuery) -> Sequence[StoredVersion]:
        where: Document = {}
        if query.type is not None:
            where["type"] = query.type
        if query.id is not None:
            where["id"] = query.id
        if query.since is not None:
            where["lastUpdated"] = {"$gte": query.since}
        if query.before_seq is not None:
            where["_id"] = {"$lt": query.before_seq}
        with translated("reading history"):
            cursor = self.cols.history.find(where, **self._kw()).sort("_id", -1)
            docs = await to_list(cursor.limit(query.count))
        return [stored(doc, seq_field="_id") for doc in docs]

    async def find(self, where: Document, projection: Document) -> list[Document]:
        """An inner query of a chain or ``_has``, in this unit's session."""
        return await to_list(self.cols.resources.find(where, projection, **self._kw()))

    async def search(self, plan: SearchPlan) -> SearchPage:
        with translated("searching"):
            match = await Compiler(self.find).match(plan)
            docs = await to_list(self.cols.resources.aggregate(pipeline(plan, match), **self._kw()))
        return page(plan, docs)

    async def count(self, plan: SearchPlan) -> int:
        with translated("counting"):
            match = await Compiler(self.find).match(plan)
            return int(await self.cols.resources.count_documents(match, **self._kw()))

    # -- writes ----------------------------------------------------------------------------

    async def write(self, writes: Sequence[Write]) -> Sequence[StoredVersion]:
        """Apply ``writes``; without a transaction, a failing batch is taken back whole."""
        mark = len(self.undo) if self.undo is not None else 0
        try:
            with translated("writing"):
                return await self.apply(writes)
        except BaseException:
            if self.undo is not None:
                await run_undo(self.undo[mark:])
                del self.undo[mark:]
            raise

    async def apply(self, writes: Sequence[Write]) -> list[StoredVersion]:
        """Each write a compare-and-swap on the resource's version, then its history entry.

        Driver errors pass through untranslated: ``with_transaction`` must see a transient
        one's labels to retry; the callers translate."""
        for w in writes:
            if w.version != (w.expected_version or 0) + 1:
                raise ValueError(f"{w.type}/{w.id}: version {w.version} after {w.expected_version}")
        if not writes:
            return []
        first = await self.cols.next_seq(len(writes))
        return [await self._apply_one(w, first + i) for i, w in enumerate(writes)]

    async def _apply_one(self, w: Write, seq: int) -> StoredVersion:
        key = resource_key(w.type, w.id)
        resources, history = self.cols.resources, self.cols.history
        if w.expected_version is None:
            try:
                await resources.insert_one(new_resource(w, seq), **self._kw())
            except DuplicateKeyError:
                raise VersionConflict(w.type, w.id, w.expected_version) from None
            self._record(lambda: resources.delete_one({"_id": key}))
        else:
            before = await resources.find_one_and_update(
                {"_id": key, "version": w.expected_version},
                {"$set": current_fields(w, seq)},
                projection=None if self.undo is not None else {"_id": 1},
                return_document=ReturnDocument.BEFORE,
                **self._kw(),
            )
            if before is None:
                raise VersionConflict(w.type, w.id, w.expected_version)
            self._record(lambda: resources.replace_one({"_id": key}, before))
        try:
            await history.insert_one(history_entry(w, seq), **self._kw())
        except DuplicateKeyError:
            raise VersionConflict(w.type, w.id, w.expected_version) from None
        self._record(lambda: history.delete_one({"_id": seq}))
        return StoredVersion(
            type=w.type,
            id=w.id,
            version=w.version,
            last_updated=w.last_updated,
            method=w.method,
            body=w.body,
            seq=seq,
        )

    def _record(self, undo: Undo) -> None:
        if self.undo is not None:
            self.undo.append(undo)


async def run_undo(steps: Sequence[Undo]) -> None:
    """Take applied writes back, newest first. A step that fails is logged and the rest still
    run: the store is then inconsistent for that resource, and the log says which step."""
    for step in reversed(steps):
        try:
            await step()
        except Exception:
            log.exception("undoing a write failed; the store may keep part of a failed batch")
