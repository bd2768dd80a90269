"""``_summary`` and ``_elements``: return part of each resource, tagged SUBSETTED.

Spec: https://hl7.org/fhir/R4/search.html#summary and #elements
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from fhir_server.spec import summary_elements

SUBSETTED = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
    "code": "SUBSETTED",
    "display": "subsetted",
}
_ALWAYS = ("resourceType", "id", "meta")


def _wanted(key: str, names: Iterable[str]) -> bool:
    bare = key.lstrip("_")
    for name in names:
        if name.endswith("[x]"):
            stem = name[:-3]
            if bare.startswith(stem) and bare[len(stem) : len(stem) + 1].isupper():
                return True
        elif bare == name:
            return True
    return False


def _tagged(resource: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    meta = dict(kept.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept


def subset(
    resource: dict[str, Any], *, summary: str | None, elements: tuple[str, ...]
) -> dict[str, Any]:
    """The part of ``resource`` a client asked for (the whole when nothing was asked)."""
    type_name = resource.get("resourceType", "")
    if elements:
        mandatory = summary_elements().get(type_name, {}).get("mandatory", [])
        wanted = (*elements, *mandatory)
        kept = {k: v for k, v in resource.items() if k in _ALWAYS or _wanted(k, wanted)}
        return _tagged(resource, kept)
    if summary == "true":
        names: Iterable[str] = summary_elements().get(type_name, {}).get("summary", [])
        kept = {k: v for k, v in resource.items() if k in _ALWAYS or _wanted(k, names)}
        return _tagged(resource, kept)
    if summary == "text":
        mandatory = summary_elements().get(type_name, {}).get("mandatory", [])
        kept = {
            k: v
            for k, v in resource.items()
            if k in _ALWAYS or k == "text" or _wanted(k, mandatory)
        }
        return _tagged(resource, kept)
    if summary == "data":
        return _tagged(resource, {k: v for k, v in resource.items() if k != "text"})
    return resource
