"""Rules several interactions share: served types, ETags, If-Match, writing a new version.

Spec: https://hl7.org/fhir/R4/http.html#concurrency and https://hl7.org/fhir/R4/http.html#versioning
"""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any
from urllib.parse import parse_qsl

from fhir_server import indexing
from fhir_server.clock import now_instant
from fhir_server.errors import BadRequest, Conflict, Gone, NotFound, PreconditionFailed
from fhir_server.interactions.access import Permission, may_version, require_writable, scoped
from fhir_server.interactions.context import Context, Outcome, Prepared
from fhir_server.numbers import whole_number
from fhir_server.resource_json import dumps, parse_json, stamped
from fhir_server.search.parse import conditional
from fhir_server.storage import IndexRow, StoredVersion, VersionConflict, Write
from fhir_server.storage.records import Method
from fhir_server.validation import served_types, validate_resource
from fhir_server.workflows import Companion, Effects, workflow_for
from fhir_server.workflows.events import publish

_WRITE_PERMISSION: dict[Method, Permission] = {
    "POST": Permission.CREATE,
    "PUT": Permission.UPDATE,
    "PATCH": Permission.UPDATE,
    "DELETE": Permission.DELETE,
}
_ETAG = re.compile(r'^\s*(W/)?"([^"]*)"\s*$')
_RETRIES = 32


def check_type(type: str) -> None:
    """404 for a type this server does not serve (http.html: "resource type not supported")."""
    if type not in served_types():
        raise NotFound(f"resource type {type!r} is not supported by this server")


def check_body_type(resource: dict[str, Any], type: str) -> None:
    if resource.get("resourceType") != type:
        raise BadRequest(
            f"the body is a {resource.get('resourceType')!r} but the URL is for {type!r}",
            expression=("resourceType",),
        )


def etag(version: int) -> str:
    return f'W/"{version}"'


def parse_etag(value: str, *, header: str) -> int:
    """``W/"3"`` (or ``"3"``) -> 3; anything else is a 400 naming the header."""
    match = _ETAG.match(value)
    version = None if match is None else whole_number(match.group(2))
    if version is None:
        raise BadRequest(f'{header} must be an ETag like W/"3", not {value!r}', code="value")
    return version


def query_of(criteria: str) -> list[tuple[str, str]]:
    """If-None-Exist or a conditional URL's query part as (name, value) pairs."""
    return parse_qsl(criteria.split("?", 1)[-1], keep_blank_values=True)


async def conditional_matches(ctx: Context, type: str, criteria: str) -> list[StoredVersion]:
    """At most two resources matching conditional ``criteria`` (a query string): enough to
    tell none, one and several apart."""
    plan = conditional(type, query_of(criteria), base_url=ctx.base_url)
    return (await ctx.store.search(scoped(ctx, Permission.SEARCH, plan))).versions


def current_or_error(type: str, id: str, current: StoredVersion | None) -> StoredVersion:
    """The live version: 404 if never known, 410 if deleted."""
    if current is None:
        raise NotFound(f"{type}/{id} is not known")
    if current.deleted:
        raise Gone(f"{type}/{id} was deleted", headers={"ETag": etag(current.version)})
    return current


def check_if_match(expected: int | None, current: StoredVersion | None, what: str) -> None:
    if expected is None:
        return
    found = None if current is None else current.version
    if found != expected:
        raise PreconditionFailed(
            f"If-Match {etag(expected)} does not match the current version of {what}"
            f" ({'none' if found is None else etag(found)})",
            code="conflict",
        )


async def write_version(
    ctx: Context,
    *,
    type: str,
    id: str,
    resource: dict[str, Any] | None,
    current: StoredVersion | None,
    method: Method,
) -> StoredVersion:
    """Validate, stamp, index and store the next version (``resource=None``: a delete).

    The write is guarded by the version read in ``current``: if anybody wrote in between,
    the engine raises VersionConflict and nothing is stored.
    """
    permission = _WRITE_PERMISSION[method]
    if current is not None and not await may_version(ctx, permission, current):
        raise NotFound(f"{type}/{id} is not known")  # what the token cannot see, it cannot change
    # Workflow rules are for what callers ask; the server's own work (imports of
    # authoritative data, the command line) stores what it is given. The stored content is
    # parsed only for those who need it (a workflow, a restricted token's write check).
    workflow = None if ctx.access.own_work else workflow_for(type)
    before: dict[str, Any] | None = None
    if (workflow is not None or not ctx.access.unrestricted) and current and current.body:
        before = parse_json(current.body)
    effects: Effects | None = None
    if workflow is not None:
        effects = await workflow.effects(
            ctx, type=type, id=id, document=resource, before=before, method=method
        )
        resource = effects.document
    try:
        version = (current.version if current else 0) + 1
        last_updated = now_instant()
        body: bytes | None = None
        index: tuple[IndexRow, ...] | None = ()
        document: dict[str, Any] | None = None
        if resource is not None:
            document = stamped(resource, id=id, version=version, last_updated=last_updated)
            index = _checked(ctx, type, id, resource, document)
            if not ctx.access.unrestricted:
                require_writable(ctx, permission, type, document, before)
            body = dumps(document)
        writes = [
            Write(
                type=type,
                id=id,
                version=version,
                expected_version=current.version if current else None,
                last_updated=last_updated,
                method=method,
                body=body,
                index=index or (),
                index_base=ctx.base_url if index is None else None,  # the engine extracts
                document=document if index is None else None,
            )
        ]
        for companion in effects.companions if effects else ():
            writes.append(_companion_write(ctx, companion, last_updated))
        try:
            stored = await ctx.commit(writes)
        except VersionConflict as exc:
            if (exc.type, exc.id) == (type, id):
                raise
            raise Conflict(
                f"{exc.type}/{exc.id} changed while this write was made (someone else got there"
                " first); nothing was stored"
            ) from None
        for name, payload in effects.events if effects else ():
            await publish(name, payload)
        return stored[0]
    finally:
        if effects is not None:  # e.g. release an in-process Slot claim
            ctx.when_stored_or_refused(effects.close)


def _checked(
    ctx: Context, type: str, id: str, resource: dict[str, Any], document: dict[str, Any]
) -> tuple[IndexRow, ...] | None:
    """Validate ``document`` (``resource`` stamped as a version), or take it as validated,
    with its index rows, from ``ctx.prepared`` when that holds exactly this resource: those
    rows, else None (the engine extracts them, ``Write.index_base``)."""
    profile = ctx.required_profiles.get(type)
    ready = ctx.prepared.get((type, id))
    if ready is not None and ready.required_profile == profile and ready.resource == resource:
        return ready.index
    validate_resource(document, required_profile=profile)
    return None


def prepare(ctx: Context, type: str, id: str, resource: dict[str, Any]) -> Prepared:
    """Check and index ``resource`` as the write of ``type/id`` will, ahead of it.

    Validation and index extraction are most of a write's work and need nothing stored: done
    before a transaction (an import's batch), they keep it, and the store's write lock it
    holds, short. Neither depends on the version number or time the write stamps. Raises
    what the write would (422 naming the element).
    """
    document = stamped(resource, id=id, version=1, last_updated=now_instant())
    _checked(replace(ctx, prepared={}), type, id, resource, document)
    index = indexing.extract(document, base_url=ctx.base_url)
    return Prepared(resource, ctx.required_profiles.get(type), index)


def _companion_write(ctx: Context, companion: Companion, last_updated: str) -> Write:
    """A workflow's companion change, made by the server: validated and indexed like any
    write, guarded by the version the workflow read."""
    version = companion.current.version + 1
    document = stamped(
        companion.document, id=companion.id, version=version, last_updated=last_updated
    )
    validate_resource(document)
    return Write(
        type=companion.type,
        id=companion.id,
        version=version,
        expected_version=companion.current.version,
        last_updated=last_updated,
        method="PUT",
        body=dumps(document),
        index_base=ctx.base_url,
        document=document,
    )


async def retrying(attempt: Callable[[], Awaitable[Outcome]], *, retry: bool = True) -> Outcome:
    """Run ``attempt`` again when a concurrent writer got there first (no If-Match given).

    With If-Match, a lost race is the client's 412. Between tries it waits a little, longer
    each time, so that many writers of one resource all get through.
    """
    tries = _RETRIES if retry else 1
    for remaining in range(tries - 1, -1, -1):
        try:
            return await attempt()
        except VersionConflict as exc:
            if remaining:
                await asyncio.sleep(random.uniform(0, 0.001) * (tries - remaining))
                continue
            if not retry:
                raise PreconditionFailed(
                    f"{exc.type}/{exc.id} changed since version {exc.expected}", code="conflict"
                ) from None
            raise Conflict(f"{exc.type}/{exc.id} is being changed by others; try again") from None
    raise AssertionError("unreachable")  # pragma: no cover
