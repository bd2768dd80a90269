"""FHIR REST routes (https://hl7.org/fhir/R4/http.html#summary). Routes only route."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

from fhir_server.api.http import (
    context,
    headers_of,
    json_body,
    negotiate,
    preconditions,
    query_pairs,
    read_body,
    resource_body,
)
from fhir_server.api.media import FORM, JSON_PATCH, require_body_type
from fhir_server.api.render import render
from fhir_server.errors import BadRequest
from fhir_server.interactions.bundle import batch, transaction
from fhir_server.interactions.capabilities import capabilities
from fhir_server.interactions.create import create
from fhir_server.interactions.delete import conditional_delete, delete
from fhir_server.interactions.history import history
from fhir_server.interactions.patch import conditional_patch, patch
from fhir_server.interactions.read import read
from fhir_server.interactions.search import compartment_types, search, system_types
from fhir_server.interactions.update import conditional_update, update
from fhir_server.interactions.validate import validate
from fhir_server.interactions.vread import vread

router = APIRouter()


TYPE_PATTERN = "[A-Z][A-Za-z]{1,63}"
"""What ``[type]`` can be in a path, so that ``_history`` or ``_search`` cannot."""


class _TypeConvertor(Convertor[str]):
    regex = TYPE_PATTERN

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("fhirtype", _TypeConvertor())


@router.api_route("/metadata", methods=["GET", "HEAD"], summary="capabilities")
async def metadata_route(request: Request) -> Response:
    how = negotiate(request)
    return render(
        await capabilities(context(request, public=True), params=query_pairs(request)), how
    )


@router.post("/", summary="batch or transaction")
@router.post("", include_in_schema=False)
async def bundle_route(request: Request) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    bundle = await resource_body(request)
    kind = bundle.get("type")
    if bundle.get("resourceType") != "Bundle" or kind not in ("batch", "transaction"):
        raise BadRequest(
            "POST to the base URL takes a Bundle of type batch or transaction",
            expression=("Bundle.type",),
        )
    process = transaction if kind == "transaction" else batch
    outcome = await process(ctx, bundle=bundle, prefer=how.return_pref, strict=how.strict)
    return render(outcome, how)


@router.api_route("/_history", methods=["GET", "HEAD"], summary="history-system")
async def system_history_route(request: Request) -> Response:
    how = negotiate(request)
    outcome = await history(context(request), type=None, id=None, params=query_pairs(request))
    return render(outcome, how)


async def _form_params(request: Request) -> list[tuple[str, str]]:
    """Query parameters plus the form-encoded body of a POST _search."""
    require_body_type(headers_of(request).get("content-type"), allowed=(FORM,))
    raw = await read_body(request)
    try:
        form = parse_qsl(raw.decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        raise BadRequest("the form body is not UTF-8") from None
    return query_pairs(request) + form


@router.api_route("/", methods=["GET", "HEAD"], summary="search-system")
@router.api_route("", methods=["GET", "HEAD"], include_in_schema=False)
async def system_search_route(request: Request) -> Response:
    how = negotiate(request)
    params = query_pairs(request)
    outcome = await search(
        context(request), types=system_types(params), params=params, strict=how.strict, path=""
    )
    return render(outcome, how)


@router.post("/_search", summary="search-system (POST)")
async def system_search_post_route(request: Request) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    params = await _form_params(request)
    outcome = await search(
        ctx, types=system_types(params), params=params, strict=how.strict, path=""
    )
    return render(outcome, how)


@router.post("/{type:fhirtype}/$validate", summary="$validate (type)")
async def validate_type_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    body = await resource_body(request)
    outcome = await validate(ctx, type=type, id=None, body=body, params=query_pairs(request))
    return render(outcome, how)


@router.api_route("/{type:fhirtype}/{id}/$validate", methods=["GET", "POST"], summary="$validate")
async def validate_instance_route(request: Request, type: str, id: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    body = await resource_body(request) if request.method == "POST" else None
    outcome = await validate(ctx, type=type, id=id, body=body, params=query_pairs(request))
    return render(outcome, how)


@router.api_route("/{type:fhirtype}", methods=["GET", "HEAD"], summary="search-type")
async def search_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    outcome = await search(
        context(request), types=[type], params=query_pairs(request), strict=how.strict, path=type
    )
    return render(outcome, how)


@router.post("/{type:fhirtype}/_search", summary="search-type (POST)")
async def search_post_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    params = await _form_params(request)
    outcome = await search(ctx, types=[type], params=params, strict=how.strict, path=type)
    return render(outcome, how)


@router.post("/{type:fhirtype}", status_code=201, summary="create")
async def create_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    resource = await resource_body(request)
    outcome = await create(ctx, type=type, resource=resource, pre=preconditions(request))
    return render(outcome, how, is_write=True)


@router.put("/{type:fhirtype}", summary="conditional update")
async def conditional_update_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    resource = await resource_body(request)
    outcome = await conditional_update(
        ctx,
        type=type,
        query=request.url.query,
        resource=resource,
        pre=preconditions(request),
    )
    return render(outcome, how, is_write=True)


@router.patch("/{type:fhirtype}", summary="conditional patch")
async def conditional_patch_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    operations = await json_body(request, allowed=(JSON_PATCH,))
    outcome = await conditional_patch(
        ctx,
        type=type,
        query=request.url.query,
        operations=operations,
        pre=preconditions(request),
    )
    return render(outcome, how, is_write=True)


@router.delete("/{type:fhirtype}", summary="conditional delete")
async def conditional_delete_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    outcome = await conditional_delete(
        context(request), type=type, query=request.url.query, pre=preconditions(request)
    )
    return render(outcome, how, is_write=True)


@router.api_route("/{type:fhirtype}/_history", methods=["GET", "HEAD"], summary="history-type")
async def type_history_route(request: Request, type: str) -> Response:
    how = negotiate(request)
    outcome = await history(context(request), type=type, id=None, params=query_pairs(request))
    return render(outcome, how)


@router.api_route("/{type:fhirtype}/{id}", methods=["GET", "HEAD"], summary="read")
async def read_route(request: Request, type: str, id: str) -> Response:
    how = negotiate(request)
    outcome = await read(context(request), type=type, id=id, pre=preconditions(request))
    return render(outcome, how)


@router.put("/{type:fhirtype}/{id}", summary="update")
async def update_route(request: Request, type: str, id: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    resource = await resource_body(request)
    outcome = await update(ctx, type=type, id=id, resource=resource, pre=preconditions(request))
    return render(outcome, how, is_write=True)


@router.patch("/{type:fhirtype}/{id}", summary="patch")
async def patch_route(request: Request, type: str, id: str) -> Response:
    how = negotiate(request)
    ctx = context(request)  # who asks, before what they send
    operations = await json_body(request, allowed=(JSON_PATCH,))
    outcome = await patch(ctx, type=type, id=id, operations=operations, pre=preconditions(request))
    return render(outcome, how, is_write=True)


@router.delete("/{type:fhirtype}/{id}", summary="delete")
async def delete_route(request: Request, type: str, id: str) -> Response:
    how = negotiate(request)
    outcome = await delete(context(request), type=type, id=id, pre=preconditions(request))
    return render(outcome, how, is_write=True)


@router.api_route(
    "/{type:fhirtype}/{id}/_history", methods=["GET", "HEAD"], summary="history-instance"
)
async def instance_history_route(request: Request, type: str, id: str) -> Response:
    how = negotiate(request)
    outcome = await history(context(request), type=type, id=id, params=query_pairs(request))
    return render(outcome, how)


@router.api_route(
    "/{type:fhirtype}/{id}/{compartment_type}",  # a type, or * for all of the compartment
    methods=["GET", "HEAD"],
    summary="search-compartment",
)
async def compartment_search_route(
    request: Request, type: str, id: str, compartment_type: str
) -> Response:
    how = negotiate(request)
    types = compartment_types() if compartment_type == "*" else [compartment_type]
    outcome = await search(
        context(request),
        types=types,
        params=query_pairs(request),
        strict=how.strict,
        path=f"{type}/{id}/{compartment_type}",
        compartment=(type, id),
    )
    return render(outcome, how)


@router.api_route("/{type:fhirtype}/{id}/_history/{vid}", methods=["GET", "HEAD"], summary="vread")
async def vread_route(request: Request, type: str, id: str, vid: str) -> Response:
    how = negotiate(request)
    outcome = await vread(context(request), type=type, id=id, vid=vid)
    return render(outcome, how)
