"""Applying the access context's restriction at every door.

:meth:`smart_auth.context.AccessContext.restriction` says, as a search condition, which
resources a permission reaches. Here it is applied: searches get it in their plan (also inside
chains and ``_has``, so a criterion never probes what the token cannot see), and single
resources (reads, versions, includes, history entries, writes before and after) are matched
against it with the same matcher the search tests use as their oracle. What a token cannot see
looks exactly like what does not exist (404); a write that would put a resource where the token
cannot reach is 403.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from fhir_server.errors import Forbidden
from fhir_server.indexing import extract
from fhir_server.interactions.context import Context
from fhir_server.resource_json import parse_json
from fhir_server.search.matcher import Matcher, params_of
from fhir_server.search.plan import AllOf, AnyOf, Chain, Condition, Has, SearchPlan, TypeIn
from fhir_server.search.registry import compartment_params, lookup
from fhir_server.storage import StoredVersion
from fhir_server.storage.records import ReferenceRow
from smart_auth.proxy import DEERS_OWNED_PATIENT_ELEMENTS, DEERS_OWNED_TYPES
from smart_auth.scopes import Permission

__all__ = [
    "Permission",
    "bind_cursor",
    "may",
    "may_version",
    "require_writable",
    "scoped",
    "scoped_conditions",
    "unbind_cursors",
]


def scoped(ctx: Context, permission: Permission, plan: SearchPlan) -> SearchPlan:
    """``plan`` narrowed to what ``ctx`` may ``permission``."""
    if ctx.access.unrestricted:
        return plan
    conditions = scoped_conditions(ctx, permission, plan.types, plan.conditions)
    return plan if conditions == plan.conditions else replace(plan, conditions=conditions)


def scoped_conditions(
    ctx: Context, permission: Permission, types: Sequence[str], conditions: Sequence[Condition]
) -> tuple[Condition, ...]:
    """``conditions`` on ``types`` plus the access restriction, also inside chains and
    ``_has`` (where the searched type is the chain's target or the ``_has`` source)."""
    out = [_descend(ctx, c) for c in conditions]
    restrictions = {t: ctx.access.restriction(permission, t, base_url=ctx.base_url) for t in types}
    if all(r is None for r in restrictions.values()):
        return tuple(out)
    if len(types) == 1:
        only = restrictions[types[0]]
        assert only is not None
        out.append(only)
    else:
        out.append(
            AnyOf(
                tuple(
                    TypeIn((t,)) if r is None else AllOf((TypeIn((t,)), r))
                    for t, r in restrictions.items()
                )
            )
        )
    return tuple(out)


def _descend(ctx: Context, c: Condition) -> Condition:
    if isinstance(c, Chain):
        where = scoped_conditions(ctx, Permission.SEARCH, (c.target_type,), c.where)
        return Chain(c.param, c.target_type, where)
    if isinstance(c, Has):
        where = scoped_conditions(ctx, Permission.SEARCH, (c.source_type,), c.where)
        return Has(c.source_type, c.param, where)
    if isinstance(c, AnyOf):
        return AnyOf(tuple(_descend(ctx, sub) for sub in c.conditions))
    if isinstance(c, AllOf):
        return AllOf(tuple(_descend(ctx, sub) for sub in c.conditions))
    return c


def may(ctx: Context, permission: Permission, type: str, resource: dict[str, Any]) -> bool:
    """Whether ``ctx`` may ``permission`` this resource content."""
    if ctx.access.unrestricted:
        return True
    restriction = ctx.access.restriction(permission, type, base_url=ctx.base_url)
    if restriction is None:
        return True
    key = (type, str(resource.get("id", "")))
    try:
        matcher = Matcher({key: resource}, base_url=ctx.base_url, only=params_of([restriction]))
        return matcher.holds(key, restriction)
    except TypeError:
        return False  # a restriction the single-resource matcher cannot judge: no


async def may_version(ctx: Context, permission: Permission, version: StoredVersion) -> bool:
    """Whether ``ctx`` may ``permission`` this stored version; a deletion is judged by the
    version it deleted."""
    if ctx.access.unrestricted:
        return True
    if version.body is not None:
        return may(ctx, permission, version.type, parse_json(version.body))
    if version.version <= 1:
        return False
    before = await ctx.store.vread(version.type, version.id, version.version - 1)
    return before is not None and await may_version(ctx, permission, before)


def require_writable(
    ctx: Context,
    permission: Permission,
    type: str,
    resource: dict[str, Any],
    before: dict[str, Any] | None,
) -> None:
    """403 unless ``ctx`` may ``permission`` a resource with this content: within its reach,
    in no patient's compartment beyond it (a write can neither reference nor move a resource
    into another patient's record), and, for a beneficiary, leaving the facts the proxy rules
    read as they were (``before``: the content being replaced)."""
    refused = Forbidden(f"this token may not {permission.name.lower()} such a {type} resource")
    if ctx.access.unrestricted:
        return
    if not may(ctx, permission, type, resource):
        raise refused
    reached = ctx.access.patients_reached(permission, type)
    if reached is not None and not _compartments_of(ctx, type, resource) <= reached:
        raise refused
    if ctx.access.is_beneficiary:
        if type in DEERS_OWNED_TYPES or (type == "Patient" and before is None):
            raise Forbidden(f"{type} facts come from eligibility data; they cannot be written here")
        if type == "Patient" and before is not None:
            for element in DEERS_OWNED_PATIENT_ELEMENTS:
                if resource.get(element) != before.get(element):
                    raise Forbidden(
                        f"Patient.{element} comes from eligibility data; it cannot change here"
                    )


def _compartments_of(ctx: Context, type: str, resource: dict[str, Any]) -> set[str]:
    """The ids of every Patient whose compartment this content is in."""
    keys = set()
    for code in compartment_params(type):
        param = lookup(type, code)
        if param is not None and param.indexed:
            keys.add(param.key)
    out = {
        row.id
        for row in extract(resource, base_url=ctx.base_url, only=keys)
        if isinstance(row, ReferenceRow) and row.type == "Patient" and row.id
    }
    if type == "Patient" and resource.get("id"):
        out.add(str(resource["id"]))
    return out


# -- paging links belong to the token that made them --------------------------------------------


def _mac(binding: str, cursor: str) -> str:
    return hmac.new(binding.encode(), cursor.encode(), hashlib.sha256).hexdigest()[:22]


def bind_cursor(ctx: Context, cursor: str) -> str:
    """A paging cursor only the same token can follow (``cursor.mac``)."""
    binding = ctx.access.binding
    return cursor if binding is None else f"{cursor}.{_mac(binding, cursor)}"


def unbind_cursors(ctx: Context, params: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``params`` with each ``_cursor`` checked against this token and reduced to the bare
    cursor; 403 when a link made for another token (or none) is followed with this one."""
    binding = ctx.access.binding
    out = []
    for name, value in params:
        if name == "_cursor":
            cursor, _, mac = value.partition(".")
            if binding is not None and not hmac.compare_digest(mac, _mac(binding, cursor)):
                raise Forbidden("this paging link was made for another access token")
            value = cursor
        out.append((name, value))
    return out
