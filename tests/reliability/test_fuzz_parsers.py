"""Parser fuzzing: whatever bytes, JSON or query a client sends, the parsers answer with one of
our declared errors (an OperationOutcome with a 4xx status), never a bare KeyError, TypeError,
RecursionError or the like, which the API could only turn into a 500.

The entries fuzzed are the ones every request goes through:

- ``parse_json`` / ``parse_resource``: the request body (json.html), only ``BadRequest``;
- the write pipeline of ``write_version`` without the store: ``stamped``, ``validate_resource``
  (shape, the R4B models, required bindings, MHS profiles), then ``indexing.extract`` and
  ``dumps`` on what validation let through: only ``Unprocessable``, and nothing at all once
  a resource is valid;
- ``parse_search`` (and the strict ``conditional`` and ``criteria_condition`` built on it):
  only ``InvalidSearch``; the ``_cursor`` decoder likewise.

Inputs are arbitrary JSON values, official R4 examples from ``../shared/data`` mutated element
by element, and query strings made from the real parameter names, modifiers, prefixes and
escapes. ``MHS_FHIR_FUZZ_EXAMPLES`` sets the examples per property (``make fuzz`` sets it high).
"""

from __future__ import annotations

import base64
import copy
import json
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fhir_server import indexing
from fhir_server.errors import (
    BadRequest,
    FhirError,
    InvalidSearch,
    Unprocessable,
)
from fhir_server.resource_json import dumps, parse_json, parse_resource, stamped
from fhir_server.search.parse import (
    conditional,
    criteria_condition,
    decode_cursor,
    parse_search,
)
from fhir_server.search.registry import params_for
from fhir_server.search.types.date import MAX as DATE_MAX
from fhir_server.search.types.date import MIN as DATE_MIN
from fhir_server.search.types.date import value_range
from fhir_server.validation import served_types, validate_resource

EXAMPLES = int(os.environ.get("MHS_FHIR_FUZZ_EXAMPLES", "150"))
BASE_URL = "http://fuzz.example/fhir"
EXAMPLES_DIR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "fhir-r4-examples"
FIRST_CLASS = ("Patient", "Appointment", "Communication", "MedicationRequest", "Observation")

fuzz = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def only(allowed: type[FhirError], call: Callable[[], object], what: object) -> FhirError | None:
    """Run ``call``; return the error it raised, failing the test unless it is an ``allowed``
    error with a client-error status and at least one issue (an OperationOutcome's worth)."""
    raised: FhirError | None = None
    try:
        call()
    except FhirError as error:
        raised = error
    except Exception as error:  # the bug this file hunts: anything but our own errors
        raise AssertionError(
            f"{type(error).__name__}: {error} (not a FhirError) for {what!r}"
        ) from error
    if raised is not None:
        assert isinstance(raised, allowed), f"{type(raised).__name__} ({raised}) for {what!r}"
        assert 400 <= raised.status < 500, f"status {raised.status} for {what!r}"
        assert raised.issues and all(i.diagnostics for i in raised.issues), what
    return raised


# -- strategies ------------------------------------------------------------------------------


def _writable_int(value: int) -> int | Decimal:
    """orjson writes 64-bit integers; larger ones go through Decimal, as parse_json reads them."""
    return value if -(2**63) <= value < 2**63 else Decimal(value)


json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70).map(_writable_int)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.decimals(allow_nan=False, allow_infinity=False, places=4)
    | st.text(max_size=20)
)
FHIR_KEYS = st.sampled_from(
    [
        "resourceType",
        "id",
        "meta",
        "extension",
        "modifierExtension",
        "url",
        "value",
        "valueString",
        "valueQuantity",
        "name",
        "given",
        "family",
        "identifier",
        "system",
        "code",
        "coding",
        "status",
        "subject",
        "reference",
        "contained",
        "text",
        "_birthDate",
        "_given",
        "birthDate",
        "effectiveDateTime",
        "period",
        "start",
        "end",
        "versionId",
        "profile",
        "tag",
    ]
)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(FHIR_KEYS | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)


def _load_examples() -> list[dict[str, Any]]:
    if not EXAMPLES_DIR.exists():
        return []
    out = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        doc = orjson.loads(path.read_bytes())
        if isinstance(doc, dict) and doc.get("resourceType") in served_types():
            out.append(doc)
    return out


OFFICIAL = _load_examples()
SMALL = [
    {"resourceType": "Patient", "name": [{"family": "Fuzz", "given": ["A"]}], "gender": "male"},
    {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "subject": {"reference": "Patient/p1"},
        "valueQuantity": {"value": 72, "unit": "/min"},
    },
    {
        "resourceType": "Appointment",
        "status": "booked",
        "participant": [{"actor": {"reference": "Patient/p1"}, "status": "accepted"}],
        "start": "2026-12-01T09:00:00Z",
        "end": "2026-12-01T09:30:00Z",
    },
]
SEEDS = OFFICIAL or SMALL


def _node_paths(doc: Any, prefix: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    """Every path to a node below the root, ``resourceType`` excepted."""
    out: list[tuple[str | int, ...]] = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if prefix == () and key == "resourceType":
                continue
            out.append((*prefix, key))
            out.extend(_node_paths(value, (*prefix, key)))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out.append((*prefix, index))
            out.extend(_node_paths(value, (*prefix, index)))
    return out


def _parent(doc: Any, path: tuple[str | int, ...]) -> Any:
    for part in path[:-1]:
        doc = doc[part]
    return doc


MUTATIONS = ("replace", "delete", "null", "empty", "wrap", "unwrap", "stringify", "sibling")


def _mutate(doc: dict[str, Any], path: tuple[str | int, ...], how: str, value: Any) -> None:
    parent, last = _parent(doc, path), path[-1]
    current = parent[last]
    if how == "replace":
        parent[last] = value
    elif how == "delete":
        del parent[last]
    elif how == "null":
        parent[last] = None
    elif how == "empty":
        parent[last] = {} if isinstance(current, dict) else [] if isinstance(current, list) else ""
    elif how == "wrap":
        parent[last] = [current]
    elif how == "unwrap":
        parent[last] = current[0] if isinstance(current, list) and current else current
    elif how == "stringify":
        parent[last] = str(current)
    elif how == "sibling" and isinstance(parent, dict):
        parent[f"{last}x" if isinstance(value, str) else f"_{last}"] = value


@st.composite
def mutated_resources(draw: st.DrawFn) -> dict[str, Any]:
    """An official example with one to four elements replaced, removed, nulled, emptied,
    wrapped in or taken out of an array, turned into a string, or given a stray sibling."""
    doc: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        paths = _node_paths(doc)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        _mutate(doc, path, draw(st.sampled_from(MUTATIONS)), draw(json_values))
    return doc


@st.composite
def typed_objects(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object claiming a served type, with arbitrary elements."""
    doc = draw(st.dictionaries(FHIR_KEYS | st.text(max_size=8), json_values, max_size=6))
    doc["resourceType"] = draw(st.sampled_from(sorted(served_types())))
    return doc


def _as_json(value: Any) -> bytes:
    return dumps(value)


json_bodies = (
    st.binary(max_size=200)
    | json_values.map(_as_json)
    | mutated_resources().map(_as_json)
    | st.text(alphabet='{}[]":,0123456789.eE-truefalsn \\u', max_size=60).map(str.encode)
    | st.integers(min_value=1, max_value=5000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(min_value=1, max_value=5000).map(lambda n: b'{"a":' * n + b"1.50" + b"}" * n)
)


# -- the body parsers ------------------------------------------------------------------------


@fuzz
@given(body=json_bodies)
@example(body=b"")
@example(body=b"NaN")
@example(body=b'{"resourceType": "Patient", "x": NaN}')
@example(body=b'{"resourceType": "Patient", "x": 1.50, "y": Infinity}')
@example(body=b"[" * 100_000)
@example(body=b'{"a":' * 2000 + b"1.50" + b"}" * 2000)
@example(body=b'{"resourceType": "Patient", "deceasedDecimal": 1e999999}')
@example(body=b'{"resourceType": "Patient", "n": 1.5' + b"0" * 5000 + b"}")
@example(body=b"\xef\xbb\xbf{}")
@example(body=b'"\xed\xa0\x80"')
def test_body_parsers_raise_only_bad_request(body: bytes) -> None:
    only(BadRequest, lambda: parse_json(body), body[:200])
    only(BadRequest, lambda: parse_resource(body), body[:200])


def _exact(body: bytes) -> Any:
    """JSON with every number as (sign, digits, exponent): 1.50 and 1.5 differ, 1e2 and 1E2
    do not."""
    return json.loads(body, parse_float=_digits, parse_int=_digits)


def _digits(text: str) -> tuple[int, tuple[int, ...], int | str]:
    return Decimal(text).as_tuple()


@fuzz
@given(value=json_values, slow_path=st.booleans())
@example(value={"b": Decimal(99999999999999999999)}, slow_path=False)
@example(value={"b": Decimal(99999999999999999999)}, slow_path=True)
@example(value=[2**64 - 1, -(2**63), Decimal(2**64), Decimal(-(2**63) - 1)], slow_path=True)
@example(value={"n": Decimal("9" * 25)}, slow_path=True)
def test_parsed_json_serializes_back_to_the_same_numbers(value: Any, slow_path: bool) -> None:
    """What parse_json reads, dumps writes back with every number's digits unchanged: 1.50
    stays 1.50 and an integer beyond 64 bits keeps its digits. Regression: orjson alone
    read 99999999999999999999 as 1e+20, and next to a 1.50 (the Decimal path) the integer
    could not be written back at all (TypeError: a 500 on create). Bodies are objects or
    arrays (resources, JSON Patch), so the value is put in one."""
    body = dumps([value, Decimal("1.50")] if slow_path else [value])
    assert _exact(dumps(parse_json(body))) == _exact(body)


# -- validation and the rest of the write path -----------------------------------------------


def _write_pipeline(resource: dict[str, Any]) -> None:
    """What ``write_version`` does to a body before the store: stamp, validate, index, dump."""
    document = stamped(resource, id="fuzz", version=1, last_updated="2026-11-29T00:00:00Z")
    validate_resource(document)
    # Past validation nothing may fail: any error now would be a 500 on a valid resource.
    try:
        indexing.extract(document, base_url=BASE_URL)
        dumps(document)
    except Exception as error:
        raise AssertionError(f"{type(error).__name__} on a valid resource: {error}") from error


@fuzz
@given(resource=mutated_resources())
def test_mutated_official_examples_fail_validation_only_with_unprocessable(
    resource: dict[str, Any],
) -> None:
    only(Unprocessable, lambda: _write_pipeline(resource), resource)


@fuzz
@given(resource=typed_objects())
@example(resource={"resourceType": "Patient", "meta": []})
@example(resource={"resourceType": "Patient", "meta": "x"})
@example(resource={"resourceType": "Patient", "meta": {"profile": "x"}})
@example(resource={"resourceType": "Patient", "meta": {"profile": [None, 1, {}]}})
@example(resource={"resourceType": "Patient", "contained": [{"resourceType": "Nope"}]})
@example(resource={"resourceType": "Patient", "contained": [{}]})
@example(resource={"resourceType": "Patient", "contained": [{"resourceType": 1}]})
@example(resource={"resourceType": "Patient", "birthDate": Decimal("1.50")})
@example(resource={"resourceType": "Patient", "extension": [{"url": 5}]})
@example(resource={"resourceType": "Bundle", "type": "collection", "entry": [{"resource": 1}]})
@example(resource={"resourceType": "Patient", "_id": {"extension": []}})
@example(resource={"resourceType": "Patient", "birthDate": "9999-12-31"})
@example(resource={"resourceType": "Patient", "deceasedDateTime": "0001-01-01T00:00:00+14:00"})
def test_arbitrary_objects_of_a_served_type_fail_validation_only_with_unprocessable(
    resource: dict[str, Any],
) -> None:
    only(Unprocessable, lambda: _write_pipeline(resource), resource)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda d: f"{d['resourceType']}-{d.get('id', '')}")
def test_official_examples_pass_the_whole_write_pipeline(seed: dict[str, Any]) -> None:
    """The mutations start from resources the pipeline accepts whole."""
    assert only(Unprocessable, lambda: _write_pipeline(copy.deepcopy(seed)), seed.get("id")) is None


# -- search parameters ----------------------------------------------------------------------

MODIFIERS = (
    "",
    ":exact",
    ":contains",
    ":missing",
    ":not",
    ":text",
    ":of-type",
    ":identifier",
    ":above",
    ":below",
    ":in",
    ":not-in",
    ":Patient",
    ":Nope",
    ":iterate",
    "::",
)
RESULT_NAMES = (
    "_count",
    "_sort",
    "_include",
    "_revinclude",
    "_include:iterate",
    "_revinclude:recurse",
    "_summary",
    "_elements",
    "_total",
    "_cursor",
    "_format",
    "_pretty",
    "_type",
    "_contained",
    "_id",
    "_lastUpdated",
    "_tag",
    "_profile",
    "_security",
    "_source",
    "_text",
    "_content",
    "_list",
    "_query",
    "_filter",
)
VALUE_PIECES = (
    "eq",
    "ne",
    "gt",
    "lt",
    "ge",
    "le",
    "sa",
    "eb",
    "ap",
    "2026",
    "2026-11",
    "2026-11-29",
    "2026-11-29T10:00:00Z",
    "2026-02-30",
    "9999-12-31",
    "9999-12",
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59.9999999-14:00",
    "T",
    "+14:00",
    "-",
    "|",
    "\\|",
    "\\,",
    "\\$",
    "\\",
    ",",
    "$",
    "http://loinc.org",
    "8867-4",
    "Patient/p1",
    "p1",
    "urn:uuid:1",
    "1.5",
    "1e3",
    "-0",
    "9" * 30,
    "NaN",
    "inf",
    "||mg",
    "true",
    "false",
    ":",
    "*",
    "Patient:organization",
    "Observation:subject:Patient",
    "-date",
    "_id",
    "%",
    "\x00",
    "\u00e9",
    " ",
)


@st.composite
def param_names(draw: st.DrawFn, type: str) -> str:
    codes = sorted(params_for(type))
    head = draw(st.sampled_from(codes) | st.sampled_from(RESULT_NAMES) | st.text(max_size=8))
    shape = draw(st.integers(min_value=0, max_value=4))
    if shape == 0:
        return head
    if shape == 1:
        return head + draw(st.sampled_from(MODIFIERS))
    if shape == 2:  # a chain, maybe typed, maybe deep
        links = draw(st.lists(st.sampled_from(codes), min_size=1, max_size=10))
        target = draw(st.sampled_from(("", ":Patient", ":Practitioner", ":X")))
        return head + target + "." + ".".join(links)
    if shape == 3:  # _has, well or badly formed, maybe nested
        source = draw(st.sampled_from(("Observation", "Appointment", "Nope", "")))
        ref = draw(st.sampled_from(("subject", "patient", "actor", "code", "")))
        inner = draw(st.sampled_from(codes) | st.just("_has:Observation:subject:code"))
        return f"_has:{source}:{ref}:{inner}"
    return draw(st.text(max_size=20))


query_values = st.lists(st.sampled_from(VALUE_PIECES), max_size=6).map("".join) | st.text(
    max_size=20
)


@st.composite
def searches(draw: st.DrawFn) -> tuple[list[str], list[tuple[str, str]]]:
    types = draw(
        st.lists(
            st.sampled_from(FIRST_CLASS) | st.sampled_from(sorted(served_types())),
            min_size=1,
            max_size=3,
            unique=True,
        )
    )
    query = draw(st.lists(st.tuples(param_names(types[0]), query_values), min_size=1, max_size=5))
    return types, query


@fuzz
@given(search=searches(), strict=st.booleans(), compartment=st.booleans())
@example(search=(["Patient"], [("_count", "9" * 400)]), strict=False, compartment=False)
@example(search=(["Patient"], [("_sort", ",")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_sort", "-")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_include", "*:*")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_include", ":")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_cursor", "W10")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_cursor", "e30")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_cursor", "WzEsMiwzXQ")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_has", "x")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_has:::", "x")]), strict=True, compartment=False)
@example(search=(["Patient"], [("birthdate", "ge2026-13-45")]), strict=False, compartment=False)
@example(search=(["Patient"], [("birthdate", "ap")]), strict=False, compartment=False)
@example(search=(["Observation"], [("value-quantity", "1e999")]), strict=False, compartment=False)
@example(search=(["Observation"], [("value-quantity", "ap||")]), strict=False, compartment=False)
@example(
    search=(["Observation"], [("code-value-quantity", "$$$")]), strict=False, compartment=False
)
@example(search=(["Observation"], [("subject", "/")]), strict=False, compartment=False)
@example(search=(["Observation"], [("subject:Nope", "1")]), strict=False, compartment=False)
@example(search=(["Patient"], [("general-practitioner.", "1")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_lastUpdated", "")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_lastUpdated", ",")]), strict=False, compartment=False)
@example(search=(["Observation"], [("date", "ap9999-12-31")]), strict=False, compartment=False)
@example(search=(["Observation"], [("date", "9999-12-31")]), strict=False, compartment=False)
@example(search=(["Patient"], [("_lastUpdated", "le9999-12")]), strict=False, compartment=False)
def test_search_parser_raises_only_invalid_search(
    search: tuple[list[str], list[tuple[str, str]]], strict: bool, compartment: bool
) -> None:
    types, query = search
    where = ("Patient", "p1") if compartment and types == ["Patient"] else None
    only(
        InvalidSearch,
        lambda: parse_search(types, query, base_url=BASE_URL, strict=strict, compartment=where),
        (types, query),
    )


@fuzz
@given(search=searches())
def test_conditional_criteria_and_scope_filters_raise_only_invalid_search(
    search: tuple[list[str], list[tuple[str, str]]],
) -> None:
    types, query = search
    only(InvalidSearch, lambda: conditional(types[0], query, base_url=BASE_URL), query)
    only(InvalidSearch, lambda: criteria_condition(types[0], query, base_url=BASE_URL), query)


# -- dates: the ranges every date parameter indexes and searches -------------------------

_two = st.integers(min_value=0, max_value=99).map("{:02d}".format)
fhir_dates = st.one_of(
    st.builds(
        "{}-{}-{}T{}:{}:{}{}{}".format,
        st.integers(min_value=0, max_value=9999).map("{:04d}".format),
        _two,
        _two,
        _two,
        _two,
        _two,
        st.sampled_from(("", ".5", ".999999", ".9999999")),
        st.sampled_from(("Z", "+14:00", "-14:00", "+00:00", "-23:59", "+99:99", "")),
    ),
    st.sampled_from(("9999", "9999-12", "9999-12-31", "0001", "0001-01-01", "0999-05-01")),
    st.from_regex(r"\A\d{4}(-\d{2}(-\d{2})?)?\Z"),
)


@fuzz
@given(value=fhir_dates, cut=st.integers(min_value=4, max_value=40))
@example(value="9999-12-31", cut=40)
@example(value="9999-12-31T23:59:59.9999999+14:00", cut=40)
@example(value="0001-01-01T00:00:00+14:00", cut=40)
@example(value="9999-12-31T23:59:59-14:00", cut=40)
def test_a_date_is_a_sortable_utc_range_or_a_value_error(value: str, cut: int) -> None:
    """Regression: 9999-12-31 (any date whose range reaches past the year 9999, or a zone
    before year 1) raised OverflowError, a 500 on create and on search; years before 1000
    were written 999-... and sorted after 2026."""
    text = value[:cut]
    try:
        low, high = value_range(text)
    except ValueError:
        return
    assert len(low) == len(high) == len(DATE_MAX) and low <= high, (text, low, high)
    assert low >= DATE_MIN and high <= DATE_MAX
    assert abs(int(low[:4]) - int(text[:4])) <= 1  # (a zone moves it a day at most)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


cursor_tokens = (
    st.text(max_size=40)
    | json_values.map(lambda v: _b64(dumps(v)))
    | st.tuples(json_values, json_values, json_values).map(lambda v: _b64(dumps(list(v))))
)


@fuzz
@given(token=cursor_tokens)
def test_paging_cursor_decoder_raises_only_invalid_search(token: str) -> None:
    only(InvalidSearch, lambda: decode_cursor(token), token)
