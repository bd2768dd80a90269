"""Issuing real bearer tokens without a browser, for tests and benchmarks.

The token is stored exactly as the token endpoint stores one (its digest and its grant), so
the guard and every access decision treat it like any other; only the login and consent
pages are skipped. Never used by the server itself.
"""

from __future__ import annotations

import secrets
import time

from smart_auth.proxy import Link
from smart_auth.records import Grant, Role, Token, digest
from smart_auth.service import open_auth_store


def issue_token(
    database_url: str,
    *,
    scope: str,
    client_id: str = "test-client",
    role: Role = Role.SYSTEM,
    username: str | None = None,
    patient: str | None = None,
    fhir_user: str | None = None,
    links: tuple[Link, ...] = (),
    lifetime: float = 3600.0,
) -> str:
    """A new access token for this grant, stored in the database at ``database_url``."""
    token = secrets.token_urlsafe(32)
    now = time.time()
    grant = Grant(
        client_id=client_id,
        scope=scope,
        role=role,
        username=username,
        patient=patient,
        fhir_user=fhir_user,
        links=links,
    )
    store = open_auth_store(database_url)
    store.open()
    try:
        store.put_tokens(
            [
                Token(
                    digest=digest(token),
                    kind="access",
                    grant=grant,
                    issued_at=now,
                    expires_at=now + lifetime,
                    family=secrets.token_hex(16),
                )
            ]
        )
    finally:
        store.close()
    return token
