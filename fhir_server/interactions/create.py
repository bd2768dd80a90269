"""create: ``POST [base]/[type]`` (https://hl7.org/fhir/R4/http.html#create), and
conditional create with If-None-Exist (http.html#ccreate)."""

from __future__ import annotations

import hashlib
from typing import Any

from fhir_server.errors import PreconditionFailed
from fhir_server.ids import new_id
from fhir_server.interactions.common import (
    check_body_type,
    check_type,
    conditional_matches,
    retrying,
    write_version,
)
from fhir_server.interactions.context import Context, Outcome, Preconditions
from smart_auth.context import Interaction


async def create(
    ctx: Context,
    *,
    type: str,
    resource: dict[str, Any],
    pre: Preconditions,
    id: str | None = None,
) -> Outcome:
    """Store ``resource`` under a new server id; the body's id and meta are ignored.

    ``id`` is only for a transaction that assigns ids to ``urn:uuid:`` entries up front.
    """
    ctx.access.require(Interaction.CREATE, type)
    check_type(type)
    check_body_type(resource, type)
    if pre.if_none_exist is not None:
        criteria = pre.if_none_exist
        if ctx.after_transaction is not None:  # a Bundle entry: its transaction decides
            return await _create_if_none_exist(ctx, type, resource, criteria, id)
        return await retrying(lambda: _create_if_none_exist(ctx, type, resource, criteria, id))
    return await _create(ctx, type, resource, id)


async def _create_if_none_exist(
    ctx: Context, type: str, resource: dict[str, Any], criteria: str, id: str | None
) -> Outcome:
    """The match and the create in one transaction, guarded by the criteria: of clients
    racing with the same If-None-Exist, one creates and the others find what it created."""
    async with ctx.transaction() as tx:
        digest = hashlib.sha256(criteria.encode()).hexdigest()
        await tx.store.guard(type, f"create {type}?{digest}")
        matches = await conditional_matches(tx, type, criteria)
        if len(matches) > 1:
            raise PreconditionFailed(
                f"If-None-Exist matches {len(matches)} {type} resources",
                code="multiple-matches",
            )
        if matches:
            return Outcome(status=200, version=matches[0])
        return await _create(tx, type, resource, id)


async def _create(ctx: Context, type: str, resource: dict[str, Any], id: str | None) -> Outcome:
    assigned = id or new_id()
    stored = await write_version(
        ctx, type=type, id=assigned, resource=resource, current=None, method="POST"
    )
    return Outcome(
        status=201,
        version=stored,
        location=ctx.url(type, assigned, "_history", str(stored.version)),
    )
