"""Search parameter expressions (a FHIRPath subset) compiled once into fast Python accessors.

The official R4 expressions are mostly paths with a few functions: ``Patient.name.family``,
``(Observation.value as Quantity)``, ``Encounter.subject.where(resolve() is Patient)``,
``Patient.telecom.where(system='phone')``, ``Condition.onset.ofType(Age)``. Those compile
to a chain of steps over the JSON, tracking each node's FHIR type with the element
definitions (``fhir_server/spec/elements.json.gz``), so choice elements (``value[x]``) and
backbone elements resolve exactly. Anything else (``exists()``, boolean logic, ...) falls back
to fhirpathpy, compiled once as well; those nodes carry no type (``None``).

Spec: https://hl7.org/fhir/R4/fhirpath.html and http://hl7.org/fhirpath/N1/
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

Node = tuple[Any, str | None]
"""A value from a resource and its FHIR type name (``None`` when not known)."""

Accessor = Callable[[dict[str, Any]], list[Node]]

_STEP = re.compile(
    r"""\.(?:
        where\(resolve\(\)\s+is\s+(?P<resolve>[A-Z][A-Za-z]*)\)
      | where\((?P<field>[a-z][A-Za-z]*)\s*=\s*'(?P<literal>[^']*)'\)
      | (?:ofType|as)\((?P<oftype>[A-Za-z]+)\)
      | extension\('(?P<extension>[^']*)'\)
      | (?P<name>[a-z][A-Za-z0-9]*)(?P<first>\[0\])?
    )""",
    re.VERBOSE,
)
_AS = re.compile(r"^\((?P<path>.+?)\s+as\s+(?P<type>[A-Za-z]+)\)(?P<rest>.*)$")


class Unsupported(ValueError):
    """The expression is outside the compiled subset."""


@cache
def _elements() -> dict[str, Any]:
    raw = resources.files("fhir_server.spec").joinpath("elements.json.gz").read_bytes()
    data: dict[str, Any] = json.loads(gzip.decompress(raw))
    return data


def _definitions(type_name: str) -> dict[str, Any] | None:
    types: dict[str, dict[str, Any]] = _elements()["types"]
    return types.get(type_name)


def _cap(type_name: str) -> str:
    return type_name[0].upper() + type_name[1:]


_Plan = tuple[tuple[str, str | None], ...]


@cache
def _child_plan(type_name: str, name: str) -> _Plan | None:
    """The JSON keys ``name`` reads on a ``type_name`` node, each with its FHIR type;
    ``None`` when the type is not known (read ``name`` as is)."""
    definitions = _definitions(type_name)
    if definitions is None:
        return None
    element = definitions.get(name)
    if element is not None:
        types = element["types"]
        return ((name, types[0] if len(types) == 1 else None),)
    choice = definitions.get(name + "[x]")
    if choice is not None:
        return tuple((name + _cap(option), option) for option in choice["types"])
    return ()


class _Child:
    __slots__ = ("name", "plans")

    def __init__(self, name: str) -> None:
        self.name = name
        self.plans: dict[str, _Plan | None] = {}  # _child_plan of name, by type, as met

    def __call__(self, nodes: list[Node]) -> list[Node]:
        out: list[Node] = []
        name = self.name
        plans = self.plans
        for node, type_name in nodes:
            if not isinstance(node, dict):
                continue
            if type_name == "Resource":
                type_name = node.get("resourceType")
            if not type_name:
                plan = None
            elif type_name in plans:
                plan = plans[type_name]
            else:
                plan = plans[type_name] = _child_plan(type_name, name)
            if plan is None:
                value = node.get(name)
                if value is not None:
                    if isinstance(value, list):
                        out.extend((item, None) for item in value)
                    else:
                        out.append((value, None))
                continue
            for key, child_type in plan:
                value = node.get(key)
                if value is None:
                    continue
                if isinstance(value, list):
                    out.extend((item, child_type) for item in value)
                else:
                    out.append((value, child_type))
        return out


@dataclass(frozen=True, slots=True)
class _OfType:
    type_name: str

    def __call__(self, nodes: list[Node]) -> list[Node]:
        wanted = self.type_name
        folded = wanted.lower()  # FHIRPath writes primitives either way: DateTime, dateTime
        return [
            (node, type_name or wanted)
            for node, type_name in nodes
            if type_name is None or type_name.lower() == folded
        ]


@dataclass(frozen=True, slots=True)
class _ResolveIs:
    target: str

    def __call__(self, nodes: list[Node]) -> list[Node]:
        out = []
        for node, type_name in nodes:
            reference = node.get("reference") if isinstance(node, dict) else None
            if isinstance(reference, str):
                path = reference.split("?", 1)[0].split("/_history/", 1)[0].rstrip("/")
                parts = path.split("/")
                if len(parts) >= 2 and parts[-2] == self.target:
                    out.append((node, type_name))
        return out


@dataclass(frozen=True, slots=True)
class _WhereEquals:
    field: str
    literal: str

    def __call__(self, nodes: list[Node]) -> list[Node]:
        return [
            (node, type_name)
            for node, type_name in nodes
            if isinstance(node, dict) and node.get(self.field) == self.literal
        ]


def _first(nodes: list[Node]) -> list[Node]:
    return nodes[:1]


Step = Callable[[list[Node]], list[Node]]


def _compile_path(path: str, root: str) -> list[Step]:
    if path != root and not path.startswith(root + "."):
        raise Unsupported(f"{path!r} does not start at {root}")
    rest = path[len(root) :]
    steps: list[Step] = []
    while rest:
        match = _STEP.match(rest)
        if match is None:
            raise Unsupported(f"cannot compile {rest!r}")
        rest = rest[match.end() :]
        if match["resolve"]:
            steps.append(_ResolveIs(match["resolve"]))
        elif match["field"]:
            steps.append(_WhereEquals(match["field"], match["literal"]))
        elif match["oftype"]:
            steps.append(_OfType(match["oftype"]))
        elif match["extension"] is not None:
            steps.append(_Child("extension"))
            steps.append(_WhereEquals("url", match["extension"]))
        else:
            steps.append(_Child(match["name"]))
            if match["first"]:
                steps.append(_first)
    return steps


def _as_steps(part: str, root: str) -> list[Step]:
    """One union member, with an optional ``(path as Type)`` prefix."""
    match = _AS.match(part)
    if match is None:
        return _compile_path(part, root)
    steps = _compile_path(match["path"], root)
    steps.append(_OfType(match["type"]))
    rest = match["rest"]
    if rest:
        steps.extend(_compile_path(root + rest, root))
    return steps


def split_union(expression: str) -> list[str]:
    """Top-level ``|`` members of a FHIRPath expression."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
        elif not quoted and depth == 0 and ch == "|":
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


_EXISTS_NOT_FALSE = re.compile(r"^(?P<path>[A-Za-z.]+)\.exists\(\) and (?P=path) != false$")


def _exists_and_not_false(path: str, root: str) -> Accessor:
    """``P.exists() and P != false`` (Patient.deceased): one boolean, always."""
    steps = _compile_path(path, root)

    def run(resource: dict[str, Any]) -> list[Node]:
        nodes: list[Node] = [(resource, root)]
        for step in steps:
            nodes = step(nodes)
        alive = not nodes or all(value is False for value, _ in nodes)
        return [(not alive, "boolean")]

    return run


def _fallback(expression: str) -> Accessor:
    from fhirpathpy import compile as fhirpath_compile

    evaluate = fhirpath_compile(expression)

    def run(resource: dict[str, Any]) -> list[Node]:
        return [(value, None) for value in evaluate(resource, {})]

    return run


def compile_expression(expression: str, root: str) -> Accessor:
    """An accessor returning the nodes ``expression`` selects in a ``root`` resource."""
    special = _EXISTS_NOT_FALSE.match(expression)
    if special is not None:
        return _exists_and_not_false(special["path"], root)
    try:
        chains = [_as_steps(part, root) for part in split_union(expression)]
    except Unsupported:
        return _fallback(expression)
    if len(chains) == 1:
        (chain,) = chains

        def run_one(resource: dict[str, Any]) -> list[Node]:
            nodes: list[Node] = [(resource, root)]
            for step in chain:
                nodes = step(nodes)
                if not nodes:
                    return nodes
            return nodes

        return run_one

    def run(resource: dict[str, Any]) -> list[Node]:
        out: list[Node] = []
        for chain in chains:
            nodes: list[Node] = [(resource, root)]
            for step in chain:
                nodes = step(nodes)
                if not nodes:
                    break
            out.extend(nodes)
        return out

    return run


def compile_relative(expression: str) -> Callable[[Node], list[Node]]:
    """For composite components: an expression evaluated on one node (``code``,
    ``value.as(Quantity) | value.as(Range)``)."""
    normalized = re.sub(r"\.as\(([A-Za-z]+)\)", r".ofType(\1)", expression)
    chains = [_compile_path("$this." + part, "$this") for part in split_union(normalized)]

    def run(node: Node) -> list[Node]:
        out: list[Node] = []
        for chain in chains:
            nodes = [node]
            for step in chain:
                nodes = step(nodes)
            out.extend(nodes)
        return out

    return run
