"""Required bindings on ``code`` elements: the value must be one of the value set's codes.

The codes come from the official R4 ValueSets and CodeSystems, compiled by
``tools/build_bindings.py`` into ``fhir_server/spec/required-codes.json``.
Spec: https://hl7.org/fhir/R4/terminologies.html#required
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from functools import cache
from typing import Any

from fhir_server.errors import Issue
from fhir_server.spec import load

Rule = tuple[tuple[str, ...], frozenset[str]]


@cache
def _rules() -> dict[str, list[Rule]]:
    data: dict[str, dict[str, list[str]]] = load("required-codes.json")
    return {
        type: [(tuple(path.split(".")[1:]), frozenset(codes)) for path, codes in paths.items()]
        for type, paths in data.items()
    }


def _values(node: Any, parts: tuple[str, ...], where: str) -> Iterator[tuple[Any, str]]:
    if not parts:
        yield node, where
        return
    child = node.get(parts[0]) if isinstance(node, Mapping) else None
    if child is None:
        return
    if isinstance(child, list):
        for i, item in enumerate(child):
            yield from _values(item, parts[1:], f"{where}.{parts[0]}[{i}]")
    else:
        yield from _values(child, parts[1:], f"{where}.{parts[0]}")


def binding_issues(resource: Mapping[str, Any], where: str | None = None) -> list[Issue]:
    """Codes of ``resource`` (and its contained resources) outside their required value set."""
    type = str(resource.get("resourceType"))
    where = where or type
    issues = []
    for parts, allowed in _rules().get(type, ()):
        for value, path in _values(resource, parts, where):
            if isinstance(value, str) and value not in allowed:
                shown = ", ".join(sorted(allowed)[:12]) + (", ..." if len(allowed) > 12 else "")
                issues.append(
                    Issue(
                        code="code-invalid",
                        diagnostics=f"{value!r} is not a code of the required value set ({shown})",
                        expression=(path,),
                    )
                )
    for i, contained in enumerate(resource.get("contained") or ()):
        if isinstance(contained, Mapping):
            issues.extend(binding_issues(contained, f"{where}.contained[{i}]"))
    return issues
