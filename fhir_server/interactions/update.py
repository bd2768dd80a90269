"""update: ``PUT [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#update), including
update-as-create, and conditional update ``PUT [base]/[type]?criteria`` (http.html#cond-update).
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from fhir_server.ids import new_id
from fhir_server.interactions.access import Permission, may_version
from fhir_server.interactions.common import (
    check_body_type,
    check_if_match,
    check_type,
    conditional_matches,
    parse_etag,
    retrying,
    write_version,
)
from fhir_server.interactions.context import Context, Outcome, Preconditions
from fhir_server.resource_json import check_id
from smart_auth.context import Interaction


async def update(
    ctx: Context,
    *,
    type: str,
    id: str,
    resource: dict[str, Any],
    pre: Preconditions,
    fresh: bool = False,
) -> Outcome:
    """``fresh``: the id was just made by the server (conditional update creating), so an
    update-as-create tells nobody anything."""
    ctx.access.require(Interaction.UPDATE, type)
    check_type(type)
    check_id(id)
    check_body_type(resource, type)
    if resource.get("id") != id:
        raise BadRequest(
            f"the body's id ({resource.get('id')!r}) must equal the id in the URL ({id!r})",
            expression=(f"{type}.id",),
        )
    expected = None if pre.if_match is None else parse_etag(pre.if_match, header="If-Match")

    async def attempt() -> Outcome:
        current = await ctx.current(type, id)
        if current is not None and not await may_version(ctx, Permission.UPDATE, current):
            current = None
        # Update-as-create with a chosen id would tell a restricted token which ids exist
        # elsewhere (201 here, 404 there): such tokens create with POST.
        if (
            current is None
            and not fresh
            and ctx.access.restriction(Permission.UPDATE, type, base_url=ctx.base_url)
        ):
            raise NotFound(f"{type}/{id} is not known")
        check_if_match(expected, current, f"{type}/{id}")
        stored = await write_version(
            ctx, type=type, id=id, resource=resource, current=current, method="PUT"
        )
        if current is None or current.deleted:
            return Outcome(
                status=201,
                version=stored,
                location=ctx.url(type, id, "_history", str(stored.version)),
            )
        return Outcome(status=200, version=stored)

    return await retrying(attempt, retry=expected is None)


async def conditional_update(
    ctx: Context,
    *,
    type: str,
    query: str,
    resource: dict[str, Any],
    pre: Preconditions,
    assigned: bool = False,
) -> Outcome:
    """``assigned``: the body's id was made by the server (a transaction's conditional PUT)."""
    ctx.access.require(Interaction.UPDATE, type)
    check_type(type)
    check_body_type(resource, type)
    matches = await conditional_matches(ctx, type, query)
    body_id = resource.get("id")
    if len(matches) > 1:
        raise PreconditionFailed(
            f"the criteria match {len(matches)} {type} resources", code="multiple-matches"
        )
    if matches:
        found = matches[0]
        if body_id is not None and body_id != found.id:
            raise BadRequest(
                f"the body's id {body_id!r} differs from the matching {type}/{found.id}",
                expression=(f"{type}.id",),
            )
        return await update(
            ctx, type=type, id=found.id, resource={**resource, "id": found.id}, pre=pre
        )
    if body_id is None:
        made = new_id()
        return await update(
            ctx, type=type, id=made, resource={**resource, "id": made}, pre=pre, fresh=True
        )
    if not isinstance(body_id, str):
        raise BadRequest("the body's id must be a string", expression=(f"{type}.id",))
    existing = await ctx.current(type, body_id)
    if existing is not None and not await may_version(ctx, Permission.UPDATE, existing):
        existing = None  # what the token cannot see looks like what does not exist
    if existing is not None and not existing.deleted:
        raise Conflict(
            f"no {type} matches the criteria, but {type}/{body_id} exists and does not match"
        )
    return await update(ctx, type=type, id=body_id, resource=resource, pre=pre, fresh=assigned)
