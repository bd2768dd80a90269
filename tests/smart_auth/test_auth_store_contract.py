"""The AuthStore contract: every engine keeps the authorization server's records the same way.

Run against SqliteAuthStore (a temporary file), MongoAuthStore on mongomock-motor, and
MongoAuthStore on a real server when ``MHS_FHIR_TEST_MONGODB_URL`` names one (each test in a
database of its own, dropped afterwards). The Mongo runs carry the ``mongo`` marker.

Times are real (``time.time()`` plus offsets): MongoDB's TTL indexes purge short-lived records
by the wall clock, whatever ``now`` a caller passes.
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smart_auth.audit import AuditRecord
from smart_auth.proxy import Link
from smart_auth.records import (
    Assurance,
    AuthStore,
    Client,
    ClientKind,
    Code,
    DuplicateRecordError,
    Grant,
    Launch,
    PasswordReset,
    Pending,
    ProxyGrant,
    Role,
    Session,
    SigningKey,
    Token,
    User,
)
from smart_auth.sqlite_store import SqliteAuthStore

MONGODB_URL = os.environ.get("MHS_FHIR_TEST_MONGODB_URL")

DUPLICATE: tuple[type[Exception], ...] = (sqlite3.IntegrityError, DuplicateRecordError)


# -- engines ---------------------------------------------------------------------------------------

StoreFactory = Callable[[], AuthStore]
"""Opens another store on the same database (a second server, or the same one restarted)."""


def _mongomock_factory(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Any]:
    """One in-memory MongoDB for the test (shared by every store it opens), with the shim
    mongomotor needs on it (NOTES-mongo.md): mongoengine's write paths call
    ``collection.with_options(write_concern=...)``, which mongomock-motor would hand to the
    synchronous mongomock collection."""
    mongomock_motor = pytest.importorskip("mongomock_motor")
    monkeypatch.setattr(
        mongomock_motor.AsyncMongoMockCollection,
        "with_options",
        lambda self, **kw: self,
        raising=False,  # served through __getattr__, not a class attribute
    )
    client = mongomock_motor.AsyncMongoMockClient()
    return lambda url: client


MONGO_ENGINES = [pytest.param("mongomock", marks=pytest.mark.mongo)]
if MONGODB_URL is not None:  # a real server: the same tests again (no skips when there is none)
    MONGO_ENGINES.append(pytest.param("mongodb", marks=pytest.mark.mongo))
on_mongo_only = pytest.mark.parametrize("open_store", MONGO_ENGINES, indirect=True)


@pytest.fixture(params=[pytest.param("sqlite"), *MONGO_ENGINES])
def open_store(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StoreFactory]:
    opened: list[AuthStore] = []
    engine: str = request.param
    database = f"mhs_fhir_test_{secrets.token_hex(6)}"

    if engine == "sqlite":

        def make() -> AuthStore:
            return SqliteAuthStore(str(tmp_path / "auth.db"))

    else:
        mongo_store = pytest.importorskip("smart_auth.mongo_store")
        if engine == "mongomock":
            factory = _mongomock_factory(monkeypatch)

            def make() -> AuthStore:
                store: AuthStore = mongo_store.MongoAuthStore(
                    "mongodb://mongomock/", database=database, client_factory=factory
                )
                return store

        else:
            assert MONGODB_URL is not None

            def make() -> AuthStore:
                store: AuthStore = mongo_store.MongoAuthStore(MONGODB_URL, database=database)
                return store

    def open_one() -> AuthStore:
        store = make()
        store.open()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()
    if engine == "mongodb":
        import pymongo

        admin: pymongo.MongoClient[dict[str, Any]]
        with pymongo.MongoClient(MONGODB_URL) as admin:
            admin.drop_database(database)


@pytest.fixture
def store(open_store: StoreFactory) -> AuthStore:
    return open_store()


# -- records ---------------------------------------------------------------------------------------

NOW = time.time() + 365 * 86400.0
"""The tests' clock, a year ahead of the real one: MongoDB's TTL indexes (mongomock applies
them on every read) purge by the real clock, so records a test wrote must not expire by it
while the suite runs, however long that takes; the stores judge expiry by the time given."""
HOUR = 3600.0


def client(client_id: str = "app", **changes: Any) -> Client:
    fields: dict[str, Any] = {
        "client_id": client_id,
        "name": "An app",
        "kind": ClientKind.PUBLIC,
        "scope": "launch/patient openid patient/*.rs",
        "redirect_uris": ("https://app.example/callback",),
        "created": NOW,
    }
    fields.update(changes)
    return Client(**fields)


def user(username: str = "sponsor", **changes: Any) -> User:
    fields: dict[str, Any] = {
        "username": username,
        "password_hash": "$argon2id$fake",
        "name": "A Sponsor",
        "dod_id": None,
        "created": NOW,
    }
    fields.update(changes)
    return User(**fields)


def grant(client_id: str = "app", username: str | None = "sponsor", **changes: Any) -> Grant:
    fields: dict[str, Any] = {
        "client_id": client_id,
        "scope": "launch/patient patient/*.rs offline_access",
        "role": Role.BENEFICIARY,
        "username": username,
        "patient": "p-sponsor",
        "fhir_user": "Patient/p-sponsor",
        "auth_time": NOW - 60,
        "links": (
            Link("p-sponsor", "self"),
            Link("p-child", "dependent", "2016-04-01"),
        ),
    }
    fields.update(changes)
    return Grant(**fields)


def code(digest: str = "code-1", **changes: Any) -> Code:
    fields: dict[str, Any] = {
        "digest": digest,
        "grant": grant(),
        "redirect_uri": "https://app.example/callback",
        "code_challenge": "challenge",
        "expires_at": NOW + 60,
        "family": "family-1",
    }
    fields.update(changes)
    return Code(**fields)


def token(digest: str, kind: str = "access", family: str = "family-1", **changes: Any) -> Token:
    fields: dict[str, Any] = {
        "digest": digest,
        "kind": kind,
        "grant": grant(),
        "issued_at": NOW,
        "expires_at": NOW + HOUR,
        "family": family,
    }
    fields.update(changes)
    return Token(**fields)


def audit(recorded: float, patient: str | None = None, what: str = "/fhir/Patient") -> AuditRecord:
    return AuditRecord(
        recorded=recorded,
        subject="sponsor",
        role="beneficiary",
        client_id="app",
        patient=patient,
        action="GET",
        what=what,
        status=200,
        source="127.0.0.1",
    )


def key(kid: str, created: float) -> SigningKey:
    return SigningKey(kid=kid, private_jwk={"kty": "RSA", "kid": kid, "n": "AQAB"}, created=created)


def proxy_grant(id: str, patient_id: str, grantee: str, created: float) -> ProxyGrant:
    return ProxyGrant(
        id=id, patient_id=patient_id, grantee_dod_id=grantee, created=created, note="full access"
    )


def race(times: int, action: Callable[[], Any]) -> list[Any]:
    """Run ``action`` in ``times`` threads released together; their results."""
    barrier = threading.Barrier(times)
    results: list[Any] = [None] * times
    errors: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = action()
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


# -- lifecycle -------------------------------------------------------------------------------------


def test_records_outlive_the_store_that_wrote_them(open_store: StoreFactory) -> None:
    first = open_store()
    first.put_client(client())
    first.close()
    assert open_store().get_client("app") == client()


def test_a_closed_store_opens_again(store: AuthStore) -> None:
    store.put_client(client())
    store.close()
    store.open()
    assert store.get_client("app") == client()


def test_opening_an_open_store_again_is_harmless(store: AuthStore) -> None:
    store.put_client(client())
    store.open()
    assert store.get_client("app") == client()


def test_two_stores_on_one_database_see_each_others_writes(open_store: StoreFactory) -> None:
    one, other = open_store(), open_store()
    one.put_code(code())
    taken = other.take_code("code-1", NOW)
    assert taken is not None and not taken.used
    again = one.take_code("code-1", NOW)
    assert again is not None and again.used


# -- clients ---------------------------------------------------------------------------------------


def test_a_client_reads_back_as_registered(store: AuthStore) -> None:
    registered = client(
        "keys-app",
        kind=ClientKind.ASYMMETRIC,
        redirect_uris=("https://a.example/cb", "https://b.example/cb"),
        secret_digest=None,
        jwks={"keys": [{"kty": "EC", "crv": "P-384", "kid": "k1", "x": "x", "y": "y"}]},
        jwks_url="https://app.example/jwks.json",
    )
    store.put_client(registered)
    assert store.get_client("keys-app") == registered


def test_an_unknown_client_is_none(store: AuthStore) -> None:
    assert store.get_client("nobody") is None


def test_putting_a_client_again_replaces_it(store: AuthStore) -> None:
    store.put_client(client(secret_digest="old", jwks_url="https://old.example/jwks"))
    store.put_client(client(name="Renamed", secret_digest=None))
    assert store.list_clients() == [client(name="Renamed")]


def test_clients_are_listed_by_client_id(store: AuthStore) -> None:
    for client_id in ("charlie", "alpha", "bravo"):
        store.put_client(client(client_id))
    assert [c.client_id for c in store.list_clients()] == ["alpha", "bravo", "charlie"]


def test_removing_a_client_revokes_its_tokens(store: AuthStore) -> None:
    store.put_client(client("app"))
    store.put_tokens([token("mine"), token("theirs", grant=grant("other-app"), family="f2")])
    assert store.remove_client("app") is True
    assert store.get_client("app") is None
    mine, theirs = store.get_token("mine"), store.get_token("theirs")
    assert mine is not None and mine.revoked
    assert theirs is not None and not theirs.revoked


def test_removing_an_unknown_client_reports_false(store: AuthStore) -> None:
    assert store.remove_client("nobody") is False


# -- accounts --------------------------------------------------------------------------------------


def test_an_account_reads_back_by_username_and_by_dod_id(store: AuthStore) -> None:
    account = user(
        dod_id="1234567890",
        fhir_user="Patient/p-sponsor",
        assurance=Assurance.PREMIUM,
        email="sponsor@example.mil",
    )
    store.put_user(account)
    assert store.get_user("sponsor") == account
    assert store.get_user_by_dod_id("1234567890") == account


def test_an_unknown_account_is_none(store: AuthStore) -> None:
    assert store.get_user("nobody") is None
    assert store.get_user_by_dod_id("0000000000") is None


def test_a_username_names_one_account(store: AuthStore) -> None:
    store.put_user(user(email="old@example.mil", dod_id="1234567890"))
    store.put_user(user(name="Renamed"))
    assert store.list_users() == [user(name="Renamed")]
    assert store.get_user_by_dod_id("1234567890") is None


def test_accounts_without_a_dod_id_coexist(store: AuthStore) -> None:
    store.put_user(user("a"))
    store.put_user(user("b"))
    assert [u.username for u in store.list_users()] == ["a", "b"]


def test_accounts_are_listed_by_username(store: AuthStore) -> None:
    for username in ("zulu", "alpha", "mike"):
        store.put_user(user(username))
    assert [u.username for u in store.list_users()] == ["alpha", "mike", "zulu"]


def test_failed_logins_below_the_limit_do_not_lock(store: AuthStore) -> None:
    store.put_user(user())
    for _ in range(2):
        store.record_login("sponsor", ok=False, lock_after=3, lock_for=900)
    account = store.get_user("sponsor")
    assert account is not None
    assert (account.failed_logins, account.locked_until) == (2, 0.0)


def test_failed_logins_lock_the_account_at_the_limit(store: AuthStore) -> None:
    store.put_user(user())
    before = time.time()
    for _ in range(3):
        store.record_login("sponsor", ok=False, lock_after=3, lock_for=900)
    account = store.get_user("sponsor")
    assert account is not None
    assert account.failed_logins == 3
    assert before + 900 <= account.locked_until <= time.time() + 900


def test_a_good_login_clears_the_failures_and_the_lockout(store: AuthStore) -> None:
    store.put_user(user())
    for _ in range(3):
        store.record_login("sponsor", ok=False, lock_after=3, lock_for=900)
    store.record_login("sponsor", ok=True, lock_after=3, lock_for=900)
    account = store.get_user("sponsor")
    assert account is not None
    assert (account.failed_logins, account.locked_until) == (0, 0.0)


def test_concurrent_failed_logins_are_all_counted(store: AuthStore) -> None:
    store.put_user(user())
    race(8, lambda: store.record_login("sponsor", ok=False, lock_after=100, lock_for=900))
    account = store.get_user("sponsor")
    assert account is not None and account.failed_logins == 8


def test_a_login_for_an_unknown_account_changes_nothing(store: AuthStore) -> None:
    store.record_login("nobody", ok=False, lock_after=1, lock_for=900)
    assert store.get_user("nobody") is None


# -- authorization codes ---------------------------------------------------------------------------


def test_a_code_is_taken_once(store: AuthStore) -> None:
    store.put_code(code())
    first = store.take_code("code-1", NOW)
    second = store.take_code("code-1", NOW)
    assert first == code()
    assert second == code(used=True)


def test_an_unknown_code_is_not_taken(store: AuthStore) -> None:
    assert store.take_code("nothing", NOW) is None


def test_an_expired_code_comes_back_with_its_expiry_for_the_caller_to_refuse(
    store: AuthStore,
) -> None:
    # The grant (smart_auth.grants) refuses a code past expires_at; the store hands it over
    # (marked used) so that a late replay of a used code still ends its family.
    store.put_code(code(expires_at=NOW - 5))
    taken = store.take_code("code-1", NOW)
    assert taken is not None and taken.expires_at < NOW and not taken.used


def test_a_code_keeps_its_grant(store: AuthStore) -> None:
    full = grant(encounter="e-1", nonce="n-1", banner=False, role=Role.CLINICIAN)
    store.put_code(code(grant=full))
    taken = store.take_code("code-1", NOW)
    assert taken is not None and taken.grant == full


def test_a_second_code_with_the_same_digest_is_refused(store: AuthStore) -> None:
    store.put_code(code())
    with pytest.raises(DUPLICATE):
        store.put_code(code(redirect_uri="https://evil.example/cb"))
    taken = store.take_code("code-1", NOW)
    assert taken is not None and taken.redirect_uri == "https://app.example/callback"


def test_a_code_raced_by_many_threads_has_exactly_one_winner(store: AuthStore) -> None:
    store.put_code(code())
    taken = race(8, lambda: store.take_code("code-1", NOW))
    assert all(t is not None for t in taken)
    assert sorted(t.used for t in taken) == [False] + [True] * 7


# -- tokens ----------------------------------------------------------------------------------------


def test_tokens_read_back_by_digest(store: AuthStore) -> None:
    pair = [token("a-1"), token("r-1", kind="refresh", expires_at=NOW + 30 * 24 * HOUR)]
    store.put_tokens(pair)
    assert [store.get_token("a-1"), store.get_token("r-1")] == pair
    assert store.get_token("nothing") is None


def test_storing_no_tokens_is_harmless(store: AuthStore) -> None:
    store.put_tokens([])


def test_a_refresh_token_is_taken_once(store: AuthStore) -> None:
    store.put_tokens([token("r-1", kind="refresh")])
    first = store.take_refresh_token("r-1")
    second = store.take_refresh_token("r-1")
    assert first is not None and not first.revoked
    assert second is not None and second.revoked
    stored = store.get_token("r-1")
    assert stored is not None and stored.revoked


def test_an_access_token_is_not_taken_as_a_refresh_token(store: AuthStore) -> None:
    store.put_tokens([token("a-1")])
    assert store.take_refresh_token("a-1") is None
    stored = store.get_token("a-1")
    assert stored is not None and not stored.revoked


def test_a_refresh_token_raced_by_many_threads_has_exactly_one_winner(store: AuthStore) -> None:
    store.put_tokens([token("r-1", kind="refresh")])
    taken = race(8, lambda: store.take_refresh_token("r-1"))
    assert sorted(t.revoked for t in taken) == [False] + [True] * 7


def test_revoke_ends_one_token(store: AuthStore) -> None:
    store.put_tokens([token("a-1"), token("a-2")])
    store.revoke("a-1")
    one, two = store.get_token("a-1"), store.get_token("a-2")
    assert one is not None and one.revoked and not one.is_active(NOW)
    assert two is not None and not two.revoked


def test_revoke_family_kills_every_token_of_the_family(store: AuthStore) -> None:
    store.put_tokens(
        [
            token("a-1", family="f1"),
            token("r-1", kind="refresh", family="f1"),
            token("a-2", family="f1"),
            token("other", family="f2"),
        ]
    )
    store.revoke_family("f1")
    revoked = {d: t.revoked for d in ("a-1", "r-1", "a-2", "other") if (t := store.get_token(d))}
    assert revoked == {"a-1": True, "r-1": True, "a-2": True, "other": False}


def test_revoke_user_ends_every_token_of_the_account(store: AuthStore) -> None:
    store.put_tokens(
        [
            token("mine-1", family="f1"),
            token("mine-2", family="f2", grant=grant("other-app")),
            token("theirs", family="f3", grant=grant(username="spouse")),
            token("system", family="f4", grant=Grant(client_id="backend", scope="system/*.rs")),
        ]
    )
    store.revoke_user("sponsor")
    revoked = {
        d: t.revoked for d in ("mine-1", "mine-2", "theirs", "system") if (t := store.get_token(d))
    }
    assert revoked == {"mine-1": True, "mine-2": True, "theirs": False, "system": False}


# -- client assertion ids --------------------------------------------------------------------------


def test_a_replayed_jti_is_refused(store: AuthStore) -> None:
    assert store.remember_jti("backend", "jti-1", NOW + 300, NOW) is True
    assert store.remember_jti("backend", "jti-1", NOW + 300, NOW + 1) is False


def test_the_same_jti_from_another_client_is_accepted(store: AuthStore) -> None:
    assert store.remember_jti("backend", "jti-1", NOW + 300, NOW) is True
    assert store.remember_jti("other-backend", "jti-1", NOW + 300, NOW) is True


def test_a_jti_may_come_again_once_it_expired(store: AuthStore) -> None:
    assert store.remember_jti("backend", "jti-1", NOW + 60, NOW) is True
    assert store.remember_jti("backend", "jti-1", NOW + 400, NOW + 61) is True
    assert store.remember_jti("backend", "jti-1", NOW + 400, NOW + 62) is False


def test_a_jti_raced_by_many_threads_is_accepted_once(store: AuthStore) -> None:
    accepted = race(8, lambda: store.remember_jti("backend", "jti-1", NOW + 300, NOW))
    assert sorted(accepted) == [False] * 7 + [True]


# -- launches --------------------------------------------------------------------------------------


def launch(**changes: Any) -> Launch:
    fields: dict[str, Any] = {
        "digest": "launch-1",
        "client_id": "app",
        "patient": "p-sponsor",
        "encounter": "e-1",
        "expires_at": NOW + 300,
        "username": "clinician",
    }
    fields.update(changes)
    return Launch(**fields)


def test_a_launch_is_taken_once_with_its_context(store: AuthStore) -> None:
    store.put_launch(launch())
    assert store.take_launch("launch-1", "app", NOW) == launch()
    assert store.take_launch("launch-1", "app", NOW) is None


def test_a_launch_is_taken_only_by_its_client(store: AuthStore) -> None:
    store.put_launch(launch())
    assert store.take_launch("launch-1", "other-app", NOW) is None
    assert store.take_launch("launch-1", "app", NOW) == launch()


def test_an_expired_launch_is_not_taken(store: AuthStore) -> None:
    store.put_launch(launch(expires_at=NOW + 10))
    assert store.take_launch("launch-1", "app", NOW + 11) is None


def test_a_launch_raced_by_many_threads_has_exactly_one_winner(store: AuthStore) -> None:
    store.put_launch(launch())
    taken = race(8, lambda: store.take_launch("launch-1", "app", NOW))
    assert [t for t in taken if t is not None] == [launch()]


# -- sessions and pending requests -----------------------------------------------------------------


def session(digest: str = "session-1", expires_at: float = NOW + HOUR) -> Session:
    return Session(digest=digest, username="sponsor", auth_time=NOW, expires_at=expires_at)


def test_a_session_is_found_until_it_expires(store: AuthStore) -> None:
    store.put_session(session(expires_at=NOW + 60))
    assert store.get_session("session-1", NOW + 59) == session(expires_at=NOW + 60)
    assert store.get_session("session-1", NOW + 60) is None


def test_a_deleted_session_is_gone(store: AuthStore) -> None:
    store.put_session(session())
    store.delete_session("session-1")
    store.delete_session("session-1")
    assert store.get_session("session-1", NOW) is None


def pending(**changes: Any) -> Pending:
    fields: dict[str, Any] = {
        "digest": "pending-1",
        "params": [("scope", "openid"), ("aud", "https://fhir"), ("scope", "patient/*.rs")],
        "expires_at": NOW + 600,
    }
    fields.update(changes)
    return Pending(**fields)


def test_a_pending_request_keeps_its_parameters_in_order(store: AuthStore) -> None:
    store.put_pending(pending(encounter="e-1", launched_by="clinician"))
    assert store.get_pending("pending-1", NOW) == pending(encounter="e-1", launched_by="clinician")


def test_putting_a_pending_request_again_replaces_it(store: AuthStore) -> None:
    store.put_pending(pending(encounter="e-1"))
    store.put_pending(pending(username="sponsor", patient="p-child"))
    assert store.get_pending("pending-1", NOW) == pending(username="sponsor", patient="p-child")


def test_an_expired_pending_request_is_not_found(store: AuthStore) -> None:
    store.put_pending(pending(expires_at=NOW + 10))
    assert store.get_pending("pending-1", NOW + 10) is None


def test_a_deleted_pending_request_is_gone(store: AuthStore) -> None:
    store.put_pending(pending())
    store.delete_pending("pending-1")
    assert store.get_pending("pending-1", NOW) is None


# -- password resets -------------------------------------------------------------------------------


def reset(digest: str = "reset-1", expires_at: float = NOW + 900) -> PasswordReset:
    return PasswordReset(digest=digest, username="sponsor", expires_at=expires_at)


def test_a_reset_is_taken_once(store: AuthStore) -> None:
    store.put_reset(reset())
    assert store.take_reset("reset-1", NOW) == reset()
    assert store.take_reset("reset-1", NOW) is None


def test_an_expired_reset_is_not_taken(store: AuthStore) -> None:
    store.put_reset(reset(expires_at=NOW + 10))
    assert store.take_reset("reset-1", NOW + 10) is None
    assert store.take_reset("reset-1", NOW) is None  # and it is gone


def test_a_new_reset_replaces_the_accounts_previous_one(store: AuthStore) -> None:
    store.put_reset(reset("reset-1"))
    store.put_reset(reset("reset-2"))
    assert store.take_reset("reset-1", NOW) is None
    assert store.take_reset("reset-2", NOW) == reset("reset-2")


def test_a_reset_raced_by_many_threads_has_exactly_one_winner(store: AuthStore) -> None:
    store.put_reset(reset())
    taken = race(8, lambda: store.take_reset("reset-1", NOW))
    assert [t for t in taken if t is not None] == [reset()]


# -- proxy grants ----------------------------------------------------------------------------------


def test_proxy_grants_are_found_by_grantee_and_by_grantor(store: AuthStore) -> None:
    first = proxy_grant("g1", "p-adult-child", "1111111111", NOW)
    second = proxy_grant("g2", "p-teen", "1111111111", NOW + 1)
    third = proxy_grant("g3", "p-adult-child", "2222222222", NOW + 2)
    for g in (third, first, second):
        store.put_proxy_grant(g)
    assert store.proxy_grants(grantee_dod_id="1111111111") == [first, second]
    assert store.proxy_grants(patient_id="p-adult-child") == [first, third]
    assert store.proxy_grants(grantee_dod_id="2222222222", patient_id="p-teen") == []
    assert store.proxy_grants() == [first, second, third]


def test_a_revoked_proxy_grant_is_no_longer_listed(store: AuthStore) -> None:
    store.put_proxy_grant(proxy_grant("g1", "p-adult-child", "1111111111", NOW))
    revoked = store.revoke_proxy_grant("g1", NOW + 5)
    assert revoked is not None and revoked.revoked == NOW + 5
    assert store.proxy_grants(grantee_dod_id="1111111111") == []


def test_a_proxy_grant_is_revoked_once(store: AuthStore) -> None:
    store.put_proxy_grant(proxy_grant("g1", "p-adult-child", "1111111111", NOW))
    assert store.revoke_proxy_grant("g1", NOW + 5) is not None
    assert store.revoke_proxy_grant("g1", NOW + 9) is None
    assert store.revoke_proxy_grant("unknown", NOW) is None


# -- the audit trail -------------------------------------------------------------------------------


def test_audit_records_read_back_in_the_order_written(store: AuthStore) -> None:
    # Written order wins over the recorded times (a batch may hold late stragglers).
    batch = [audit(NOW + 2, what="/a"), audit(NOW + 1, what="/b"), audit(NOW + 3, what="/c")]
    store.append_audit(batch[:2])
    store.append_audit([])
    store.append_audit(batch[2:])
    assert store.audit_records() == batch


def test_a_large_audit_batch_is_kept_whole_and_in_order(store: AuthStore) -> None:
    # A busy server flushes thousands of records at once (the SQLite engine inserts them
    # in statements of a few hundred rows).
    batch = [audit(NOW + i / 1000, what=f"/{i}") for i in range(1234)]
    store.append_audit(batch)
    assert store.audit_records(limit=2000) == batch


def test_audit_records_filter_by_time(store: AuthStore) -> None:
    store.append_audit([audit(NOW + i, what=f"/{i}") for i in range(5)])
    assert [r.what for r in store.audit_records(since=NOW + 3)] == ["/3", "/4"]


def test_audit_records_filter_by_patient(store: AuthStore) -> None:
    store.append_audit(
        [audit(NOW, "p-1"), audit(NOW + 1, "p-2"), audit(NOW + 2), audit(NOW + 3, "p-1")]
    )
    found = store.audit_records(patient="p-1")
    assert [(r.recorded, r.patient) for r in found] == [(NOW, "p-1"), (NOW + 3, "p-1")]
    assert [r.recorded for r in store.audit_records(since=NOW + 1, patient="p-1")] == [NOW + 3]


def test_audit_records_stop_at_the_limit(store: AuthStore) -> None:
    store.append_audit([audit(NOW + i, what=f"/{i}") for i in range(5)])
    assert [r.what for r in store.audit_records(limit=2)] == ["/0", "/1"]


def test_audit_batches_appended_from_many_threads_are_all_kept(store: AuthStore) -> None:
    race(6, lambda: store.append_audit([audit(NOW, what="/x") for _ in range(5)]))
    assert len(store.audit_records()) == 30


# -- signing keys ----------------------------------------------------------------------------------


def test_signing_keys_are_listed_oldest_first(store: AuthStore) -> None:
    for k in (key("k2", NOW + 1), key("k1", NOW), key("k3", NOW + 2)):
        store.put_key(k)
    assert store.signing_keys() == [key("k1", NOW), key("k2", NOW + 1), key("k3", NOW + 2)]


def test_retiring_keys_spares_the_named_one(store: AuthStore) -> None:
    for k in (key("k1", NOW), key("k2", NOW + 1)):
        store.put_key(k)
    store.retire_keys(except_kid="k2", at=NOW + 5)
    assert [(k.kid, k.retired_at) for k in store.signing_keys()] == [("k1", NOW + 5), ("k2", None)]


def test_a_retired_key_keeps_its_first_retirement_time(store: AuthStore) -> None:
    for i, kid in enumerate(("k1", "k2", "k3")):  # three rotations
        store.put_key(key(kid, NOW + i))
        store.retire_keys(except_kid=kid, at=NOW + i)
    retired = {k.kid: k.retired_at for k in store.signing_keys()}
    assert retired == {"k1": NOW + 1, "k2": NOW + 2, "k3": None}


def test_a_second_key_with_the_same_kid_is_refused(store: AuthStore) -> None:
    store.put_key(key("k1", NOW))
    with pytest.raises(DUPLICATE):
        store.put_key(key("k1", NOW + 1))
    assert store.signing_keys() == [key("k1", NOW)]


# -- SQLite only -----------------------------------------------------------------------------------


def _schema_2_with_accounts(path: Path, *dod_ids: str) -> None:
    """A database as the schema-2 build left it: no unique DoD IDs yet."""
    store = SqliteAuthStore(str(path))
    store.open()
    for i in range(len(dod_ids)):
        store.put_user(user(f"user-{i}", dod_id=f"900000000{i}"))
    store.close()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX auth_users_dod_id")
        for i, dod_id in enumerate(dod_ids):
            conn.execute(
                "UPDATE auth_users SET dod_id = ? WHERE username = ?", (dod_id, f"user-{i}")
            )
        conn.execute("UPDATE auth_schema SET version = 2")


def test_a_schema_2_database_gets_unique_dod_ids(tmp_path: Path) -> None:
    _schema_2_with_accounts(tmp_path / "auth.db", "1234567890", "1234567891")
    store = SqliteAuthStore(str(tmp_path / "auth.db"))
    store.open()
    try:
        with pytest.raises(DuplicateRecordError):
            store.put_user(user("impostor", dod_id="1234567890"))
    finally:
        store.close()


def test_a_schema_2_database_whose_accounts_share_a_dod_id_is_not_upgraded(
    tmp_path: Path,
) -> None:
    _schema_2_with_accounts(tmp_path / "auth.db", "1234567890", "1234567890")
    with pytest.raises(RuntimeError, match="share a DoD ID"):
        SqliteAuthStore(str(tmp_path / "auth.db")).open()
    with sqlite3.connect(tmp_path / "auth.db") as conn:
        assert conn.execute("SELECT version FROM auth_schema").fetchone() == (2,)


# -- MongoDB only ----------------------------------------------------------------------------------


def test_two_accounts_cannot_share_a_dod_id(store: AuthStore) -> None:
    store.put_user(user("sponsor", dod_id="1234567890"))
    with pytest.raises(DUPLICATE):
        store.put_user(user("impostor", dod_id="1234567890"))
    assert store.get_user("impostor") is None
    found = store.get_user_by_dod_id("1234567890")
    assert found is not None and found.username == "sponsor"


@on_mongo_only
def test_opening_creates_the_unique_and_expiry_indexes(store: AuthStore) -> None:
    from smart_auth.mongo_store import MongoAuthStore

    assert isinstance(store, MongoAuthStore)

    def indexes(collection: str) -> dict[tuple[tuple[str, int], ...], dict[str, Any]]:
        by_name = {cls._get_collection_name(): coll for cls, coll in store._collections.items()}
        info: dict[str, Any] = store._run(lambda: by_name[collection].index_information())
        return {tuple((k, int(d)) for k, d in i["key"]): i for i in info.values()}

    def unique(collection: str, *fields: str) -> bool:
        found = indexes(collection).get(tuple((f, 1) for f in fields))
        return found is not None and bool(found.get("unique"))

    assert unique("auth_clients", "client_id")
    assert unique("auth_users", "username")
    assert unique("auth_users", "dod_id")
    assert unique("auth_codes", "digest")
    assert unique("auth_tokens", "digest")
    assert unique("auth_jti", "client_id", "jti")
    assert unique("auth_keys", "kid")
    assert unique("audit", "seq")
    ttl = indexes("auth_codes")[(("purge_at", 1),)]
    assert ttl["expireAfterSeconds"] == 0


@pytest.mark.mongo
@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("mongodb://db.example", "mhs_fhir"),
        ("mongodb://db.example/", "mhs_fhir"),
        ("mongodb://db.example/?w=majority", "mhs_fhir"),
        ("mongodb://db.example:27017/records", "records"),
        ("mongodb://u:p%2F@h1:27017,h2:27017/records?replicaSet=rs0", "records"),
        ("mongodb+srv://cluster0.example.net/prod?retryWrites=true", "prod"),
    ],
)
def test_the_database_comes_from_the_url_path(url: str, database: str) -> None:
    from smart_auth.mongo_store import database_name

    assert database_name(url) == database


@pytest.mark.mongo
@pytest.mark.parametrize("url", ["mongodb://h/a.b", "mongodb://h/a%20b", "postgres://h/db"])
def test_a_url_naming_no_valid_database_is_refused(url: str) -> None:
    from smart_auth.mongo_store import database_name

    with pytest.raises(ValueError):
        database_name(url)


@pytest.mark.mongo
@pytest.mark.parametrize("url", ["mongodb://localhost/records", "mongodb+srv://c.example/records"])
def test_mongodb_urls_open_the_mongo_store(url: str) -> None:
    from smart_auth.mongo_store import MongoAuthStore
    from smart_auth.service import open_auth_store

    store = open_auth_store(url)  # not opened: nothing connects
    assert isinstance(store, MongoAuthStore)
    assert store.database == "records"


@pytest.mark.mongo
def test_a_store_not_yet_open_says_so() -> None:
    from smart_auth.mongo_store import MongoAuthStore

    with pytest.raises(RuntimeError, match="not open"):
        MongoAuthStore("mongodb://localhost/records").get_client("app")


@pytest.mark.mongo
def test_an_unreachable_server_fails_the_open_and_leaves_no_thread_behind() -> None:
    import pymongo.errors

    from smart_auth.mongo_store import APP_NAME, MongoAuthStore

    def loop_threads() -> int:
        return sum(t.name.startswith(APP_NAME) for t in threading.enumerate())

    before = loop_threads()
    store = MongoAuthStore(
        "mongodb://127.0.0.1:9/records?serverSelectionTimeoutMS=300&connectTimeoutMS=300"
    )
    with pytest.raises(pymongo.errors.ServerSelectionTimeoutError):
        store.open()
    assert loop_threads() == before
    with pytest.raises(RuntimeError, match="not open"):
        store.get_client("app")


@on_mongo_only
def test_closing_ends_the_stores_loop_thread(open_store: StoreFactory) -> None:
    from smart_auth.mongo_store import APP_NAME

    def loop_threads() -> int:
        return sum(t.name.startswith(APP_NAME) for t in threading.enumerate())

    before = loop_threads()
    store = open_store()
    assert loop_threads() == before + 1
    store.close()
    assert loop_threads() == before
