"""batch and transaction: ``POST [base]`` with a Bundle
(https://hl7.org/fhir/R4/http.html#transaction).

- batch: each entry on its own; a failing entry gets its OperationOutcome, the rest go on.
- transaction: all or nothing, processed in the order DELETE, POST, PUT/PATCH, GET/HEAD;
  ``urn:uuid:`` fullUrls get server ids and every reference to them is rewritten; conditional
  references (``Patient?identifier=...``) are resolved to their single match; every write is
  stored in one atomic engine write at the end.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

import orjson

from fhir_server.errors import BadRequest, FhirError, MethodNotAllowed, NotFound, PayloadTooLarge
from fhir_server.ids import new_id
from fhir_server.interactions.bundles import embedded, new_bundle, status_line
from fhir_server.interactions.capabilities import capabilities
from fhir_server.interactions.common import check_type, conditional_matches, etag, query_of
from fhir_server.interactions.context import Context, Outcome, Preconditions
from fhir_server.interactions.create import create
from fhir_server.interactions.delete import conditional_delete, delete
from fhir_server.interactions.history import history
from fhir_server.interactions.patch import conditional_patch, patch
from fhir_server.interactions.read import read
from fhir_server.interactions.search import compartment_types, search, system_types
from fhir_server.interactions.update import conditional_update, update
from fhir_server.interactions.vread import vread
from fhir_server.resource_json import dumps, with_references
from smart_auth.context import Interaction

_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


@dataclass(slots=True, kw_only=True)
class Entry:
    index: int
    method: str
    url: str
    full_url: str | None
    resource: dict[str, Any] | None
    pre: Preconditions
    assigned_id: str | None = None

    @property
    def path(self) -> list[str]:
        return [unquote(p) for p in self.url.split("?", 1)[0].strip("/").split("/") if p]

    @property
    def query(self) -> str | None:
        return self.url.split("?", 1)[1] if "?" in self.url else None


def _entry(ctx: Context, index: int, raw: Any) -> Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(raw, dict):
        raise BadRequest(f"{where} is not an object", expression=(where,))
    request = raw.get("request")
    if not isinstance(request, dict):
        raise BadRequest(f"{where} has no request", expression=(f"{where}.request",))
    method, url = request.get("method"), request.get("url")
    if method not in _ORDER:
        raise BadRequest(
            f"{where}.request.method {method!r} is not valid",
            expression=(f"{where}.request.method",),
        )
    if not isinstance(url, str) or not url:
        raise BadRequest(f"{where}.request.url is missing", expression=(f"{where}.request.url",))
    base = ctx.base_url.rstrip("/") + "/"
    if url.startswith(base):
        url = url[len(base) :]
    resource = raw.get("resource")
    if resource is not None and not isinstance(resource, dict):
        raise BadRequest(f"{where}.resource is not an object", expression=(f"{where}.resource",))
    if method in ("POST", "PUT", "PATCH") and resource is None:
        raise BadRequest(f"{where} ({method}) has no resource", expression=(f"{where}.resource",))
    full_url = raw.get("fullUrl")
    pre = Preconditions(
        if_match=request.get("ifMatch"),
        if_none_match=request.get("ifNoneMatch"),
        if_modified_since=request.get("ifModifiedSince"),
        if_none_exist=request.get("ifNoneExist"),
    )
    return Entry(
        index=index,
        method=method,
        url=url,
        full_url=full_url if isinstance(full_url, str) else None,
        resource=resource,
        pre=pre,
    )


def _patch_operations(resource: dict[str, Any]) -> Any:
    """A PATCH entry carries its JSON Patch as a Binary (http.html#transaction)."""
    if resource.get("resourceType") != "Binary" or "json-patch" not in str(
        resource.get("contentType")
    ):
        raise BadRequest(
            "a PATCH entry needs a Binary resource with a JSON Patch (application/json-patch+json)"
        )
    try:
        return orjson.loads(base64.b64decode(str(resource.get("data", "")), validate=True))
    except (binascii.Error, orjson.JSONDecodeError):
        raise BadRequest("the PATCH entry's Binary.data is not a base64 JSON Patch") from None


async def dispatch(ctx: Context, entry: Entry, *, strict: bool) -> Outcome:
    """Run one entry's request through the same interactions as the HTTP API."""
    path, query, method, pre = entry.path, entry.query, entry.method, entry.pre
    if method in ("GET", "HEAD"):
        params = query_of(query) if query else []
        if path == ["metadata"]:
            return await capabilities(ctx, params=params)
        if path == ["_history"]:
            return await history(ctx, type=None, id=None, params=params)
        if not path:
            return await search(
                ctx, types=system_types(params), params=params, strict=strict, path=""
            )
        if len(path) == 1:
            return await search(ctx, types=path[0:1], params=params, strict=strict, path=path[0])
        if len(path) == 2 and path[1] == "_history":
            return await history(ctx, type=path[0], id=None, params=params)
        if len(path) == 2:
            return await read(ctx, type=path[0], id=path[1], pre=pre)
        if len(path) == 3 and path[2] == "_history":
            return await history(ctx, type=path[0], id=path[1], params=params)
        if len(path) == 4 and path[2] == "_history":
            return await vread(ctx, type=path[0], id=path[1], vid=path[3])
        if len(path) == 3:
            types = compartment_types() if path[2] == "*" else path[2:3]
            return await search(
                ctx,
                types=types,
                params=params,
                strict=strict,
                path="/".join(path),
                compartment=(path[0], path[1]),
            )
    elif method == "POST" and len(path) == 1 and entry.resource is not None:
        return await create(
            ctx, type=path[0], resource=entry.resource, pre=pre, id=entry.assigned_id
        )
    elif method == "PUT" and entry.resource is not None:
        if len(path) == 2:
            return await update(ctx, type=path[0], id=path[1], resource=entry.resource, pre=pre)
        if len(path) == 1 and query:
            return await conditional_update(
                ctx,
                type=path[0],
                query=query,
                resource=entry.resource,
                pre=pre,
                assigned=entry.assigned_id is not None,
            )
    elif method == "PATCH" and entry.resource is not None:
        operations = _patch_operations(entry.resource)
        if len(path) == 2:
            return await patch(ctx, type=path[0], id=path[1], operations=operations, pre=pre)
        if len(path) == 1 and query:
            return await conditional_patch(
                ctx, type=path[0], query=query, operations=operations, pre=pre
            )
    elif method == "DELETE":
        if len(path) == 2:
            return await delete(ctx, type=path[0], id=path[1], pre=pre)
        if len(path) == 1 and query:
            return await conditional_delete(ctx, type=path[0], query=query, pre=pre)
    if path and method != "GET":
        raise MethodNotAllowed(f"{method} {entry.url} is not a FHIR interaction")
    raise NotFound(f"{entry.url!r} is not a FHIR endpoint")


def _response_entry(
    ctx: Context, entry: Entry, outcome: Outcome, *, prefer: str | None
) -> dict[str, Any]:
    """A response entry; reads carry their resource, writes only under return=representation."""
    response: dict[str, Any] = {"status": status_line(outcome.status)}
    out: dict[str, Any] = {}
    version = outcome.version
    if version is not None:
        out["fullUrl"] = ctx.url(version.type, version.id)
        response["etag"] = etag(version.version)
        response["lastModified"] = version.last_updated
        if outcome.location:
            response["location"] = f"{version.type}/{version.id}/_history/{version.version}"
    wants_resource = entry.method in ("GET", "HEAD") or prefer == "representation"
    if outcome.body is not None:
        out["resource"] = outcome.body
    elif wants_resource and version is not None and version.body and outcome.status != 304:
        out["resource"] = embedded(version)
    if prefer == "OperationOutcome" and outcome.issues:
        response["outcome"] = {
            "resourceType": "OperationOutcome",
            "issue": [i.to_json() for i in outcome.issues],
        }
    out["response"] = response
    return out


def _error_entry(error: FhirError) -> dict[str, Any]:
    return {
        "response": {
            "status": status_line(error.status),
            "outcome": {
                "resourceType": "OperationOutcome",
                "issue": [i.to_json() for i in error.issues],
            },
        }
    }


def _bundle_entries(ctx: Context, bundle: dict[str, Any]) -> list[Any]:
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise BadRequest("Bundle.entry must be an array", expression=("Bundle.entry",))
    if len(entries) > ctx.limits.bundle_entries:
        raise PayloadTooLarge(
            f"the Bundle has {len(entries)} entries; this server takes at most"
            f" {ctx.limits.bundle_entries} in one batch or transaction (max_bundle_entries):"
            " send it in parts",
            expression=("Bundle.entry",),
        )
    return entries


async def batch(
    ctx: Context, *, bundle: dict[str, Any], prefer: str | None, strict: bool
) -> Outcome:
    ctx.access.require(Interaction.BATCH, None)
    response = new_bundle("batch-response")
    out: list[dict[str, Any]] = []
    for index, raw in enumerate(_bundle_entries(ctx, bundle)):
        try:
            entry = _entry(ctx, index, raw)
            outcome = await dispatch(ctx, entry, strict=strict)
        except FhirError as error:
            out.append(_error_entry(error))
        else:
            out.append(_response_entry(ctx, entry, outcome, prefer=prefer))
    if out:
        response["entry"] = out
    return Outcome(status=200, body=response)


_NARRATIVE_LINK = re.compile(r'(?P<attr>(?:href|src)\s*=\s*")(?P<url>[^"]*)"')


def _links_rewritten(div: str, mapping: dict[str, str]) -> str:
    def swap(match: re.Match[str]) -> str:
        url = match["url"]
        return f'{match["attr"]}{mapping.get(url, url)}"'

    return _NARRATIVE_LINK.sub(swap, div)


def _is_reference_like(key: str) -> bool:
    """Elements that hold references or URIs (http.html#trules), not plain strings."""
    lowered = key.lower()
    return key == "reference" or lowered.endswith(("uri", "url", "canonical", "oid", "uuid"))


def _mentions(value: Any, mapping: dict[str, str]) -> bool:
    """Whether ``value`` may hold a key of ``mapping`` (all ``urn:uuid:``/``urn:oid:``
    fullUrls): false when no ``urn:`` appears anywhere in it, so _rewrite can be skipped."""
    return bool(mapping) and b"urn:" in dumps(value)


def _rewrite(value: Any, mapping: dict[str, str], key: str = "") -> Any:
    """Replace references, URIs and narrative links equal to a key of ``mapping``."""
    if isinstance(value, dict):
        return {k: _rewrite(v, mapping, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_rewrite(v, mapping, key) for v in value]
    if isinstance(value, str):
        if key == "div":
            return _links_rewritten(value, mapping)
        if value in mapping and _is_reference_like(key):
            return mapping[value]
    return value


def _is_conditional(reference: Any) -> bool:
    """``Type?criteria`` (not ``Type/id?...``)."""
    return isinstance(reference, str) and "?" in reference and "/" not in reference.split("?", 1)[0]


def _collect_conditional(value: Any, found: list[str]) -> None:
    """Append every conditional reference in ``value`` to ``found``, in document order."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and _is_conditional(item):
                found.append(item)
            elif isinstance(item, (dict, list)):
                _collect_conditional(item, found)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, (dict, list)):
                _collect_conditional(item, found)


async def _resolve_conditional_references(ctx: Context, value: Any, cache: dict[str, str]) -> Any:
    """``{"reference": "Type?criteria"}`` -> ``Type/id`` of its single match; ``value``
    itself when it has no conditional reference."""
    found: list[str] = []
    _collect_conditional(value, found)
    if not found:
        return value
    for item in found:
        if item not in cache:
            type, query = item.split("?", 1)
            check_type(type)
            matches = await conditional_matches(ctx, type, query)
            if len(matches) != 1:
                raise BadRequest(
                    f"the conditional reference {item!r} matches {len(matches)} resources;"
                    " it must match exactly one",
                    code="not-found" if not matches else "multiple-matches",
                )
            cache[item] = f"{type}/{matches[0].id}"
    return with_references(value, cache)


def _failed_at(entry: Entry, error: FhirError) -> FhirError:
    """``error`` with every issue saying which entry failed."""
    where = f"Bundle.entry[{entry.index}] ({entry.method} {entry.url})"
    if error.entry_index is None:
        error.entry_index = entry.index
    if not error.diagnostics.startswith("Bundle.entry["):
        error.diagnostics = f"{where}: {error.diagnostics}"
        error.issues = tuple(
            replace(i, diagnostics=f"{where}: {i.diagnostics}") for i in error.issues
        )
    return error


async def _assign_identities(tx: Context, entries: list[Entry]) -> dict[str, str]:
    """``urn:uuid:``/``urn:oid:`` fullUrl -> ``Type/id`` of what each entry will store."""
    mapping: dict[str, str] = {}
    for entry in entries:
        if entry.full_url is None or not entry.full_url.startswith(("urn:uuid:", "urn:oid:")):
            continue
        if entry.full_url in mapping:
            raise BadRequest(
                f"fullUrl {entry.full_url} appears twice",
                expression=(f"Bundle.entry[{entry.index}].fullUrl",),
            )
        path, resource = entry.path, entry.resource
        if entry.method not in ("POST", "PUT") or len(path) not in (1, 2) or resource is None:
            continue
        type = path[0]
        if len(path) == 2:
            mapping[entry.full_url] = f"{type}/{path[1]}"
            continue
        criteria = entry.pre.if_none_exist if entry.method == "POST" else entry.query
        if criteria is not None:
            check_type(type)
            matches = await conditional_matches(tx, type, criteria)
            if len(matches) == 1:
                mapping[entry.full_url] = f"{type}/{matches[0].id}"
                continue
        entry.assigned_id = new_id()
        if entry.method == "PUT":
            entry.resource = {**resource, "id": entry.assigned_id}
        mapping[entry.full_url] = f"{type}/{entry.assigned_id}"
    return mapping


async def transaction(
    ctx: Context, *, bundle: dict[str, Any], prefer: str | None, strict: bool
) -> Outcome:
    ctx.access.require(Interaction.TRANSACTION, None)
    entries = [_entry(ctx, i, raw) for i, raw in enumerate(_bundle_entries(ctx, bundle))]
    outcomes: dict[int, Outcome] = {}
    async with ctx.transaction() as tx:
        mapping = await _assign_identities(tx, entries)
        cache: dict[str, str] = {}
        for entry in entries:
            try:
                if entry.resource is not None:
                    resolved = await _resolve_conditional_references(tx, entry.resource, cache)
                    entry.resource = (
                        _rewrite(resolved, mapping) if _mentions(resolved, mapping) else resolved
                    )
            except FhirError as error:
                raise _failed_at(entry, error) from None
            if mapping and entry.query:
                entry.url = _rewrite(entry.url, mapping, "url")
        written: dict[tuple[str, str], int] = {}
        for entry in sorted(entries, key=lambda e: _ORDER[e.method]):
            try:
                outcome = await dispatch(tx, entry, strict=strict)
            except FhirError as error:
                raise _failed_at(entry, error) from None
            version = outcome.version
            if entry.method not in ("GET", "HEAD") and version is not None:
                key = (version.type, version.id)
                if key in written:
                    raise _failed_at(
                        entry,
                        BadRequest(
                            f"{key[0]}/{key[1]} is also changed by Bundle.entry[{written[key]}];"
                            " a transaction may change each resource once"
                        ),
                    )
                written[key] = entry.index
            outcomes[entry.index] = outcome
    response = new_bundle("transaction-response")
    if entries:
        response["entry"] = [
            _response_entry(ctx, e, outcomes[e.index], prefer=prefer) for e in entries
        ]
    return Outcome(status=200, body=response)
