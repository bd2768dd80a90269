"""The JSON shape checker against https://hl7.org/fhir/R4/json.html, one rule per test."""

from __future__ import annotations

import gzip
import importlib.util
import json
from collections.abc import Iterator
from decimal import Decimal
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.errors import Issue
from fhir_server.validation.shape import MAX_DEPTH, shape_issues

REPO = Path(__file__).resolve().parents[3]
DATA = REPO.parent / "shared" / "data"
EXAMPLES = DATA / "fhir-r4-examples"
SYNTHEA = DATA / "synthea-r4"


def json_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


@pytest.fixture
def shared_data() -> Path:
    if not DATA.is_dir():
        pytest.skip(f"shared test data not found at {DATA}")
    return DATA


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def only_issue(resource: dict[str, Any]) -> Issue:
    issues = shape_issues(resource)
    assert len(issues) == 1, issues
    return issues[0]


def patient(**elements: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", **elements}


# -- the official examples and Synthea ----------------------------------------------------------


def test_all_114_official_examples_are_there(shared_data: Path) -> None:
    assert len(json_files(EXAMPLES)) == 114


@pytest.mark.parametrize("path", json_files(EXAMPLES), ids=lambda p: p.stem)
def test_official_r4_example_has_no_shape_issues(shared_data: Path, path: Path) -> None:
    assert shape_issues(load(path), max_issues=1000) == []


@pytest.mark.parametrize("path", json_files(SYNTHEA), ids=lambda p: p.stem[:40])
def test_synthea_bundle_has_no_shape_issues(shared_data: Path, path: Path) -> None:
    assert shape_issues(load(path), max_issues=1000) == []


def test_a_valid_resource_has_no_issues() -> None:
    resource = patient(
        id="p1",
        active=True,
        name=[{"family": "Chalmers", "given": ["Peter", "James"]}],
        multipleBirthInteger=2,
        birthDate="1974-12-25",
        _birthDate={"extension": [{"url": "http://x", "valueDateTime": "1974-12-25T14:35:45"}]},
        text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'},
    )
    assert shape_issues(resource) == []


# -- resourceType and contained resources -------------------------------------------------------


def test_unknown_resource_type_is_reported_at_resource_type() -> None:
    issue = only_issue({"resourceType": "Patientt", "active": True})
    assert (issue.code, issue.expression) == ("structure", ("resourceType",))
    assert "Patientt" in issue.diagnostics


def test_missing_resource_type_is_reported_at_resource_type() -> None:
    assert only_issue({"id": "x"}).expression == ("resourceType",)


def test_resource_type_must_be_a_string() -> None:
    assert only_issue({"resourceType": ["Patient"]}).expression == ("resourceType",)


def test_abstract_resource_type_is_not_a_resource_type() -> None:
    assert only_issue({"resourceType": "DomainResource"}).expression == ("resourceType",)


def test_resource_type_is_allowed_only_at_a_resource_root() -> None:
    issue = only_issue(patient(meta={"resourceType": "Meta", "versionId": "1"}))
    assert issue.expression == ("Patient.meta.resourceType",)


def test_contained_resource_is_checked_as_its_own_type() -> None:
    issue = only_issue(patient(contained=[{"resourceType": "Organization", "active": "yes"}]))
    assert (issue.code, issue.expression) == ("value", ("Patient.contained[0].active",))


def test_contained_resource_with_unknown_type_is_reported_at_its_resource_type() -> None:
    issue = only_issue(patient(contained=[{"resourceType": "Nope", "id": "1"}]))
    assert issue.expression == ("Patient.contained[0].resourceType",)


def test_bundle_entry_resource_is_checked_as_its_own_type() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": patient(gender="male")}, {"resource": patient(gender=1)}],
    }
    assert only_issue(bundle).expression == ("Bundle.entry[1].resource.gender",)


def test_resource_nested_in_a_bundle_in_a_bundle_is_checked() -> None:
    inner = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient(x=1)}]}
    outer = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": inner}]}
    assert only_issue(outer).expression == ("Bundle.entry[0].resource.entry[0].resource.x",)


def test_parameters_parameter_resource_is_checked_as_its_own_type() -> None:
    parameters = {
        "resourceType": "Parameters",
        "parameter": [{"name": "p", "resource": patient(active="false")}],
    }
    assert only_issue(parameters).expression == ("Parameters.parameter[0].resource.active",)


def test_contained_resource_must_be_an_object() -> None:
    issue = only_issue(patient(contained=["Organization/1"]))
    assert (issue.code, issue.expression) == ("structure", ("Patient.contained[0]",))


# -- element names ------------------------------------------------------------------------------


def test_unknown_element_is_a_structure_issue_at_its_path() -> None:
    issue = only_issue(patient(name=[{"family": "x", "nickname": "y"}]))
    assert (issue.code, issue.expression) == ("structure", ("Patient.name[0].nickname",))
    assert "unknown element 'nickname'" in issue.diagnostics


def test_fhir_comments_are_not_allowed() -> None:
    issue = only_issue(patient(fhir_comments=["a comment"]))
    assert issue.expression == ("Patient.fhir_comments",)


def test_element_names_are_case_sensitive() -> None:
    assert only_issue(patient(birthdate="1970-01-01")).expression == ("Patient.birthdate",)


def test_backbone_element_has_its_own_elements() -> None:
    issue = only_issue(patient(contact=[{"gender": "female", "family": "x"}]))
    assert issue.expression == ("Patient.contact[0].family",)


def test_content_reference_element_has_the_elements_it_refers_to() -> None:
    questionnaire = {
        "resourceType": "Questionnaire",
        "status": "draft",
        "item": [{"linkId": "1", "type": "group", "item": [{"linkId": 2, "type": "string"}]}],
    }
    issue = only_issue(questionnaire)
    assert (issue.code, issue.expression) == ("value", ("Questionnaire.item[0].item[0].linkId",))


# -- arrays -------------------------------------------------------------------------------------


def test_element_with_max_one_must_not_be_an_array() -> None:
    issue = only_issue(patient(gender=["male"]))
    assert (issue.code, issue.expression) == ("structure", ("Patient.gender",))


def test_complex_element_with_max_one_must_not_be_an_array() -> None:
    issue = only_issue(patient(maritalStatus=[{"text": "married"}]))
    assert (issue.code, issue.expression) == ("structure", ("Patient.maritalStatus",))


def test_element_with_max_many_must_be_an_array() -> None:
    issue = only_issue(patient(name={"family": "Chalmers"}))
    assert (issue.code, issue.expression) == ("structure", ("Patient.name",))


def test_primitive_element_with_max_many_must_be_an_array() -> None:
    issue = only_issue(patient(name=[{"given": "Peter"}]))
    assert (issue.code, issue.expression) == ("structure", ("Patient.name[0].given",))


def test_empty_array_is_not_allowed() -> None:
    issue = only_issue(patient(name=[{"family": "x", "given": []}]))
    assert (issue.code, issue.expression) == ("structure", ("Patient.name[0].given",))


def test_array_item_must_not_itself_be_an_array() -> None:
    issue = only_issue(patient(name=[{"given": [["Peter"]]}]))
    assert issue.expression == ("Patient.name[0].given[0]",)


# -- primitive JSON types -----------------------------------------------------------------------


def test_boolean_given_as_string_is_a_value_issue_at_its_path() -> None:
    issue = only_issue(patient(active="true"))
    assert (issue.code, issue.expression) == ("value", ("Patient.active",))
    assert "JSON boolean" in issue.diagnostics


def test_boolean_given_as_number_is_a_value_issue() -> None:
    assert only_issue(patient(active=1)).expression == ("Patient.active",)


def test_integer_given_as_string_is_a_value_issue() -> None:
    issue = only_issue(patient(multipleBirthInteger="3"))
    assert (issue.code, issue.expression) == ("value", ("Patient.multipleBirthInteger",))


def test_integer_with_a_fraction_is_a_value_issue() -> None:
    issue = only_issue(patient(multipleBirthInteger=2.5))
    assert (issue.code, issue.expression) == ("value", ("Patient.multipleBirthInteger",))


def test_integer_given_as_boolean_is_a_value_issue() -> None:
    assert only_issue(patient(multipleBirthInteger=True)).expression == (
        "Patient.multipleBirthInteger",
    )


@pytest.mark.parametrize(("size", "ok"), [(12, True), ("12", False), (1.5, False)])
def test_unsigned_int_is_a_json_integer(size: object, ok: bool) -> None:
    resource = patient(photo=[{"contentType": "image/png", "size": size}])
    expected = [] if ok else [("Patient.photo[0].size",)]
    assert [issue.expression for issue in shape_issues(resource)] == expected


@pytest.mark.parametrize(("count", "ok"), [(3, True), ("3", False), (3.0, False)])
def test_positive_int_is_a_json_integer(count: object, ok: bool) -> None:
    resource = {"resourceType": "Group", "type": "person", "actual": True, "quantity": count}
    expected = [] if ok else [("Group.quantity",)]
    assert [issue.expression for issue in shape_issues(resource)] == expected


def test_decimal_given_as_string_is_a_value_issue_at_its_path() -> None:
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "weight"},
        "valueQuantity": {"value": "1.5", "unit": "kg"},
    }
    issue = only_issue(observation)
    assert (issue.code, issue.expression) == ("value", ("Observation.valueQuantity.value",))


@pytest.mark.parametrize("value", [1.5, 2, -0.25, 1e-3, 0])
def test_decimal_is_any_json_number(value: float) -> None:
    observation = {"resourceType": "Observation", "valueQuantity": {"value": value}}
    assert shape_issues(observation) == []


def test_decimal_parsed_as_python_decimal_is_a_json_number() -> None:
    observation = json.loads(
        '{"resourceType": "Observation", "valueQuantity": {"value": 1.50}}', parse_float=Decimal
    )
    assert shape_issues(observation) == []


def test_integer_parsed_as_python_decimal_with_a_fraction_is_a_value_issue() -> None:
    resource = json.loads(
        '{"resourceType": "Patient", "multipleBirthInteger": 2.0}', parse_float=Decimal
    )
    assert only_issue(resource).expression == ("Patient.multipleBirthInteger",)


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")]
)
def test_decimal_must_be_finite(value: float | Decimal) -> None:
    observation = {"resourceType": "Observation", "valueQuantity": {"value": value}}
    assert only_issue(observation).expression == ("Observation.valueQuantity.value",)


def test_string_given_as_number_is_a_value_issue() -> None:
    issue = only_issue(patient(birthDate=19741225))
    assert (issue.code, issue.expression) == ("value", ("Patient.birthDate",))


def test_empty_string_is_a_value_issue() -> None:
    issue = only_issue(patient(name=[{"family": ""}]))
    assert (issue.code, issue.expression) == ("value", ("Patient.name[0].family",))


def test_empty_string_in_a_primitive_array_is_reported_at_its_index() -> None:
    issue = only_issue(patient(name=[{"given": ["Peter", ""]}]))
    assert issue.expression == ("Patient.name[0].given[1]",)


def test_whitespace_in_a_string_is_left_to_the_models() -> None:
    assert shape_issues(patient(name=[{"family": " van Gogh "}])) == []


def test_resource_id_is_a_json_string() -> None:
    issue = only_issue(patient(id=123))
    assert (issue.code, issue.expression) == ("value", ("Patient.id",))


def test_element_id_is_a_json_string() -> None:
    assert only_issue(patient(name=[{"id": 1, "family": "x"}])).expression == (
        "Patient.name[0].id",
    )


def test_narrative_div_is_a_json_string() -> None:
    issue = only_issue(patient(text={"status": "generated", "div": {"p": "x"}}))
    assert (issue.code, issue.expression) == ("value", ("Patient.text.div",))


def test_complex_element_given_as_string_is_a_structure_issue() -> None:
    issue = only_issue(patient(maritalStatus="married"))
    assert (issue.code, issue.expression) == ("structure", ("Patient.maritalStatus",))


# -- null and empty objects ---------------------------------------------------------------------


def test_null_is_not_allowed_for_an_element() -> None:
    issue = only_issue(patient(gender=None))
    assert (issue.code, issue.expression) == ("structure", ("Patient.gender",))


def test_null_is_not_allowed_in_an_array_of_complex_values() -> None:
    assert only_issue(patient(name=[{"family": "x"}, None])).expression == ("Patient.name[1]",)


def test_null_in_a_primitive_array_without_a_companion_is_not_allowed() -> None:
    issue = only_issue(patient(name=[{"given": ["Peter", None]}]))
    assert (issue.code, issue.expression) == ("structure", ("Patient.name[0].given[1]",))


def test_null_in_a_primitive_array_is_allowed_where_the_companion_has_an_extension() -> None:
    extension = {"extension": [{"url": "http://x", "valueString": "unknown"}]}
    name = {"given": ["Peter", None], "_given": [None, extension]}
    assert shape_issues(patient(name=[name])) == []


def test_null_at_the_same_index_of_both_arrays_is_not_allowed() -> None:
    name = {"given": ["Peter", None], "_given": [None, None]}
    assert only_issue(patient(name=[name])).expression == ("Patient.name[0].given[1]",)


def test_companion_array_must_have_the_length_of_the_value_array() -> None:
    name = {"given": ["Peter", None], "_given": [None, {"id": "a"}, None]}
    issues = shape_issues(patient(name=[name]))
    assert [issue.expression for issue in issues] == [
        ("Patient.name[0].given[1]",),
        ("Patient.name[0].given",),
    ]


def test_empty_object_is_not_allowed() -> None:
    issue = only_issue(patient(maritalStatus={}))
    assert (issue.code, issue.expression) == ("structure", ("Patient.maritalStatus",))


def test_empty_object_in_an_array_is_not_allowed() -> None:
    assert only_issue(patient(name=[{}])).expression == ("Patient.name[0]",)


def test_empty_resource_is_not_allowed() -> None:
    assert only_issue(patient(contained=[{}])).expression == ("Patient.contained[0]",)


# -- _name companions ---------------------------------------------------------------------------


def test_companion_of_a_primitive_may_hold_id_and_extension() -> None:
    companion = {"id": "b", "extension": [{"url": "http://x", "valueBoolean": True}]}
    assert shape_issues(patient(_birthDate=companion)) == []


def test_companion_without_its_value_is_allowed() -> None:
    assert shape_issues(patient(_gender={"extension": [{"url": "http://x"}]})) == []


def test_companion_holds_only_id_and_extension() -> None:
    issue = only_issue(patient(birthDate="1970", _birthDate={"value": "1970"}))
    assert (issue.code, issue.expression) == ("structure", ("Patient.birthDate.value",))


def test_companion_must_be_an_object() -> None:
    issue = only_issue(patient(_birthDate="1970"))
    assert (issue.code, issue.expression) == ("structure", ("Patient.birthDate",))


def test_companion_must_not_be_an_empty_object() -> None:
    assert only_issue(patient(_active={})).expression == ("Patient.active",)


def test_companion_of_a_repeating_primitive_must_be_an_array() -> None:
    name = {"given": ["Peter"], "_given": {"id": "a"}}
    assert only_issue(patient(name=[name])).expression == ("Patient.name[0].given",)


def test_companion_extensions_are_checked() -> None:
    companion = {"extension": [{"url": "http://x", "valueInteger": "1"}]}
    issue = only_issue(patient(_birthDate=companion))
    assert issue.expression == ("Patient.birthDate.extension[0].valueInteger",)


def test_companion_of_a_complex_element_is_an_unknown_element() -> None:
    issue = only_issue(patient(_name={"id": "x"}))
    assert (issue.code, issue.expression) == ("structure", ("Patient._name",))


def test_companion_of_an_unknown_element_is_an_unknown_element() -> None:
    assert only_issue(patient(_nickname={"id": "x"})).expression == ("Patient._nickname",)


def test_extension_url_is_an_attribute_without_a_companion() -> None:
    extension = {"url": "http://x", "_url": {"id": "u"}, "valueString": "s"}
    assert only_issue(patient(extension=[extension])).expression == ("Patient.extension[0]._url",)


# -- choice elements ----------------------------------------------------------------------------


def test_choice_element_name_is_the_type_with_a_capital_letter() -> None:
    assert shape_issues(patient(deceasedDateTime="2015-02-14T13:42:00+10:00")) == []
    assert only_issue(patient(deceaseddateTime="2015")).expression == ("Patient.deceaseddateTime",)


def test_choice_element_type_not_allowed_for_the_element_is_unknown() -> None:
    assert only_issue(patient(deceasedString="yes")).expression == ("Patient.deceasedString",)


def test_choice_element_without_type_suffix_is_unknown() -> None:
    assert only_issue(patient(deceased=True)).expression == ("Patient.deceased",)


def test_only_one_type_of_a_choice_element_may_be_present() -> None:
    issue = only_issue(patient(deceasedBoolean=True, deceasedDateTime="2015"))
    assert (issue.code, issue.expression) == ("structure", ("Patient.deceasedDateTime",))


def test_choice_element_value_has_the_json_type_of_its_type() -> None:
    assert only_issue(patient(deceasedBoolean="false")).expression == ("Patient.deceasedBoolean",)


# -- extensions ---------------------------------------------------------------------------------


def test_extension_value_may_be_of_any_type() -> None:
    extensions = [
        {"url": "http://x", "valueHumanName": {"family": "x"}},
        {"url": "http://x", "valueDosage": {"text": "once"}},
        {"url": "http://x", "valueMeta": {"versionId": "1"}},
        {"url": "http://x", "valueUnsignedInt": 0},
    ]
    assert shape_issues(patient(extension=extensions)) == []


def test_extension_value_is_checked_deeply() -> None:
    extension = {"url": "http://x", "valueQuantity": {"value": "12"}}
    issue = only_issue(patient(modifierExtension=[extension]))
    assert issue.expression == ("Patient.modifierExtension[0].valueQuantity.value",)


def test_nested_extensions_are_checked() -> None:
    inner = {"url": "a", "valueCode": ""}
    issue = only_issue(patient(extension=[{"url": "http://x", "extension": [inner]}]))
    assert issue.expression == ("Patient.extension[0].extension[0].valueCode",)


# -- limits -------------------------------------------------------------------------------------


def test_nesting_deeper_than_the_limit_is_one_issue() -> None:
    extension: dict[str, Any] = {"url": "http://x", "valueString": 1}
    for _ in range(MAX_DEPTH + 10):
        extension = {"url": "http://x", "extension": [extension]}
    issue = only_issue(patient(extension=[extension]))
    assert issue.code == "structure"
    assert "too deeply nested" in issue.diagnostics
    assert issue.expression[0].count("extension[0]") == MAX_DEPTH


def test_nesting_up_to_the_limit_is_checked() -> None:
    extension: dict[str, Any] = {"url": "http://x", "valueString": 1}
    for _ in range(MAX_DEPTH - 3):
        extension = {"url": "http://x", "extension": [extension]}
    issue = only_issue(patient(extension=[extension]))
    assert issue.expression[0].endswith(".valueString")


def test_issues_stop_at_max_issues() -> None:
    resource = patient(**{f"unknown{i}": 1 for i in range(100)})
    assert len(shape_issues(resource)) == 50
    assert len(shape_issues(resource, max_issues=3)) == 3


def test_issues_come_in_document_order() -> None:
    resource = patient(active="yes", name=[{"family": 1}], gender=[])
    assert [issue.expression for issue in shape_issues(resource)] == [
        ("Patient.active",),
        ("Patient.name[0].family",),
        ("Patient.gender",),
    ]


# -- the data file ------------------------------------------------------------------------------


def test_packaged_element_data_is_what_build_spec_makes_of_the_definitions(
    shared_data: Path,
) -> None:
    spec = importlib.util.spec_from_file_location("build_spec", REPO / "tools" / "build_spec.py")
    assert spec is not None
    assert spec.loader is not None
    build_spec = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_spec)
    packaged = resources.files("fhir_server.spec").joinpath("elements.json.gz").read_bytes()
    assert json.loads(gzip.decompress(build_spec.build())) == json.loads(gzip.decompress(packaged))


# -- property: a primitive of the wrong JSON type is reported where it is -----------------------

Step = str | int
Leaf = tuple[tuple[Step, ...], Any, bool]  # JSON path, value, whether it is an array item


def primitive_leaves(node: Any, at: tuple[Step, ...] = ()) -> Iterator[Leaf]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key != "resourceType":
                yield from primitive_leaves(value, (*at, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            if isinstance(item, dict | list):
                yield from primitive_leaves(item, (*at, i))
            elif item is not None:
                yield (*at, i), item, True
    elif node is not None:
        yield at, node, False


def fhirpath(resource_type: str, at: tuple[Step, ...]) -> str:
    """``("name", 0, "_given", 1)`` -> ``Patient.name[0].given[1]``."""
    path = resource_type
    for step in at:
        path += f"[{step}]" if isinstance(step, int) else "." + step.removeprefix("_")
    return path


@cache
def example_with_leaves(path: Path) -> tuple[dict[str, Any], list[Leaf]]:
    resource = load(path)
    return resource, list(primitive_leaves(resource))


def wrong_json_values(value: Any, in_array: bool) -> list[Any]:
    """Values of another JSON type than ``value``, whatever the element's FHIR type."""
    if isinstance(value, bool):
        wrong: list[Any] = [str(value).lower(), 1, 0, 0.5]
    elif isinstance(value, int | float):
        wrong = [str(value), True, False]
    else:
        wrong = [True, False, 0, 42, -1.5, {"value": value}]
    wrong.append([value])
    if not in_array:  # in an array, null may be fine next to a _name companion
        wrong.append(None)
    return wrong


@pytest.mark.skipif(not EXAMPLES.is_dir(), reason=f"shared test data not found at {DATA}")
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_primitive_replaced_by_a_wrong_json_type_is_reported_at_its_path(data: Any) -> None:
    path = data.draw(st.sampled_from(json_files(EXAMPLES)), label="example")
    resource, leaves = example_with_leaves(path)
    at, value, in_array = data.draw(st.sampled_from(leaves), label="leaf")
    wrong = data.draw(st.sampled_from(wrong_json_values(value, in_array)), label="wrong value")

    parent: Any = resource
    for step in at[:-1]:
        parent = parent[step]
    parent[at[-1]] = wrong
    try:
        issues = shape_issues(resource)
    finally:
        parent[at[-1]] = value

    assert [issue.expression for issue in issues] == [(fhirpath(resource["resourceType"], at),)]
