"""reference parameters: ``[type]/[id]``, ``[id]`` (with ``:[type]`` or one target type),
absolute URLs (local when under the server's base), canonical URLs (``url|version``),
``:identifier`` and ``:missing``. Chains are built by the search parser.

Spec: https://hl7.org/fhir/R4/search.html#reference
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import InvalidSearch
from fhir_server.search.fhirpath import Node
from fhir_server.search.plan import ParamIn, ReferenceMatch, TokenMatch
from fhir_server.search.values import split_unescaped, token, unescape
from fhir_server.storage.records import IndexRow, ReferenceRow, TokenRow


def local(reference: str, base_url: str) -> tuple[str, str] | None:
    """``Type/id`` of a reference to this server (relative, or absolute under its base)."""
    if reference.startswith(base_url.rstrip("/") + "/"):
        reference = reference[len(base_url.rstrip("/")) + 1 :]
    elif "://" in reference or reference.startswith(("urn:", "#")):
        return None
    parts = reference.split("/")
    if len(parts) == 4 and parts[2] == "_history":
        parts = parts[:2]
    if len(parts) == 2 and parts[0][:1].isupper() and parts[1]:
        return parts[0], parts[1]
    return None


def extract(key: str, nodes: list[Node], base_url: str) -> list[IndexRow]:
    rows: list[IndexRow] = []
    for value, _ in nodes:
        if isinstance(value, str):  # canonical or uri
            rows.append(ReferenceRow(key, None, None, value.split("|", 1)[0]))
            continue
        if not isinstance(value, dict):
            continue
        reference = value.get("reference")
        if isinstance(reference, str) and not reference.startswith("#"):
            target = local(reference, base_url)
            if target is not None:
                rows.append(ReferenceRow(key, target[0], target[1], None))
            else:
                rows.append(ReferenceRow(key, None, None, reference))
        else:  # identifier or display only: the element is there (for :missing), unresolvable
            rows.append(ReferenceRow(key, None, None, None))
        identifier: Any = value.get("identifier")
        if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):
            system = identifier.get("system")
            rows.append(
                TokenRow(
                    f"{key}:identifier",
                    system if isinstance(system, str) else None,
                    identifier["value"],
                )
            )
    return rows


def parse(
    key: str, modifier: str | None, raw: str, *, targets: tuple[str, ...], base_url: str
) -> ParamIn:
    parts = [unescape(p) for p in split_unescaped(raw, ",")] if modifier != "identifier" else []
    if modifier == "identifier":
        predicates = []
        for part in split_unescaped(raw, ","):
            system, code = token(part)
            predicates.append(TokenMatch(system, code))
        return ParamIn(f"{key}:identifier", "token", tuple(predicates))
    if modifier is not None and modifier not in targets:
        raise InvalidSearch(
            f":{modifier} is not a modifier of this reference parameter"
            f" (its targets: {', '.join(targets) or 'none'})"
        )
    out = []
    for value in parts:
        if not value:
            raise InvalidSearch("a reference search value must not be empty")
        target = local(value, base_url)
        if target is not None:
            if modifier is not None and target[0] != modifier:
                raise InvalidSearch(f"{value!r} is not a {modifier} reference")
            out.append(ReferenceMatch(target[0], target[1]))
        elif "/" not in value and ":" not in value:
            only = modifier or (targets[0] if len(targets) == 1 else None)
            out.append(ReferenceMatch(only, value))
        else:
            out.append(ReferenceMatch(None, None, value.split("|", 1)[0]))
    return ParamIn(key, "reference", tuple(out))


def matches(row: ReferenceRow, predicate: ReferenceMatch) -> bool:
    if predicate.url is not None:
        return row.url == predicate.url
    if row.id != predicate.id:
        return False
    return predicate.type is None or row.type == predicate.type
