"""read: ``GET [base]/[type]/[id]`` (https://hl7.org/fhir/R4/http.html#read), with the
conditional read of If-None-Match and If-Modified-Since (http.html#cread)."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from fhir_server.clock import parse_instant
from fhir_server.interactions.access import Permission, may_version
from fhir_server.interactions.common import check_type, current_or_error, etag
from fhir_server.interactions.context import Context, Outcome, Preconditions
from fhir_server.storage import StoredVersion
from smart_auth.context import Interaction


def not_modified(current: StoredVersion, pre: Preconditions) -> bool:
    if pre.if_none_match is not None:
        tags = {tag.strip() for tag in pre.if_none_match.split(",")}
        mine = etag(current.version)
        return "*" in tags or mine in tags or mine.removeprefix("W/") in tags
    if pre.if_modified_since is not None:
        since = _http_or_fhir_date(pre.if_modified_since)
        if since is None:  # RFC 9110 13.1.3: an invalid date is ignored
            return False
        # HTTP dates have whole seconds: compare at that precision.
        changed = parse_instant(current.last_updated).replace(microsecond=0)
        return changed <= since
    return False


def _http_or_fhir_date(value: str) -> datetime | None:
    try:
        return parse_instant(value)
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


async def read(ctx: Context, *, type: str, id: str, pre: Preconditions) -> Outcome:
    ctx.access.require(Interaction.READ, type)
    check_type(type)
    current = await ctx.current(type, id)
    if current is not None and not await may_version(ctx, Permission.READ, current):
        current = None  # what the token cannot see looks like what does not exist
    current = current_or_error(type, id, current)
    if not_modified(current, pre):
        return Outcome(status=304, version=current)
    return Outcome(status=200, version=current)
