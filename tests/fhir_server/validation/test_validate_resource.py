"""``validate_resource`` remembers the skeletons that passed the JSON shape check and checks a
resource of such a skeleton by its values alone: the verdicts stay those of the full check."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.errors import Unprocessable
from fhir_server.validation import validate_resource
from fhir_server.validation.bindings import binding_issues
from fhir_server.validation.models import full_model_issues
from fhir_server.validation.shape import shape_issues, values_hold

EXAMPLES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "fhir-r4-examples"


def example_patient() -> dict[str, Any]:
    resource: dict[str, Any] = json.loads((EXAMPLES / "Patient-example.json").read_text())
    return resource


def string_paths(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [
            p for k, v in node.items() if k != "resourceType" for p in string_paths(v, (*path, k))
        ]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in string_paths(v, (*path, i))]
    return [path] if isinstance(node, str) else []


def with_value(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(resource)
    node: Any = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


def test_an_empty_string_the_model_accepts_is_refused_in_a_remembered_shape() -> None:
    """A uri may be empty to the model, not to json.html: the shape check's verdict stands
    for a resource shaped like one that passed."""
    patient = example_patient()
    validate_resource(patient)  # its skeleton is remembered
    emptied = with_value(patient, ("identifier", 0, "system"), "")
    assert full_model_issues(emptied) == []
    with pytest.raises(Unprocessable) as refused:
        validate_resource(emptied)
    assert refused.value.issues[0].expression == ("Patient.identifier[0].system",)
    assert "empty string" in refused.value.issues[0].diagnostics


PATIENT = example_patient()
PATHS = string_paths(PATIENT)


@settings(max_examples=60, deadline=None)
@given(
    path=st.sampled_from(PATHS),
    value=st.one_of(st.just(""), st.just(" "), st.text(max_size=12), st.just("2012-13-45")),
)
def test_a_remembered_shape_gives_the_full_check_s_verdict(
    path: tuple[Any, ...], value: str
) -> None:
    validate_resource(PATIENT)
    changed = with_value(PATIENT, path, value)
    full = shape_issues(changed) or full_model_issues(changed) or binding_issues(changed)
    try:
        validate_resource(changed)
    except Unprocessable:
        refused = True
    else:
        refused = False
    assert refused == bool(full), (path, value, full)


def test_values_hold_looks_into_primitive_arrays_and_numbers() -> None:
    assert values_hold(["a", ["b", "c"], 1, 2.5, True])
    assert not values_hold(["a", ["b", ""]])
    assert not values_hold([float("inf")])
    assert not values_hold([""])
