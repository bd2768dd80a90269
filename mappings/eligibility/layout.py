"""The extract's one machine-readable layout (``layout.json``), which drives both readers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    width: int
    type: str  # text | digits | date | instant | email | dmis | code:<table>
    required: bool
    description: str
    start: int  # 0-based offset in a fixed-width line

    @property
    def table(self) -> str | None:
        return self.type.removeprefix("code:") if self.type.startswith("code:") else None


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    version: int
    fields: tuple[Field, ...]

    @property
    def line_width(self) -> int:
        return sum(f.width for f in self.fields)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


@cache
def layout() -> Layout:
    data = json.loads(resources.files(__package__).joinpath("layout.json").read_text())
    fields, start = [], 0
    for f in data["fields"]:
        fields.append(
            Field(
                name=f["name"],
                width=f["width"],
                type=f["type"],
                required=f["required"],
                description=f["description"],
                start=start,
            )
        )
        start += f["width"]
    return Layout(name=data["name"], version=data["version"], fields=tuple(fields))
