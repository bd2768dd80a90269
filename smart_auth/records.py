"""What the authorization server remembers: clients, accounts, codes, tokens, keys.

Plain data, engine-independent. Secrets (client secrets, codes, tokens, sessions) are kept only
as SHA-256 digests (:func:`digest`): a copy of the database hands out nothing usable.
Times are Unix seconds (``float``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from smart_auth.proxy import Link

if TYPE_CHECKING:
    from smart_auth.audit import AuditRecord


def digest(secret: str) -> str:
    """The stored form of a bearer secret (token, code, session id)."""
    return hashlib.sha256(secret.encode()).hexdigest()


class ClientKind(StrEnum):
    """How a client authenticates at the token endpoint (SMART "client types")."""

    PUBLIC = "public"  # client_id only, PKCE protects the code
    SYMMETRIC = "symmetric"  # client_secret_basic
    ASYMMETRIC = "asymmetric"  # private_key_jwt (RS384 / ES384), user-facing app
    BACKEND = "backend"  # private_key_jwt + client_credentials, system/ scopes only


class Assurance(StrEnum):
    """Identity assurance of an account: Premium (Level 2) is needed for clinical data."""

    BASIC = "basic"
    PREMIUM = "premium"


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    client_id: str
    name: str
    kind: ClientKind
    scope: str  # the most this client may ever be granted
    redirect_uris: tuple[str, ...] = ()
    secret_digest: str | None = None
    jwks: dict[str, Any] | None = None
    jwks_url: str | None = None
    created: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class User:
    username: str
    password_hash: str
    name: str
    dod_id: str | None = None  # EDIPI: links the account to its Patient and to DEERS
    fhir_user: str | None = None  # "Patient/123" or "Practitioner/abc"
    assurance: Assurance = Assurance.BASIC
    email: str | None = None
    failed_logins: int = 0
    locked: bool = False  # by an administrator
    locked_until: float = 0.0  # after repeated failures
    created: float = 0.0


class Role(StrEnum):
    """Who holds a token: a beneficiary (their own and their dependents' records), a
    clinician or other staff (``user/`` scopes), or a system (Backend Services)."""

    BENEFICIARY = "beneficiary"
    CLINICIAN = "clinician"
    SYSTEM = "system"


def role_of(fhir_user: str | None) -> Role:
    """Staff accounts are Practitioners (or PractitionerRoles); everyone else a beneficiary."""
    if fhir_user and fhir_user.split("/")[0] in ("Practitioner", "PractitionerRole"):
        return Role.CLINICIAN
    return Role.BENEFICIARY


@dataclass(frozen=True, slots=True, kw_only=True)
class Grant:
    """What a user approved for a client: the content of a code, and of the tokens it yields.

    ``links`` are the patients a beneficiary acts for (themselves, dependents), decided at
    sign-in and re-judged by the proxy rules on every request."""

    client_id: str
    scope: str
    role: Role = Role.SYSTEM
    username: str | None = None
    patient: str | None = None
    encounter: str | None = None
    fhir_user: str | None = None
    nonce: str | None = None
    auth_time: float | None = None
    banner: bool = True
    links: tuple[Link, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Code:
    digest: str
    grant: Grant
    redirect_uri: str
    code_challenge: str
    expires_at: float
    used: bool = False
    family: str = ""  # the token family the code's tokens will belong to


@dataclass(frozen=True, slots=True, kw_only=True)
class Token:
    """An access or refresh token. ``family`` ties every token of one authorization together:
    revoking a refresh token, or replaying a used one or a used code, ends the whole family."""

    digest: str
    kind: str  # "access" | "refresh"
    grant: Grant
    issued_at: float
    expires_at: float
    family: str
    revoked: bool = False

    def is_active(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass(frozen=True, slots=True, kw_only=True)
class Launch:
    """An EHR launch: an opaque id bound to a client and to the user who launched (only they
    may complete it), carrying the context the EHR chose."""

    digest: str
    client_id: str
    patient: str | None
    encounter: str | None
    expires_at: float
    used: bool = False
    username: str | None = None  # None: launched by a system


@dataclass(frozen=True, slots=True, kw_only=True)
class Session:
    """A browser's login at the authorization server (a cookie holds the secret)."""

    digest: str
    username: str
    auth_time: float
    expires_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Pending:
    """An authorization request waiting for the user (login, patient picker, consent)."""

    digest: str
    params: list[tuple[str, str]]
    expires_at: float
    username: str | None = None
    patient: str | None = None
    encounter: str | None = None  # from an EHR launch
    launched_by: str | None = None  # the user an EHR launch is bound to


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordReset:
    """A password reset link's secret (as a digest), for one account, single-use."""

    digest: str
    username: str
    expires_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class ProxyGrant:
    """A beneficiary's explicit permission for someone (by DoD ID) to act for them with full
    access: how an adult dependent lets a sponsor in, or a teen lets a parent see more."""

    id: str
    patient_id: str  # who grants
    grantee_dod_id: str  # who may act for them
    created: float
    note: str = ""
    revoked: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SigningKey:
    kid: str
    private_jwk: dict[str, Any]
    created: float
    retired_at: float | None = None


class DuplicateRecordError(ValueError):
    """A record whose natural key (client id, username, DoD ID, digest, kid...) is taken."""


class AuthStore(Protocol):
    """The authorization server's records. Synchronous: authlib is; callers run it in a thread.

    Every ``take_*`` method is an atomic compare-and-set: of two concurrent callers with the
    same secret, exactly one gets the record.
    """

    def open(self) -> None: ...
    def close(self) -> None: ...

    # clients
    def put_client(self, client: Client) -> None: ...
    def get_client(self, client_id: str) -> Client | None: ...
    def list_clients(self) -> list[Client]: ...
    def remove_client(self, client_id: str) -> bool: ...

    # accounts
    def put_user(self, user: User) -> None: ...
    def get_user(self, username: str) -> User | None: ...
    def get_user_by_dod_id(self, dod_id: str) -> User | None: ...
    def list_users(self) -> list[User]: ...
    def record_login(
        self, username: str, *, ok: bool, lock_after: int, lock_for: float
    ) -> None: ...

    # authorization codes
    def put_code(self, code: Code) -> None: ...
    def take_code(self, digest: str, now: float) -> Code | None:
        """Mark the code used and return it as it was before (``used`` tells a replay)."""
        ...

    # tokens
    def put_tokens(self, tokens: list[Token]) -> None: ...
    def get_token(self, digest: str) -> Token | None: ...
    def take_refresh_token(self, digest: str) -> Token | None:
        """Revoke a refresh token (rotation) and return it as it was before."""
        ...

    def revoke(self, digest: str) -> None: ...
    def revoke_family(self, family: str) -> None: ...
    def revoke_user(self, username: str) -> None: ...

    # client assertion ids (private_key_jwt replay protection)
    def remember_jti(self, client_id: str, jti: str, expires_at: float, now: float) -> bool:
        """False when (client, jti) was already seen and has not expired."""
        ...

    # launches, sessions, pending requests
    def put_launch(self, launch: Launch) -> None: ...
    def take_launch(self, digest: str, client_id: str, now: float) -> Launch | None: ...
    def put_session(self, session: Session) -> None: ...
    def get_session(self, digest: str, now: float) -> Session | None: ...
    def delete_session(self, digest: str) -> None: ...
    def put_pending(self, pending: Pending) -> None: ...
    def get_pending(self, digest: str, now: float) -> Pending | None: ...
    def delete_pending(self, digest: str) -> None: ...

    # password resets
    def put_reset(self, reset: PasswordReset) -> None: ...
    def take_reset(self, digest: str, now: float) -> PasswordReset | None:
        """The reset, removed (single use); None when unknown or expired."""
        ...

    # proxy grants
    def put_proxy_grant(self, grant: ProxyGrant) -> None: ...
    def proxy_grants(
        self, *, grantee_dod_id: str | None = None, patient_id: str | None = None
    ) -> list[ProxyGrant]:
        """Grants not revoked, by grantee or by grantor (or all)."""
        ...

    def revoke_proxy_grant(self, id: str, at: float) -> ProxyGrant | None: ...

    # the audit trail (append-only)
    def append_audit(self, records: list[AuditRecord]) -> None: ...
    def audit_records(
        self, *, since: float = 0.0, patient: str | None = None, limit: int = 1000
    ) -> list[AuditRecord]: ...

    # signing keys
    def put_key(self, key: SigningKey) -> None: ...
    def signing_keys(self) -> list[SigningKey]: ...
    def retire_keys(self, *, except_kid: str, at: float) -> None: ...
