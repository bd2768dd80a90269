"""token parameters: ``[system]|[code]`` on codes, Codings, CodeableConcepts, Identifiers,
ContactPoints and booleans; ``:not``, ``:text``, ``:of-type``, ``:missing``.

Codes match case-sensitively. ``:text`` matches the start of the folded display / text
(stored as string rows under ``<key>:text``); ``:of-type`` matches Identifier type and value
(stored as token rows under ``<key>:of-type`` with code ``<type code>|<value>``).
Spec: https://hl7.org/fhir/R4/search.html#token
"""

from __future__ import annotations

from typing import Any

from fhir_server.errors import InvalidSearch
from fhir_server.search.fhirpath import Node
from fhir_server.search.plan import ParamIn, StringMatch, TokenMatch
from fhir_server.search.types.string import fold, text_rows
from fhir_server.search.values import split_unescaped, token, unescape
from fhir_server.storage.records import IndexRow, TokenRow


def _coding(key: str, coding: Any, rows: list[IndexRow], texts: list[str]) -> None:
    if not isinstance(coding, dict):
        return
    code, system = coding.get("code"), coding.get("system")
    if isinstance(code, str):
        rows.append(TokenRow(key, system if isinstance(system, str) else None, code))
    if isinstance(coding.get("display"), str):
        texts.append(coding["display"])


def _codeable(key: str, value: dict[str, Any], rows: list[IndexRow], texts: list[str]) -> None:
    for coding in value.get("coding") or []:
        _coding(key, coding, rows, texts)
    if isinstance(value.get("text"), str):
        texts.append(value["text"])


def extract(key: str, nodes: list[Node], base_url: str) -> list[IndexRow]:
    rows: list[IndexRow] = []
    texts: list[str] = []
    for value, type_name in nodes:
        if isinstance(value, bool):
            rows.append(TokenRow(key, None, "true" if value else "false"))
        elif isinstance(value, str):
            rows.append(TokenRow(key, None, value))
        elif not isinstance(value, dict):
            continue
        elif type_name == "Identifier" or (
            type_name is None and "value" in value and "code" not in value and "coding" not in value
        ):
            system, code = value.get("system"), value.get("value")
            if isinstance(code, str):
                rows.append(TokenRow(key, system if isinstance(system, str) else None, code))
                for coding in (value.get("type") or {}).get("coding") or []:
                    if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                        type_system = coding.get("system")
                        rows.append(
                            TokenRow(
                                f"{key}:of-type",
                                type_system if isinstance(type_system, str) else None,
                                f"{coding['code']}|{code}",
                            )
                        )
            if isinstance((value.get("type") or {}).get("text"), str):
                texts.append(value["type"]["text"])
        elif type_name == "CodeableConcept" or "coding" in value:
            _codeable(key, value, rows, texts)
        elif type_name == "ContactPoint":
            if isinstance(value.get("value"), str):
                rows.append(TokenRow(key, None, value["value"]))
        else:  # Coding, Quantity (system|code)
            _coding(key, value, rows, texts)
    rows.extend(text_rows(key, texts))
    return rows


def parse(key: str, modifier: str | None, raw: str) -> ParamIn:
    parts = split_unescaped(raw, ",")
    if modifier == "text":
        values = [fold(unescape(p)) for p in parts]
        if not all(values):
            raise InvalidSearch("a :text search value must not be empty")
        return ParamIn(f"{key}:text", "string", tuple(StringMatch("start", v) for v in values))
    if modifier == "of-type":
        predicates = []
        for part in parts:
            pieces = [unescape(p) for p in split_unescaped(part, "|")]
            if len(pieces) != 3 or not pieces[1] or not pieces[2]:
                raise InvalidSearch(":of-type takes [type system]|[type code]|[value]")
            predicates.append(TokenMatch(pieces[0], f"{pieces[1]}|{pieces[2]}"))
        return ParamIn(f"{key}:of-type", "token", tuple(predicates))
    if modifier not in (None, "not"):
        raise InvalidSearch(f"token parameters do not take :{modifier}")
    predicates = []
    for part in parts:
        system, code = token(part)
        if system is None and not code:
            raise InvalidSearch("a token search value must not be empty")
        predicates.append(TokenMatch(system, code))
    return ParamIn(key, "token", tuple(predicates), negate=modifier == "not")


def matches(row: TokenRow, predicate: TokenMatch) -> bool:
    if predicate.code is not None and row.code != predicate.code:
        return False
    if predicate.system is None:
        return True
    if predicate.system == "":
        return row.system is None
    return row.system == predicate.system
