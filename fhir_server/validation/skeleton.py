"""The skeleton of a JSON resource: its structure with the primitive values taken out.

``skeleton(resource)`` returns ``(key, values)``. The key is a hashable picture of every object,
array and property name, in order, with each primitive value replaced by its Python type; the
values are the primitives it took out, in the same depth-first order. Two resources with the
same key differ only in those values. ``resourceType`` stays in the key verbatim: it decides
which model a (contained) resource is checked against.

How the key encodes a node (a property's value):

* an object: a tuple of ``(name, node)`` pairs (``()`` when empty);
* a primitive: its type (``str``, ``bool``, ``int``, ``float``, ``Decimal``; ``NoneType`` for
  ``null``, which is not taken out as a value);
* an array of primitives: ``("*", type, ...)``, and the whole array is one value;
* an array of objects (``null`` allowed among them): ``("[", node-or-None, ...)``;
* a ``resourceType``: ``("=", value)``.

Anything else (an array mixing objects and primitives, arrays in arrays, values that are not
JSON) has no skeleton: ``None``.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from decimal import Decimal
from typing import Any, TypeAlias

__all__ = ["MAX_VALUES", "OBJECT_ARRAY", "PRIMITIVE_ARRAY", "VERBATIM", "Key", "skeleton"]

MAX_VALUES = 5_000
"""Resources with more primitive values than this get no skeleton (a whole document Bundle
is unlikely to share its structure with another; its key would only take memory)."""

PRIMITIVE_ARRAY = "*"
OBJECT_ARRAY = "["
VERBATIM = "="

Key: TypeAlias = tuple[tuple[str, Any], ...]

_PRIMITIVES = frozenset({str, bool, int, float, Decimal})
_NONE = type(None)


class _NoSkeleton(Exception):
    """The value is not one the key can picture."""


def skeleton(resource: Mapping[str, Any]) -> tuple[Key, list[Any]] | None:
    """The key and the primitive values of ``resource``, or None when it has none."""
    values: list[Any] = []
    try:
        key = _object(resource, values)
    except _NoSkeleton:
        return None
    if len(values) > MAX_VALUES:
        return None
    return key, values


def _object(node: Mapping[str, Any], values: list[Any]) -> Key:
    parts: list[tuple[str, Any]] = []
    for name, value in node.items():
        kind = type(value)
        if kind is dict:
            parts.append((name, _object(value, values)))
        elif kind is list:
            parts.append((name, _array(value, values)))
        elif kind is str and name == "resourceType":
            parts.append((name, (VERBATIM, value)))
        elif kind in _PRIMITIVES:
            values.append(value)
            parts.append((name, kind))
        elif kind is _NONE:
            parts.append((name, kind))
        else:
            raise _NoSkeleton
    return tuple(parts)


def _array(items: list[Any], values: list[Any]) -> tuple[Hashable, ...]:
    kinds = [type(item) for item in items]
    if all(kind in _PRIMITIVES or kind is _NONE for kind in kinds):
        values.append(items)
        return (PRIMITIVE_ARRAY, *kinds)
    if all(kind is dict or kind is _NONE for kind in kinds):
        return (OBJECT_ARRAY, *(None if item is None else _object(item, values) for item in items))
    raise _NoSkeleton
