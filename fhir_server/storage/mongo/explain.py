"""MongoDB's explain output -> readable lines (stage, index, bounds), like SQLite's
``EXPLAIN QUERY PLAN``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def _winning_plans(node: Any) -> Iterator[Mapping[str, Any]]:
    """Every ``winningPlan`` in an explain result, wherever the server nests it."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            if key == "winningPlan" and isinstance(value, Mapping):
                yield value.get("queryPlan", value)
            else:
                yield from _winning_plans(value)
    elif isinstance(node, list):
        for item in node:
            yield from _winning_plans(item)


def _stages(stage: Mapping[str, Any], depth: int) -> Iterator[str]:
    line = "  " * depth + str(stage.get("stage", "?"))
    if "indexName" in stage:
        line += f" {stage['indexName']}"
    if "indexBounds" in stage:
        line += f" {stage['indexBounds']}"
    if "filter" in stage:
        line += f" filter={stage['filter']}"
    yield line
    children = list(stage.get("inputStages", ()))
    if "inputStage" in stage:
        children.insert(0, stage["inputStage"])
    for child in children:
        yield from _stages(child, depth + 1)


def describe(result: Mapping[str, Any]) -> list[str]:
    """The winning plans' stage trees, one line per stage."""
    lines: list[str] = []
    for plan in _winning_plans(result):
        lines.extend(_stages(plan, 0))
    return lines or ["(the server reported no winning plan)"]
