"""The search parameters the server knows: the official R4 definitions and the MHS IG's own,
each with its expression compiled once.

A parameter's key names its index rows: ``<base>.<code>`` (``Observation.code``, or
``Resource._tag`` for the parameters every type shares), or the key of an earlier parameter of
the type that finds the same values the same way (Patient's ``phonetic`` searches the rows of
``Patient.name``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import ig
from fhir_server.search.fhirpath import Accessor, Unsupported, compile_expression, compile_relative
from fhir_server.spec import compartment_patient, search_parameters

INDEXED_KINDS = frozenset(
    {"string", "token", "reference", "date", "number", "quantity", "uri", "composite"}
)
COLUMN_PARAMS = frozenset({"_id", "_lastUpdated"})
"""Common parameters answered from the resource table, not from index rows."""


@dataclass(frozen=True, slots=True)
class SearchParam:
    key: str
    base: str
    code: str
    kind: str
    url: str
    expression: str
    targets: tuple[str, ...] = ()
    components: tuple[tuple[str, str], ...] = ()
    accessor: Accessor | None = field(default=None, compare=False, repr=False)

    @property
    def indexed(self) -> bool:
        return self.accessor is not None


def _build(base: str, code: str, definition: Mapping[str, Any], root: str) -> SearchParam:
    kind = str(definition["type"])
    expression = str(definition.get("expression") or "")
    components = definition.get("component") or ()
    accessor = None
    searchable = kind in INDEXED_KINDS and bool(expression) and code not in COLUMN_PARAMS
    if searchable and (kind != "composite" or _components_compile(components)):
        accessor = compile_expression(expression, root)
    targets = definition.get("target") or ()
    return SearchParam(
        key=f"{base}.{code}",
        base=base,
        code=code,
        kind=kind,
        url=str(definition["url"]),
        expression=expression,
        targets=tuple(targets),
        components=tuple((c["code"], c["expression"]) for c in components),
        accessor=accessor,
    )


def _components_compile(components: Any) -> bool:
    """Whether each component's expression can be evaluated on the composite's element.
    MolecularSequence's two variant coordinates read one component from the resource root
    (``%resource``), which a component cannot: they are not indexed, so they are unknown to
    search (ignored, or refused under strict handling) and absent from the
    CapabilityStatement."""
    try:
        for component in components:
            compile_relative(str(component["expression"]))
    except Unsupported:
        return False
    return True


@cache
def _common() -> dict[str, SearchParam]:
    return {
        code: _build("Resource", code, definition, "Resource")
        for code, definition in search_parameters()["Resource"].items()
    }


@cache
def _ig_parameters() -> dict[str, dict[str, dict[str, Any]]]:
    """The MHS IG's SearchParameters, shaped like the core data: ``{type: {code: definition}}``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in ig.conformance_resources():
        if resource.get("resourceType") != "SearchParameter":
            continue
        for base in resource.get("base", []):
            out.setdefault(str(base), {})[str(resource["code"])] = resource
    return out


@cache
def params_for(type: str) -> dict[str, SearchParam]:
    """Every search parameter of ``type`` by code: the common ones, the core ones of the type,
    then the IG's (which may not redefine a core parameter)."""
    out = dict(_common())
    for code, definition in search_parameters().get(type, {}).items():
        out[code] = _build(type, code, definition, type)
    for code, definition in _ig_parameters().get(type, {}).items():
        if code not in out:
            out[code] = _build(type, code, definition, type)
    return _sharing_rows(out)


def _sharing_rows(params: dict[str, SearchParam]) -> dict[str, SearchParam]:
    """Parameters that find the same values the same way (same type, expression, targets and
    components, like Patient's ``name`` and ``phonetic``) share the first one's key: its rows
    are extracted and stored once and both search them."""
    first: dict[tuple[Any, ...], str] = {}
    out = {}
    for code, param in params.items():
        same = (param.kind, param.expression, param.targets, param.components)
        key = first.setdefault(same, param.key) if param.indexed else param.key
        out[code] = param if key == param.key else replace(param, key=key)
    return out


def lookup(type: str, code: str) -> SearchParam | None:
    return params_for(type).get(code)


@cache
def indexed_params(type: str) -> tuple[SearchParam, ...]:
    """The parameters whose values are extracted into index rows on every write, one for
    each key."""
    unique: dict[str, SearchParam] = {}
    for param in params_for(type).values():
        if param.indexed:
            unique.setdefault(param.key, param)
    return tuple(unique.values())


def compartment_params(type: str) -> tuple[str, ...]:
    """Codes of the parameters that put a ``type`` resource in a Patient's compartment."""
    return tuple(compartment_patient().get(type, ()))


def warm() -> None:
    """Compile every served type's expressions (at start-up, not on the first request)."""
    from fhir_server.validation import served_types  # the models: not for extraction alone

    for type in served_types():
        indexed_params(type)
