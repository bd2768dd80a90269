"""The only module that imports fhir.resources: R4B models for the types R4 and R4B share.

fhir.resources ships R4B (4.3.0) models, identical to R4 for the types served here; the
official R4 examples prove it in the tests.

Full model validation costs 100-300 µs a resource, most of it in Python validators run for
each nested model. What it decides splits in two: the *structure* (which elements are present,
required elements, choice types, nulls, unknown names, the type of each contained resource)
and each primitive *value* against its field's type (a date's format, an id's pattern). The
library has no rule that looks at two values together. So a resource whose skeleton (see
``fhir_server.validation.skeleton``) matches one that passed full validation is valid exactly
when each of its primitive values is valid for the field it sits in, checked with the field's
own type (0.3 µs for most, 2 µs for a date). Anything else (a new skeleton, an invalid value)
goes through full validation, which also words the issues.
``tests/fhir_server/validation/test_models.py`` holds the two paths to the same verdicts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Annotated, Any, get_args

from fhir.resources.R4B import fhirtypes, get_fhir_model_class
from fhir_core.fhirabstractmodel import FHIRAbstractModel
from fhir_core.types import FhirBase, FhirElementOrResourceBase
from pydantic import TypeAdapter, ValidationError

from fhir_server.errors import Issue
from fhir_server.spec import r4_resource_types
from fhir_server.validation.skeleton import (
    OBJECT_ARRAY,
    PRIMITIVE_ARRAY,
    VERBATIM,
    Key,
    skeleton,
)

_LIBRARY_SLIPS = (TypeError, AttributeError)
"""What a few of the library's validators raise, instead of a ValidationError, on a value of
the wrong JSON type (an integer where a url goes). The shape check stops such input first;
both validation paths treat these as an invalid value all the same."""

MAX_SKELETON_VALUES = 200_000
"""Skeletons are remembered until their values add up to this many (then all are forgotten):
about 30 MB at worst; an import of eligibility records needs some 400 skeletons, 10,000 values."""


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
    return model_issues_of(resource, skeleton(resource))


def model_issues_of(
    resource: Mapping[str, Any], found: tuple[Key, list[Any]] | None
) -> list[Issue]:
    """:func:`model_issues` of a resource whose skeleton the caller has (``found``)."""
    if found is not None:
        key, values = found
        plan = _PLANS.get(key)
        if plan and _accepts(plan, values):
            return []
    issues = full_model_issues(resource)
    if not issues and found is not None and found[0] not in _PLANS:
        _remember(*found)
    return issues


Check = Callable[[Any], Any]
"""A primitive field's validator: its type adapter's core validator, called without the
adapter's Python wrapper (0.45 -> 0.2 µs a value; the example Patient has 66)."""


def _accepts(plan: tuple[Check, ...], values: list[Any]) -> bool:
    """Whether each value is valid in its field (the plan of the values' skeleton)."""
    try:
        for check, value in zip(plan, values, strict=True):
            check(value)
    except (ValidationError, *_LIBRARY_SLIPS):
        return False
    return True


def knows_skeleton_of(resource: Mapping[str, Any]) -> bool:
    """Whether a resource shaped like ``resource`` is checked by its values alone."""
    found = skeleton(resource)
    return found is not None and bool(_PLANS.get(found[0]))


def full_model_issues(resource: Mapping[str, Any]) -> list[Issue]:
    """Issues the R4B model finds, by full validation (no memo)."""
    resource_type = str(resource.get("resourceType"))
    model = get_fhir_model_class(resource_type)
    try:
        model.model_validate(resource)
    except _LIBRARY_SLIPS:
        message = "a value of the wrong JSON type for its element"
        return [Issue(code="value", diagnostics=message, expression=(resource_type,))]
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


_PLANS: dict[Key, tuple[Check, ...] | None] = {}
"""Skeleton -> the fields its values sit in, for skeletons that passed full validation
(None: one this module cannot plan, always validated in full)."""
_planned_values = [0]  # values in the skeletons of _PLANS


def _remember(key: Key, values: list[Any]) -> None:
    if _planned_values[0] + len(values) > MAX_SKELETON_VALUES:
        _PLANS.clear()
        _planned_values[0] = 0
    _PLANS[key] = _plan_of(key, len(values))
    _planned_values[0] += len(values)


class _Field:
    """How a model takes one JSON property: a primitive check, or the model of an object."""

    __slots__ = ("by_resource_type", "model", "primitive")

    def __init__(self, annotation: Any, metadata: list[Any]) -> None:
        element = _element_type(annotation)
        self.primitive: Check | None = None
        self.model: type[FHIRAbstractModel] | None = None
        self.by_resource_type = False
        if element is None:
            typed: Any = Annotated[annotation, *metadata] if metadata else annotation
            self.primitive = TypeAdapter(typed).validator.validate_python
        elif issubclass(element, FhirElementOrResourceBase):
            self.by_resource_type = True
        else:
            self.model = element.get_model_klass()

    def model_of(self, node: Key) -> type[FHIRAbstractModel] | None:
        """The model an object in this property is checked against."""
        if not self.by_resource_type:
            return self.model
        for name, value in node:
            if name == "resourceType" and isinstance(value, tuple) and value[0] == VERBATIM:
                try:
                    return get_fhir_model_class(value[1])
                except ValueError:  # not a type of the library
                    return None
        return None


def _element_type(annotation: Any) -> type[FhirBase] | None:
    """The complex FHIR type inside a field's annotation (``list[HumanNameType] | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, FhirBase):
        return annotation
    for argument in get_args(annotation):
        found = _element_type(argument)
        if found is not None:
            return found
    return None


@cache
def _field(model: type[FHIRAbstractModel], name: str) -> _Field | None:
    """How ``model`` takes the JSON property ``name`` (None: not one of its elements). Made
    when first met: making them all would import the model of every complex field."""
    for field_name, info in model.model_fields.items():
        if (info.alias or field_name) == name:
            return _Field(info.annotation, info.metadata)
    return None


def _plan_of(key: Key, count: int) -> tuple[Check, ...] | None:
    """The primitive field of each value of resources with this skeleton, in order."""
    root = dict(key).get("resourceType")
    if not (isinstance(root, tuple) and root[0] == VERBATIM):
        return None
    plan: list[Check] = []
    if not _plan_object(key, get_fhir_model_class(root[1]), plan) or len(plan) != count:
        return None
    return tuple(plan)


def _plan_object(node: Key, model: type[FHIRAbstractModel], plan: list[Check]) -> bool:
    for name, value in node:
        if name == "resourceType" and isinstance(value, tuple) and value[0] == VERBATIM:
            continue  # the model's own type, part of the key
        field = _field(model, name)
        if field is None:
            return False
        if not _plan_node(value, field, plan):
            return False
    return True


def _plan_node(value: Any, field: _Field, plan: list[Check]) -> bool:
    if value is type(None):
        return True  # a null is structure, not a value
    if isinstance(value, type) or value[:1] == (PRIMITIVE_ARRAY,):
        if field.primitive is None:
            return False
        plan.append(field.primitive)
        return True
    objects = value[1:] if value[:1] == (OBJECT_ARRAY,) else (value,)
    for item in objects:
        if item is None:
            continue
        inner = field.model_of(item)
        if inner is None or not _plan_object(item, inner, plan):
            return False
    return True


def load_all() -> None:
    """Import the model of every served type (slow the first time in a process)."""
    for name in served_types():
        get_fhir_model_class(name)
