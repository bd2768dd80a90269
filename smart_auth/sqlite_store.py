"""The authorization server's records in the same SQLite file as the resources.

Its own tables (``auth_*``) with their own schema version, WAL and durable commits like the
resource engine. Writes (rare next to FHIR traffic) go through one connection under a lock;
reads, such as the guard's token lookup on every FHIR request, use a connection per thread, so
they never wait behind a write (WAL readers do not block).
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from smart_auth.audit import AuditRecord
from smart_auth.proxy import Link
from smart_auth.records import (
    Assurance,
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

SCHEMA_VERSION = 3

# Columns added after a table first shipped: added in place when missing (version 2).
_ADDED_COLUMNS: dict[str, dict[str, str]] = {
    "auth_pending": {"encounter": "TEXT", "launched_by": "TEXT"},
    "auth_launches": {"username": "TEXT"},
}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_schema (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS auth_clients (
    client_id TEXT PRIMARY KEY, name TEXT NOT NULL, kind TEXT NOT NULL, scope TEXT NOT NULL,
    redirect_uris TEXT NOT NULL, secret_digest TEXT, jwks TEXT, jwks_url TEXT,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_users (
    username TEXT PRIMARY KEY, password_hash TEXT NOT NULL, name TEXT NOT NULL, dod_id TEXT,
    fhir_user TEXT, assurance TEXT NOT NULL, email TEXT, failed_logins INTEGER NOT NULL,
    locked INTEGER NOT NULL, locked_until REAL NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_codes (
    digest TEXT PRIMARY KEY, grant_json TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL, expires_at REAL NOT NULL, used INTEGER NOT NULL,
    family TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS auth_tokens (
    digest TEXT PRIMARY KEY, kind TEXT NOT NULL, grant_json TEXT NOT NULL,
    issued_at REAL NOT NULL, expires_at REAL NOT NULL, family TEXT NOT NULL,
    revoked INTEGER NOT NULL, client_id TEXT NOT NULL, username TEXT);
CREATE INDEX IF NOT EXISTS auth_tokens_family ON auth_tokens (family);
CREATE INDEX IF NOT EXISTS auth_tokens_client ON auth_tokens (client_id);
CREATE INDEX IF NOT EXISTS auth_tokens_user ON auth_tokens (username);
CREATE TABLE IF NOT EXISTS auth_jti (
    client_id TEXT NOT NULL, jti TEXT NOT NULL, expires_at REAL NOT NULL,
    PRIMARY KEY (client_id, jti));
CREATE TABLE IF NOT EXISTS auth_launches (
    digest TEXT PRIMARY KEY, client_id TEXT NOT NULL, patient TEXT, encounter TEXT,
    expires_at REAL NOT NULL, used INTEGER NOT NULL, username TEXT);
CREATE TABLE IF NOT EXISTS auth_sessions (
    digest TEXT PRIMARY KEY, username TEXT NOT NULL, auth_time REAL NOT NULL,
    expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_pending (
    digest TEXT PRIMARY KEY, params TEXT NOT NULL, expires_at REAL NOT NULL, username TEXT,
    patient TEXT, encounter TEXT, launched_by TEXT);
CREATE TABLE IF NOT EXISTS auth_resets (
    digest TEXT PRIMARY KEY, username TEXT NOT NULL, expires_at REAL NOT NULL);
CREATE TABLE IF NOT EXISTS auth_proxy_grants (
    id TEXT PRIMARY KEY, patient_id TEXT NOT NULL, grantee_dod_id TEXT NOT NULL,
    created REAL NOT NULL, note TEXT NOT NULL, revoked REAL);
CREATE INDEX IF NOT EXISTS auth_proxy_grants_grantee ON auth_proxy_grants (grantee_dod_id);
CREATE TABLE IF NOT EXISTS auth_keys (
    kid TEXT PRIMARY KEY, private_jwk TEXT NOT NULL, created REAL NOT NULL, retired_at REAL);
"""


_AUDIT_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY, recorded REAL NOT NULL, subject TEXT NOT NULL, role TEXT NOT NULL,
    client_id TEXT, patient TEXT, action TEXT NOT NULL, what TEXT NOT NULL,
    status INTEGER NOT NULL, source TEXT);
CREATE INDEX IF NOT EXISTS audit_patient ON audit (patient, recorded);
CREATE INDEX IF NOT EXISTS audit_recorded ON audit (recorded);
"""


_AUDIT_COLUMNS = AuditRecord._fields  # the audit table's columns, by the same names
_AUDIT_ROWS_PER_INSERT = 64


def _audit_statements(records: int) -> Iterator[int]:
    """Rows per INSERT for a batch: full statements of ``_AUDIT_ROWS_PER_INSERT``, then the
    rest in powers of two, so that few distinct statements are ever prepared (the module
    keeps each in its statement cache: one per remainder length, up to 128, held 25 MB)."""
    full, rest = divmod(records, _AUDIT_ROWS_PER_INSERT)
    yield from [_AUDIT_ROWS_PER_INSERT] * full
    bit = _AUDIT_ROWS_PER_INSERT // 2
    while bit:
        if rest & bit:
            yield bit
        bit //= 2


@cache
def _append_audit(rows: int) -> str:
    row = "(" + ", ".join("?" * len(_AUDIT_COLUMNS)) + ")"
    return f"INSERT INTO audit ({', '.join(_AUDIT_COLUMNS)}) VALUES " + ", ".join([row] * rows)


def audit_path(path: str) -> str:
    """The audit trail's own file next to the database (``var/mhs-fhir.audit.db``): its
    steady trickle of commits would otherwise make every reader of the resources reload its
    page cache."""
    stem = path[:-3] if path.endswith(".db") else path
    return f"{stem}.audit.db"


def _grant_json(grant: Grant) -> str:
    return json.dumps(dataclasses.asdict(grant), separators=(",", ":"))


def _grant(text: str) -> Grant:
    data = json.loads(text)
    data["role"] = Role(data.get("role", Role.SYSTEM))
    data["links"] = tuple(Link(**link) for link in data.get("links", ()))
    return Grant(**data)


def _unique_dod_ids(conn: sqlite3.Connection) -> None:
    """Schema 3: one account per DoD ID (a CAC login finds its account by it). A database
    where two accounts share one is not upgraded until an administrator decides."""
    shared = conn.execute(
        "SELECT dod_id, group_concat(username, ', ') FROM auth_users WHERE dod_id IS NOT NULL"
        " GROUP BY dod_id HAVING count(*) > 1"
    ).fetchall()
    if shared:
        names = "; ".join(f"{users}" for _, users in shared)
        raise RuntimeError(
            f"accounts share a DoD ID ({names}): give each its own or none"
            " (mhs-fhir users) before this version can open the database"
        )
    conn.execute(
        "CREATE UNIQUE INDEX IF NOT EXISTS auth_users_dod_id ON auth_users (dod_id)"
        " WHERE dod_id IS NOT NULL"
    )


class SqliteAuthStore:
    """:class:`smart_auth.records.AuthStore` on SQLite."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._audit: sqlite3.Connection | None = None
        self._audit_lock = threading.Lock()

    @classmethod
    def from_url(cls, url: str) -> SqliteAuthStore:
        prefix = "sqlite:///"
        if not url.startswith(prefix) or len(url) == len(prefix):
            raise ValueError(f"expected sqlite:///path/to/file.db, got {url!r}")
        return cls(url[len(prefix) :])

    def open(self) -> None:
        if self._conn is not None:
            return
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        with self._locked_conn(conn):
            conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
            row = conn.execute("SELECT version FROM auth_schema").fetchone()
            if row is not None and row[0] > SCHEMA_VERSION:
                conn.close()
                raise RuntimeError(
                    f"the database's authorization tables are version {row[0]}; this build"
                    f" knows up to {SCHEMA_VERSION}: upgrade mhs-fhir"
                )
            conn.execute("BEGIN IMMEDIATE")
            for table, columns in _ADDED_COLUMNS.items():
                have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
                for column, declaration in columns.items():
                    if column not in have:
                        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
            try:
                _unique_dod_ids(conn)
            except RuntimeError:
                conn.execute("ROLLBACK")
                conn.close()
                raise
            conn.execute("DELETE FROM auth_schema")
            conn.execute("INSERT INTO auth_schema VALUES (?)", (SCHEMA_VERSION,))
            conn.execute("COMMIT")
        self._conn = conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
            for reader in self._readers:
                reader.close()
            self._readers.clear()
            self._local = threading.local()
        with self._audit_lock:
            if self._audit is not None:
                self._audit.close()
                self._audit = None

    def _reader(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the authorization store is not open")
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.row_factory = sqlite3.Row
            self._local.conn = conn
            with self._lock:
                self._readers.append(conn)
        return conn

    @contextmanager
    def _locked_conn(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work (BEGIN IMMEDIATE ... COMMIT), serialized in-process."""
        if self._conn is None:
            raise RuntimeError("the authorization store is not open")
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _one(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self._reader().execute(sql, args).fetchone()
        return row

    def _all(self, sql: str, args: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        return list(self._reader().execute(sql, args).fetchall())

    # clients ---------------------------------------------------------------------------------

    def put_client(self, client: Client) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO auth_clients VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    client.client_id,
                    client.name,
                    client.kind.value,
                    client.scope,
                    json.dumps(list(client.redirect_uris)),
                    client.secret_digest,
                    json.dumps(client.jwks) if client.jwks is not None else None,
                    client.jwks_url,
                    client.created,
                ),
            )

    @staticmethod
    def _client(row: sqlite3.Row) -> Client:
        return Client(
            client_id=row["client_id"],
            name=row["name"],
            kind=ClientKind(row["kind"]),
            scope=row["scope"],
            redirect_uris=tuple(json.loads(row["redirect_uris"])),
            secret_digest=row["secret_digest"],
            jwks=json.loads(row["jwks"]) if row["jwks"] else None,
            jwks_url=row["jwks_url"],
            created=row["created"],
        )

    def get_client(self, client_id: str) -> Client | None:
        row = self._one("SELECT * FROM auth_clients WHERE client_id = ?", (client_id,))
        return self._client(row) if row is not None else None

    def list_clients(self) -> list[Client]:
        return [self._client(r) for r in self._all("SELECT * FROM auth_clients ORDER BY 1")]

    def remove_client(self, client_id: str) -> bool:
        with self._tx() as conn:
            gone = conn.execute("DELETE FROM auth_clients WHERE client_id = ?", (client_id,))
            # Its tokens die with it.
            conn.execute("UPDATE auth_tokens SET revoked = 1 WHERE client_id = ?", (client_id,))
            return gone.rowcount > 0

    # accounts --------------------------------------------------------------------------------

    def put_user(self, user: User) -> None:
        """Add or replace the account ``user.username``; :class:`DuplicateRecordError` when
        another account has its DoD ID."""
        with self._tx() as conn:
            taken = conn.execute(
                "SELECT username FROM auth_users WHERE dod_id = ? AND username != ?",
                (user.dod_id, user.username),
            ).fetchone()
            if user.dod_id is not None and taken is not None:
                raise DuplicateRecordError(f"DoD ID {user.dod_id} is {taken[0]}'s account")
            conn.execute(
                "INSERT OR REPLACE INTO auth_users VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    user.username,
                    user.password_hash,
                    user.name,
                    user.dod_id,
                    user.fhir_user,
                    user.assurance.value,
                    user.email,
                    user.failed_logins,
                    int(user.locked),
                    user.locked_until,
                    user.created,
                ),
            )

    @staticmethod
    def _user(row: sqlite3.Row) -> User:
        return User(
            username=row["username"],
            password_hash=row["password_hash"],
            name=row["name"],
            dod_id=row["dod_id"],
            fhir_user=row["fhir_user"],
            assurance=Assurance(row["assurance"]),
            email=row["email"],
            failed_logins=row["failed_logins"],
            locked=bool(row["locked"]),
            locked_until=row["locked_until"],
            created=row["created"],
        )

    def get_user(self, username: str) -> User | None:
        row = self._one("SELECT * FROM auth_users WHERE username = ?", (username,))
        return self._user(row) if row is not None else None

    def get_user_by_dod_id(self, dod_id: str) -> User | None:
        row = self._one("SELECT * FROM auth_users WHERE dod_id = ?", (dod_id,))
        return self._user(row) if row is not None else None

    def list_users(self) -> list[User]:
        return [self._user(r) for r in self._all("SELECT * FROM auth_users ORDER BY 1")]

    def record_login(self, username: str, *, ok: bool, lock_after: int, lock_for: float) -> None:
        """Count a failed login (locking the account for ``lock_for`` seconds after
        ``lock_after`` failures in a row) or reset the count after a good one."""
        with self._tx() as conn:
            if ok:
                conn.execute(
                    "UPDATE auth_users SET failed_logins = 0, locked_until = 0 WHERE username = ?",
                    (username,),
                )
                return
            conn.execute(
                "UPDATE auth_users SET failed_logins = failed_logins + 1,"
                " locked_until = CASE WHEN failed_logins + 1 >= ? THEN ? ELSE locked_until END"
                " WHERE username = ?",
                (lock_after, time.time() + lock_for, username),
            )

    # codes -----------------------------------------------------------------------------------

    def put_code(self, code: Code) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO auth_codes VALUES (?,?,?,?,?,?,?)",
                (
                    code.digest,
                    _grant_json(code.grant),
                    code.redirect_uri,
                    code.code_challenge,
                    code.expires_at,
                    int(code.used),
                    code.family,
                ),
            )

    def take_code(self, digest: str, now: float) -> Code | None:
        with self._tx() as conn:
            cur = conn.execute("SELECT * FROM auth_codes WHERE digest = ?", (digest,))
            cur.row_factory = sqlite3.Row
            row = cur.fetchone()
            if row is None:
                return None
            conn.execute("UPDATE auth_codes SET used = 1 WHERE digest = ?", (digest,))
            conn.execute("DELETE FROM auth_codes WHERE expires_at < ? AND used = 1", (now - 3600,))
        return Code(
            digest=row["digest"],
            grant=_grant(row["grant_json"]),
            redirect_uri=row["redirect_uri"],
            code_challenge=row["code_challenge"],
            expires_at=row["expires_at"],
            used=bool(row["used"]),
            family=row["family"],
        )

    # tokens ----------------------------------------------------------------------------------

    def put_tokens(self, tokens: list[Token]) -> None:
        with self._tx() as conn:
            conn.executemany(
                "INSERT INTO auth_tokens VALUES (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        t.digest,
                        t.kind,
                        _grant_json(t.grant),
                        t.issued_at,
                        t.expires_at,
                        t.family,
                        int(t.revoked),
                        t.grant.client_id,
                        t.grant.username,
                    )
                    for t in tokens
                ],
            )

    @staticmethod
    def _token(row: sqlite3.Row) -> Token:
        return Token(
            digest=row["digest"],
            kind=row["kind"],
            grant=_grant(row["grant_json"]),
            issued_at=row["issued_at"],
            expires_at=row["expires_at"],
            family=row["family"],
            revoked=bool(row["revoked"]),
        )

    def get_token(self, digest: str) -> Token | None:
        row = self._one("SELECT * FROM auth_tokens WHERE digest = ?", (digest,))
        return self._token(row) if row is not None else None

    def take_refresh_token(self, digest: str) -> Token | None:
        with self._tx() as conn:
            cur = conn.execute(
                "SELECT * FROM auth_tokens WHERE digest = ? AND kind = 'refresh'", (digest,)
            )
            cur.row_factory = sqlite3.Row
            row = cur.fetchone()
            if row is None:
                return None
            conn.execute("UPDATE auth_tokens SET revoked = 1 WHERE digest = ?", (digest,))
        return self._token(row)

    def revoke(self, digest: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE auth_tokens SET revoked = 1 WHERE digest = ?", (digest,))

    def revoke_family(self, family: str) -> None:
        with self._tx() as conn:
            conn.execute("UPDATE auth_tokens SET revoked = 1 WHERE family = ?", (family,))

    def revoke_user(self, username: str) -> None:
        """End every token of an account (locked, access ended)."""
        with self._tx() as conn:
            conn.execute("UPDATE auth_tokens SET revoked = 1 WHERE username = ?", (username,))

    # client assertions -----------------------------------------------------------------------

    def remember_jti(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        with self._tx() as conn:
            conn.execute("DELETE FROM auth_jti WHERE expires_at < ?", (now,))
            cur = conn.execute(
                "INSERT OR IGNORE INTO auth_jti VALUES (?,?,?)", (client_id, jti, expires_at)
            )
            return cur.rowcount == 1

    # launches, sessions, pending requests -----------------------------------------------------

    def put_launch(self, launch: Launch) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO auth_launches (digest, client_id, patient, encounter, expires_at,"
                " used, username) VALUES (?,?,?,?,?,?,?)",
                (
                    launch.digest,
                    launch.client_id,
                    launch.patient,
                    launch.encounter,
                    launch.expires_at,
                    int(launch.used),
                    launch.username,
                ),
            )

    def take_launch(self, digest: str, client_id: str, now: float) -> Launch | None:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE auth_launches SET used = 1 WHERE digest = ? AND client_id = ?"
                " AND used = 0 AND expires_at > ? RETURNING *",
                (digest, client_id, now),
            )
            cur.row_factory = sqlite3.Row
            row = cur.fetchone()
        if row is None:
            return None
        return Launch(
            digest=row["digest"],
            client_id=row["client_id"],
            patient=row["patient"],
            encounter=row["encounter"],
            expires_at=row["expires_at"],
            used=False,
            username=row["username"],
        )

    def put_session(self, session: Session) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM auth_sessions WHERE expires_at < ?", (session.auth_time,))
            conn.execute(
                "INSERT INTO auth_sessions VALUES (?,?,?,?)",
                (session.digest, session.username, session.auth_time, session.expires_at),
            )

    def get_session(self, digest: str, now: float) -> Session | None:
        row = self._one(
            "SELECT * FROM auth_sessions WHERE digest = ? AND expires_at > ?", (digest, now)
        )
        if row is None:
            return None
        return Session(
            digest=row["digest"],
            username=row["username"],
            auth_time=row["auth_time"],
            expires_at=row["expires_at"],
        )

    def delete_session(self, digest: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM auth_sessions WHERE digest = ?", (digest,))

    def put_pending(self, pending: Pending) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO auth_pending (digest, params, expires_at, username,"
                " patient, encounter, launched_by) VALUES (?,?,?,?,?,?,?)",
                (
                    pending.digest,
                    json.dumps(pending.params),
                    pending.expires_at,
                    pending.username,
                    pending.patient,
                    pending.encounter,
                    pending.launched_by,
                ),
            )

    def get_pending(self, digest: str, now: float) -> Pending | None:
        row = self._one(
            "SELECT * FROM auth_pending WHERE digest = ? AND expires_at > ?", (digest, now)
        )
        if row is None:
            return None
        return Pending(
            digest=row["digest"],
            params=[(k, v) for k, v in json.loads(row["params"])],
            expires_at=row["expires_at"],
            username=row["username"],
            patient=row["patient"],
            encounter=row["encounter"],
            launched_by=row["launched_by"],
        )

    def delete_pending(self, digest: str) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM auth_pending WHERE digest = ?", (digest,))

    # password resets -------------------------------------------------------------------------

    def put_reset(self, reset: PasswordReset) -> None:
        with self._tx() as conn:
            conn.execute("DELETE FROM auth_resets WHERE username = ?", (reset.username,))
            conn.execute(
                "INSERT INTO auth_resets VALUES (?,?,?)",
                (reset.digest, reset.username, reset.expires_at),
            )

    def take_reset(self, digest: str, now: float) -> PasswordReset | None:
        with self._tx() as conn:
            row = conn.execute(
                "DELETE FROM auth_resets WHERE digest = ? RETURNING username, expires_at",
                (digest,),
            ).fetchone()
        if row is None or row[1] <= now:
            return None
        return PasswordReset(digest=digest, username=row[0], expires_at=row[1])

    # proxy grants ------------------------------------------------------------------------------

    def put_proxy_grant(self, grant: ProxyGrant) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO auth_proxy_grants VALUES (?,?,?,?,?,?)",
                (
                    grant.id,
                    grant.patient_id,
                    grant.grantee_dod_id,
                    grant.created,
                    grant.note,
                    grant.revoked,
                ),
            )

    @staticmethod
    def _proxy_grant(row: sqlite3.Row) -> ProxyGrant:
        return ProxyGrant(
            id=row["id"],
            patient_id=row["patient_id"],
            grantee_dod_id=row["grantee_dod_id"],
            created=row["created"],
            note=row["note"],
            revoked=row["revoked"],
        )

    def proxy_grants(
        self, *, grantee_dod_id: str | None = None, patient_id: str | None = None
    ) -> list[ProxyGrant]:
        where = "revoked IS NULL"
        args: list[object] = []
        if grantee_dod_id is not None:
            where += " AND grantee_dod_id = ?"
            args.append(grantee_dod_id)
        if patient_id is not None:
            where += " AND patient_id = ?"
            args.append(patient_id)
        rows = self._all(
            f"SELECT * FROM auth_proxy_grants WHERE {where} ORDER BY created", tuple(args)
        )
        return [self._proxy_grant(r) for r in rows]

    def revoke_proxy_grant(self, id: str, at: float) -> ProxyGrant | None:
        with self._tx() as conn:
            cur = conn.execute(
                "UPDATE auth_proxy_grants SET revoked = ? WHERE id = ? AND revoked IS NULL"
                " RETURNING *",
                (at, id),
            )
            cur.row_factory = sqlite3.Row
            row = cur.fetchone()
        return self._proxy_grant(row) if row is not None else None

    # the audit trail ----------------------------------------------------------------------------

    def _audit_conn(self) -> sqlite3.Connection:
        """The audit file's connection (made on first use), under ``_audit_lock``."""
        if self._audit is None:
            conn = sqlite3.connect(
                audit_path(self.path), isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA busy_timeout = 10000")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.executescript(_AUDIT_SCHEMA)
            conn.row_factory = sqlite3.Row
            self._audit = conn
        return self._audit

    def append_audit(self, records: list[AuditRecord]) -> None:
        # Many rows a statement (multi-row VALUES): executemany would step SQLite once a row,
        # giving up and taking back the GIL each time, which the event-loop thread (busy
        # serving) makes slow for both; rows as one JSON array cost SQLite ~2 µs a row more
        # to take apart.
        values = [value for record in records for value in record]
        width = len(_AUDIT_COLUMNS)
        with self._audit_lock:
            conn = self._audit_conn()
            conn.execute("BEGIN IMMEDIATE")
            try:
                start = 0
                for rows in _audit_statements(len(records)):
                    end = start + rows * width
                    conn.execute(_append_audit(rows), values[start:end])
                    start = end
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def audit_records(
        self, *, since: float = 0.0, patient: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]:
        where = "recorded >= ?"
        args: list[object] = [since]
        if patient is not None:
            where += " AND patient = ?"
            args.append(patient)
        with self._audit_lock:
            rows = (
                self._audit_conn()
                .execute(f"SELECT * FROM audit WHERE {where} ORDER BY seq LIMIT ?", (*args, limit))
                .fetchall()
            )
        return [
            AuditRecord(
                recorded=r["recorded"],
                subject=r["subject"],
                role=r["role"],
                client_id=r["client_id"],
                patient=r["patient"],
                action=r["action"],
                what=r["what"],
                status=r["status"],
                source=r["source"],
            )
            for r in rows
        ]

    # signing keys ----------------------------------------------------------------------------

    def put_key(self, key: SigningKey) -> None:
        with self._tx() as conn:
            conn.execute(
                "INSERT INTO auth_keys VALUES (?,?,?,?)",
                (key.kid, json.dumps(key.private_jwk), key.created, key.retired_at),
            )

    def signing_keys(self) -> list[SigningKey]:
        return [
            SigningKey(
                kid=r["kid"],
                private_jwk=json.loads(r["private_jwk"]),
                created=r["created"],
                retired_at=r["retired_at"],
            )
            for r in self._all("SELECT * FROM auth_keys ORDER BY created")
        ]

    def retire_keys(self, *, except_kid: str, at: float) -> None:
        with self._tx() as conn:
            conn.execute(
                "UPDATE auth_keys SET retired_at = ? WHERE kid != ? AND retired_at IS NULL",
                (at, except_kid),
            )
