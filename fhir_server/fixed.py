"""``@fixed``: a dataclass that type checkers hold frozen, for values made on every request.

A frozen dataclass sets each field through ``object.__setattr__`` on creation: 3 µs for a
ten-field request context against 0.6 µs for a plain one, in a read of 20 µs. A ``@fixed``
class is a plain slotted, keyword-only dataclass at run time, and frozen to mypy
(``dataclass_transform``), which refuses any assignment to its fields. It compares by field
values; unlike a frozen one it cannot be hashed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar, dataclass_transform

_C = TypeVar("_C")


@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def fixed(cls: type[_C]) -> type[_C]:
    return dataclass(slots=True, kw_only=True)(cls)
