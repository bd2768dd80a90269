"""string parameters: starts-with on folded text by default, ``:exact``, ``:contains``.

Folding: Unicode compatibility decomposition, accents and punctuation dropped, case folded,
runs of white space made one space (search.html#string: case- and accent-insensitive,
punctuation and white space ignored).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from typing import Any

from fhir_server.errors import InvalidSearch
from fhir_server.search.fhirpath import Node
from fhir_server.search.plan import ParamIn, StringMatch
from fhir_server.search.values import split_unescaped, unescape
from fhir_server.storage.records import StringRow

_PARTS = {
    "HumanName": ("text", "family", "given", "prefix", "suffix"),
    "Address": ("text", "line", "city", "district", "state", "postalCode", "country"),
}


_ASCII_PUNCTUATION = str.maketrans(
    "", "", "".join(chr(c) for c in range(128) if unicodedata.category(chr(c)).startswith("P"))
)


def fold(text: str) -> str:
    """Case, accents and punctuation dropped, white space collapsed (search.html#string)."""
    if text.isascii():  # the common case, without per-character Unicode look-ups
        return " ".join(text.translate(_ASCII_PUNCTUATION).lower().split())
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(
        ch
        for ch in decomposed
        if not unicodedata.combining(ch) and not unicodedata.category(ch).startswith("P")
    )
    return " ".join(bare.casefold().split())


def _strings(value: Any, type_name: str | None) -> Iterable[str]:
    if isinstance(value, str):
        yield value
        return
    if not isinstance(value, dict):
        return
    parts = _PARTS.get(type_name or "")
    if parts is None:
        parts = _PARTS["HumanName"] if "family" in value or "given" in value else None
    if parts is None and ("city" in value or "line" in value or "postalCode" in value):
        parts = _PARTS["Address"]
    keys = parts if parts is not None else [k for k in value if k not in ("id", "extension")]
    for key in keys:
        item = value.get(key)
        for text in item if isinstance(item, list) else [item]:
            if isinstance(text, str):
                yield text


def extract(key: str, nodes: list[Node], base_url: str) -> list[StringRow]:
    rows = []
    family = key.endswith(".family")
    for value, type_name in nodes:
        for text in _strings(value, type_name):
            folded = fold(text)
            if folded:
                rows.append(StringRow(key, folded, text))
            if family and " " in folded:  # each part of a family name is searchable (#string)
                rows.extend(StringRow(key, part, text) for part in folded.split(" ")[1:])
    return rows


def text_rows(key: str, texts: Iterable[str]) -> list[StringRow]:
    """Rows for the ``:text`` of a token parameter (display and text of codes)."""
    return [StringRow(f"{key}:text", fold(t), t) for t in texts if fold(t)]


def parse(key: str, modifier: str | None, raw: str) -> ParamIn:
    mode = {None: "start", "exact": "exact", "contains": "contains"}.get(modifier)
    if mode is None:
        raise InvalidSearch(f"string parameters do not take :{modifier}")
    predicates = []
    for part in split_unescaped(raw, ","):
        value = unescape(part)
        if not value:
            raise InvalidSearch("a string search value must not be empty")
        predicates.append(StringMatch(mode, value if mode == "exact" else fold(value)))  # type: ignore[arg-type]
    return ParamIn(key, "string", tuple(predicates))


def matches(row: StringRow, predicate: StringMatch) -> bool:
    if predicate.mode == "exact":
        return row.exact == predicate.value
    if predicate.mode == "contains":
        return predicate.value in row.norm
    return row.norm.startswith(predicate.value)
