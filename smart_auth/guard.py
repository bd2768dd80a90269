"""The guard: one request's credentials -> its AccessContext. Called once per request.

A bearer token (RFC 6750) issued by this server's authorization server, looked up by its digest:
no token is 401 with ``WWW-Authenticate: Bearer``; an unknown, expired or revoked one is 401
``invalid_token``. A server started with ``--insecure-no-auth`` hands out the open-server
context instead, and says so loudly at start-up and in its CapabilityStatement.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from fhir_server.errors import Unauthorized
from smart_auth.context import AccessContext
from smart_auth.records import AuthStore, digest
from smart_auth.scopes import parse_scopes


def access_for(headers: Mapping[str, str], auth: AuthStore | None) -> AccessContext:
    """The access context for a request with these headers; ``auth`` None: no authorization."""
    if auth is None:
        return AccessContext.open_server()
    value = headers.get("authorization", "")
    scheme, _, credentials = value.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthorized(
            "this server needs an access token: Authorization: Bearer <token>",
            headers={"WWW-Authenticate": 'Bearer realm="mhs-fhir"'},
        )
    token_digest = digest(credentials.strip())
    token = auth.get_token(token_digest)
    if token is None or token.kind != "access" or not token.is_active(time.time()):
        raise Unauthorized(
            "the access token is not active (unknown, expired or revoked)",
            headers={
                "WWW-Authenticate": 'Bearer realm="mhs-fhir", error="invalid_token",'
                ' error_description="the access token is not active"'
            },
        )
    grant = token.grant
    return AccessContext(
        subject=grant.username or f"client {grant.client_id}",
        unrestricted=False,
        scopes=parse_scopes(grant.scope),
        client_id=grant.client_id,
        username=grant.username,
        patient=grant.patient,
        fhir_user=grant.fhir_user,
        role=grant.role,
        links=grant.links,
        binding=token_digest,
    )
