"""Strict JSON shape of a FHIR R4 resource, per https://hl7.org/fhir/R4/json.html.

The R4B models accept ``"active": "true"``, ``[]``, ``{}``, ``null`` and ``""``; json.html does
not. This module checks only the JSON representation, driven by the official StructureDefinitions
compiled into ``fhir_server/spec/elements.json.gz`` (``tools/build_spec.py``):

* every property names an element of its type (``resourceType`` only at a resource's root);
* an element that repeats is a JSON array, one that does not is not;
* primitives have their JSON type: boolean -> ``true``/``false``; integer, unsignedInt,
  positiveInt -> a number without a fraction; decimal -> a number; all others -> a non-empty
  string;
* no ``null`` (except in a repeating primitive paired with its ``_name`` array), no empty array,
  no empty object;
* ``_name`` only next to a primitive, holding only ``id`` and ``extension``;
* at most one type of a choice element (``value[x]``);
* contained resources (``contained``, ``Bundle.entry.resource``, ...) by their own type.

Cardinality minimums, value formats and invariants are left to the models.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Mapping
from contextlib import suppress
from decimal import Decimal
from functools import cache
from importlib import resources
from math import isfinite
from typing import Any, NamedTuple, TypeAlias

from fhir_server.errors import Issue

__all__ = ["shape_issues", "values_hold"]

MAX_DEPTH = 64
"""Deepest nesting of JSON objects checked; deeper content gets one issue."""

# Kinds of element, by how JSON carries them. The primitive kinds come first.
_BOOLEAN, _INTEGER, _NUMBER, _STRING, _COMPLEX, _RESOURCE = range(6)
_KIND_OF_JSON = {"boolean": _BOOLEAN, "integer": _INTEGER, "number": _NUMBER, "string": _STRING}
# The Python type json.loads gives a valid value of each primitive kind: the fast path. A decimal
# may also be a float or, with json.loads(parse_float=Decimal), a Decimal: both are checked for
# finiteness off the fast path.
_FAST_TYPE: dict[int, type[Any]] = {_BOOLEAN: bool, _INTEGER: int, _NUMBER: int, _STRING: str}
_EXPECTED = {
    _BOOLEAN: "a JSON boolean",
    _INTEGER: "a JSON number without a fraction",
    _NUMBER: "a JSON number",
    _STRING: "a JSON string",
}

# How check_object treats an element: the common cases inline, the rest in a method.
_PRIMITIVE, _OBJECT, _ARRAY, _OTHER = range(4)

# Where a value is, built only when an issue needs it: the root resource's type, or
# (parent, element name, index in its array or -1).
_Path: TypeAlias = "str | tuple[_Path, str, int]"


class _Element(NamedTuple):
    """One JSON property of a type: ``valueString`` of Extension, ``name`` of Patient, ..."""

    kind: int
    type_name: str  # FHIR type (``boolean``, ``HumanName``) or backbone path (``Patient.contact``)
    array: bool
    choice: str | None  # ``value[x]`` for ``valueString``; None when not a choice
    attribute: bool  # Element.id, Extension.url: no ``_name`` companion
    fast: type[Any] | None  # a primitive's valid Python type (see _FAST_TYPE); None if complex
    children: _Table  # elements of a complex type; empty otherwise


# The elements of one type by JSON name: (mode, fast type or children, element). The first two
# are all the hot loop needs for a valid value.
_Table: TypeAlias = "dict[str, tuple[int, Any, _Element]]"


class _Spec(NamedTuple):
    resources: dict[str, _Table]
    element: _Table  # the content of a ``_name`` companion: id and extension


class _Enough(Exception):
    """Raised when ``max_issues`` issues are found."""


def _read_elements() -> Any:
    data = resources.files("fhir_server.spec").joinpath("elements.json.gz").read_bytes()
    return json.loads(gzip.decompress(data))


@cache
def _spec() -> _Spec:
    data = _read_elements()
    kinds: dict[str, int] = {name: _KIND_OF_JSON[j] for name, j in data["primitives"].items()}
    kinds["Resource"] = _RESOURCE
    tables: dict[str, _Table] = {name: {} for name in data["types"]}
    for owner, elements in data["types"].items():
        table = tables[owner]
        for name, entry in elements.items():
            array, attribute = bool(entry["array"]), bool(entry.get("attribute", False))
            types: list[str] = entry["types"]
            if name.endswith("[x]"):
                stem = name[:-3]
                named = [(stem + t[0].upper() + t[1:], t, name) for t in types]
            else:
                named = [(name, types[0], None)]
            for json_name, type_, choice in named:
                if json_name in table:
                    raise ValueError(f"{owner}.{json_name} is defined twice")
                kind = kinds.get(type_, _COMPLEX)
                element = _Element(
                    kind=kind,
                    type_name=type_,
                    array=array,
                    choice=choice,
                    attribute=attribute,
                    fast=_FAST_TYPE.get(kind),
                    children=tables.get(type_, {}),
                )
                if array:
                    table[json_name] = (_ARRAY, None, element)
                elif choice is not None or kind == _RESOURCE:
                    table[json_name] = (_OTHER, None, element)
                elif element.fast is not None:
                    table[json_name] = (_PRIMITIVE, element.fast, element)
                else:
                    table[json_name] = (_OBJECT, element.children, element)
    return _Spec(
        resources={name: tables[name] for name in data["resources"]},
        element=tables["Element"],
    )


def shape_issues(resource: Mapping[str, Any], *, max_issues: int = 50) -> list[Issue]:
    """All JSON-representation errors of one resource (json.html), as Issues with a FHIRPath
    expression such as Patient.name[0].given[1]."""
    checker = _Checker(_spec(), max_issues)
    if max_issues > 0:
        with suppress(_Enough):
            checker.check_resource(resource, "", 1)
    return checker.issues


def values_hold(values: list[Any]) -> bool:
    """The rules above that look at a primitive's value, not at the structure around it:
    strings are not empty, numbers are finite. ``values`` are a skeleton's (see
    ``fhir_server.validation.skeleton``): a resource whose skeleton passed :func:`shape_issues`
    passes again exactly when these hold (the skeleton pictures every name, nesting, array,
    null and JSON type)."""
    for value in values:
        kind = type(value)
        if kind is str:
            if not value:
                return False
        elif kind is list:  # a primitive array
            if not values_hold(value):
                return False
        elif kind is float:
            if not isfinite(value):
                return False
        elif kind is Decimal and not value.is_finite():
            return False
    return True


def _render(path: _Path) -> str:
    """The FHIRPath of ``path``: ``Patient.name[0].given``."""
    parts: list[str] = []
    while isinstance(path, tuple):
        path, name, index = path
        parts.append(f".{name}[{index}]" if index >= 0 else f".{name}")
    parts.append(path)
    return "".join(reversed(parts)).removeprefix(".")


def _json_type(value: object) -> str:
    """What ``value`` is, for a message: ``a string``, ``an array``, ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float | Decimal):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return f"a Python {type(value).__name__}"


class _Checker:
    __slots__ = ("issues", "max_issues", "spec", "too_deep")

    def __init__(self, spec: _Spec, max_issues: int) -> None:
        self.spec = spec
        self.max_issues = max_issues
        self.issues: list[Issue] = []
        self.too_deep = False

    def add(self, code: str, diagnostics: str, path: _Path) -> None:
        expression = _render(path)
        self.issues.append(
            Issue(
                code=code, diagnostics=diagnostics, expression=(expression,) if expression else ()
            )
        )
        if len(self.issues) >= self.max_issues:
            raise _Enough

    # -- resources ------------------------------------------------------------------------------

    def check_resource(self, obj: object, path: _Path, depth: int) -> None:
        """A resource at ``path`` (empty for the root, whose path is its type)."""
        if type(obj) is not dict and not isinstance(obj, Mapping):
            self.add("structure", f"a resource must be a JSON object, not {_json_type(obj)}", path)
            return
        if not obj:
            self.add("structure", "empty object: a resource needs a resourceType", path)
            return
        resource_type = obj.get("resourceType")
        if isinstance(resource_type, str):
            elements = self.spec.resources.get(resource_type)
            if elements is not None:
                self.check_object(elements, obj, path or resource_type, depth, True)
                return
            message = f"unknown resourceType '{resource_type}'"
        elif resource_type is None:
            message = "missing resourceType"
        else:
            message = f"resourceType must be a JSON string, not {_json_type(resource_type)}"
        self.add("structure", message, (path, "resourceType", -1))

    # -- objects --------------------------------------------------------------------------------

    def check_object(
        self,
        elements: _Table,
        obj: Mapping[str, Any],
        path: _Path,
        depth: int,
        is_resource: bool,
    ) -> None:
        """The properties of one non-empty JSON object whose elements are ``elements``."""
        if depth > MAX_DEPTH:
            if not self.too_deep:
                self.too_deep = True
                self.add("structure", f"too deeply nested (over {MAX_DEPTH} levels)", path)
            return
        choices: dict[str, str] | None = None
        for key, value in obj.items():
            entry = elements.get(key)
            if entry is None:
                self.other_property(elements, obj, key, value, path, depth, is_resource)
                continue
            mode, fast, element = entry
            if mode == _PRIMITIVE:
                if type(value) is not fast or (fast is str and not value):
                    self.primitive(element, value, (path, key, -1))
            elif mode == _OBJECT:
                if type(value) is dict and value:
                    self.check_object(fast, value, (path, key, -1), depth + 1, False)
                else:
                    self.complex(element, value, (path, key, -1), depth)
            elif mode == _ARRAY:
                if type(value) is list and value:
                    self.check_array(element, key, value, obj, path, depth)
                else:
                    self.not_an_array(element, key, value, obj, path, depth)
            else:
                choices = self.check_other(element, key, value, path, depth, choices)

    def check_other(
        self,
        element: _Element,
        key: str,
        value: object,
        path: _Path,
        depth: int,
        choices: dict[str, str] | None,
    ) -> dict[str, str] | None:
        """One type of a choice element, or a resource in a resource; returns ``choices``, the
        choice elements met so far in this object: ``{"value[x]": "valueString"}``."""
        choice = element.choice
        if choice is not None:
            if choices is None:
                choices = {choice: key}
            elif choice in choices:
                self.add(
                    "structure",
                    f"choice element {choice} given twice: '{choices[choice]}' and '{key}'",
                    (path, key, -1),
                )
            else:
                choices[choice] = key
        fast = element.fast
        if fast is not None:
            if type(value) is not fast or (fast is str and not value):
                self.primitive(element, value, (path, key, -1))
        else:
            self.complex(element, value, (path, key, -1), depth)
        return choices

    def check_array(
        self,
        element: _Element,
        key: str,
        values: list[Any],
        obj: Mapping[str, Any],
        path: _Path,
        depth: int,
    ) -> None:
        """The items of a non-empty array of a repeating element."""
        fast, children = element.fast, element.children
        if fast is not None:
            for i, item in enumerate(values):
                if type(item) is not fast or (fast is str and not item):
                    if item is None:
                        self.null_item(obj, key, values, i, path)
                    else:
                        self.primitive(element, item, (path, key, i))
        elif element.kind == _COMPLEX:
            for i, item in enumerate(values):
                if type(item) is dict and item:
                    self.check_object(children, item, (path, key, i), depth + 1, False)
                else:
                    self.complex(element, item, (path, key, i), depth)
        else:
            for i, item in enumerate(values):
                self.check_resource(item, (path, key, i), depth + 1)

    def other_property(
        self,
        elements: _Table,
        obj: Mapping[str, Any],
        key: str,
        value: object,
        path: _Path,
        depth: int,
        is_resource: bool,
    ) -> None:
        """A property that is not an element: resourceType, a ``_name`` companion or unknown."""
        if key == "resourceType" and is_resource:
            return
        entry = elements.get(key[1:]) if key[:1] == "_" else None
        element = entry[2] if entry is not None else None
        if element is None or element.fast is None or element.attribute:
            if key == "fhir_comments":
                message = "unknown element 'fhir_comments' (R4 JSON has no comments)"
            elif key == "resourceType":
                message = "unknown element 'resourceType' (only a resource has one)"
            else:
                message = f"unknown element '{key}'"
            self.add("structure", message, (path, key, -1))
            return
        name = key[1:]
        if not element.array:
            self.companion(value, key, (path, name, -1), depth)
            return
        if not isinstance(value, list):
            self.add(
                "structure",
                f"'{key}' must be a JSON array like '{name}', not {_json_type(value)}",
                (path, name, -1),
            )
            return
        if not value:
            self.add("structure", f"empty array for '{key}'", (path, name, -1))
            return
        values = obj.get(name)
        if isinstance(values, list) and len(values) != len(value):
            self.add(
                "structure",
                f"'{key}' has {len(value)} items but '{name}' has {len(values)}",
                (path, name, -1),
            )
            return
        for i, item in enumerate(value):
            if item is not None:
                self.companion(item, key, (path, name, i), depth)
            elif not isinstance(values, list):
                # With a value array, a null on both sides is reported for the value.
                self.add(
                    "structure", f"null in '{key}' without a value in '{name}'", (path, name, i)
                )

    def companion(self, value: object, key: str, path: _Path, depth: int) -> None:
        """The ``_name`` object of a primitive: only ``id`` and ``extension``."""
        if (type(value) is dict or isinstance(value, Mapping)) and value:
            self.check_object(self.spec.element, value, path, depth + 1, False)
        elif isinstance(value, Mapping):
            self.add("structure", f"empty object for '{key}'", path)
        elif value is None:
            self.add("structure", f"null for '{key}'", path)
        else:
            self.add(
                "structure",
                f"'{key}' must be a JSON object (id, extension), not {_json_type(value)}",
                path,
            )

    # -- the slow paths: errors and Python types json.loads does not give ----------------------

    def not_an_array(
        self,
        element: _Element,
        key: str,
        value: object,
        obj: Mapping[str, Any],
        path: _Path,
        depth: int,
    ) -> None:
        """The value of a repeating element that is not a non-empty ``list``."""
        if isinstance(value, list) and value:
            self.check_array(element, key, value, obj, path, depth)
        elif isinstance(value, list):
            self.add("structure", f"empty array for '{key}'", (path, key, -1))
        elif value is None:
            self.add("structure", f"null for '{key}'", (path, key, -1))
        else:
            self.add(
                "structure",
                f"'{key}' repeats: it must be a JSON array, not {_json_type(value)}",
                (path, key, -1),
            )

    def null_item(
        self, obj: Mapping[str, Any], key: str, values: list[Any], index: int, path: _Path
    ) -> None:
        """``null`` in a repeating primitive: allowed where ``_name`` has an object at ``index``."""
        companions = obj.get(f"_{key}")
        if (
            isinstance(companions, list)
            and len(companions) == len(values)
            and companions[index] is not None
        ):
            return
        self.add(
            "structure",
            f"null in '{key}' without an object at the same index of '_{key}'",
            (path, key, index),
        )

    def primitive(self, element: _Element, value: object, path: _Path) -> None:
        """A primitive value that is not of its fast type, or an empty string."""
        kind, type_ = element.kind, element.type_name
        if value is None:
            self.add("structure", f"null for {type_} element", path)
        elif not element.array and isinstance(value, list | tuple):
            self.add("structure", f"{type_} element does not repeat: it must not be an array", path)
        elif isinstance(value, str) and kind == _STRING:
            if not value:
                self.add("value", f"empty string for {type_} value", path)
        elif isinstance(value, bool):
            if kind != _BOOLEAN:
                self.add("value", f"{type_} value must be {_EXPECTED[kind]}, not a boolean", path)
        elif isinstance(value, int) and kind in (_INTEGER, _NUMBER):
            return
        elif isinstance(value, float | Decimal) and kind in (_INTEGER, _NUMBER):
            if not (value.is_finite() if isinstance(value, Decimal) else isfinite(value)):
                self.add("value", f"{type_} value must be a finite number, not {value}", path)
            elif kind == _INTEGER:
                self.add("value", f"{type_} value must be {_EXPECTED[kind]}, not {value}", path)
        else:
            message = f"{type_} value must be {_EXPECTED[kind]}, not {_json_type(value)}"
            self.add("value", message, path)

    def complex(self, element: _Element, value: object, path: _Path, depth: int) -> None:
        """A value of a complex type or a resource that the fast path did not take."""
        if isinstance(value, Mapping) and value:
            if element.kind == _COMPLEX:
                self.check_object(element.children, value, path, depth + 1, False)
            else:
                self.check_resource(value, path, depth + 1)
        elif isinstance(value, Mapping):
            self.add("structure", f"empty object for {element.type_name} element", path)
        elif value is None:
            self.add("structure", f"null for {element.type_name} element", path)
        elif not element.array and isinstance(value, list | tuple):
            self.add(
                "structure",
                f"{element.type_name} element does not repeat: it must not be an array",
                path,
            )
        else:
            self.add(
                "structure",
                f"{element.type_name} must be a JSON object, not {_json_type(value)}",
                path,
            )
