"""The R4B models behind validation: which types are served, that each has a model, and that
the skeleton memo gives the verdicts full validation gives."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.spec import r4_resource_types
from fhir_server.validation import served_types
from fhir_server.validation.models import (
    full_model_issues,
    knows_skeleton_of,
    load_all,
    model_issues,
)


def test_every_served_type_has_a_model_that_validates_a_minimal_resource() -> None:
    load_all()
    for name in sorted(served_types()):
        issues = model_issues({"resourceType": name, "id": "x"})
        assert all(issue.code == "required" for issue in issues), (name, issues)


def test_the_first_class_types_and_the_common_clinical_types_are_served() -> None:
    expected = {"Patient", "Appointment", "Communication", "MedicationRequest", "Observation"}
    assert expected <= served_types()


def test_types_that_r4b_dropped_are_not_served() -> None:
    # R4 types that R4B no longer has (replaced by Evidence and the medicinal-product
    # definitions): the server answers for them as for any type it does not serve.
    dropped = {"EffectEvidenceSynthesis", "RiskEvidenceSynthesis", "MedicinalProduct"}
    assert dropped <= set(r4_resource_types())
    assert not dropped & served_types()


# -- the skeleton memo: the same verdict as full validation, always ------------------------------

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
EXAMPLES = int(os.environ.get("MHS_FHIR_FUZZ_EXAMPLES", "400"))  # `make fuzz` sets it high


@cache
def examples() -> tuple[dict[str, Any], ...]:
    """The official examples and the resources of a few Synthea patients the models accept."""
    found: list[dict[str, Any]] = []
    for path in sorted((DATA / "fhir-r4-examples").glob("*.json")):
        found.append(json.loads(path.read_text(encoding="utf-8")))
    for path in sorted((DATA / "synthea-r4").glob("*.json"))[:3]:
        bundle = json.loads(path.read_text(encoding="utf-8"))
        found.extend(entry["resource"] for entry in bundle.get("entry", []))
    return tuple(
        r for r in found if r.get("resourceType") in served_types() and not full_model_issues(r)
    )


@cache
def strings_of_the_examples() -> tuple[str, ...]:
    return tuple(sorted({v for r in examples() for v in leaves(r) if isinstance(v, str)}))


def leaves(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from leaves(value)
    elif isinstance(node, list):
        for item in node:
            yield from leaves(item)
    else:
        yield node


def leaf_places(node: Any) -> list[tuple[Any, Any]]:
    """(container, key or index) of every primitive, ``resourceType`` excepted."""
    places: list[tuple[Any, Any]] = []
    items = node.items() if isinstance(node, dict) else enumerate(node)
    for key, value in items:
        if isinstance(value, dict | list):
            places.extend(leaf_places(value))
        elif key != "resourceType":
            places.append((node, key))
    return places


TRICKY_STRINGS = [
    "", " ", "a b", "a  b", " a", "\n", "x" * 65, "x" * 64, "#1", "a_b", "a.b-c",
    "2020", "2020-02", "2020-02-29", "2019-02-29", "2020-13-01", "2020-1-01",
    "2019-01-01T10:00:00", "2019-01-01T10:00:00Z", "2019-01-01T10:00:00+01:00",
    "2019-01-01T25:00:00Z", "2019-01-01T10:00:60Z", "10:00:00", "24:00:00", "10:61",
    "urn:oid:1.2.3", "urn:oid:1.02", "urn:uuid:c757873d-ec9a-4326-a141-556f43239520",
    "http://example.org/a b", "Patient/1", "/Patient/1", "mailto:a@b", "1.5", "-0", "1e3",
    "true", "<div>x</div>", "string", "\u0000",
]  # fmt: skip


def value_like(current: Any) -> st.SearchStrategy[Any]:
    """Another value for a primitive: mostly of its own JSON type (the skeleton holds), now
    and then of another (the skeleton changes)."""
    strings = st.sampled_from(strings_of_the_examples()) | st.sampled_from(TRICKY_STRINGS)
    numbers = st.integers(-(2**40), 2**40) | st.sampled_from([0, 1, -1, 2**31, -(2**31) - 1])
    decimals = st.decimals(allow_nan=False, allow_infinity=False, places=3)
    same: st.SearchStrategy[Any]
    if isinstance(current, bool):
        same = st.booleans()
    elif isinstance(current, int):
        same = numbers
    elif isinstance(current, float | Decimal):
        same = decimals | numbers
    elif current is None:
        same = st.none()
    else:
        same = strings
    other = st.one_of(strings, numbers, st.booleans(), st.none(), decimals)
    return st.one_of(same, same, same, other)


@st.composite
def mutants(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    original = draw(st.sampled_from(examples()))
    mutant = copy.deepcopy(original)
    places = leaf_places(mutant)
    for _ in range(draw(st.integers(1, 3))):
        container, key = draw(st.sampled_from(places))
        container[key] = draw(value_like(container[key]))
    return original, mutant


@pytest.mark.skipif(not DATA.is_dir(), reason="shared test data not found")
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutants())
def test_a_resource_gets_the_verdict_of_full_validation_once_its_skeleton_is_known(
    pair: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    original, mutant = pair
    assert model_issues(original) == []  # the memo learns the original's skeleton
    assert bool(model_issues(mutant)) == bool(full_model_issues(mutant))


@pytest.mark.skipif(not DATA.is_dir(), reason="shared test data not found")
def test_every_example_has_a_skeleton_the_memo_can_plan() -> None:
    # Otherwise the memo would silently fall back to full validation for it.
    for resource in examples():
        assert model_issues(resource) == []
        assert knows_skeleton_of(resource), resource.get("id")


def test_an_invalid_value_in_a_known_skeleton_is_reported_as_full_validation_words_it() -> None:
    valid = {"resourceType": "Patient", "birthDate": "1970-01-01", "gender": "male"}
    assert model_issues(valid) == []
    invalid = {**valid, "birthDate": "1970-02-30"}
    assert model_issues(invalid) == full_model_issues(invalid) != []


def test_a_value_the_librarys_validator_trips_over_is_an_issue_on_both_paths() -> None:
    # fhir_core's url validator raises AttributeError on an integer instead of a
    # ValidationError; neither path may let it out (shape checking stops it first in the server).
    valid = {"resourceType": "Patient", "photo": [{"url": "http://example.org/a.png"}]}
    assert model_issues(valid) == []
    invalid = {"resourceType": "Patient", "photo": [{"url": 5}]}
    assert full_model_issues(invalid) != []
    assert model_issues(invalid) != []


def test_a_value_is_judged_by_the_field_it_sits_in() -> None:
    # "a b" is a valid code (single inner spaces) and an invalid id; same skeleton both times.
    assert model_issues({"resourceType": "Patient", "id": "ab", "gender": "a b"}) == []
    issues = model_issues({"resourceType": "Patient", "id": "a b", "gender": "ab"})
    assert [issue.expression for issue in issues] == [("Patient.id",)]
