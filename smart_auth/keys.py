"""The server's signing keys (RS256, for id_tokens): persisted, rotated, published as a JWKS.

The newest key signs. ``mhs-fhir keys rotate`` adds a key and retires the others; a retired key
stays in the JWKS for :data:`RETIRED_KEY_GRACE` seconds, longer than any token it signed lives.
"""

from __future__ import annotations

import secrets
import time
from typing import Any

from joserfc import jwt
from joserfc.jwk import RSAKey

from smart_auth.records import AuthStore, SigningKey

ALGORITHM = "RS256"
RETIRED_KEY_GRACE = 24 * 3600.0


def _new_key(now: float) -> SigningKey:
    kid = secrets.token_urlsafe(12)
    key = RSAKey.generate_key(
        2048, parameters={"kid": kid, "use": "sig", "alg": ALGORITHM}, private=True
    )
    return SigningKey(kid=kid, private_jwk=dict(key.as_dict(private=True)), created=now)


def rotate(store: AuthStore, *, now: float | None = None) -> SigningKey:
    """Add a new signing key and retire the others (they stay published for a grace period)."""
    moment = time.time() if now is None else now
    key = _new_key(moment)
    store.put_key(key)
    store.retire_keys(except_kid=key.kid, at=moment)
    return key


def signing_key(store: AuthStore) -> SigningKey:
    """The key that signs now; the first call on a new database creates one."""
    live = [k for k in store.signing_keys() if k.retired_at is None]
    if live:
        return live[-1]
    return rotate(store)


def jwks(store: AuthStore, *, now: float | None = None) -> dict[str, Any]:
    """The public JWKS: the signing key and retired keys still within their grace period."""
    moment = time.time() if now is None else now
    signing_key(store)
    published = [
        k
        for k in store.signing_keys()
        if k.retired_at is None or moment - k.retired_at < RETIRED_KEY_GRACE
    ]
    return {
        "keys": [dict(RSAKey.import_key(k.private_jwk).as_dict(private=False)) for k in published]
    }


def sign(store: AuthStore, claims: dict[str, Any]) -> str:
    """A compact JWS of ``claims`` with the current key, ``kid`` in the header."""
    key = signing_key(store)
    return jwt.encode(
        {"alg": ALGORITHM, "kid": key.kid, "typ": "JWT"},
        claims,
        RSAKey.import_key(key.private_jwk),
    )
