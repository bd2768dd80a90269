"""delete: ``DELETE [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#delete), and
conditional delete ``DELETE [base]/[type]?criteria`` of a single match (http.html#cdelete).

A delete is a new version with no body; deleting a deleted or unknown resource changes nothing.
"""

from __future__ import annotations

from fhir_server.errors import Issue, PreconditionFailed
from fhir_server.interactions.access import Permission, may_version
from fhir_server.interactions.common import (
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


def _info(message: str) -> tuple[Issue, ...]:
    return (Issue(code="informational", diagnostics=message, severity="information"),)


async def delete(ctx: Context, *, type: str, id: str, pre: Preconditions) -> Outcome:
    ctx.access.require(Interaction.DELETE, type)
    check_type(type)
    check_id(id)
    expected = None if pre.if_match is None else parse_etag(pre.if_match, header="If-Match")

    async def attempt() -> Outcome:
        current = await ctx.current(type, id)
        if current is not None and not await may_version(ctx, Permission.DELETE, current):
            current = None  # what the token cannot see looks like what does not exist
        check_if_match(expected, current, f"{type}/{id}")
        if current is None:
            return Outcome(status=200, issues=_info(f"{type}/{id} is not known; nothing deleted"))
        if current.deleted:
            return Outcome(
                status=200,
                version=current,
                issues=_info(f"{type}/{id} was already deleted"),
            )
        stored = await write_version(
            ctx, type=type, id=id, resource=None, current=current, method="DELETE"
        )
        return Outcome(
            status=200,
            version=stored,
            issues=_info(f"deleted {type}/{id} (version {stored.version} is the deletion)"),
        )

    return await retrying(attempt, retry=expected is None)


async def conditional_delete(ctx: Context, *, type: str, query: str, pre: Preconditions) -> Outcome:
    ctx.access.require(Interaction.DELETE, type)
    check_type(type)
    matches = await conditional_matches(ctx, type, query)
    if len(matches) > 1:
        raise PreconditionFailed(
            f"the criteria match {len(matches)} {type} resources; this server deletes one at a"
            " time",
            code="multiple-matches",
        )
    if not matches:
        return Outcome(status=200, issues=_info(f"no {type} matches; nothing deleted"))
    return await delete(ctx, type=type, id=matches[0].id, pre=pre)
