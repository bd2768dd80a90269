"""patch: ``PATCH [base]/[type]/[id]`` with a JSON Patch (RFC 6902) document
(https://hl7.org/fhir/R4/http.html#patch), and conditional patch ``PATCH [base]/[type]?criteria``.
"""

from __future__ import annotations

from typing import Any

import jsonpatch

from fhir_server.errors import BadRequest, PreconditionFailed, Unprocessable
from fhir_server.interactions.access import Permission, may_version
from fhir_server.interactions.common import (
    check_if_match,
    check_type,
    conditional_matches,
    current_or_error,
    parse_etag,
    retrying,
    write_version,
)
from fhir_server.interactions.context import Context, Outcome, Preconditions
from fhir_server.resource_json import parse_json
from smart_auth.context import Interaction


def _check_operations(operations: Any) -> list[dict[str, Any]]:
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise BadRequest("a JSON Patch is a JSON array of operation objects", code="structure")
    for i, op in enumerate(operations):
        if op.get("op") not in {"add", "remove", "replace", "move", "copy", "test"}:
            raise BadRequest(f"operation {i} has no valid 'op'", code="structure")
        if not isinstance(op.get("path"), str):
            raise BadRequest(f"operation {i} has no 'path'", code="structure")
    return operations


def _patched(document: dict[str, Any], operations: list[dict[str, Any]]) -> dict[str, Any]:
    try:
        result = jsonpatch.apply_patch(document, operations)
    except jsonpatch.JsonPatchTestFailed as exc:
        raise Unprocessable(f"a JSON Patch 'test' failed: {exc}", code="processing") from None
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException) as exc:
        raise Unprocessable(f"the JSON Patch cannot be applied: {exc}", code="processing") from None
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise Unprocessable(f"the JSON Patch cannot be applied: {exc}", code="processing") from None
    if not isinstance(result, dict):
        raise Unprocessable("the patched document is not a resource", code="processing")
    return result


async def patch(
    ctx: Context, *, type: str, id: str, operations: Any, pre: Preconditions
) -> Outcome:
    ctx.access.require(Interaction.PATCH, type)
    check_type(type)
    ops = _check_operations(operations)
    expected = None if pre.if_match is None else parse_etag(pre.if_match, header="If-Match")

    async def attempt() -> Outcome:
        current = await ctx.current(type, id)
        if current is not None and not await may_version(ctx, Permission.UPDATE, current):
            current = None  # what the token cannot see looks like what does not exist
        current = current_or_error(type, id, current)
        check_if_match(expected, current, f"{type}/{id}")
        assert current.body is not None
        result = _patched(parse_json(current.body), ops)
        if result.get("resourceType") != type or result.get("id") != id:
            raise Unprocessable("a patch must not change resourceType or id", code="processing")
        stored = await write_version(
            ctx, type=type, id=id, resource=result, current=current, method="PATCH"
        )
        return Outcome(status=200, version=stored)

    return await retrying(attempt, retry=expected is None)


async def conditional_patch(
    ctx: Context, *, type: str, query: str, operations: Any, pre: Preconditions
) -> Outcome:
    ctx.access.require(Interaction.PATCH, type)
    check_type(type)
    matches = await conditional_matches(ctx, type, query)
    if len(matches) != 1:
        raise PreconditionFailed(
            f"conditional patch needs exactly one match; the criteria match {len(matches)}",
            code="multiple-matches" if matches else "not-found",
        )
    return await patch(ctx, type=type, id=matches[0].id, operations=operations, pre=pre)
