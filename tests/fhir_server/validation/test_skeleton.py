"""The skeleton of a resource: its structure as a key, its primitive values apart."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fhir_server.validation.skeleton import MAX_VALUES, skeleton


def key_and_values(resource: dict[str, Any]) -> tuple[Any, list[Any]]:
    found = skeleton(resource)
    assert found is not None
    return found


def test_resources_that_differ_only_in_values_share_a_key() -> None:
    a = {"resourceType": "Patient", "name": [{"family": "Ng", "given": ["Al"]}], "active": True}
    b = {"resourceType": "Patient", "name": [{"family": "Ruiz", "given": ["Bo"]}], "active": False}
    assert key_and_values(a)[0] == key_and_values(b)[0]


def test_the_values_come_out_in_document_order_and_a_primitive_array_is_one_value() -> None:
    resource = {"resourceType": "Patient", "name": [{"family": "Ng", "given": ["Al", "B"]}]}
    assert key_and_values(resource)[1] == ["Ng", ["Al", "B"]]


def test_the_resource_type_is_part_of_the_key_not_a_value() -> None:
    patient, values = key_and_values({"resourceType": "Patient", "id": "a"})
    group, _ = key_and_values({"resourceType": "Group", "id": "a"})
    assert patient != group
    assert values == ["a"]


def test_a_contained_resource_keeps_its_type_in_the_key() -> None:
    one = {"resourceType": "Patient", "contained": [{"resourceType": "Organization", "id": "o"}]}
    other = {"resourceType": "Patient", "contained": [{"resourceType": "Practitioner", "id": "o"}]}
    assert key_and_values(one)[0] != key_and_values(other)[0]


def test_the_json_type_of_a_value_is_part_of_the_key() -> None:
    def key(value: Any) -> Any:
        return key_and_values({"resourceType": "Patient", "multipleBirthInteger": value})[0]

    assert len({key(1), key(True), key("1"), key(1.0), key(Decimal("1"))}) == 5


def test_array_length_and_element_order_are_part_of_the_key() -> None:
    def key(*names: dict[str, Any]) -> Any:
        return key_and_values({"resourceType": "Patient", "name": list(names)})[0]

    assert key({"family": "a"}) != key({"family": "a"}, {"family": "b"})
    assert key({"family": "a"}, {"text": "b"}) != key({"text": "b"}, {"family": "a"})


def test_a_null_is_structure_not_a_value() -> None:
    key, values = key_and_values(
        {"resourceType": "Patient", "name": [{"given": ["a", None]}], "_gender": None}
    )
    assert values == [["a", None]]
    assert key != key_and_values({"resourceType": "Patient", "name": [{"given": ["a", "b"]}]})[0]


def test_an_array_mixing_objects_and_primitives_has_no_skeleton() -> None:
    assert skeleton({"resourceType": "Patient", "name": [{"family": "a"}, "b"]}) is None
    assert skeleton({"resourceType": "Patient", "name": [[{"family": "a"}]]}) is None


def test_a_resource_with_very_many_values_has_no_skeleton() -> None:
    identifiers: list[dict[str, Any]] = [{"value": str(i)} for i in range(MAX_VALUES)]
    assert skeleton({"resourceType": "Patient", "identifier": identifiers}) is not None
    identifiers.append({"value": "one more"})
    assert skeleton({"resourceType": "Patient", "identifier": identifiers}) is None
