"""The authorization server's records as mongomotor documents: one collection per record type.

Each document class knows its collection, its indexes and how it maps to and from the plain
records of :mod:`smart_auth.records`; :mod:`smart_auth.mongo_store` does the I/O. Natural keys
(``client_id``, ``username``, ``dod_id``, each ``digest``, ``(client_id, jti)``) carry unique
indexes, which the store creates when it opens (``auto_create_index`` stays off: index builds
are an administrative step, not a side effect of the first save).

Short-lived records (codes, launches, sessions, pending requests, resets, client assertion ids)
carry ``purge_at``, a BSON date under a TTL index: MongoDB deletes them once that passes, the
way the SQLite engine sweeps them on write. Lookups still compare ``expires_at`` with the
caller's clock, since the TTL monitor runs only once a minute.

mongomotor (GPL-3.0) is an optional extra: only this module and the store import it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from mongomotor import Document, EmbeddedDocument
from mongomotor.fields import (
    BooleanField,
    DateTimeField,
    DictField,
    EmbeddedDocumentField,
    EmbeddedDocumentListField,
    FloatField,
    IntField,
    ListField,
    StringField,
)

from smart_auth.audit import AuditRecord
from smart_auth.proxy import Link
from smart_auth.records import (
    Assurance,
    Client,
    ClientKind,
    Code,
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

# Used codes stay this long past their expiry, so a replay is still recognised (and ends the
# family it was used for) rather than looking like an unknown code.
CODE_REPLAY_WINDOW = 3600.0


def purge_time(expires_at: float) -> datetime:
    """A TTL index's deadline (naive UTC, as BSON dates come back) for a Unix time."""
    return datetime.fromtimestamp(expires_at, UTC).replace(tzinfo=None)


def _unique(*fields: str, **options: Any) -> dict[str, Any]:
    return {"fields": list(fields), "unique": True, **options}


_TTL: dict[str, Any] = {"fields": ["purge_at"], "expireAfterSeconds": 0}

# strict off: a record written by a newer server (with a field this one does not know) still
# reads back.
_META: dict[str, Any] = {"auto_create_index": False, "allow_inheritance": False, "strict": False}


class AuthLinkDocument(EmbeddedDocument):  # type: ignore[misc]
    patient_id = StringField(required=True)
    relationship = StringField(required=True)
    birth_date = StringField()

    @classmethod
    def of(cls, link: Link) -> AuthLinkDocument:
        return cls(
            patient_id=link.patient_id,
            relationship=link.relationship,
            birth_date=link.birth_date,
        )

    def record(self) -> Link:
        return Link(self.patient_id, self.relationship, self.birth_date)


class AuthGrantDocument(EmbeddedDocument):  # type: ignore[misc]
    client_id = StringField(required=True)
    scope = StringField(required=True)
    role = StringField(required=True)
    username = StringField()
    patient = StringField()
    encounter = StringField()
    fhir_user = StringField()
    nonce = StringField()
    auth_time = FloatField()
    banner = BooleanField(default=True)
    links = EmbeddedDocumentListField(AuthLinkDocument)

    @classmethod
    def of(cls, grant: Grant) -> AuthGrantDocument:
        return cls(
            client_id=grant.client_id,
            scope=grant.scope,
            role=grant.role.value,
            username=grant.username,
            patient=grant.patient,
            encounter=grant.encounter,
            fhir_user=grant.fhir_user,
            nonce=grant.nonce,
            auth_time=grant.auth_time,
            banner=grant.banner,
            links=[AuthLinkDocument.of(link) for link in grant.links],
        )

    def record(self) -> Grant:
        return Grant(
            client_id=self.client_id,
            scope=self.scope,
            role=Role(self.role),
            username=self.username,
            patient=self.patient,
            encounter=self.encounter,
            fhir_user=self.fhir_user,
            nonce=self.nonce,
            auth_time=self.auth_time,
            banner=self.banner,
            links=tuple(link.record() for link in self.links),
        )


class AuthClientDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_clients",
        "indexes": [_unique("client_id")],
    }

    client_id = StringField(required=True)
    name = StringField(required=True)
    kind = StringField(required=True)
    scope = StringField(required=True)
    redirect_uris = ListField(StringField())
    secret_digest = StringField()
    jwks = DictField(default=None)
    jwks_url = StringField()
    created = FloatField(required=True)

    @classmethod
    def of(cls, client: Client) -> AuthClientDocument:
        return cls(
            client_id=client.client_id,
            name=client.name,
            kind=client.kind.value,
            scope=client.scope,
            redirect_uris=list(client.redirect_uris),
            secret_digest=client.secret_digest,
            jwks=client.jwks,
            jwks_url=client.jwks_url,
            created=client.created,
        )

    def record(self) -> Client:
        return Client(
            client_id=self.client_id,
            name=self.name,
            kind=ClientKind(self.kind),
            scope=self.scope,
            redirect_uris=tuple(self.redirect_uris),
            secret_digest=self.secret_digest,
            jwks=dict(self.jwks) if self.jwks else None,
            jwks_url=self.jwks_url,
            created=self.created,
        )


class AuthUserDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_users",
        "indexes": [
            _unique("username"),
            # One account per DoD ID; accounts without one are not indexed.
            _unique("dod_id", partialFilterExpression={"dod_id": {"$type": "string"}}),
        ],
    }

    username = StringField(required=True)
    password_hash = StringField(required=True)
    name = StringField(required=True)
    dod_id = StringField()
    fhir_user = StringField()
    assurance = StringField(required=True)
    email = StringField()
    failed_logins = IntField(default=0)
    locked = BooleanField(default=False)
    locked_until = FloatField(default=0.0)
    created = FloatField(required=True)

    @classmethod
    def of(cls, user: User) -> AuthUserDocument:
        return cls(
            username=user.username,
            password_hash=user.password_hash,
            name=user.name,
            dod_id=user.dod_id,
            fhir_user=user.fhir_user,
            assurance=user.assurance.value,
            email=user.email,
            failed_logins=user.failed_logins,
            locked=user.locked,
            locked_until=user.locked_until,
            created=user.created,
        )

    def record(self) -> User:
        return User(
            username=self.username,
            password_hash=self.password_hash,
            name=self.name,
            dod_id=self.dod_id,
            fhir_user=self.fhir_user,
            assurance=Assurance(self.assurance),
            email=self.email,
            failed_logins=self.failed_logins,
            locked=self.locked,
            locked_until=self.locked_until,
            created=self.created,
        )


class AuthCodeDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_codes",
        "indexes": [_unique("digest"), _TTL],
    }

    digest = StringField(required=True)
    grant = EmbeddedDocumentField(AuthGrantDocument, required=True)
    redirect_uri = StringField(required=True)
    code_challenge = StringField(required=True)
    expires_at = FloatField(required=True)
    used = BooleanField(default=False)
    family = StringField(default="")
    purge_at = DateTimeField(required=True)

    @classmethod
    def of(cls, code: Code) -> AuthCodeDocument:
        return cls(
            digest=code.digest,
            grant=AuthGrantDocument.of(code.grant),
            redirect_uri=code.redirect_uri,
            code_challenge=code.code_challenge,
            expires_at=code.expires_at,
            used=code.used,
            family=code.family,
            purge_at=purge_time(code.expires_at + CODE_REPLAY_WINDOW),
        )

    def record(self) -> Code:
        return Code(
            digest=self.digest,
            grant=self.grant.record(),
            redirect_uri=self.redirect_uri,
            code_challenge=self.code_challenge,
            expires_at=self.expires_at,
            used=self.used,
            family=self.family,
        )


class AuthTokenDocument(Document):  # type: ignore[misc]
    """Tokens are kept past expiry (introspection answers ``active: false`` for them, and a
    rotated-out refresh token must still be recognised when it comes back)."""

    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_tokens",
        "indexes": [_unique("digest"), "family", "grant.client_id", "grant.username"],
    }

    digest = StringField(required=True)
    kind = StringField(required=True, choices=("access", "refresh"))
    grant = EmbeddedDocumentField(AuthGrantDocument, required=True)
    issued_at = FloatField(required=True)
    expires_at = FloatField(required=True)
    family = StringField(required=True)
    revoked = BooleanField(default=False)

    @classmethod
    def of(cls, token: Token) -> AuthTokenDocument:
        return cls(
            digest=token.digest,
            kind=token.kind,
            grant=AuthGrantDocument.of(token.grant),
            issued_at=token.issued_at,
            expires_at=token.expires_at,
            family=token.family,
            revoked=token.revoked,
        )

    def record(self) -> Token:
        return Token(
            digest=self.digest,
            kind=self.kind,
            grant=self.grant.record(),
            issued_at=self.issued_at,
            expires_at=self.expires_at,
            family=self.family,
            revoked=self.revoked,
        )


class AuthJtiDocument(Document):  # type: ignore[misc]
    """A client assertion id seen at the token endpoint (private_key_jwt replay check)."""

    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_jti",
        "indexes": [_unique("client_id", "jti"), _TTL],
    }

    client_id = StringField(required=True)
    jti = StringField(required=True)
    expires_at = FloatField(required=True)
    purge_at = DateTimeField(required=True)


class AuthLaunchDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_launches",
        "indexes": [_unique("digest"), _TTL],
    }

    digest = StringField(required=True)
    client_id = StringField(required=True)
    patient = StringField()
    encounter = StringField()
    expires_at = FloatField(required=True)
    used = BooleanField(default=False)
    username = StringField()
    purge_at = DateTimeField(required=True)

    @classmethod
    def of(cls, launch: Launch) -> AuthLaunchDocument:
        return cls(
            digest=launch.digest,
            client_id=launch.client_id,
            patient=launch.patient,
            encounter=launch.encounter,
            expires_at=launch.expires_at,
            used=launch.used,
            username=launch.username,
            purge_at=purge_time(launch.expires_at),
        )

    def record(self) -> Launch:
        return Launch(
            digest=self.digest,
            client_id=self.client_id,
            patient=self.patient,
            encounter=self.encounter,
            expires_at=self.expires_at,
            used=self.used,
            username=self.username,
        )


class AuthSessionDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_sessions",
        "indexes": [_unique("digest"), _TTL],
    }

    digest = StringField(required=True)
    username = StringField(required=True)
    auth_time = FloatField(required=True)
    expires_at = FloatField(required=True)
    purge_at = DateTimeField(required=True)

    @classmethod
    def of(cls, session: Session) -> AuthSessionDocument:
        return cls(
            digest=session.digest,
            username=session.username,
            auth_time=session.auth_time,
            expires_at=session.expires_at,
            purge_at=purge_time(session.expires_at),
        )

    def record(self) -> Session:
        return Session(
            digest=self.digest,
            username=self.username,
            auth_time=self.auth_time,
            expires_at=self.expires_at,
        )


class AuthPendingDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_pending",
        "indexes": [_unique("digest"), _TTL],
    }

    digest = StringField(required=True)
    # The request's parameters in order, each a [name, value] pair (names may repeat).
    params = ListField(ListField(StringField()))
    expires_at = FloatField(required=True)
    username = StringField()
    patient = StringField()
    encounter = StringField()
    launched_by = StringField()
    purge_at = DateTimeField(required=True)

    @classmethod
    def of(cls, pending: Pending) -> AuthPendingDocument:
        return cls(
            digest=pending.digest,
            params=[[name, value] for name, value in pending.params],
            expires_at=pending.expires_at,
            username=pending.username,
            patient=pending.patient,
            encounter=pending.encounter,
            launched_by=pending.launched_by,
            purge_at=purge_time(pending.expires_at),
        )

    def record(self) -> Pending:
        return Pending(
            digest=self.digest,
            params=[(name, value) for name, value in self.params],
            expires_at=self.expires_at,
            username=self.username,
            patient=self.patient,
            encounter=self.encounter,
            launched_by=self.launched_by,
        )


class AuthResetDocument(Document):  # type: ignore[misc]
    """A password reset: at most one per account (a new one replaces the old)."""

    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_resets",
        "indexes": [_unique("digest"), _unique("username"), _TTL],
    }

    digest = StringField(required=True)
    username = StringField(required=True)
    expires_at = FloatField(required=True)
    purge_at = DateTimeField(required=True)

    @classmethod
    def of(cls, reset: PasswordReset) -> AuthResetDocument:
        return cls(
            digest=reset.digest,
            username=reset.username,
            expires_at=reset.expires_at,
            purge_at=purge_time(reset.expires_at),
        )

    def record(self) -> PasswordReset:
        return PasswordReset(digest=self.digest, username=self.username, expires_at=self.expires_at)


class AuthProxyGrantDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_proxy_grants",
        "indexes": [_unique("grant_id"), "grantee_dod_id", "patient_id"],
    }

    grant_id = StringField(required=True)
    patient_id = StringField(required=True)
    grantee_dod_id = StringField(required=True)
    created = FloatField(required=True)
    note = StringField(default="")
    revoked = FloatField()

    @classmethod
    def of(cls, grant: ProxyGrant) -> AuthProxyGrantDocument:
        return cls(
            grant_id=grant.id,
            patient_id=grant.patient_id,
            grantee_dod_id=grant.grantee_dod_id,
            created=grant.created,
            note=grant.note,
            revoked=grant.revoked,
        )

    def record(self) -> ProxyGrant:
        return ProxyGrant(
            id=self.grant_id,
            patient_id=self.patient_id,
            grantee_dod_id=self.grantee_dod_id,
            created=self.created,
            note=self.note,
            revoked=self.revoked,
        )


class AuthSigningKeyDocument(Document):  # type: ignore[misc]
    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "auth_keys",
        "indexes": [_unique("kid")],
    }

    kid = StringField(required=True)
    private_jwk = DictField(required=True)
    created = FloatField(required=True)
    retired_at = FloatField()

    @classmethod
    def of(cls, key: SigningKey) -> AuthSigningKeyDocument:
        return cls(
            kid=key.kid,
            private_jwk=key.private_jwk,
            created=key.created,
            retired_at=key.retired_at,
        )

    def record(self) -> SigningKey:
        return SigningKey(
            kid=self.kid,
            private_jwk=dict(self.private_jwk),
            created=self.created,
            retired_at=self.retired_at,
        )


class AuthAuditDocument(Document):  # type: ignore[misc]
    """One audit record in the trail's own collection. ``seq`` is its place in the trail
    (reserved a batch at a time from :class:`AuthCounterDocument`), so the trail reads back in
    the order it was written even when several servers append to it."""

    meta: ClassVar[dict[str, Any]] = {
        **_META,
        "collection": "audit",
        "indexes": [_unique("seq"), ("patient", "recorded"), "recorded"],
    }

    seq = IntField(required=True)
    recorded = FloatField(required=True)
    subject = StringField(required=True)
    role = StringField(required=True)
    client_id = StringField()
    patient = StringField()
    action = StringField(required=True)
    what = StringField(required=True)
    status = IntField(required=True)
    source = StringField()

    @classmethod
    def of(cls, record: AuditRecord, seq: int) -> AuthAuditDocument:
        return cls(seq=seq, **record._asdict())

    def record(self) -> AuditRecord:
        return AuditRecord(
            recorded=self.recorded,
            subject=self.subject,
            role=self.role,
            client_id=self.client_id,
            patient=self.patient,
            action=self.action,
            what=self.what,
            status=self.status,
            source=self.source,
        )


class AuthCounterDocument(Document):  # type: ignore[misc]
    """A named sequence (``$inc`` under find_one_and_update: atomic across servers)."""

    meta: ClassVar[dict[str, Any]] = {**_META, "collection": "auth_counters"}

    name = StringField(primary_key=True)
    value = IntField(default=0)


ALL_DOCUMENTS: tuple[type[Any], ...] = (
    AuthClientDocument,
    AuthUserDocument,
    AuthCodeDocument,
    AuthTokenDocument,
    AuthJtiDocument,
    AuthLaunchDocument,
    AuthSessionDocument,
    AuthPendingDocument,
    AuthResetDocument,
    AuthProxyGrantDocument,
    AuthSigningKeyDocument,
    AuthAuditDocument,
    AuthCounterDocument,
)
"""Every collection the store uses; the store creates their indexes when it opens."""
