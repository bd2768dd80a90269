"""The only module that imports fhir.resources: R4B models for the types R4 and R4B share.

fhir.resources ships R4B (4.3.0) models, identical to R4 for the types served here; the
official R4 examples prove it in the tests.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from fhir.resources.R4B import fhirtypes, get_fhir_model_class
from pydantic import ValidationError

from fhir_server.errors import Issue
from fhir_server.spec import r4_resource_types


@cache
def served_types() -> frozenset[str]:
    """R4 resource types that R4B also has: the types this server serves.

    Read from the library's list of model types, without importing the models (2 s for all
    of them, which a short command need not pay): each is imported when first used."""
    return frozenset(name for name in r4_resource_types() if hasattr(fhirtypes, f"{name}Type"))


def _path(resource_type: str, loc: tuple[int | str, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType"
        else:
            path += f".{part}"
    return path


def model_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """Issues the R4B model finds (required elements, choice types, value formats)."""
    resource_type = str(resource.get("resourceType"))
    model = get_fhir_model_class(resource_type)
    try:
        model.model_validate(resource)
    except ValidationError as exc:
        issues = []
        for err in exc.errors(include_url=False, include_input=False):
            message = " ".join(str(err["msg"]).split())
            message = message.removeprefix("Value error, ")
            issues.append(
                Issue(
                    code="required" if "required" in message else "value",
                    diagnostics=message,
                    expression=(_path(resource_type, tuple(err["loc"])),),
                )
            )
        return issues
    return []


def load_all() -> None:
    """Import the model of every served type (slow the first time in a process)."""
    for name in served_types():
        get_fhir_model_class(name)
