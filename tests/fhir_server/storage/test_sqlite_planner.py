"""Which condition drives a SQLite search: the most selective kind first, a chain to an exact
reference before a token most resources share, an open-ended range last; of several ranges, a
narrow one alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from fhir_server.indexing import extract
from fhir_server.search.parse import parse_search
from fhir_server.search.plan import (
    Chain,
    Condition,
    DateMatch,
    ParamIn,
    ReferenceMatch,
    TokenMatch,
)
from fhir_server.storage import Write
from fhir_server.storage.sqlite import SqliteStore
from fhir_server.storage.sqlite_search import NARROW_SCAN, driver_rank

BASE = "http://example.org/fhir"

LOCATION = ReferenceMatch("Location", "loc-1")


def token(param: str, code: str) -> ParamIn:
    return ParamIn(param, "token", (TokenMatch(None, code),))


def start(prefix: str) -> ParamIn:
    moment = "2027-03-17T00:00:00.000000Z"
    return ParamIn("Slot.start", "date", (DateMatch(prefix, moment, moment),))  # type: ignore[arg-type]


def best(*conditions: Condition) -> Condition:
    ranked = [(driver_rank(c), i) for i, c in enumerate(conditions)]
    return conditions[min((r, i) for r, i in ranked if r is not None)[1]]


def test_a_chained_actor_drives_before_a_service_type() -> None:
    actor = Chain(
        "Slot.schedule", "Schedule", (ParamIn("Schedule.actor", "reference", (LOCATION,)),)
    )
    service = token("Slot.service-type", "pediatrics")
    assert best(service, actor, token("Slot.status", "free")) is actor


def test_a_closed_date_range_drives_before_a_low_selectivity_token() -> None:
    day = start("eq")
    assert best(token("Slot.status", "free"), day) is day


def test_an_open_date_range_drives_only_when_nothing_else_can() -> None:
    free = token("Slot.status", "free")
    assert best(start("ge"), start("lt"), free) is free
    only = start("ge")
    assert best(only) is only


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _patient(n: int, family: str, birth: str) -> Write:
    resource = {"resourceType": "Patient", "id": f"p{n}", "name": [{"family": family}]}
    resource["birthDate"] = birth
    at = "2026-01-01T00:00:00.000Z"
    return Write(
        type="Patient",
        id=f"p{n}",
        version=1,
        expected_version=None,
        last_updated=at,
        method="PUT",
        body=orjson.dumps(resource),
        index=extract(resource, base_url=BASE),
    )


@pytest.fixture
async def smiths(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """Many Smiths born in 1980 (more than a narrow scan), one of them on 1980-03-04."""
    store = SqliteStore(str(tmp_path / "planner.db"))
    await store.open()
    births = ["1980-03-04"] + [
        f"1980-{1 + n % 12:02d}-{5 + n % 24:02d}" for n in range(1, 3 * NARROW_SCAN)
    ]
    await store.write([_patient(n, "Smith", birth) for n, birth in enumerate(births)])
    yield store
    await store.close()


def _explain(store: SqliteStore, birthdate: str) -> str:
    params = [("name", "smi"), ("birthdate", birthdate)]
    plan = parse_search(["Patient"], params, base_url=BASE, strict=False).plan
    return " / ".join(store.explain(plan))


@pytest.mark.anyio
async def test_a_narrow_range_drives_alone_and_the_wide_one_filters(smiths: SqliteStore) -> None:
    plan = _explain(smiths, "1980-03-04")
    assert "INTERSECT" not in plan
    assert "idx_date_low" in plan and "idx_string_rid" in plan


@pytest.mark.anyio
async def test_ranges_that_are_all_wide_are_intersected(smiths: SqliteStore) -> None:
    assert "INTERSECT" in _explain(smiths, "1980")


@pytest.mark.anyio
async def test_a_narrow_driver_finds_the_same_matches(smiths: SqliteStore) -> None:
    params = [("name", "smi"), ("birthdate", "1980-03-04")]
    plan = parse_search(["Patient"], params, base_url=BASE, strict=False).plan
    page = await smiths.search(plan)
    assert [v.id for v in page.versions] == ["p0"]
    assert await smiths.count(plan) == 1
