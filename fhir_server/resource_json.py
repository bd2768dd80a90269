"""FHIR JSON in and out: parse a body, stamp id and meta, serialize once for storage.

Spec: https://hl7.org/fhir/R4/json.html and https://hl7.org/fhir/R4/resource.html#Meta
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson

from fhir_server.errors import BadRequest, Unprocessable

ID_SYNTAX = r"[A-Za-z0-9\-.]{1,64}"
"""A FHIR id (https://hl7.org/fhir/R4/datatypes.html#id)."""
ID_PATTERN = re.compile(f"^{ID_SYNTAX}$")


# A JSON number (group 1) after the ':', '[' or ',' it follows; matched from that character,
# not with a look-behind, which the regex engine would test at every byte (30 -> 18 µs for
# a 2 KB Patient).
_NUMBER = re.compile(rb"[:\[,]\s*(-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)\s*(?=[,\]}])")


# The integers orjson reads and writes as integers; it reads larger ones as floats.
_INT_LOW, _INT_HIGH = -(2**63), 2**64 - 1


def _decimals_at_risk(body: bytes, data: Any) -> bool:
    """Whether a float would change some number's text (FHIR decimals keep precision), or
    an integer is too large for orjson (it would read 99999999999999999999 as 1e+20).

    orjson reads every integer it can hold exactly as an int and everything else as a
    float, so ``data`` (what it read) without a float has every number as written: walking
    it costs less than scanning the body's text (8 against 20 µs for a 2 KB Patient)."""
    return _has_float(data) and _numbers_at_risk(body)


def _has_float(data: Any) -> bool:
    stack = [data]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
        elif kind is float:
            return True
    return False


def _numbers_at_risk(body: bytes) -> bool:
    for match in _NUMBER.finditer(body):
        text = match.group(1)
        fractional = b"." in text or b"e" in text or b"E" in text
        if fractional:
            if orjson.dumps(float(text)) != text:
                return True
        elif not _fits_orjson(text.decode()):
            return True
    return False


def _fits_orjson(text: str) -> bool:
    # int() of a very long text is refused (sys.int_info.str_digits_check_threshold)
    return len(text) <= 21 and _INT_LOW <= int(text) <= _INT_HIGH


def _exact_int(text: str) -> int | Decimal:
    """An integer orjson can write back, else the same digits as a Decimal (see dumps)."""
    return int(text) if _fits_orjson(text) else Decimal(text)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def parse_json(body: bytes) -> Any:
    """Any JSON value; malformed JSON is a 400 that says where it broke.

    Decimals that a float would alter (``1.50``) and integers beyond 64 bits are read as
    ``Decimal`` and written back exactly by :func:`dumps`; everything else takes the fast
    path.
    """
    if not body.strip():
        raise BadRequest("the request body is empty", code="structure")
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON: {exc}", code="structure") from None
    if _decimals_at_risk(body, data):
        try:
            data = json.loads(
                body,
                parse_float=Decimal,
                parse_int=_exact_int,
                parse_constant=_reject_constant,
            )
        except (ValueError, RecursionError) as exc:
            raise BadRequest(f"malformed JSON: {exc}", code="structure") from None
    return data


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
    given = resource.get("meta") or {}
    if not isinstance(given, dict):
        raise Unprocessable(
            "meta must be a JSON object",
            code="structure",
            expression=(f"{resource['resourceType']}.meta",),
        )
    meta = dict(given)
    meta["versionId"] = str(version)
    meta["lastUpdated"] = last_updated
    out: dict[str, Any] = {"resourceType": resource["resourceType"], "id": id, "meta": meta}
    for key, value in resource.items():
        if key not in out:
            out[key] = value
    return out


def _exact_decimal(value: Any) -> orjson.Fragment:
    if isinstance(value, Decimal):
        return orjson.Fragment(str(value).encode())
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(value: Any, *, pretty: bool = False) -> bytes:
    """Compact JSON (indented with ``pretty``); decimals as they were written."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    return orjson.dumps(value, option=option, default=_exact_decimal)


def with_references(node: Any, targets: Mapping[str, str]) -> Any:
    """``node`` with every ``"reference"`` whose value is a key of ``targets`` replaced by
    that key's value; the parts that hold none are shared, not copied (``node`` itself when
    nothing is replaced)."""
    if isinstance(node, dict):
        copy: dict[str, Any] | None = None
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                new = targets.get(value, value)
            elif isinstance(value, (dict, list)):
                new = with_references(value, targets)
            else:
                continue
            if new is not value:
                if copy is None:
                    copy = dict(node)
                copy[key] = new
        return node if copy is None else copy
    if isinstance(node, list):
        items: list[Any] | None = None
        for index, value in enumerate(node):
            if isinstance(value, (dict, list)):
                new = with_references(value, targets)
                if new is not value:
                    if items is None:
                        items = list(node)
                    items[index] = new
        return node if items is None else items
    return node
