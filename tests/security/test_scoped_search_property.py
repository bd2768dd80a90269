"""Property: whatever search a restricted token sends, built from a small vocabulary of
parameters, modifiers, chains, ``_has``, includes and ``_type``, every resource it gets back
(match or include) is one it may see, and every total counts no more than those.

The allowed set is computed from the data this module loaded (conftest.seeded_resources) by
the policy oracle (conftest.Audience), never by the server's access code. This module only
reads, so the data stays exactly as seeded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import AUDIENCES, DOD_ID, LOINC, Caller, keys, seeded_resources

TYPES = ("Patient", "Observation", "Appointment", "MedicationRequest", "Communication")
SYSTEM = ""  # a system search: GET [base]?_type=...

IDS = (
    "demo-child",
    "demo-sponsor",
    "demo-teen",
    "other-kid",
    "child-lab",
    "demo-ldl",
    "teen-lab",
    "other-lab,child-lab",
    "moved-obs",
    "shared-msg,demo-msg-1",
    "demo-appt-1,demo-appt-2,teen-appt",
    "demo-rx-1,demo-rx-2,teen-rx,other-rx",
)
PATIENTS = (
    "Patient/demo-child",
    "Patient/demo-sponsor",
    "Patient/demo-teen",
    "Patient/demo-spouse",
    "Patient/other-kid",
    "Patient/other-mom",
    "demo-sponsor",
    "Patient/demo-child,Patient/other-kid",
)
CODES = (
    f"{LOINC}|2345-7",
    "2345-7",
    f"{LOINC}|18262-6",
    f"{LOINC}|8867-4",
    "4548-4",
    "laboratory",
    "vital-signs",
)
DATES = ("ge2026-01-01", "lt2026-11-01", "2026-11", "le2026-12-31", "gt2012-01-01")
STATUSES = ("final", "booked", "active", "completed", "final,booked,active,completed")
NAMES = ("Garcia", "Nakamura", "Ren", "Aiko", "Reyes")
INCLUDES = (
    "*",
    "Observation:subject",
    "Observation:performer",
    "Observation:patient",
    "Appointment:actor",
    "Appointment:patient",
    "Communication:subject",
    "Communication:sender",
    "Communication:recipient",
    "MedicationRequest:subject",
    "MedicationRequest:requester",
    "RelatedPerson:patient",
    "Patient:link",
    "Observation:*",
)

REFERENCES = st.sampled_from(
    ("subject", "patient", "actor", "performer", "recipient", "sender", "subject:Patient", "link")
)
CHAINS = st.sampled_from(
    (
        "subject.name",
        "patient.name",
        "subject:Patient.family",
        "actor:Patient.name",
        "recipient:Patient.name",
        "sender:Patient.given",
        "patient.birthdate",
        "performer:Practitioner.name",
        "subject:Patient._has:Observation:subject:code",
        "performer:Practitioner._has:Appointment:actor:actor",
    )
)
HAS = st.sampled_from(
    (
        "_has:Observation:subject:code",
        "_has:Observation:patient:code",
        "_has:MedicationRequest:subject:status",
        "_has:Appointment:actor:status",
        "_has:Communication:recipient:status",
        "_has:Observation:subject:_id",
        "_has:RelatedPerson:patient:identifier",
    )
)


def _chain_values(name: str) -> st.SearchStrategy[str]:
    if name.endswith("code"):
        return st.sampled_from(CODES)
    if name.endswith("actor"):
        return st.sampled_from(PATIENTS)
    if name.endswith("birthdate"):
        return st.sampled_from(("2016-02-14", "2012-06-03", "1988-04-12", "2019-05-01"))
    return st.sampled_from(NAMES)


def _has_values(name: str) -> st.SearchStrategy[str]:
    if name.endswith("status"):
        return st.sampled_from(STATUSES)
    if name.endswith("_id"):
        return st.sampled_from(IDS)
    if name.endswith("identifier"):
        return st.sampled_from((f"{DOD_ID}|1234567890", f"{DOD_ID}|9990000001"))
    return st.sampled_from(CODES)


FILTERS: st.SearchStrategy[tuple[str, str]] = st.one_of(
    st.tuples(st.just("_id"), st.sampled_from(IDS)),
    st.tuples(REFERENCES, st.sampled_from(PATIENTS)),
    st.tuples(st.sampled_from(("code", "code:text", "category")), st.sampled_from(CODES)),
    st.tuples(st.sampled_from(("date", "birthdate", "authoredon", "sent")), st.sampled_from(DATES)),
    st.tuples(st.sampled_from(("status", "status:not")), st.sampled_from(STATUSES)),
    st.tuples(
        st.sampled_from(("name", "family", "name:exact", "name:contains", "given")),
        st.sampled_from(NAMES),
    ),
    CHAINS.flatmap(lambda name: st.tuples(st.just(name), _chain_values(name))),
    HAS.flatmap(lambda name: st.tuples(st.just(name), _has_values(name))),
    st.tuples(
        st.sampled_from(("subject:missing", "performer:missing", "link:missing")),
        st.sampled_from(("true", "false")),
    ),
)
INCLUDE_PARAMS: st.SearchStrategy[tuple[str, str]] = st.tuples(
    st.sampled_from(("_include", "_include:iterate", "_revinclude", "_revinclude:iterate")),
    st.sampled_from(INCLUDES),
)
RESULT_PARAMS: st.SearchStrategy[tuple[str, str]] = st.one_of(
    st.tuples(st.just("_summary"), st.sampled_from(("count", "true"))),
    st.tuples(st.just("_total"), st.just("accurate")),
    st.tuples(st.just("_count"), st.sampled_from(("1", "2", "100"))),
    st.tuples(st.just("_sort"), st.sampled_from(("_id", "-_lastUpdated"))),
)


@st.composite
def searches(draw: st.DrawFn, types: tuple[str, ...] = TYPES) -> tuple[str, list[tuple[str, str]]]:
    """A search of ``types``: a type, a compartment or the system, and its query."""
    path = draw(st.sampled_from((*types, SYSTEM, "compartment")))
    params = [
        *draw(st.lists(FILTERS, max_size=3)),
        *draw(st.lists(INCLUDE_PARAMS, max_size=2)),
        *draw(st.lists(RESULT_PARAMS, max_size=1)),
    ]
    if path == SYSTEM:
        chosen = draw(st.lists(st.sampled_from(types), min_size=1, max_size=3, unique=True))
        params.append(("_type", ",".join(chosen)))
    elif path == "compartment":
        owner = draw(st.sampled_from(("demo-child", "demo-sponsor", "demo-teen", "other-kid")))
        inside = [t for t in types if t != "Patient"] + (["*"] if "Patient" in types else [])
        path = f"Patient/{owner}/{draw(st.sampled_from(inside))}"
    return path, draw(st.permutations(params))


def _searched_types(path: str, params: list[tuple[str, str]]) -> set[str]:
    if path == SYSTEM:
        return {t for name, value in params if name == "_type" for t in value.split(",")}
    last = path.split("/")[-1]
    if last == "*":  # a compartment search of every type: whatever the data holds
        return {key.split("/")[0] for key in seeded_resources()}
    return {last}


def _allowed(who: str) -> set[str]:
    seeded = seeded_resources()
    audience = AUDIENCES[who]
    return {key for key, resource in seeded.items() if audience.may_see(resource)}


def _follow(who: Caller, bundle: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The next page of a searchset, if any."""
    for link in bundle.get("link", []):
        if link["relation"] == "next":
            url = urlsplit(link["url"])
            path = url.path.split("/fhir", 1)[1].lstrip("/")
            return who.search(path, *parse_qsl(url.query, keep_blank_values=True))
    return None


def _check(who: Caller, path: str, params: list[tuple[str, str]]) -> None:
    response = who.get(path, *params)
    assert response.status_code in (200, 400), (path, params, response.text)
    if response.status_code != 200:
        return
    allowed = _allowed(who.name)
    types = _searched_types(path, params)
    reachable = {key for key in allowed if key.split("/")[0] in types}
    bundle: Mapping[str, Any] | None = response.json()
    if "total" in bundle:
        assert bundle["total"] <= len(reachable), (path, params, bundle["total"], reachable)
    pages = 0
    while bundle is not None and pages < 4:
        found = keys(bundle, "match", "include")
        assert found <= allowed, (path, params, sorted(found - allowed))
        assert keys(bundle, "match") <= reachable, (path, params)
        bundle, pages = _follow(who, bundle), pages + 1


PROPERTY = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY
@given(search=searches())
def test_a_patient_tokens_search_returns_only_resources_within_its_reach(
    patient: Caller, search: tuple[str, list[tuple[str, str]]]
) -> None:
    _check(patient, *search)


@PROPERTY
@given(search=searches())
def test_a_proxy_tokens_search_returns_only_resources_within_its_reach(
    proxy: Caller, search: tuple[str, list[tuple[str, str]]]
) -> None:
    _check(proxy, *search)


@PROPERTY
@given(search=searches(types=("Observation",)))
def test_a_granular_tokens_search_returns_only_resources_within_its_reach(
    granular: Caller, search: tuple[str, list[tuple[str, str]]]
) -> None:
    _check(granular, *search)


@pytest.mark.parametrize("who", ["patient", "proxy", "granular"])
def test_the_oracle_gives_every_audience_something_and_withholds_something(who: str) -> None:
    allowed, seeded = _allowed(who), set(seeded_resources())
    assert allowed
    assert seeded - allowed
