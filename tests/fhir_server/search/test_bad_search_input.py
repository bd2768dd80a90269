"""Errors in searches (https://hl7.org/fhir/R4/search.html#errors and #modifiers).

Unknown parameters are ignored by default ("Prefer: handling=lenient") with a warning in an
OperationOutcome entry (search mode ``outcome``), and rejected under
``Prefer: handling=strict``. "Where the content of the parameter is syntactically incorrect,
servers SHOULD return an error"; an unsupported modifier SHALL be rejected with 400 and an
OperationOutcome. Every 400 here names the parameter it is about.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson
import pytest

STRICT = {"prefer": "handling=strict"}
LENIENT = {"prefer": "handling=lenient"}
PATIENTS = [
    {"resourceType": "Patient", "id": "ann", "name": [{"family": "Ann"}], "gender": "female"},
    {"resourceType": "Patient", "id": "bob", "name": [{"family": "Bob"}], "birthDate": "1980"},
]
ALL = {"ann", "bob"}


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*PATIENTS)


def rejected(fhir: Any, name: str, value: str, type: str = "Patient", **kw: Any) -> str:
    """The diagnostics of the 400 for ``name=value``, which must name the parameter."""
    text: str = fhir.diagnostics(fhir.error(type, {name: value}, **kw))
    assert name.split(":")[0].split(".")[0] in text
    return text


# -- unknown parameters ----------------------------------------------------------------


def outcome_entries(fhir: Any, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = fhir.entries(bundle, "outcome")
    return found


def test_unknown_parameter_is_ignored_by_default(fhir: Any) -> None:
    """Spec: "servers SHOULD ignore unknown or unsupported parameters"."""
    assert fhir.ids("Patient", {"foo": "bar"}) == ALL
    assert fhir.ids("Patient", [("foo", "bar"), ("gender", "female")]) == {"ann"}


def test_ignored_parameter_is_reported_in_an_outcome_entry(fhir: Any) -> None:
    """The OperationOutcome "is included in the search results as an entry with search mode =
    outcome"."""
    bundle = fhir.search("Patient", {"foo": "bar"})
    [entry] = outcome_entries(fhir, bundle)
    outcome = entry["resource"]
    assert outcome["resourceType"] == "OperationOutcome"
    assert [issue["severity"] for issue in outcome["issue"]] == ["warning"]
    assert "foo" in fhir.diagnostics(outcome)
    assert bundle["total"] == 2


def test_explicit_lenient_handling_ignores_unknown_parameters(fhir: Any) -> None:
    """Spec: "Prefer: handling=lenient: Client requests that the server ignore any unknown or
    unsupported parameter"."""
    bundle = fhir.search("Patient", {"foo": "bar"}, headers=LENIENT)
    assert fhir.match_ids(bundle) == ALL
    assert len(outcome_entries(fhir, bundle)) == 1


def test_known_parameters_give_no_outcome_entry(fhir: Any) -> None:
    assert outcome_entries(fhir, fhir.search("Patient", {"gender": "female"})) == []


def test_strict_handling_rejects_an_unknown_parameter(fhir: Any) -> None:
    """Spec: "Prefer: handling=strict: Client requests that the server return an error for any
    unknown or unsupported parameter"."""
    rejected(fhir, "foo", "bar", headers=STRICT)


def test_strict_handling_rejects_a_parameter_of_another_type(fhir: Any) -> None:
    rejected(fhir, "probability", "1", headers=STRICT)


def test_unknown_parameter_at_the_end_of_a_chain(fhir: Any) -> None:
    assert fhir.ids("Patient", {"general-practitioner.foo": "1"}) == ALL
    rejected(fhir, "general-practitioner.foo", "1", headers=STRICT)


def test_strict_handling_accepts_the_result_parameters(fhir: Any) -> None:
    params = {
        "_format": "json",
        "_pretty": "true",
        "_count": "5",
        "_sort": "birthdate",
        "_total": "accurate",
        "_summary": "false",
        "_elements": "birthDate",
    }
    assert fhir.ids("Patient", params, headers=STRICT) == ALL


def test_strict_handling_rejects_on_post_search_too(fhir: Any) -> None:
    response = fhir.http.post(
        "Patient/_search",
        content="foo=bar",
        headers={"content-type": "application/x-www-form-urlencoded", **STRICT},
    )
    assert response.status_code == 400
    assert "foo" in fhir.diagnostics(response.json())


def test_self_link_shows_the_parameters_used(fhir: Any) -> None:
    """Spec: "the server SHALL return the parameters that were actually used to process the search
    ... encoded in the self link"."""
    url = fhir.link(fhir.search("Patient", {"gender": "female"}), "self")
    assert url == f"{fhir.base}/Patient?gender=female"


def test_self_link_leaves_out_ignored_parameters(fhir: Any) -> None:
    """search.html#conformance: "the server SHALL return the parameters that were actually
    used to process the search" in the self link - "if the server did not support some of
    the filters specified in the search, a client might manually apply those filters"."""
    url = fhir.link(fhir.search("Patient", [("gender", "female"), ("foo", "bar")]), "self")
    assert "foo" not in url
    assert "gender=female" in url


# -- modifiers -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("name:foo", "x"),
        ("birthdate:exact", "1980"),
        ("gender:contains", "f"),
        ("_id:not", "ann"),
        ("name:not", "x"),
        ("general-practitioner:Observation", "x"),
    ],
)
def test_unsupported_modifier_is_rejected(fhir: Any, name: str, value: str) -> None:
    """Spec: "Server SHALL reject any search request that contains ... a modifier that the server
    does not support for that parameter ... using an HTTP 400 error with an
    OperationOutcome"."""
    rejected(fhir, name, value)


def test_unsupported_modifier_is_rejected_under_lenient_handling_too(fhir: Any) -> None:
    rejected(fhir, "name:foo", "x", headers=LENIENT)


def test_missing_takes_only_true_or_false(fhir: Any) -> None:
    rejected(fhir, "gender:missing", "maybe")


def test_chain_on_a_non_reference_parameter_is_rejected(fhir: Any) -> None:
    rejected(fhir, "gender.name", "x")


# -- malformed values ------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "23 May 2009",
        "2013-13-01",
        "2013-02-30",
        "2013-1-14",
        "20130114",
        "2013-01-14T25:00",
        "2013-01-14T10:00:00 05:00",
        "ge",
        "xx2013-01-14",
        "ge2013,junk",
    ],
)
def test_malformed_date_is_rejected(fhir: Any, value: str) -> None:
    """Spec: "GET [base]/Condition?onset=23%20May%202009" has an incorrect format."""
    rejected(fhir, "birthdate", value)


def test_malformed_last_updated_is_rejected(fhir: Any) -> None:
    rejected(fhir, "_lastUpdated", "yesterday")


def test_hour_without_minutes_is_rejected(fhir: Any) -> None:
    """search.html#date: "the minutes SHALL be present if an hour is present"; a malformed
    value SHOULD be an error."""
    rejected(fhir, "birthdate", "2013-01-14T10")


@pytest.mark.parametrize("value", ["abc", "zz5", "1,x", "NaN", "Infinity", "1e", "--1", "ap"])
def test_malformed_number_is_rejected(fhir: Any, value: str) -> None:
    rejected(fhir, "probability", value, type="RiskAssessment")


@pytest.mark.parametrize("value", ["5.4|mg", "5.4|a|b|c", "abc||mg", "xx5.4"])
def test_malformed_quantity_is_rejected(fhir: Any, value: str) -> None:
    rejected(fhir, "value-quantity", value, type="Observation")


def test_token_with_two_bars_is_rejected(fhir: Any) -> None:
    rejected(fhir, "identifier", "a|b|c")


def test_reference_identifier_with_two_bars_is_rejected(fhir: Any) -> None:
    # :identifier takes a token; found by `make fuzz`: this was a ValueError, a 500.
    rejected(fhir, "general-practitioner:identifier", "||mg")


def test_illegal_escape_is_rejected(fhir: Any) -> None:
    """search.html#escaping: "The parameter value xx\\xx is illegal"; syntactically incorrect
    content SHOULD be an error."""
    rejected(fhir, "family", "xx\\xx")


@pytest.mark.parametrize("name", ["name", "gender", "birthdate", "_id"])
def test_empty_parameter_is_ignored(fhir: Any, name: str) -> None:
    """search.html#errors: "Note: Empty parameters are not an error - they are just ignored by
    the server"."""
    assert fhir.ids("Patient", {name: ""}) == ALL


# -- result parameters -----------------------------------------------------------------


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "1e2"])
def test_bad_count_is_rejected(fhir: Any, value: str) -> None:
    rejected(fhir, "_count", value)


def cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


@pytest.mark.parametrize(
    "value", ["abc", "!!!", cursor({"a": 1}), cursor([[], "x", False]), cursor([[], 1, "no"])]
)
def test_bad_cursor_is_rejected(fhir: Any, value: str) -> None:
    rejected(fhir, "_cursor", value)


def test_cursor_of_another_sort_is_rejected(fhir: Any) -> None:
    first = fhir.search("Patient", {"_sort": "birthdate,name", "_count": "1"})
    token = fhir.link(first, "next").rsplit("_cursor=", 1)[1]
    rejected(fhir, "_cursor", token)


@pytest.mark.parametrize("value", ["bogus", "-", "name,,birthdate", "gender.name", "-foo"])
def test_bad_sort_is_rejected(fhir: Any, value: str) -> None:
    rejected(fhir, "_sort", value)


def test_bad_summary_is_rejected(fhir: Any) -> None:
    rejected(fhir, "_summary", "bogus")


def test_bad_total_is_rejected(fhir: Any) -> None:
    rejected(fhir, "_total", "bogus")


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("_include", "Patient:gender"),
        ("_include", "Patient"),
        ("_include", "Patient:organization:Patient"),
        ("_include:bogus", "Patient:organization"),
        ("_revinclude", "Observation:code"),
    ],
)
def test_bad_include_is_rejected(fhir: Any, name: str, value: str) -> None:
    rejected(fhir, name, value)


def test_post_search_needs_a_form_body(fhir: Any) -> None:
    response = fhir.http.post("Patient/_search", json={"gender": "female"})
    assert response.status_code == 415
    assert response.json()["resourceType"] == "OperationOutcome"


# -- parameters the server cannot evaluate -------------------------------------------------

SEQUENCE = {
    "resourceType": "MolecularSequence",
    "id": "seq",
    "coordinateSystem": 0,
    "referenceSeq": {
        "referenceSeqId": {"coding": [{"code": "NC_000001"}]},
        "windowStart": 1,
        "windowEnd": 10,
    },
    "variant": [{"start": 100, "end": 200}],
}


def test_a_resource_with_a_composite_the_server_cannot_evaluate_is_stored_and_found(
    fhir: Any,
) -> None:
    """MolecularSequence's variant coordinates read a component from the resource root
    (%resource), which the server does not evaluate in a composite; the resource is still
    stored and found by its other composites."""
    fhir.put(SEQUENCE)
    assert fhir.ids(
        "MolecularSequence", {"referenceseqid-window-coordinate": "NC_000001$1$10"}
    ) == {"seq"}


def test_a_composite_the_server_cannot_evaluate_is_an_unknown_parameter(fhir: Any) -> None:
    fhir.put(SEQUENCE)
    name = "referenceseqid-variant-coordinate"
    assert fhir.ids("MolecularSequence", {name: "NC_000001$100$200"}) == {"seq"}  # ignored
    rejected(fhir, name, "NC_000001$100$200", type="MolecularSequence", headers=STRICT)
