"""The indexes the engine creates at open(), one list per collection.

Every index-array index leads with the parameter key ``p``, so one multikey index per
parameter type serves every parameter of that type, as SQLite's ``idx_*_value`` indexes do.
``docs/scaling.md`` prints the same list as mongosh commands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class IndexSpec:
    name: str
    keys: tuple[tuple[str, int], ...]
    unique: bool = False
    options: dict[str, Any] = field(default_factory=dict)


def _on(array: str, *names: str) -> tuple[tuple[str, int], ...]:
    return tuple((f"{array}.{name}", 1) for name in ("p", *names))


RESOURCES: tuple[IndexSpec, ...] = (
    # Not unique: a sharded collection allows unique indexes only on its shard key; rid comes
    # from one counter, so it is unique anyway.
    IndexSpec("rid", (("rid", 1),)),
    IndexSpec("type_rid", (("type", 1), ("deleted", 1), ("rid", 1))),
    IndexSpec("type_id", (("type", 1), ("id", 1))),
    IndexSpec("type_lastUpdated", (("type", 1), ("lastUpdated", 1))),
    IndexSpec("patients", (("patients", 1),)),
    IndexSpec("string", _on("idx_string", "norm")),
    IndexSpec("token", _on("idx_token", "code", "system")),
    IndexSpec("reference", _on("idx_reference", "id", "type")),
    IndexSpec("reference_url", _on("idx_reference", "url")),
    IndexSpec("date", _on("idx_date", "low", "high")),
    IndexSpec("date_high", _on("idx_date", "high")),
    IndexSpec("number", _on("idx_number", "value")),
    IndexSpec("number_top", _on("idx_number", "top")),
    IndexSpec("uri", _on("idx_uri", "uri")),
    IndexSpec("composite", _on("idx_composite", "c1.code", "c1.system")),
)

HISTORY: tuple[IndexSpec, ...] = (
    # The guard that holds on a sharded cluster too: shard history on {type: 1, id: 1}.
    IndexSpec("version", (("type", 1), ("id", 1), ("version", 1)), unique=True),
    IndexSpec("type_seq", (("type", 1), ("_id", -1))),
    IndexSpec("lastUpdated", (("lastUpdated", 1),)),
)

ALL: dict[str, tuple[IndexSpec, ...]] = {"resources": RESOURCES, "history": HISTORY}


async def create_indexes(db: Any) -> None:
    """Create every index of ``ALL`` on ``db`` (idempotent: existing ones are kept)."""
    for collection, specs in ALL.items():
        for spec in specs:
            await db[collection].create_index(
                list(spec.keys), name=spec.name, unique=spec.unique, **spec.options
            )


def mongosh_commands() -> list[str]:
    """The same indexes as mongosh commands (``docs/scaling.md`` prints them)."""
    lines = []
    for collection, specs in ALL.items():
        for spec in specs:
            keys = ", ".join(f'"{name}": {order}' for name, order in spec.keys)
            options = f'name: "{spec.name}"' + (", unique: true" if spec.unique else "")
            lines.append(f"db.{collection}.createIndex({{{keys}}}, {{{options}}})")
    return lines
