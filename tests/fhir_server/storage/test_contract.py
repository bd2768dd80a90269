"""The storage contract: what every engine behind the Store protocol must do, the same way.

Each test takes the ``store`` fixture; an engine joins the suite by adding itself to ENGINES
in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from fhir_server.search.plan import (
    IdIn,
    ParamIn,
    SearchPlan,
    SortKey,
    TokenMatch,
)
from fhir_server.storage import (
    HistoryQuery,
    Store,
    VersionConflict,
    Write,
)
from fhir_server.storage.records import DateRow, IndexRow, TokenRow

pytestmark = pytest.mark.anyio


def in_process_serialised(store: Store) -> bool:
    """Whether every write of this process waits for an open transaction: SQLite's single
    writer and MongoDB's standalone mode do; a MongoDB replica set does not."""
    return not getattr(store, "transactions", False)


def put(
    id: str,
    version: int,
    *,
    type: str = "Patient",
    body: bytes | None = b"{}",
    expected: int | str | None = "previous",
    at: str = "2026-01-01T00:00:00.000Z",
    index: tuple[IndexRow, ...] = (),
) -> Write:
    """A write of ``version``; by default guarded by the version before it."""
    guard = (version - 1 or None) if expected == "previous" else expected
    assert guard is None or isinstance(guard, int)
    return Write(
        type=type,
        id=id,
        version=version,
        expected_version=guard,
        last_updated=at,
        method="POST" if version == 1 else ("DELETE" if body is None else "PUT"),
        body=body,
        index=index,
    )


def mrn(code: str, system: str | None = "urn:mrn") -> TokenRow:
    return TokenRow("Patient.identifier", system, code)


def token_plan(*pairs: tuple[str | None, str | None], **more: object) -> SearchPlan:
    matches = tuple(TokenMatch(system, code) for system, code in pairs)
    condition = ParamIn("Patient.identifier", "token", matches)
    return SearchPlan(types=("Patient",), conditions=(condition,), **more)  # type: ignore[arg-type]


async def test_a_written_version_reads_back_byte_for_byte(store: Store) -> None:
    body = b'{"resourceType":"Patient","id":"a","birthDate":"1970-01-01","x":1.50}'
    await store.write([put("a", 1, body=body)])
    found = await store.read("Patient", "a")
    assert found is not None
    assert (found.body, found.version, found.method) == (body, 1, "POST")


async def test_reading_an_unknown_resource_gives_none(store: Store) -> None:
    assert await store.read("Patient", "nobody") is None
    assert await store.vread("Patient", "nobody", 1) is None


async def test_types_are_separate_namespaces(store: Store) -> None:
    await store.write([put("same", 1, type="Patient", body=b"1")])
    await store.write([put("same", 1, type="Practitioner", body=b"2")])
    patient, practitioner = (
        await store.read("Patient", "same"),
        await store.read("Practitioner", "same"),
    )
    assert patient is not None and practitioner is not None
    assert (patient.body, practitioner.body) == (b"1", b"2")


async def test_create_of_an_existing_id_is_a_version_conflict(store: Store) -> None:
    await store.write([put("a", 1)])
    with pytest.raises(VersionConflict):
        await store.write([put("a", 1, body=b"other")])
    found = await store.read("Patient", "a")
    assert found is not None and found.body == b"{}"


async def test_update_guarded_by_a_stale_version_is_refused_and_stores_nothing(
    store: Store,
) -> None:
    await store.write([put("a", 1)])
    await store.write([put("a", 2, body=b"v2")])
    with pytest.raises(VersionConflict):
        await store.write([put("a", 2, body=b"stale", expected=1)])
    found = await store.read("Patient", "a")
    assert found is not None and (found.version, found.body) == (2, b"v2")


async def test_update_of_an_unknown_resource_guarded_by_a_version_is_refused(store: Store) -> None:
    with pytest.raises(VersionConflict):
        await store.write([put("ghost", 2)])
    assert await store.read("Patient", "ghost") is None


async def test_writes_in_one_call_are_all_or_nothing(store: Store) -> None:
    await store.write([put("taken", 1)])
    with pytest.raises(VersionConflict):
        await store.write([put("fresh", 1), put("taken", 1)])
    assert await store.read("Patient", "fresh") is None
    history = await store.history(HistoryQuery(count=100))
    assert [(v.id, v.version) for v in history] == [("taken", 1)]


async def test_a_delete_is_a_version_without_body(store: Store) -> None:
    await store.write([put("a", 1)])
    await store.write([put("a", 2, body=None)])
    current = await store.read("Patient", "a")
    assert current is not None and current.deleted and current.version == 2
    assert current.method == "DELETE"
    first = await store.vread("Patient", "a", 1)
    assert first is not None and first.body == b"{}"


async def test_a_deleted_resource_can_be_written_again(store: Store) -> None:
    await store.write([put("a", 1)])
    await store.write([put("a", 2, body=None)])
    await store.write([put("a", 3, body=b"back")])
    current = await store.read("Patient", "a")
    assert current is not None and (current.version, current.body) == (3, b"back")


async def test_every_version_stays_readable(store: Store) -> None:
    for v in range(1, 6):
        await store.write([put("a", v, body=f"v{v}".encode())])
    for v in range(1, 6):
        found = await store.vread("Patient", "a", v)
        assert found is not None and found.body == f"v{v}".encode()
    assert await store.vread("Patient", "a", 6) is None


async def test_history_is_newest_first_at_every_level(store: Store) -> None:
    await store.write([put("a", 1)])
    await store.write([put("o", 1, type="Organization")])
    await store.write([put("a", 2)])
    system = await store.history(HistoryQuery(count=10))
    assert [(v.type, v.id, v.version) for v in system] == [
        ("Patient", "a", 2),
        ("Organization", "o", 1),
        ("Patient", "a", 1),
    ]
    of_type = await store.history(HistoryQuery(type="Patient", count=10))
    assert [(v.id, v.version) for v in of_type] == [("a", 2), ("a", 1)]
    instance = await store.history(HistoryQuery(type="Organization", id="o", count=10))
    assert [(v.id, v.version) for v in instance] == [("o", 1)]


async def test_history_pages_by_cursor_without_gaps_or_repeats(store: Store) -> None:
    for i in range(7):
        await store.write([put(f"p{i}", 1)])
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.history(HistoryQuery(count=3, before_seq=cursor))
        seen.extend(v.id for v in page)
        if len(page) < 3:
            break
        cursor = page[-1].seq
    assert seen == [f"p{i}" for i in reversed(range(7))]


async def test_history_since_keeps_versions_at_or_after_the_instant(store: Store) -> None:
    await store.write([put("old", 1, at="2026-01-01T00:00:00.000Z")])
    await store.write([put("edge", 1, at="2026-02-01T00:00:00.000Z")])
    await store.write([put("new", 1, at="2026-03-01T00:00:00.000Z")])
    found = await store.history(HistoryQuery(since="2026-02-01T00:00:00.000Z", count=10))
    assert [v.id for v in found] == ["new", "edge"]


async def test_search_by_id_returns_current_live_versions(store: Store) -> None:
    await store.write([put("a", 1)])
    await store.write([put("a", 2, body=b"v2")])
    await store.write([put("b", 1)])
    await store.write([put("b", 2, body=None)])
    plan = SearchPlan(types=("Patient",), conditions=(IdIn(("a", "b", "z")),))
    found = (await store.search(plan)).versions
    assert [(v.id, v.version, v.body) for v in found] == [("a", 2, b"v2")]


@pytest.mark.parametrize(
    ("pairs", "expected"),
    [
        ((("urn:mrn", "1"),), ["sys"]),
        (((None, "1"),), ["sys", "nosys", "other"]),
        ((("", "1"),), ["nosys"]),
        ((("urn:other", None),), ["other"]),
        ((("urn:mrn", "1"), ("urn:other", "1")), ["sys", "other"]),
        ((("urn:mrn", "2"),), []),
    ],
)
async def test_token_search_honours_system_and_code(
    store: Store, pairs: tuple[tuple[str | None, str | None], ...], expected: list[str]
) -> None:
    await store.write([put("sys", 1, index=(mrn("1"),))])
    await store.write([put("nosys", 1, index=(mrn("1", None),))])
    await store.write([put("other", 1, index=(mrn("1", "urn:other"),))])
    found = (await store.search(token_plan(*pairs))).versions
    assert [v.id for v in found] == expected


async def test_conditions_are_anded(store: Store) -> None:
    await store.write([put("a", 1, index=(mrn("1"),))])
    await store.write([put("b", 1, index=(mrn("1"),))])
    plan = SearchPlan(
        types=("Patient",),
        conditions=(ParamIn("Patient.identifier", "token", (TokenMatch(None, "1"),)), IdIn(("b",))),
    )
    assert [v.id for v in (await store.search(plan)).versions] == ["b"]
    assert await store.count(plan) == 1


async def test_index_rows_follow_the_current_version(store: Store) -> None:
    await store.write([put("a", 1, index=(mrn("old"),))])
    await store.write([put("a", 2, index=(mrn("new"),))])
    assert (await store.search(token_plan((None, "old")))).versions == []
    assert [v.id for v in (await store.search(token_plan((None, "new")))).versions] == ["a"]
    await store.write([put("a", 3, body=None)])
    assert await store.count(token_plan((None, "new"))) == 0


async def test_search_pages_by_cursor_in_creation_order(store: Store) -> None:
    for i in range(5):
        await store.write([put(f"p{i}", 1)])
    first = await store.search(SearchPlan(types=("Patient",), count=2))
    rest = await store.search(SearchPlan(types=("Patient",), count=10, cursor=first.last))
    assert [v.id for v in first.versions] == ["p0", "p1"]
    assert first.more
    assert [v.id for v in rest.versions] == ["p2", "p3", "p4"]
    assert not rest.more
    assert await store.count(SearchPlan(types=("Patient",), count=2)) == 5


async def test_concurrent_guarded_writes_to_one_resource_let_exactly_one_win(store: Store) -> None:
    await store.write([put("a", 1)])
    results = await asyncio.gather(
        *(store.write([put("a", 2, body=f"w{i}".encode())]) for i in range(20)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, VersionConflict) for r in results if isinstance(r, BaseException))
    history = await store.history(HistoryQuery(type="Patient", id="a", count=10))
    assert [v.version for v in history] == [2, 1]


async def test_many_concurrent_creates_all_land(store: Store) -> None:
    await asyncio.gather(*(store.write([put(f"c{i}", 1)]) for i in range(200)))
    assert await store.count(SearchPlan(types=("Patient",))) == 200


def born(day: str) -> DateRow:
    return DateRow("Patient.birthdate", f"{day}T00:00:00.000000Z", f"{day}T23:59:59.999999Z")


async def test_sorting_puts_missing_values_last_both_ways(store: Store) -> None:
    await store.write([put("mid", 1, index=(born("2000-01-01"),))])
    await store.write([put("none", 1)])
    await store.write([put("old", 1, index=(born("1950-01-01"),))])
    await store.write([put("new", 1, index=(born("2020-01-01"),))])
    ascending = SearchPlan(types=("Patient",), sort=(SortKey("Patient.birthdate", "date"),))
    descending = SearchPlan(
        types=("Patient",), sort=(SortKey("Patient.birthdate", "date", descending=True),)
    )
    assert [v.id for v in (await store.search(ascending)).versions] == ["old", "mid", "new", "none"]
    assert [v.id for v in (await store.search(descending)).versions] == [
        "new",
        "mid",
        "old",
        "none",
    ]


async def test_sorted_pages_walk_forward_and_back_by_cursor(store: Store) -> None:
    days = ["2001-01-01", "1999-01-01", "2003-01-01", "2000-01-01", "2002-01-01"]
    for i, day in enumerate(days):
        await store.write([put(f"p{i}", 1, index=(born(day),))])
    plan = SearchPlan(
        types=("Patient",), sort=(SortKey("Patient.birthdate", "date", descending=True),), count=2
    )
    one = await store.search(plan)
    two = await store.search(SearchPlan(types=plan.types, sort=plan.sort, count=2, cursor=one.last))
    assert [v.id for v in one.versions] == ["p2", "p4"]
    assert [v.id for v in two.versions] == ["p0", "p3"]
    assert two.first is not None
    back = SearchPlan(
        types=plan.types, sort=plan.sort, count=2, cursor=replace(two.first, before=True)
    )
    assert [v.id for v in (await store.search(back)).versions] == ["p2", "p4"]


async def test_a_transaction_reads_its_own_writes_and_commits_them_together(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.write([put("t1", 1, index=(mrn("9"),))])
        seen = await tx.read("Patient", "t1")
        found = await tx.search(token_plan((None, "9")))
        assert seen is not None
        assert [v.id for v in found.versions] == ["t1"]
        await tx.write([put("t2", 1)])
    assert await store.read("Patient", "t1") is not None
    assert await store.read("Patient", "t2") is not None


async def test_a_transaction_that_raises_stores_nothing(store: Store) -> None:
    await store.write([put("before", 1)])

    async def failing() -> None:
        async with store.transaction() as tx:
            await tx.write([put("t1", 1)])
            await tx.write([put("before", 2, body=b"changed")])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        await failing()
    assert await store.read("Patient", "t1") is None
    found = await store.read("Patient", "before")
    assert found is not None and found.version == 1


async def test_writes_outside_wait_for_a_transaction_and_then_land(store: Store) -> None:
    if not in_process_serialised(store):
        pytest.skip(
            "on a MongoDB replica set, writes outside a transaction run beside it (snapshot"
            " isolation) and never wait; see docs/scaling.md"
        )
    async with store.transaction() as tx:
        await tx.write([put("inside", 1)])
        outside = asyncio.ensure_future(store.write([put("outside", 1)]))
        await asyncio.sleep(0.05)
        assert not outside.done()
    await outside
    assert await store.read("Patient", "outside") is not None


async def test_a_range_is_one_number_row_from_low_to_high(store: Store) -> None:
    from fhir_server.search.plan import NumberMatch
    from fhir_server.storage.records import NumberRow

    age = NumberRow("Condition.onset-age", 10.0, "http://unitsofmeasure.org", "a", "a", 20.0)
    await store.write([put("range", 1, type="Condition", index=(age,))])

    async def found(prefix: str, value: float) -> bool:
        match = NumberMatch(prefix, value, value - 0.5, value + 0.5)  # type: ignore[arg-type]
        plan = SearchPlan(
            types=("Condition",),
            conditions=(ParamIn("Condition.onset-age", "quantity", (match,)),),
        )
        return bool((await store.search(plan)).versions)

    assert not await found("eq", 10)  # [9.5, 10.5) does not contain [10, 20]
    assert await found("gt", 15)  # the range above 15 overlaps it
    assert not await found("sa", 15)  # but it does not start after 15
    assert await found("lt", 15)
    assert not await found("eb", 15)
    assert not await found("gt", 20)
