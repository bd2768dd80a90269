"""create: ``POST [base]/[type]`` (https://hl7.org/fhir/R4/http.html#create), and
conditional create with If-None-Exist (http.html#ccreate)."""

from __future__ import annotations

from typing import Any

from fhir_server.errors import PreconditionFailed
from fhir_server.ids import new_id
from fhir_server.interactions.common import (
    check_body_type,
    check_type,
    conditional_matches,
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
        matches = await conditional_matches(ctx, type, pre.if_none_exist)
        if len(matches) > 1:
            raise PreconditionFailed(
                f"If-None-Exist matches {len(matches)} {type} resources",
                code="multiple-matches",
            )
        if matches:
            return Outcome(status=200, version=matches[0])
    assigned = id or new_id()
    stored = await write_version(
        ctx, type=type, id=assigned, resource=resource, current=None, method="POST"
    )
    return Outcome(
        status=201,
        version=stored,
        location=ctx.url(type, assigned, "_history", str(stored.version)),
    )
