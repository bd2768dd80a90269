"""$validate: ``[type]/$validate`` and ``[type]/[id]/$validate``
(https://hl7.org/fhir/R4/resource-operation-validate.html).

The resource (the body, a Parameters ``resource``, or for an instance without a body the stored
one) is checked as a write would check it, against the base rules and the MHS profiles it
claims, plus the ``profile`` asked for. ``mode`` create/update checks as such a write would;
delete checks only that the resource exists and may be deleted. The answer is always an
OperationOutcome with 200: errors are in its issues, or one informational issue says valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fhir_server.errors import BadRequest, FhirError, Issue, NotFound
from fhir_server.interactions.access import Permission, may_version
from fhir_server.interactions.common import check_type
from fhir_server.interactions.context import Context, Outcome
from fhir_server.resource_json import parse_json, stamped
from fhir_server.validation import validate_resource
from smart_auth.context import Interaction

MODES = ("create", "update", "delete")


def _parameters(body: dict[str, Any]) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """(resource, mode, profile) from a Parameters body."""
    resource = mode = profile = None
    for parameter in body.get("parameter") or []:
        name = parameter.get("name")
        if name == "resource":
            resource = parameter.get("resource")
        elif name == "mode":
            mode = parameter.get("valueCode") or parameter.get("valueString")
        elif name == "profile":
            profile = parameter.get("valueUri") or parameter.get("valueCanonical")
    return resource, mode, profile


async def validate(
    ctx: Context,
    *,
    type: str,
    id: str | None,
    body: dict[str, Any] | None,
    params: Sequence[tuple[str, str]],
) -> Outcome:
    check_type(type)
    query = dict(params)
    resource, mode, profile = body, query.get("mode"), query.get("profile")
    if body is not None and body.get("resourceType") == "Parameters":
        resource, body_mode, body_profile = _parameters(body)
        mode, profile = body_mode or mode, body_profile or profile
    if mode is not None and mode not in MODES:
        raise BadRequest(f"mode must be one of {', '.join(MODES)}, not {mode!r}", code="value")
    if mode == "delete" or (resource is None and id is not None):
        ctx.access.require(Interaction.READ, type)
        if id is None:
            raise BadRequest("mode=delete needs an instance: [type]/[id]/$validate")
        current = await ctx.current(type, id)
        permission = Permission.DELETE if mode == "delete" else Permission.READ
        if (
            current is None
            or current.body is None
            or not await may_version(ctx, permission, current)
        ):
            raise NotFound(f"{type}/{id} is not known")
        if mode == "delete":
            return _valid()
        resource = parse_json(current.body)
    if not isinstance(resource, dict):
        raise BadRequest("$validate needs a resource (the body, or a Parameters 'resource')")
    if resource.get("resourceType") != type:
        raise BadRequest(f"the resource is a {resource.get('resourceType')!r}, not a {type}")
    ctx.access.require(Interaction.UPDATE if mode == "update" else Interaction.CREATE, type)
    document = stamped(
        resource,
        id=id or str(resource.get("id") or "validate"),
        version=1,
        last_updated="1970-01-01T00:00:00.000Z",
    )
    try:
        validate_resource(document, required_profile=profile or ctx.required_profiles.get(type))
    except FhirError as error:
        return Outcome(status=200, body=_outcome(error.issues))
    return _valid()


def _valid() -> Outcome:
    return Outcome(
        status=200,
        body=_outcome((Issue(code="informational", diagnostics="valid", severity="information"),)),
    )


def _outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    return {"resourceType": "OperationOutcome", "issue": [i.to_json() for i in issues]}
