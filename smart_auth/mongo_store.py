"""The authorization server's records on MongoDB, through mongomotor documents.

``MHS_FHIR_DATABASE_URL=mongodb://host/dbname`` (or ``mongodb+srv://``): the records live in
the named database (default ``mhs_fhir``), one collection per record type
(:mod:`smart_auth.mongo_documents`), the audit trail in its own ``audit`` collection.

Single-use records are taken with one findAndModify each (``find_one_and_update`` /
``find_one_and_delete`` through mongomotor's ``QuerySet.modify``), never read-then-write: of two
servers redeeming the same code, exactly one sees it unused. Unique indexes, created when the
store opens, keep natural keys unique; ``remember_jti`` leans on one (an upsert that may only
replace an expired assertion id, so a live duplicate fails on the index).

Why a loop thread
-----------------
:class:`~smart_auth.records.AuthStore` is synchronous (authlib is; callers run it in worker
threads), while mongomotor's documents and querysets are asyncio-only: ``insert``, ``modify``,
``update`` and iteration are coroutines, and there is no synchronous mode (the second, blocking
client that ``mongomotor.connect()`` opens only reads the server version). pymongo's
``AsyncMongoClient`` binds itself to the event loop it first runs on. So the store owns one
event loop in a daemon thread: it creates the client there, every ODM call runs there (the
caller's thread only hands over plain records and waits on a ``concurrent.futures.Future``
from ``asyncio.run_coroutine_threadsafe``; documents are built and read there too, since
mongomotor's document constructor briefly rewrites class-wide field state), and one connection
pool serves every thread. The
alternatives were worse: ``asyncio.run`` per call would need a new client (and handshake) per
call; running on the web server's own loop would deadlock when code on that loop calls the
store synchronously, and the CLI has no such loop.

The store makes its own client instead of calling ``mongomotor.connect()``: that registers
the client in mongoengine's process-wide alias registry, which hands an existing client with
the same settings to a new alias, so the resource engine's client (bound to the web server's
loop) could come back here and fail on this loop. The documents are given this store's
collections directly (``QuerySet(document, collection)``), so they are bound to no alias.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import unquote

from mongoengine.errors import BulkWriteError, NotUniqueError
from mongomotor.queryset import QuerySet

from smart_auth.audit import AuditRecord
from smart_auth.mongo_documents import (
    ALL_DOCUMENTS,
    AuthAuditDocument,
    AuthClientDocument,
    AuthCodeDocument,
    AuthCounterDocument,
    AuthJtiDocument,
    AuthLaunchDocument,
    AuthPendingDocument,
    AuthProxyGrantDocument,
    AuthResetDocument,
    AuthSessionDocument,
    AuthSigningKeyDocument,
    AuthTokenDocument,
    AuthUserDocument,
    purge_time,
)
from smart_auth.records import (
    Client,
    Code,
    DuplicateRecordError,
    Launch,
    PasswordReset,
    Pending,
    ProxyGrant,
    Session,
    SigningKey,
    Token,
    User,
)

__all__ = ["DEFAULT_DATABASE", "DuplicateRecordError", "MongoAuthStore", "database_name"]

DEFAULT_DATABASE = "mhs_fhir"
APP_NAME = "mhs-fhir-auth"  # shows in the server's logs and currentOp

T = TypeVar("T")

ClientFactory = Callable[[str], Any]
"""Makes the async client for a URL on the store's loop (tests pass mongomock-motor's)."""


def database_name(url: str) -> str:
    """The database a ``mongodb://`` or ``mongodb+srv://`` URL names in its path (or the
    default). Parsed by hand: pymongo's parser resolves ``+srv`` names in DNS."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("mongodb", "mongodb+srv"):
        raise ValueError(f"expected mongodb://host/database, got {url!r}")
    path = rest.split("?", 1)[0].partition("/")[2]
    name = unquote(path)
    if not name:
        return DEFAULT_DATABASE
    if any(c in name for c in '/\\. "$') or len(name) > 63:
        raise ValueError(f"{name!r} is not a valid MongoDB database name")
    return name


def _default_client(url: str) -> Any:
    from pymongo import AsyncMongoClient

    return AsyncMongoClient(url, appname=APP_NAME, uuidRepresentation="standard")


class _LoopThread:
    """An event loop running in its own daemon thread; :meth:`run` waits for a result."""

    def __init__(self, name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, work: Callable[[], Awaitable[T]], timeout: float | None) -> T:
        """Call ``work`` on the loop and wait for what its awaitable gives (or raises)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("the store's own loop cannot wait for itself")

        async def call() -> T:
            return await work()

        future = asyncio.run_coroutine_threadsafe(call(), self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise TimeoutError(f"MongoDB did not answer within {timeout} s") from None

    def stop(self) -> None:
        """End what still runs on the loop (cancelled), then the loop and its thread."""
        try:
            asyncio.run_coroutine_threadsafe(_drain(), self._loop).result(10.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()


async def _drain() -> None:
    here = asyncio.current_task()
    others = [task for task in asyncio.all_tasks() if task is not here]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


async def _first(queryset: Any) -> Any:
    """The first document's record, or None."""
    document = await queryset.first()
    return document.record() if document is not None else None


async def _records(queryset: Any) -> list[Any]:
    return [document.record() async for document in queryset]


def _record_of(document: Any) -> Any:
    return document.record() if document is not None else None


class MongoAuthStore:
    """:class:`smart_auth.records.AuthStore` on MongoDB, with mongomotor documents."""

    def __init__(
        self,
        url: str,
        *,
        database: str | None = None,
        client_factory: ClientFactory = _default_client,
        timeout: float | None = 60.0,
    ) -> None:
        self.url = url
        self.database = database or database_name(url)
        self.timeout = timeout
        self._client_factory = client_factory
        self._loop: _LoopThread | None = None
        self._client: Any = None
        self._collections: dict[type[Any], Any] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> MongoAuthStore:
        return cls(url)

    # lifecycle ---------------------------------------------------------------------------------

    def open(self) -> None:
        """Connect and create every collection's indexes (unique keys, TTL purges)."""
        with self._lock:
            if self._loop is not None:
                return
            loop = _LoopThread(f"{APP_NAME}-{self.database}")
            try:
                loop.run(self._connect, self.timeout)
            except BaseException:
                loop.stop()
                raise
            self._loop = loop

    async def _connect(self) -> None:
        self._client = self._client_factory(self.url)
        db = self._client[self.database]
        self._collections = {cls: db[cls._get_collection_name()] for cls in ALL_DOCUMENTS}
        try:
            for cls, collection in self._collections.items():
                for spec in cls._meta["index_specs"]:
                    options = dict(spec)
                    fields = options.pop("fields")
                    options.pop("cls", None)
                    await collection.create_index(fields, **options)
        except BaseException:
            await self._disconnect()
            raise

    async def _disconnect(self) -> None:
        client, self._client, self._collections = self._client, None, {}
        if client is not None:
            closed = client.close()
            if asyncio.iscoroutine(closed):
                await closed

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
            if loop is None:
                return
            try:
                loop.run(self._disconnect, self.timeout)
            finally:
                loop.stop()

    def _run(self, work: Callable[[], Awaitable[T]]) -> T:
        loop = self._loop
        if loop is None:
            raise RuntimeError("the authorization store is not open")
        return loop.run(work, self.timeout)

    def _q(self, document: type[Any]) -> Any:
        """A queryset over this store's collection for ``document`` (on the loop thread)."""
        return QuerySet(document, self._collections[document])

    async def _insert(self, documents: list[Any]) -> None:
        if not documents:
            return
        for document in documents:
            document.validate()
        try:
            await self._q(type(documents[0])).insert(documents, load_bulk=False)
        except NotUniqueError as error:
            raise DuplicateRecordError(str(error)) from error
        except BulkWriteError as error:
            if "11000" in str(error):
                raise DuplicateRecordError(str(error)) from error
            raise

    async def _replace(self, document: Any, *key: str) -> None:
        """Insert ``document``, or replace the one with the same ``key`` fields, atomically
        (an upsert: the ``INSERT OR REPLACE`` of the SQLite engine)."""
        document.validate()
        son = document.to_mongo().to_dict()
        son.pop("_id", None)
        match = {name: son.pop(name) for name in key}
        # Fields the new record leaves empty are removed from the one it replaces.
        kept = set(son) | set(match) | {"_id"}
        unset = {
            field.db_field: "" for field in document._fields.values() if field.db_field not in kept
        }
        update: dict[str, Any] = {"$set": son}
        if unset:
            update["$unset"] = unset
        try:
            await (
                self._q(type(document))
                .filter(**match)
                .update(multi=False, upsert=True, __raw__=update)
            )
        except NotUniqueError as error:
            raise DuplicateRecordError(str(error)) from error

    # clients -----------------------------------------------------------------------------------

    def put_client(self, client: Client) -> None:
        self._run(lambda: self._replace(AuthClientDocument.of(client), "client_id"))

    def get_client(self, client_id: str) -> Client | None:
        found: Client | None = self._run(
            lambda: _first(self._q(AuthClientDocument).filter(client_id=client_id))
        )
        return found

    def list_clients(self) -> list[Client]:
        found: list[Client] = self._run(
            lambda: _records(self._q(AuthClientDocument).order_by("client_id"))
        )
        return found

    def remove_client(self, client_id: str) -> bool:
        """Remove a client; its tokens die with it (after the removal, so none can be issued
        for it in between)."""

        async def remove() -> bool:
            gone = await self._q(AuthClientDocument).filter(client_id=client_id).modify(remove=True)
            await (
                self._q(AuthTokenDocument)
                .filter(grant__client_id=client_id)
                .update(set__revoked=True)
            )
            return gone is not None

        return self._run(remove)

    # accounts ----------------------------------------------------------------------------------

    def put_user(self, user: User) -> None:
        """Add or replace the account ``user.username``; :class:`DuplicateRecordError` when
        another account holds its DoD ID."""
        self._run(lambda: self._replace(AuthUserDocument.of(user), "username"))

    def get_user(self, username: str) -> User | None:
        found: User | None = self._run(
            lambda: _first(self._q(AuthUserDocument).filter(username=username))
        )
        return found

    def get_user_by_dod_id(self, dod_id: str) -> User | None:
        found: User | None = self._run(
            lambda: _first(self._q(AuthUserDocument).filter(dod_id=dod_id))
        )
        return found

    def list_users(self) -> list[User]:
        found: list[User] = self._run(
            lambda: _records(self._q(AuthUserDocument).order_by("username"))
        )
        return found

    def record_login(self, username: str, *, ok: bool, lock_after: int, lock_for: float) -> None:
        """Count a failed login (locking the account for ``lock_for`` seconds after
        ``lock_after`` failures in a row) or reset the count after a good one.

        The count is one atomic ``$inc``; the lock is set only while the count still stands
        at the limit, so a good login in between is not overridden."""

        async def record() -> None:
            account = self._q(AuthUserDocument).filter(username=username)
            if ok:
                await account.update(multi=False, set__failed_logins=0, set__locked_until=0.0)
                return
            after = await account.modify(new=True, inc__failed_logins=1)
            if after is not None and after.failed_logins >= lock_after:
                await (
                    self._q(AuthUserDocument)
                    .filter(username=username, failed_logins__gte=lock_after)
                    .update(multi=False, set__locked_until=time.time() + lock_for)
                )

        self._run(record)

    # codes -------------------------------------------------------------------------------------

    def put_code(self, code: Code) -> None:
        self._run(lambda: self._insert([AuthCodeDocument.of(code)]))

    def take_code(self, digest: str, now: float) -> Code | None:
        """Mark the code used and return it as it was before (``used`` tells a replay).

        Used codes are purged by the TTL index an hour after they expire."""

        async def take() -> Code | None:
            before = await self._q(AuthCodeDocument).filter(digest=digest).modify(set__used=True)
            found: Code | None = _record_of(before)
            return found

        return self._run(take)

    # tokens ------------------------------------------------------------------------------------

    def put_tokens(self, tokens: list[Token]) -> None:
        self._run(lambda: self._insert([AuthTokenDocument.of(t) for t in tokens]))

    def get_token(self, digest: str) -> Token | None:
        found: Token | None = self._run(
            lambda: _first(self._q(AuthTokenDocument).filter(digest=digest))
        )
        return found

    def take_refresh_token(self, digest: str) -> Token | None:
        async def take() -> Token | None:
            before = (
                await self._q(AuthTokenDocument)
                .filter(digest=digest, kind="refresh")
                .modify(set__revoked=True)
            )
            found: Token | None = _record_of(before)
            return found

        return self._run(take)

    def revoke(self, digest: str) -> None:
        self._run(
            lambda: self._q(AuthTokenDocument).filter(digest=digest).update(set__revoked=True)
        )

    def revoke_family(self, family: str) -> None:
        self._run(
            lambda: self._q(AuthTokenDocument).filter(family=family).update(set__revoked=True)
        )

    def revoke_user(self, username: str) -> None:
        """End every token of an account (locked, access ended)."""
        self._run(
            lambda: (
                self._q(AuthTokenDocument)
                .filter(grant__username=username)
                .update(set__revoked=True)
            )
        )

    # client assertions -------------------------------------------------------------------------

    def remember_jti(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        """One upsert that may only match an expired record of (client, jti): a live one makes
        it insert a duplicate, which the unique index refuses."""

        async def remember() -> bool:
            try:
                await (
                    self._q(AuthJtiDocument)
                    .filter(client_id=client_id, jti=jti, expires_at__lt=now)
                    .update(
                        multi=False,
                        upsert=True,
                        set__expires_at=expires_at,
                        set__purge_at=purge_time(expires_at),
                    )
                )
            except NotUniqueError:
                return False
            return True

        return self._run(remember)

    # launches, sessions, pending requests -------------------------------------------------------

    def put_launch(self, launch: Launch) -> None:
        self._run(lambda: self._insert([AuthLaunchDocument.of(launch)]))

    def take_launch(self, digest: str, client_id: str, now: float) -> Launch | None:
        async def take() -> Launch | None:
            before = (
                await self._q(AuthLaunchDocument)
                .filter(digest=digest, client_id=client_id, used=False, expires_at__gt=now)
                .modify(set__used=True)
            )
            found: Launch | None = _record_of(before)
            return found

        return self._run(take)

    def put_session(self, session: Session) -> None:
        self._run(lambda: self._insert([AuthSessionDocument.of(session)]))

    def get_session(self, digest: str, now: float) -> Session | None:
        found: Session | None = self._run(
            lambda: _first(self._q(AuthSessionDocument).filter(digest=digest, expires_at__gt=now))
        )
        return found

    def delete_session(self, digest: str) -> None:
        self._run(lambda: self._q(AuthSessionDocument).filter(digest=digest).modify(remove=True))

    def put_pending(self, pending: Pending) -> None:
        self._run(lambda: self._replace(AuthPendingDocument.of(pending), "digest"))

    def get_pending(self, digest: str, now: float) -> Pending | None:
        found: Pending | None = self._run(
            lambda: _first(self._q(AuthPendingDocument).filter(digest=digest, expires_at__gt=now))
        )
        return found

    def delete_pending(self, digest: str) -> None:
        self._run(lambda: self._q(AuthPendingDocument).filter(digest=digest).modify(remove=True))

    # password resets ---------------------------------------------------------------------------

    def put_reset(self, reset: PasswordReset) -> None:
        """A new reset for an account replaces the one before (one upsert by username)."""
        self._run(lambda: self._replace(AuthResetDocument.of(reset), "username"))

    def take_reset(self, digest: str, now: float) -> PasswordReset | None:
        async def take() -> PasswordReset | None:
            gone = await self._q(AuthResetDocument).filter(digest=digest).modify(remove=True)
            if gone is None or gone.expires_at <= now:
                return None
            found: PasswordReset = gone.record()
            return found

        return self._run(take)

    # proxy grants ------------------------------------------------------------------------------

    def put_proxy_grant(self, grant: ProxyGrant) -> None:
        self._run(lambda: self._insert([AuthProxyGrantDocument.of(grant)]))

    def proxy_grants(
        self, *, grantee_dod_id: str | None = None, patient_id: str | None = None
    ) -> list[ProxyGrant]:
        """Grants not revoked, by grantee or by grantor (or all), oldest first."""
        match: dict[str, Any] = {"revoked": None}
        if grantee_dod_id is not None:
            match["grantee_dod_id"] = grantee_dod_id
        if patient_id is not None:
            match["patient_id"] = patient_id
        found: list[ProxyGrant] = self._run(
            lambda: _records(self._q(AuthProxyGrantDocument).filter(**match).order_by("created"))
        )
        return found

    def revoke_proxy_grant(self, id: str, at: float) -> ProxyGrant | None:
        async def revoke() -> ProxyGrant | None:
            after = (
                await self._q(AuthProxyGrantDocument)
                .filter(grant_id=id, revoked=None)
                .modify(new=True, set__revoked=at)
            )
            found: ProxyGrant | None = _record_of(after)
            return found

        return self._run(revoke)

    # the audit trail ---------------------------------------------------------------------------

    def append_audit(self, records: list[AuditRecord]) -> None:
        """Append a batch: its sequence numbers are reserved with one ``$inc``, then the
        records go in with one ``insert_many``."""
        if not records:
            return

        async def append() -> None:
            counter = (
                await self._q(AuthCounterDocument)
                .filter(name="audit")
                .modify(upsert=True, new=True, inc__value=len(records))
            )
            first = counter.value - len(records) + 1
            await self._insert(
                [AuthAuditDocument.of(record, first + i) for i, record in enumerate(records)]
            )

        self._run(append)

    def audit_records(
        self, *, since: float = 0.0, patient: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        if limit <= 0:
            return []
        match: dict[str, Any] = {"recorded__gte": since}
        if patient is not None:
            match["patient"] = patient
        found: list[AuditRecord] = self._run(
            lambda: _records(
                self._q(AuthAuditDocument).filter(**match).order_by("seq").limit(limit)
            )
        )
        return found

    # signing keys ------------------------------------------------------------------------------

    def put_key(self, key: SigningKey) -> None:
        self._run(lambda: self._insert([AuthSigningKeyDocument.of(key)]))

    def signing_keys(self) -> list[SigningKey]:
        found: list[SigningKey] = self._run(
            lambda: _records(self._q(AuthSigningKeyDocument).order_by("created"))
        )
        return found

    def retire_keys(self, *, except_kid: str, at: float) -> None:
        self._run(
            lambda: (
                self._q(AuthSigningKeyDocument)
                .filter(kid__ne=except_kid, retired_at=None)
                .update(set__retired_at=at)
            )
        )
