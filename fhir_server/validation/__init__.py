"""Resource validation on write: JSON shape per json.html, the R4B models, then the codes of
required bindings.

``validate_resource`` is the one entry point; the rest of the server never sees the models.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fhir_server.errors import Unprocessable
from fhir_server.validation import bindings, models, shape

__all__ = ["served_types", "validate_resource", "warm_up"]

served_types = models.served_types


def warm_up() -> None:
    """Load every model class now, so the first write of a type does not stall the server."""
    models.load_all()


def validate_resource(resource: Mapping[str, Any]) -> None:
    """Raise :class:`Unprocessable` (422) naming every bad element of ``resource``."""
    issues = shape.shape_issues(resource)
    if not issues:
        issues = models.model_issues(resource)
    if not issues:
        issues = bindings.binding_issues(resource)
    if issues:
        first = issues[0]
        more = f" (and {len(issues) - 1} more issues)" if len(issues) > 1 else ""
        where = f" at {first.expression[0]}" if first.expression else ""
        raise Unprocessable(
            f"invalid {resource.get('resourceType', 'resource')}{where}: {first.diagnostics}{more}",
            issues=tuple(issues),
        )
