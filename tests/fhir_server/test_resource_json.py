"""Resource JSON helpers: numbers read and written exactly; replacing references (imports and
transactions make conditional references literal with it)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from fhir_server.resource_json import dumps, parse_json, with_references

TARGETS = {"Patient?identifier=a|1": "Patient/p1", "urn:uuid:x": "Patient/p2"}

leaves = st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(["a", "Patient/p9"]))
references = st.sampled_from([*TARGETS, "Patient/other", "Organization?identifier=b|2"])
json_values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["subject", "entry", "value", "display"]), inner, max_size=3
        )
        | st.fixed_dictionaries({"reference": references}, optional={"display": st.just("d")})
    ),
    max_leaves=12,
)


def replaced_everywhere(node: Any) -> Any:
    """The obvious deep copy with replacements, to compare against."""
    if isinstance(node, dict):
        return {
            k: TARGETS.get(v, v)
            if k == "reference" and isinstance(v, str)
            else replaced_everywhere(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [replaced_everywhere(v) for v in node]
    return node


@given(json_values)
def test_every_reference_named_in_the_targets_is_replaced_and_nothing_else(node: Any) -> None:
    assert with_references(node, TARGETS) == replaced_everywhere(node)


@given(json_values)
def test_the_input_is_never_changed(node: Any) -> None:
    before = repr(node)
    with_references(node, TARGETS)
    assert repr(node) == before


def test_a_resource_without_such_references_comes_back_itself() -> None:
    resource = {"resourceType": "Coverage", "payor": [{"reference": "Organization/o"}]}
    assert with_references(resource, TARGETS) is resource


def test_the_parts_without_such_references_are_shared_not_copied() -> None:
    name = [{"family": "Ross"}]
    resource = {"name": name, "link": [{"other": {"reference": "urn:uuid:x"}}]}
    out = with_references(resource, TARGETS)
    assert out["link"] == [{"other": {"reference": "Patient/p2"}}]
    assert out["name"] is name
    assert resource["link"][0]["other"]["reference"] == "urn:uuid:x"


# Integers of any size, decimals of any precision (-0 is the integer 0: it comes back as 0).
plain_numbers = st.from_regex(r"\A(0|-?[1-9][0-9]{0,40}|-?(0|[1-9][0-9]{0,40})\.[0-9]{1,25})\Z")


@given(st.lists(plain_numbers, min_size=1, max_size=4), st.booleans())
def test_numbers_come_back_as_they_were_written(numbers: list[str], nested: bool) -> None:
    """FHIR decimals keep their precision (1.50 stays 1.50) and integers of any size stay
    whole, however few or many of the numbers need the exact path."""
    values = ",".join(numbers)
    text = f'{{"a":[{values}],"b":{{"c":{numbers[0]}}}}}' if nested else f'{{"a":[{values}]}}'
    assert dumps(parse_json(text.encode())) == text.encode()
