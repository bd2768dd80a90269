"""vread: ``GET [base]/[type]/[id]/_history/[vid]`` (https://hl7.org/fhir/R4/http.html#vread)."""

from __future__ import annotations

from fhir_server.errors import Gone, NotFound
from fhir_server.interactions.access import Permission, may_version
from fhir_server.interactions.common import check_type, etag
from fhir_server.interactions.context import Context, Outcome
from fhir_server.numbers import whole_number
from smart_auth.context import Interaction


async def vread(ctx: Context, *, type: str, id: str, vid: str) -> Outcome:
    ctx.access.require(Interaction.VREAD, type)
    check_type(type)
    version = whole_number(vid)
    if version is None:
        raise NotFound(f"{type}/{id} has no version {vid!r}")
    found = await ctx.store.vread(type, id, version)
    if found is None or not await may_version(ctx, Permission.READ, found):
        raise NotFound(f"{type}/{id} has no version {vid}")
    if found.deleted:
        raise Gone(
            f"version {vid} of {type}/{id} is a deletion", headers={"ETag": etag(found.version)}
        )
    return Outcome(status=200, version=found)
