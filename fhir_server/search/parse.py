"""Query parameters -> a SearchPlan plus what the result should hold (includes, summary, ...).

Handles every parameter the registry defines for the searched types, the common ``_id``
and ``_lastUpdated``, modifiers, chains of any depth, ``_has`` (nested), compartments, and the
result parameters. Unknown parameters raise under ``Prefer: handling=strict`` and are
reported as warnings otherwise; a malformed value always raises, naming the parameter.
Spec: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

import orjson

from fhir_server.errors import InvalidSearch, Issue
from fhir_server.numbers import whole_number
from fhir_server.search.plan import (
    AllOf,
    AnyOf,
    Chain,
    Condition,
    Cursor,
    Has,
    IdIn,
    LastUpdated,
    Missing,
    ParamIn,
    ReferenceMatch,
    SearchPlan,
    SortKey,
)
from fhir_server.search.registry import SearchParam, compartment_params, lookup
from fhir_server.search.types import composite, module_for, reference
from fhir_server.search.types import date as date_type
from fhir_server.search.values import split_unescaped, unescape

Summary = Literal["true", "text", "data", "count", "false"]
Total = Literal["none", "estimate", "accurate"]

RESULT_PARAMETERS = frozenset(
    {
        "_count",
        "_sort",
        "_include",
        "_revinclude",
        "_summary",
        "_elements",
        "_total",
        "_format",
        "_pretty",
        "_cursor",
        "_type",
        "_contained",
        "_containedType",
    }
)
MAX_CHAIN_DEPTH = 4
"""Links in one chain or nested ``_has`` (``subject.organization.name`` is 2), by default."""
MAX_PARAMS = 40
"""Parameters in one search (each value of a comma list counts), by default."""


@dataclass(frozen=True, slots=True)
class Include:
    """``_include`` (``reverse`` False) or ``_revinclude``: resources ``source_type`` points
    at by ``param`` (``*``: every reference parameter), optionally of ``target_type``."""

    source_type: str
    param: str
    target_type: str | None
    reverse: bool
    iterate: bool


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    plan: SearchPlan
    includes: tuple[Include, ...] = ()
    summary: Summary | None = None
    elements: tuple[str, ...] = ()
    total: Total = "accurate"
    ignored: tuple[Issue, ...] = ()
    used: tuple[tuple[str, str], ...] = ()
    """The parameters the search honoured, for the self link (search.html#conformance)."""


def encode_cursor(cursor: Cursor) -> str:
    """An opaque ``_cursor`` token for a paging link."""
    raw = orjson.dumps([list(cursor.values), cursor.rid, cursor.before])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    try:
        values, rid, before = orjson.loads(
            base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        )
        if not isinstance(values, list) or not isinstance(rid, int) or not isinstance(before, bool):
            raise ValueError
        return Cursor(values=tuple(values), rid=rid, before=before)
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidSearch(f"invalid paging cursor {token!r}") from None


class _Unknown(Exception):
    """A parameter name this server does not know for the searched type(s)."""


@dataclass(slots=True)
class Parser:
    base_url: str
    strict: bool = False
    depth: int = 0
    max_depth: int = MAX_CHAIN_DEPTH

    # -- conditions ------------------------------------------------------------------------

    def condition(self, types: Sequence[str], name: str, raw: str) -> Condition:
        """The condition ``name=raw`` puts on resources of ``types`` (AnyOf across types)."""
        per_type = []
        for type in types:
            try:
                per_type.append(self._for_type(type, name, raw))
            except _Unknown:
                if len(types) == 1:
                    raise
        if not per_type:
            raise _Unknown(name)
        unique = list(dict.fromkeys(per_type))
        return unique[0] if len(unique) == 1 else AnyOf(tuple(unique))

    def _for_type(self, type: str, name: str, raw: str) -> Condition:
        if name.startswith("_has:"):
            return self._has(type, name, raw)
        code, _, rest = name.partition(".")
        code, _, modifier = code.partition(":")
        if rest:
            return self._chain(type, code, modifier or None, rest, raw)
        modifier_or_none = modifier or None
        if code == "_id":
            if modifier_or_none is not None:
                raise InvalidSearch(f"_id does not take :{modifier}")
            ids = tuple(unescape(v) for v in split_unescaped(raw, ","))
            return IdIn(ids)
        if code == "_lastUpdated":
            if modifier_or_none is not None:
                raise InvalidSearch(f"_lastUpdated does not take :{modifier}")
            return LastUpdated(
                tuple(date_type.parse_value(unescape(v)) for v in split_unescaped(raw, ","))
            )
        param = lookup(type, code)
        if param is None or not param.indexed:
            raise _Unknown(name)
        if modifier_or_none == "missing":
            if raw not in ("true", "false"):
                raise InvalidSearch(f"{name} takes true or false, not {raw!r}")
            return Missing(param.key, param.kind, raw == "true")  # type: ignore[arg-type]
        if param.kind == "reference":
            return reference.parse(
                param.key, modifier_or_none, raw, targets=param.targets, base_url=self.base_url
            )
        if param.kind == "composite":
            return composite.parse(param.key, modifier_or_none, raw, base_url=self.base_url)
        parsed: ParamIn = module_for(param.kind).parse(param.key, modifier_or_none, raw)
        return parsed

    def _reference_param(self, type: str, code: str) -> SearchParam:
        param = lookup(type, code)
        if param is None:
            raise _Unknown(code)
        if param.kind != "reference":
            raise InvalidSearch(f"{code} is not a reference parameter of {type}; it cannot chain")
        return param

    def _chain(self, type: str, code: str, target: str | None, rest: str, raw: str) -> Condition:
        if self.depth >= self.max_depth:
            raise InvalidSearch(
                f"{code}.{rest}: chains longer than {self.max_depth} links are over this"
                " server's limit (max_chain_depth)",
                code="too-costly",
            )
        param = self._reference_param(type, code)
        if target is not None and target not in param.targets:
            raise InvalidSearch(f"{type}.{code} cannot refer to {target}")
        candidates = [target] if target else list(param.targets)
        inner = Parser(self.base_url, self.strict, self.depth + 1, self.max_depth)
        chains: list[Condition] = []
        for candidate in candidates:
            try:
                where = inner.condition([candidate], rest, raw)
            except _Unknown:
                continue
            chains.append(Chain(param.key, candidate, (where,)))
        if not chains:
            raise _Unknown(f"{code}.{rest}")
        return chains[0] if len(chains) == 1 else AnyOf(tuple(chains))

    def _has(self, type: str, name: str, raw: str) -> Condition:
        if self.depth >= self.max_depth:
            raise InvalidSearch(
                f"{name}: _has nested deeper than {self.max_depth} is over this server's limit"
                " (max_chain_depth)",
                code="too-costly",
            )
        parts = name.split(":", 3)
        if len(parts) != 4 or not all(parts[1:]):
            raise InvalidSearch(f"{name!r} is not _has:[type]:[reference]:[parameter]")
        _, source, code, rest = parts
        param = self._reference_param(source, code)
        if type not in param.targets:
            raise InvalidSearch(f"{source}.{code} cannot refer to {type}")
        inner = Parser(self.base_url, self.strict, self.depth + 1, self.max_depth)
        return Has(source, param.key, (inner.condition([source], rest, raw),))

    # -- the whole query -------------------------------------------------------------------

    def parse(
        self,
        types: Sequence[str],
        query: Sequence[tuple[str, str]],
        *,
        default_count: int,
        max_count: int,
        compartment: tuple[str, str] | None = None,
    ) -> ParsedSearch:
        conditions: list[Condition] = []
        ignored: list[Issue] = []
        includes: list[Include] = []
        sort: tuple[SortKey, ...] = ()
        count, cursor = default_count, None
        summary: Summary | None = None
        elements: tuple[str, ...] = ()
        total: Total = "accurate"
        used: list[tuple[str, str]] = []
        for name, raw in query:
            if raw == "" and name not in ("_cursor",):
                continue  # search.html#errors: empty parameters are ignored
            try:
                if name == "_count":
                    count = _count(raw, max_count)
                elif name == "_cursor":
                    cursor = decode_cursor(raw)
                elif name == "_sort":
                    sort = _sort(types, raw)
                elif name.split(":")[0] in ("_include", "_revinclude"):
                    includes.extend(_includes(types, name, raw))
                elif name == "_summary":
                    if raw not in ("true", "text", "data", "count", "false"):
                        raise InvalidSearch("_summary must be true, text, data, count or false")
                    summary = raw  # type: ignore[assignment]
                elif name == "_elements":
                    elements = tuple(e.strip() for e in raw.split(",") if e.strip())
                elif name == "_total":
                    if raw not in ("none", "estimate", "accurate"):
                        raise InvalidSearch("_total must be none, estimate or accurate")
                    total = raw  # type: ignore[assignment]
                elif name in RESULT_PARAMETERS:
                    if name not in ("_format", "_pretty", "_type"):
                        continue
                else:
                    conditions.append(self.condition(types, name, raw))
                used.append((name, raw))
            except _Unknown:
                message = f"unknown search parameter {name!r} for {', '.join(types)}"
                if self.strict:
                    raise InvalidSearch(message, code="not-supported") from None
                ignored.append(Issue(code="not-supported", diagnostics=message, severity="warning"))
            except InvalidSearch as error:
                raise InvalidSearch(
                    f"search parameter {name!r}: {error.diagnostics}", code=error.issues[0].code
                ) from None
        if cursor is not None and len(cursor.values) != len(sort):
            raise InvalidSearch("the _cursor belongs to a search with another _sort")
        if compartment is not None:
            conditions.append(_compartment(types, *compartment))
        if summary == "count":
            count = 0
        plan = SearchPlan(
            types=tuple(types),
            conditions=tuple(conditions),
            sort=sort,
            count=count,
            cursor=cursor,
        )
        return ParsedSearch(
            plan=plan,
            includes=tuple(includes),
            summary=summary,
            elements=elements,
            total=total,
            ignored=tuple(ignored),
            used=tuple(used),
        )


def _count(raw: str, maximum: int) -> int:
    count = whole_number(raw, cap=maximum)
    if count is None:
        raise InvalidSearch(f"_count must be a whole number, not {raw!r}")
    return count


def _sort(types: Sequence[str], raw: str) -> tuple[SortKey, ...]:
    keys = []
    for item in raw.split(","):
        item = item.strip()
        descending = item.startswith("-")
        code = item.lstrip("-")
        if code == "_id":
            keys.append(SortKey("_id", "id", descending))
        elif code == "_lastUpdated":
            keys.append(SortKey("_lastUpdated", "lastUpdated", descending))
        else:
            params = [lookup(t, code) for t in types]
            found = [p for p in params if p is not None and p.indexed and p.kind != "composite"]
            if len(found) != len(types) or len({p.key for p in found}) != 1:
                raise InvalidSearch(f"cannot sort by {code!r} here")
            keys.append(SortKey(found[0].key, found[0].kind, descending))  # type: ignore[arg-type]
    return tuple(keys)


def _includes(types: Sequence[str], name: str, raw: str) -> list[Include]:
    kind, _, modifier = name.partition(":")
    if modifier not in ("", "iterate", "recurse"):
        raise InvalidSearch(f"{kind} does not take :{modifier}")
    reverse = kind == "_revinclude"
    iterate = bool(modifier)
    out = []
    for value in raw.split(","):
        if value == "*":
            for type in types:
                out.append(Include(type, "*", None, reverse, iterate))
            continue
        parts = value.split(":")
        if len(parts) not in (2, 3):
            raise InvalidSearch(
                f"{value!r} is not [type]:[parameter] or [type]:[parameter]:[target]"
            )
        source, code = parts[0], parts[1]
        target = parts[2] if len(parts) == 3 else None
        if code != "*":
            param = lookup(source, code)
            if param is None or param.kind != "reference":
                raise InvalidSearch(f"{source}:{code} is not a reference parameter")
            if target is not None and target not in param.targets:
                raise InvalidSearch(f"{source}:{code} cannot refer to {target}")
        if not reverse and not iterate and source not in types:
            raise InvalidSearch(f"_include source {source} is not a searched type")
        out.append(Include(source, code, target, reverse, iterate))
    return out


def _compartment(types: Sequence[str], compartment_type: str, id: str) -> Condition:
    """Membership in ``Patient/id``'s compartment (the official CompartmentDefinition)."""
    if compartment_type != "Patient":
        raise InvalidSearch(f"the {compartment_type} compartment is not supported")
    alternatives: list[Condition] = []
    for type in types:
        for code in compartment_params(type):
            param = lookup(type, code)
            if param is not None and param.indexed:
                alternatives.append(
                    ParamIn(param.key, "reference", (ReferenceMatch("Patient", id),))
                )
        if type == "Patient":
            alternatives.append(IdIn((id,)))
    if not alternatives:
        raise InvalidSearch(f"{', '.join(types)} cannot be in a Patient compartment")
    return alternatives[0] if len(alternatives) == 1 else AnyOf(tuple(alternatives))


def in_patient_compartments(type: str, patient_ids: Sequence[str]) -> Condition | None:
    """Membership of a ``type`` resource in any of these Patients' compartments; None when
    ``type`` is never in a Patient compartment (the official CompartmentDefinition)."""
    if not compartment_params(type) and type != "Patient":
        return None
    if not patient_ids:
        return IdIn(())  # nobody's compartment: nothing matches
    parts = [_compartment([type], "Patient", id) for id in patient_ids]
    return parts[0] if len(parts) == 1 else AnyOf(tuple(parts))


def criteria_condition(
    type: str, criteria: Sequence[tuple[str, str]], *, base_url: str
) -> Condition:
    """``type`` resources meeting every (parameter, value) pair, parsed strictly (a granular
    SMART scope's filter): raises InvalidSearch for anything not understood."""
    parser = Parser(base_url, strict=True)
    parts: list[Condition] = []
    for name, raw in criteria:
        try:
            parts.append(parser.condition([type], name, raw))
        except _Unknown:
            raise InvalidSearch(f"unknown search parameter {name!r} for {type}") from None
    return parts[0] if len(parts) == 1 else AllOf(tuple(parts))


def parse_search(
    types: Sequence[str],
    query: Sequence[tuple[str, str]],
    *,
    base_url: str,
    strict: bool,
    default_count: int = 50,
    max_count: int = 1000,
    max_params: int = MAX_PARAMS,
    max_depth: int = MAX_CHAIN_DEPTH,
    compartment: tuple[str, str] | None = None,
) -> ParsedSearch:
    """The plan of a search; over ``max_params`` parameters (each value of a comma list
    counts) or ``max_depth`` chain links, 400 ``too-costly``."""
    asked = sum(1 + raw.count(",") for name, raw in query if raw and name != "_cursor")
    if asked > max_params:
        raise InvalidSearch(
            f"this search has {asked} parameters and values; this server answers at most"
            f" {max_params} in one search (max_search_params): split it",
            code="too-costly",
        )
    return Parser(base_url, strict, max_depth=max_depth).parse(
        types, query, default_count=default_count, max_count=max_count, compartment=compartment
    )


def conditional(type: str, query: Sequence[tuple[str, str]], *, base_url: str) -> SearchPlan:
    """Criteria of a conditional create/update/patch/delete: strict, and never empty."""
    parsed = parse_search([type], query, base_url=base_url, strict=True)
    if not parsed.plan.conditions:
        raise InvalidSearch("conditional interactions need search criteria", code="required")
    return replace(parsed.plan, count=2, sort=(), cursor=None)


__all__ = [
    "Include",
    "ParsedSearch",
    "conditional",
    "criteria_condition",
    "decode_cursor",
    "encode_cursor",
    "in_patient_compartments",
    "parse_search",
]
