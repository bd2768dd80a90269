"""uri parameters: exact match, ``:above`` (the stored uri is a prefix path of the value),
``:below`` (the stored uri starts with the value)."""

from __future__ import annotations

from fhir_server.errors import InvalidSearch
from fhir_server.search.fhirpath import Node
from fhir_server.search.plan import ParamIn, UriMatch
from fhir_server.search.values import split_unescaped, unescape
from fhir_server.storage.records import UriRow


def extract(key: str, nodes: list[Node], base_url: str) -> list[UriRow]:
    return [UriRow(key, value) for value, _ in nodes if isinstance(value, str) and value]


def parse(key: str, modifier: str | None, raw: str) -> ParamIn:
    mode = {None: "eq", "above": "above", "below": "below"}.get(modifier)
    if mode is None:
        raise InvalidSearch(f"uri parameters do not take :{modifier}")
    values = [unescape(v) for v in split_unescaped(raw, ",")]
    if not all(values):
        raise InvalidSearch("a uri search value must not be empty")
    return ParamIn(key, "uri", tuple(UriMatch(mode, v) for v in values))  # type: ignore[arg-type]


def parents(uri: str) -> list[str]:
    """``uri`` and every path prefix of it: what ``:above`` matches."""
    out = [uri]
    cut = uri.rstrip("/")
    while "/" in cut[cut.find("//") + 2 if "//" in cut else 0 :]:
        cut = cut[: cut.rfind("/")]
        out.append(cut)
    return out


def below_prefix(uri: str) -> str:
    """What a uri strictly below ``uri`` starts with."""
    return uri.rstrip("/") + "/"


def matches(row: UriRow, predicate: UriMatch) -> bool:
    if predicate.mode == "above":
        return row.uri in parents(predicate.value)
    if predicate.mode == "below":
        return row.uri == predicate.value or row.uri.startswith(below_prefix(predicate.value))
    return row.uri == predicate.value
