"""FHIR JSON in and out: parse a body, stamp id and meta, serialize once for storage.

Spec: https://hl7.org/fhir/R4/json.html and https://hl7.org/fhir/R4/resource.html#Meta
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from fhir_server.errors import BadRequest

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def parse_json(body: bytes) -> Any:
    """Any JSON value; malformed JSON is a 400 that says where it broke."""
    if not body.strip():
        raise BadRequest("the request body is empty", code="structure")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="structure") from None


def parse_resource(body: bytes) -> dict[str, Any]:
    """A JSON object with a string ``resourceType``."""
    data = parse_json(body)
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object (a FHIR resource)", code="structure")
    if not isinstance(data.get("resourceType"), str):
        raise BadRequest(
            "the body has no resourceType", code="structure", expression=("resourceType",)
        )
    return data


def check_id(id: str) -> None:
    if not ID_PATTERN.match(id):
        raise BadRequest(f"{id!r} is not a valid FHIR id ([A-Za-z0-9-.]{{1,64}})", code="value")


def stamped(
    resource: dict[str, Any], *, id: str, version: int, last_updated: str
) -> dict[str, Any]:
    """The resource with id, meta.versionId and meta.lastUpdated set by the server.

    ``resourceType``, ``id`` and ``meta`` come first, the rest in the client's order.
    """
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version)
    meta["lastUpdated"] = last_updated
    out: dict[str, Any] = {"resourceType": resource["resourceType"], "id": id, "meta": meta}
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    if pretty:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return orjson.dumps(value)
