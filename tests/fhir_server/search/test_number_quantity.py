"""number and quantity parameters (https://hl7.org/fhir/R4/search.html#number, #quantity).

A number search value has an implicit range from its significant figures: ``100`` is
[99.5 ... 100.5), ``100.00`` is [99.995 ... 100.005). The comparison prefixes lt le gt ge
(and sa eb) ignore that precision. Quantities add ``|[system]|[code]``, or ``||[unit]`` that
matches the code or the human unit.
"""

from __future__ import annotations

from typing import Any

import pytest

UCUM = "http://unitsofmeasure.org"


def risk(id: str, probability: float) -> dict[str, Any]:
    return {
        "resourceType": "RiskAssessment",
        "id": id,
        "status": "final",
        "subject": {"reference": "Patient/p"},
        "prediction": [{"probabilityDecimal": probability}],
    }


PROBABILITIES = {
    "p99.5": 99.5,
    "p99.7": 99.7,
    "p99.99": 99.99,
    "p99.997": 99.997,
    "p100": 100,
    "p100.004": 100.004,
    "p100.5": 100.5,
    "p100.6": 100.6,
    "p96": 96,
    "p80": 80,
    "p0.85": 0.85,
    "p0.75": 0.75,
}


def quantity_observation(id: str, quantity: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"text": "quantity test"},
        "valueQuantity": quantity,
    }


OBSERVATIONS = [
    quantity_observation("mg", {"value": 5.4, "unit": "mg", "system": UCUM, "code": "mg"}),
    quantity_observation("g", {"value": 0.0054, "unit": "g", "system": UCUM, "code": "g"}),
    quantity_observation("unit-only", {"value": 5.4, "unit": "mg"}),
    quantity_observation(
        "mg-per-dl",
        {"value": 5.4, "unit": "milligram per deciliter", "system": UCUM, "code": "mg/dL"},
    ),
    quantity_observation(
        "other-system", {"value": 5.4, "unit": "milligrams", "system": "http://x.org", "code": "mg"}
    ),
    quantity_observation("six", {"value": 6.0, "unit": "mg", "system": UCUM, "code": "mg"}),
    {
        "resourceType": "Observation",
        "id": "no-value",
        "status": "final",
        "code": {"text": "quantity test"},
    },
]
CONDITIONS = [
    {
        "resourceType": "Condition",
        "id": "age-10",
        "subject": {"reference": "Patient/p"},
        "onsetAge": {"value": 10, "unit": "years", "system": UCUM, "code": "a"},
    },
    {
        "resourceType": "Condition",
        "id": "age-10-to-20",
        "subject": {"reference": "Patient/p"},
        "onsetRange": {
            "low": {"value": 10, "unit": "years", "system": UCUM, "code": "a"},
            "high": {"value": 20, "unit": "years", "system": UCUM, "code": "a"},
        },
    },
]


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*(risk(id, value) for id, value in PROBABILITIES.items()), *OBSERVATIONS, *CONDITIONS)


def probabilities(fhir: Any, value: str) -> set[str]:
    return fhir.ids("RiskAssessment", {"probability": value})


def ids_between(low: float, high: float) -> set[str]:
    return {id for id, value in PROBABILITIES.items() if low <= value < high}


# -- number ------------------------------------------------------------------------------


def test_integer_search_has_an_implicit_range_of_half_a_unit(fhir: Any) -> None:
    """100: "Values that equal 100, to 3 significant figures precision ... [99.5 ... 100.5)" -
    it matches 99.7 but not 100.6."""
    found = probabilities(fhir, "100")
    assert "p99.7" in found
    assert "p100.6" not in found
    assert found == {"p99.5", "p99.7", "p99.99", "p99.997", "p100", "p100.004"}


def test_implicit_range_includes_its_low_end_and_excludes_its_high_end(fhir: Any) -> None:
    found = probabilities(fhir, "100")
    assert "p99.5" in found
    assert "p100.5" not in found


def test_decimals_narrow_the_implicit_range(fhir: Any) -> None:
    """100.00: [99.995 ... 100.005) - so it does match 99.997, but not 99.99."""
    assert probabilities(fhir, "100.00") == {"p99.997", "p100", "p100.004"}


def test_exponential_form_counts_significant_figures(fhir: Any) -> None:
    """Spec: "100 and 1.00e2 both have the same number of significant digits - three"."""
    assert probabilities(fhir, "1.00e2") == probabilities(fhir, "100")


def test_one_significant_figure(fhir: Any) -> None:
    """1e2: "Values that equal 100, to 1 significant figures precision"."""
    found = probabilities(fhir, "1e2")
    assert {"p96", "p99.5", "p100", "p100.6"} <= found
    assert "p0.85" not in found


def test_lt_is_exact(fhir: Any) -> None:
    """lt100: "Values that are less than exactly 100"."""
    assert probabilities(fhir, "lt100") == ids_between(-1, 100)


def test_le_is_exact(fhir: Any) -> None:
    assert probabilities(fhir, "le100") == ids_between(-1, 100) | {"p100"}


def test_gt_is_exact(fhir: Any) -> None:
    """gt100: "Values that are greater than exactly 100"."""
    assert probabilities(fhir, "gt100") == {"p100.004", "p100.5", "p100.6"}


def test_ge_is_exact(fhir: Any) -> None:
    assert probabilities(fhir, "ge100") == {"p100", "p100.004", "p100.5", "p100.6"}


def test_ne_excludes_the_implicit_range(fhir: Any) -> None:
    """ne100: "Values that are not equal to 100 (actually, in the range 99.5 to 100.5)"."""
    assert probabilities(fhir, "ne100") == set(PROBABILITIES) - probabilities(fhir, "100")
    assert "p100.5" in probabilities(fhir, "ne100")


def test_exponential_form_with_a_prefix(fhir: Any) -> None:
    """probability=gt0.8 "could also be probability=gt8e-1"."""
    found = probabilities(fhir, "gt8e-1")
    assert found == probabilities(fhir, "gt0.8")
    assert "p0.85" in found
    assert "p0.75" not in found


def test_sa_and_eb(fhir: Any) -> None:
    assert probabilities(fhir, "sa100") == {"p100.004", "p100.5", "p100.6"}
    assert probabilities(fhir, "eb1") == {"p0.85", "p0.75"}


def test_ap_is_within_about_ten_percent(fhir: Any) -> None:
    found = probabilities(fhir, "ap100")
    assert {"p96", "p100", "p100.6"} <= found
    assert "p80" not in found


def test_comma_is_or(fhir: Any) -> None:
    assert probabilities(fhir, "0.85,96") == {"p0.85", "p96"}


def test_repeated_number_is_and(fhir: Any) -> None:
    found = fhir.ids("RiskAssessment", [("probability", "gt99.9"), ("probability", "lt100.1")])
    assert found == {"p99.99", "p99.997", "p100", "p100.004"}


# -- quantity ----------------------------------------------------------------------------


def test_quantity_with_system_and_code(fhir: Any) -> None:
    """5.4|http://unitsofmeasure.org|mg: value 5.4(+/-0.05), UCUM mg."""
    assert fhir.ids("Observation", {"value-quantity": f"5.4|{UCUM}|mg"}) == {"mg"}


def test_quantity_exponential_value(fhir: Any) -> None:
    """5.40e-3|http://unitsofmeasure.org|g: 0.0054(+/-0.000005) g."""
    assert fhir.ids("Observation", {"value-quantity": f"5.40e-3|{UCUM}|g"}) == {"g"}


def test_quantity_without_system_matches_code_or_unit(fhir: Any) -> None:
    """5.4||mg: "the unit - either the code (code) or the stated human unit (unit) are mg"."""
    found = fhir.ids("Observation", {"value-quantity": "5.4||mg"})
    assert found == {"mg", "unit-only", "other-system"}


def test_quantity_human_unit(fhir: Any) -> None:
    assert fhir.ids("Observation", {"value-quantity": "5.4||milligram per deciliter"}) == {
        "mg-per-dl"
    }


def test_quantity_without_unit_matches_any_unit(fhir: Any) -> None:
    """5.4: "irrespective of the unit"."""
    assert fhir.ids("Observation", {"value-quantity": "5.4"}) == {
        "mg",
        "unit-only",
        "mg-per-dl",
        "other-system",
    }


def test_quantity_code_with_a_slash(fhir: Any) -> None:
    assert fhir.ids("Observation", {"value-quantity": f"5.4|{UCUM}|mg/dL"}) == {"mg-per-dl"}


def test_quantity_prefixes(fhir: Any) -> None:
    """le5.4|http://unitsofmeasure.org|mg: "less than 5.4 mg exactly"."""
    assert fhir.ids("Observation", {"value-quantity": f"le5.4|{UCUM}|mg"}) == {"mg"}
    assert fhir.ids("Observation", {"value-quantity": f"gt5.4|{UCUM}|mg"}) == {"six"}
    assert fhir.ids("Observation", {"value-quantity": "lt1"}) == {"g"}


def test_quantity_ap(fhir: Any) -> None:
    """ap5.4|...|mg: "typically, within 10% of the value"."""
    assert fhir.ids("Observation", {"value-quantity": f"ap5.4|{UCUM}|mg"}) == {"mg"}
    assert fhir.ids("Observation", {"value-quantity": f"ap5.8|{UCUM}|mg"}) == {"mg", "six"}


def test_quantity_comma_is_or(fhir: Any) -> None:
    found = fhir.ids("Observation", {"value-quantity": f"6|{UCUM}|mg,5.4e-3|{UCUM}|g"})
    assert found == {"six", "g"}


def test_quantity_missing(fhir: Any) -> None:
    assert fhir.ids("Observation", {"value-quantity:missing": "true"}) == {"no-value"}


def test_quantity_on_a_range_overlapping_above(fhir: Any) -> None:
    """gt15 on a Range 10-20: the range above 15 intersects the target range."""
    assert fhir.ids("Condition", {"onset-age": f"gt15|{UCUM}|a"}) == {"age-10-to-20"}
    assert fhir.ids("Condition", {"onset-age": f"lt15|{UCUM}|a"}) == {"age-10", "age-10-to-20"}


def test_eq_does_not_match_a_range_it_does_not_contain(fhir: Any) -> None:
    """search.html#prefix: eq means "the range of the search value fully contains the range
    of the target value"; "If the target value is a Range ... then the target is explicitly a
    range". [9.5, 10.5) does not contain the onset range 10-20 years."""
    assert fhir.ids("Condition", {"onset-age": f"10|{UCUM}|a"}) == {"age-10"}
