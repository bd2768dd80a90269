"""The search contract: every engine answers every plan exactly as SQLite does.

One realistic data set (``search_data.json``) is written, in the same order, to SQLite and to
each other engine. Each case is a query string as clients send it, turned into a plan by the
real parser (``fhir_server.search.parse``), so every plan node type is covered the way it
reaches an engine. Both engines must return the same ids in the same order, the same count,
the same cursor values, and the same pages when the result is walked two at a time forward
and back again. Spec: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import orjson
import pytest

from fhir_server.indexing import extract
from fhir_server.search.parse import criteria_condition, in_patient_compartments, parse_search
from fhir_server.search.plan import (
    AllOf,
    AnyOf,
    Condition,
    Cursor,
    ParamIn,
    SearchPlan,
    TokenMatch,
    TypeIn,
)
from fhir_server.storage import Store, Write

pytestmark = [pytest.mark.anyio, pytest.mark.mongo]

BASE = "https://fhir.example.mil/r4"
REFERENCE = "sqlite"


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


DATA = Path(__file__).with_name("search_data.json")
Factory = Callable[[Path], AbstractAsyncContextManager[Store]]


def _write(resource: dict[str, Any] | None, *, type: str, id: str, version: int, at: str) -> Write:
    body = None
    if resource is not None:
        meta = {"versionId": str(version), "lastUpdated": at}
        body = orjson.dumps({**resource, "meta": meta})
    return Write(
        type=type,
        id=id,
        version=version,
        expected_version=version - 1 or None,
        last_updated=at,
        method="DELETE" if resource is None else "PUT",
        body=body,
        index=() if resource is None else extract(resource, base_url=BASE),
    )


def _writes() -> list[Write]:
    """The data set as the writes the interactions layer would make, in order."""
    data = orjson.loads(DATA.read_bytes())
    out = []
    for version, key in ((1, "resources"), (2, "updates")):
        for item in data[key]:
            r = item["resource"]
            out.append(
                _write(
                    r, type=r["resourceType"], id=r["id"], version=version, at=item["lastUpdated"]
                )
            )
    for item in data["deletes"]:
        out.append(
            _write(None, type=item["type"], id=item["id"], version=2, at=item["lastUpdated"])
        )
    return out


@pytest.fixture(scope="module")
async def loaded(
    tmp_path_factory: pytest.TempPathFactory, engines: dict[str, Factory]
) -> AsyncIterator[dict[str, Store]]:
    """Every engine, opened and holding the data set."""
    stores: dict[str, Store] = {}
    contexts = []
    try:
        for name, factory in sorted(engines.items()):
            context = factory(tmp_path_factory.mktemp(name))
            contexts.append(context)
            store = await context.__aenter__()
            await store.open()
            stores[name] = store
            for write in _writes():
                await store.write([write])
        yield stores
    finally:
        for store in stores.values():
            await store.close()
        for context in reversed(contexts):
            await context.__aexit__(None, None, None)


# (types, query string, must the result be non-empty?)
CASES: list[tuple[str, str, bool]] = [
    # string: start, contains, exact, accents, several values
    ("Patient", "name=smi", True),
    ("Patient", "name=jose", True),
    ("Patient", "family=alvarez", True),
    ("Patient", "name:contains=mit", True),
    ("Patient", "name:exact=Smith", True),
    ("Patient", "name:exact=smith", False),
    ("Patient", "name=smyth,nguyen", True),
    ("Patient", "name=smi&name=john", True),
    ("Patient", "address-city=springfield", True),
    ("Organization", "name=acme", True),
    # token: system|code, code, |code, system|, :not, :text, :of-type-free, booleans
    ("Patient", "identifier=urn:oid:2.16.840.1.113883.3.42.10001.100001.12|1001", True),
    ("Patient", "identifier=1003", True),
    ("Patient", "identifier=|1003", False),
    ("Patient", "identifier=urn:oid:2.16.840.1.113883.3.42.10001.100001.12|", True),
    ("Patient", "gender=female", True),
    ("Patient", "gender:not=male", True),
    ("Patient", "gender=male,other", True),
    ("Patient", "active=false", True),
    ("Observation", "code=http://loinc.org|8867-4", True),
    ("Observation", "code=8867-4,29463-7", True),
    ("Observation", "code:not=8867-4", True),
    ("Observation", "code:text=heart", True),
    ("Observation", "category=vital-signs&status=final", True),
    ("Condition", "clinical-status=resolved", True),
    # reference: type/id, id, absolute URL, :type, several
    ("Observation", "subject=Patient/p1", True),
    ("Observation", "subject=p3", True),
    ("Observation", "patient=p1", True),
    ("Observation", "subject:Patient=p3", True),
    ("Observation", "subject=http://other.example/fhir/Patient/x", True),
    ("Observation", f"subject={BASE}/Patient/p1", True),
    ("Observation", "performer=Practitioner/dr2", True),
    ("Observation", "subject=Patient/p1,Patient/p3", True),
    ("Patient", "general-practitioner=dr1", True),
    # :missing
    ("Patient", "birthdate:missing=true", True),
    ("Patient", "birthdate:missing=false", True),
    ("Observation", "performer:missing=true", True),
    # date prefixes, partial dates, periods
    ("Patient", "birthdate=1970", True),
    ("Patient", "birthdate=1985-11", True),
    ("Patient", "birthdate=1985-11-23", True),
    ("Patient", "birthdate=ge1985-01-01", True),
    ("Patient", "birthdate=gt1985-11-01", True),
    ("Patient", "birthdate=le1970-05-01", True),
    ("Patient", "birthdate=lt1970", True),
    ("Patient", "birthdate=ne1985-11", True),
    ("Patient", "birthdate=sa1985-11-10", True),
    ("Patient", "birthdate=eb1970-05-01", True),
    ("Patient", "birthdate=ap1985-11-20", True),
    ("Patient", "birthdate=ge1950&birthdate=lt1980", True),
    ("Observation", "date=2026-01", True),
    ("Observation", "date=gt2026-01-12", True),
    ("Observation", "date=2026-01-12", True),
    ("Observation", "date=sa2026-01-01&date=eb2026-02-28", True),
    ("MedicationRequest", "authoredon=ge2025", True),
    ("Condition", "onset-date=2015", True),
    # number and quantity, ranges, units
    ("RiskAssessment", "probability=0.25", True),
    ("RiskAssessment", "probability=gt0.5", True),
    ("RiskAssessment", "probability=le0.25", True),
    ("RiskAssessment", "probability=ne0.25", True),
    ("RiskAssessment", "probability=ap0.7", True),
    ("Observation", "value-quantity=72", True),
    ("Observation", "value-quantity=gt70|http://unitsofmeasure.org|/min", True),
    ("Observation", "value-quantity=lt80||kg", False),
    ("Observation", "value-quantity=le80||kg", True),
    ("Observation", "value-quantity=ap90", True),
    ("Observation", "value-quantity=ge61.5,eq80", True),
    ("Condition", "onset-age=gt15", True),
    ("Condition", "onset-age=sa15", True),
    ("Condition", "onset-age=52", True),
    # uri
    ("ValueSet", "url=http://example.org/fhir/ValueSet/ranks", True),
    ("ValueSet", "url:below=http://example.org/fhir/ValueSet", True),
    ("ValueSet", "url:above=http://example.org/fhir/ValueSet/ranks/army/ranks", True),
    ("ValueSet", "url:below=http://example.org/fhir", True),
    # composite
    ("Observation", "component-code-value-quantity=http://loinc.org|8480-6$gt120", True),
    ("Observation", "component-code-value-quantity=8462-4$lt80", True),
    ("Observation", "code-value-quantity=8867-4$gt90", True),
    # _id, _lastUpdated
    ("Patient", "_id=p1,p3,nobody", True),
    ("Observation", "_id=wt2", False),
    ("Patient", "_lastUpdated=gt2026-03-01T05:00:00Z", True),
    ("Observation", "_lastUpdated=le2026-03-02", True),
    ("Patient", "_lastUpdated=2026-03-09", True),
    # chains, one and two levels, with a type
    ("Observation", "subject.name=smith", True),
    ("Observation", "subject:Patient.birthdate=lt1960", True),
    ("Observation", "subject:Patient.organization.name=naval", True),
    ("Observation", "performer:Practitioner.identifier=2222222222", True),
    ("MedicationRequest", "requester.name=quinn&status=active", True),
    ("Patient", "organization.partof=acme", True),
    ("Observation", "subject.name=nobody", False),
    # _has, nested
    ("Patient", "_has:Observation:subject:code=8867-4", True),
    ("Patient", "_has:Condition:patient:code=38341003,195967001", True),
    ("Organization", "_has:Patient:organization:_has:Observation:subject:code=8867-4", True),
    ("Practitioner", "_has:Observation:performer:subject.name=smithson", True),
    ("Organization", "_has:Patient:organization:gender=female", True),
    # several types (AnyOf per type)
    ("Observation,Condition", "patient=p3", True),
    ("Observation,Condition,MedicationRequest", "subject=Patient/p1", True),
    # sorting: missing last, ties by storage order, numbers, references, several keys
    ("Patient", "_sort=birthdate", True),
    ("Patient", "_sort=-birthdate", True),
    ("Patient", "_sort=name", True),
    ("Patient", "_sort=-family,birthdate", True),
    ("Patient", "_sort=gender,-_lastUpdated", True),
    ("Patient", "_sort=-_id", True),
    ("Patient", "gender=female&_sort=-_lastUpdated", True),
    ("Observation", "_sort=value-quantity", True),
    ("Observation", "_sort=-value-quantity", True),
    ("Observation", "_sort=date", True),
    ("Observation", "_sort=-date,_id", True),
    ("Observation", "_sort=subject", True),
    ("Observation", "_sort=code", True),
    ("Observation", "code=8867-4&_sort=-value-quantity", True),
    ("RiskAssessment", "_sort=-probability", True),
    ("Condition", "_sort=onset-age", True),
    ("ValueSet", "_sort=url", True),
    ("Organization", "_sort=-name", True),
]


def _plan(types: str, query: str) -> SearchPlan:
    parsed = parse_search(
        types.split(","), parse_qsl(query, keep_blank_values=True), base_url=BASE, strict=True
    )
    return parsed.plan


def _handmade() -> list[tuple[str, SearchPlan]]:
    """Plans no query string makes: the access layer's (TypeIn, AllOf in AnyOf, compartments,
    granular scope criteria) and an empty compartment list."""
    final = ParamIn("Observation.status", "token", (TokenMatch(None, "final"),))
    per_type: Condition = AnyOf(
        (
            AllOf((TypeIn(("Observation",)), final)),
            AllOf(
                (
                    TypeIn(("Condition",)),
                    criteria_condition("Condition", [("code", "38341003")], base_url=BASE),
                )
            ),
        )
    )
    compartment = in_patient_compartments("Observation", ["p1", "p3"])
    assert compartment is not None
    nobody = in_patient_compartments("Observation", [])
    assert nobody is not None
    return [
        ("type rules", SearchPlan(types=("Observation", "Condition"), conditions=(per_type,))),
        ("compartments", SearchPlan(types=("Observation",), conditions=(compartment,))),
        ("no compartment", SearchPlan(types=("Observation",), conditions=(nobody,))),
        (
            "compartment in a type rule",
            SearchPlan(
                types=("Observation", "Condition"),
                conditions=(AnyOf((AllOf((TypeIn(("Observation",)), compartment)),)),),
            ),
        ),
        ("nothing of an unknown type", SearchPlan(types=("Basic",))),
    ]


async def _ids(store: Store, plan: SearchPlan) -> tuple[list[str], Cursor | None]:
    page = await store.search(replace(plan, count=1000, cursor=None))
    return [f"{v.type}/{v.id}" for v in page.versions], page.last


async def _walk(store: Store, plan: SearchPlan) -> tuple[list[list[str]], list[list[str]]]:
    """Pages of two walked forward to the end, then backward from the last one."""
    forward: list[list[str]] = []
    page = await store.search(replace(plan, count=2, cursor=None))
    forward.append([v.id for v in page.versions])
    last = page
    while last.more and last.last is not None:
        last = await store.search(replace(plan, count=2, cursor=last.last))
        forward.append([v.id for v in last.versions])
    backward: list[list[str]] = []
    first = last.first
    while first is not None:
        page = await store.search(replace(plan, count=2, cursor=replace(first, before=True)))
        backward.append([v.id for v in page.versions])
        first = page.first if page.more else None
    return forward, backward


async def _same_everywhere(loaded: dict[str, Store], plan: SearchPlan, non_empty: bool) -> None:
    reference = loaded[REFERENCE]
    want_ids, want_last = await _ids(reference, plan)
    want_count = await reference.count(plan)
    want_pages = await _walk(reference, plan)
    assert bool(want_ids) == non_empty, f"the data set no longer exercises {plan.explain()}"
    for name, store in loaded.items():
        if name == REFERENCE:
            continue
        got_ids, got_last = await _ids(store, plan)
        assert got_ids == want_ids, f"{name}: {plan.explain()}"
        assert await store.count(plan) == want_count, name
        if want_last is not None:
            assert got_last is not None and got_last.values == want_last.values, name
        assert await _walk(store, plan) == want_pages, f"{name} pages: {plan.explain()}"


@pytest.mark.parametrize(
    ("types", "query", "non_empty"), CASES, ids=[f"{t}?{q}" for t, q, _ in CASES]
)
async def test_a_query_finds_the_same_resources_in_the_same_order(
    loaded: dict[str, Store], types: str, query: str, non_empty: bool
) -> None:
    await _same_everywhere(loaded, _plan(types, query), non_empty)


@pytest.mark.parametrize(("label", "plan"), _handmade(), ids=[label for label, _ in _handmade()])
async def test_an_access_plan_finds_the_same_resources(
    loaded: dict[str, Store], label: str, plan: SearchPlan
) -> None:
    await _same_everywhere(
        loaded, plan, label not in ("no compartment", "nothing of an unknown type")
    )


async def test_a_search_inside_a_transaction_sees_the_same(loaded: dict[str, Store]) -> None:
    plans = [
        _plan("Observation", "subject.name=smith&code=8867-4&_sort=-date"),
        _plan("Patient", "_has:Observation:subject:code=8867-4&_sort=birthdate"),
    ]
    results = {}
    for name, store in loaded.items():
        async with store.transaction() as tx:
            results[name] = [
                ([v.id for v in (await tx.search(plan)).versions], await tx.count(plan))
                for plan in plans
            ]
    assert all(found == results[REFERENCE] for found in results.values()), results
    assert all(ids for ids, _ in results[REFERENCE])


async def test_the_data_set_loads_into_every_engine(
    loaded: dict[str, Store], engines: dict[str, Factory]
) -> None:
    assert set(loaded) == set(engines)
    for store in loaded.values():
        assert await store.count(SearchPlan(types=("Patient",))) == 6


def test_every_plan_node_type_is_covered() -> None:
    """The cases reach every condition and predicate type an engine compiles."""
    seen: set[str] = set()

    def visit(node: object) -> None:
        seen.add(type(node).__name__)
        for name in getattr(node, "__slots__", ()):
            value = getattr(node, name)
            for item in value if isinstance(value, tuple) else (value,):
                if hasattr(item, "__slots__"):
                    visit(item)

    for types, query, _ in CASES:
        visit(_plan(types, query))
    for _, plan in _handmade():
        visit(plan)
    assert {
        "AllOf",
        "AnyOf",
        "Chain",
        "CompositeMatch",
        "DateMatch",
        "Has",
        "IdIn",
        "LastUpdated",
        "Missing",
        "NumberMatch",
        "ParamIn",
        "ReferenceMatch",
        "SortKey",
        "StringMatch",
        "TokenMatch",
        "TypeIn",
        "UriMatch",
    } <= seen
