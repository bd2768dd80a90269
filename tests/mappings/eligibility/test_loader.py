"""Importing eligibility records through the interactions layer: idempotent, only what changed
is versioned, the newest record of a person wins whatever the order, a dependent before its
sponsor still links, every changing batch leaves a Provenance."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import orjson
import pytest

from fhir_server.indexing.reindex import ensure_index
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from fhir_server.storage import HistoryQuery, Store, open_store
from mappings.eligibility.generator import generate
from mappings.eligibility.loader import ImportReport, import_records
from mappings.eligibility.records import EligibilityRecord, check
from mappings.imports import BATCH_RECORDS, Pace
from smart_auth.context import AccessContext
from smart_auth.patients import patients_for

from .test_mapping import CHILD, SPONSOR

BASE = "http://127.0.0.1:8080/fhir"
SPOUSE = {
    **SPONSOR,
    "dod_id": "1234567891",
    "dbn": "12345678901",
    "ssn": "",
    "first_name": "Maria",
    "middle_name": "",
    "name_suffix": "",
    "birth_date": "19900930",
    "sex": "F",
    "relationship": "SP",
    "beneficiary_category": "ADFM",
    "pay_grade": "",
    "duty_status": "",
}
T = TypeVar("T")


def parsed(*values: dict[str, str]) -> list[EligibilityRecord]:
    out = []
    for line, raw in enumerate(values, start=1):
        record = check(line, raw)
        assert isinstance(record, EligibilityRecord), record
        out.append(record)
    return out


@pytest.fixture
def run(tmp_path: Path) -> Callable[[Callable[[Context], Awaitable[T]]], T]:
    """Run ``work(ctx)`` against one store for the whole test (one event loop per call)."""
    url = f"sqlite:///{tmp_path}/eligibility.db"

    def runner(work: Callable[[Context], Awaitable[T]]) -> T:
        async def go() -> T:
            store: Store = open_store(url)
            await store.open()
            try:
                await ensure_index(store, base_url=BASE)
                access = AccessContext.internal("test import")
                return await work(Context(store=store, access=access, base_url=BASE))
            finally:
                await store.close()

        return asyncio.run(go())

    return runner


def importing(*records: EligibilityRecord) -> Callable[[Context], Awaitable[ImportReport]]:
    async def work(ctx: Context) -> ImportReport:
        return await import_records(ctx, list(records), source="test.txt")

    return work


async def _all(ctx: Context, type: str) -> list[dict[str, Any]]:
    outcome = await search(ctx, types=[type], params=[("_count", "1000")], strict=True, path=type)
    bundle = orjson.loads(orjson.dumps(outcome.body))
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


async def _state(ctx: Context) -> dict[str, list[bytes]]:
    """What the store says, without ids and meta (which differ between runs)."""
    out: dict[str, list[bytes]] = {}
    for type in ("Patient", "RelatedPerson", "Coverage", "Organization"):
        resources = await _all(ctx, type)
        out[type] = sorted(orjson.dumps(_strip(r), option=orjson.OPT_SORT_KEYS) for r in resources)
    return out


def _strip(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: _strip(v)
            for k, v in node.items()
            if k not in ("id", "meta") and not (k == "reference" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


async def _versions(ctx: Context) -> int:
    return len(await ctx.store.history(HistoryQuery(count=10_000)))


def test_an_import_creates_a_person_per_record(run: Any) -> None:
    report = run(importing(*parsed(SPONSOR, SPOUSE, CHILD)))
    assert (report.created, report.updated, report.unchanged, report.rejected) == (3, 0, 0, 0)
    patients = run(lambda ctx: _all(ctx, "Patient"))
    assert len(patients) == 3
    assert len(run(lambda ctx: _all(ctx, "RelatedPerson"))) == 2
    assert len(run(lambda ctx: _all(ctx, "Coverage"))) == 3
    assert len(run(lambda ctx: _all(ctx, "Organization"))) == 1


def test_importing_the_same_records_twice_writes_nothing_the_second_time(run: Any) -> None:
    records = parsed(SPONSOR, SPOUSE, CHILD)
    run(importing(*records))
    before = run(_versions)
    again = run(importing(*records))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)
    assert run(_versions) == before  # no new versions, no new Provenance


def test_a_changed_record_makes_a_new_version_of_only_what_changed(run: Any) -> None:
    run(importing(*parsed(SPONSOR)))
    before = run(_versions)
    moved = {**SPONSOR, "record_timestamp": "2026-11-02T12:00:00Z", "city": "Annapolis"}
    report = run(importing(*parsed(moved)))
    assert report.updated == 1
    # the Patient changed, the Coverage carries the newer record's timestamp, a Provenance
    # records it; the Organization did not change
    assert run(_versions) == before + 3
    [patient] = run(lambda ctx: _all(ctx, "Patient"))
    assert patient["address"][0]["city"] == "Annapolis"
    assert patient["meta"]["versionId"] == "2"


def test_a_record_between_two_that_agree_never_wins_whatever_the_order(run: Any) -> None:
    first = {**SPONSOR, "record_timestamp": "2026-11-01T12:00:00Z", "city": "Annapolis"}
    between = {**SPONSOR, "record_timestamp": "2026-11-02T12:00:00Z", "city": "Norfolk"}
    last = {**SPONSOR, "record_timestamp": "2026-11-03T12:00:00Z", "city": "Annapolis"}
    run(importing(*parsed(first)))
    run(importing(*parsed(last)))
    run(importing(*parsed(between)))
    [patient] = run(lambda ctx: _all(ctx, "Patient"))
    assert patient["address"][0]["city"] == "Annapolis"


def test_an_older_record_never_overwrites_a_newer_one(run: Any) -> None:
    newer = {**SPONSOR, "record_timestamp": "2026-11-02T12:00:00Z", "city": "Annapolis"}
    older = {**SPONSOR, "record_timestamp": "2026-10-01T12:00:00Z", "city": "Norfolk"}
    run(importing(*parsed(newer)))
    report = run(importing(*parsed(older)))
    assert report.unchanged == 1
    [patient] = run(lambda ctx: _all(ctx, "Patient"))
    assert patient["address"][0]["city"] == "Annapolis"


def test_a_dependent_before_its_sponsor_still_links_and_the_sponsor_may_act_for_it(
    run: Any,
) -> None:
    run(importing(*parsed(CHILD)))
    run(importing(*parsed(SPONSOR)))

    async def picker(ctx: Context) -> list[str]:
        return [a.patient_id for a in await patients_for(ctx, "1234567890", date(2026, 11, 29))]

    patients = {p["birthDate"]: p["id"] for p in run(lambda ctx: _all(ctx, "Patient"))}
    assert run(picker) == [patients["1988-04-12"], patients["2016-02-14"]]


@pytest.mark.parametrize(
    "order", list(itertools.permutations(range(3))), ids=lambda o: "".join(map(str, o))
)
def test_any_order_of_the_same_records_gives_the_same_store(
    tmp_path: Path, run: Any, order: tuple[int, ...]
) -> None:
    changed_child = {**CHILD, "record_timestamp": "2026-11-05T12:00:00Z", "plan": "SEL"}
    records = parsed(SPONSOR, CHILD, changed_child)
    expected = parsed(SPONSOR, changed_child)
    run(importing(*[records[i] for i in order]))
    mine = run(_state)

    reference: dict[str, list[bytes]] = {}

    async def fresh(ctx: Context) -> None:
        await import_records(ctx, expected, source="reference.txt")
        reference.update(await _state(ctx))

    other = tmp_path / "reference"
    other.mkdir()
    asyncio.run(_in_store(f"sqlite:///{other}/ref.db", fresh))
    assert mine == reference


async def _in_store(url: str, work: Callable[[Context], Awaitable[None]]) -> None:
    store = open_store(url)
    await store.open()
    try:
        await ensure_index(store, base_url=BASE)
        await work(Context(store=store, access=AccessContext.internal("t"), base_url=BASE))
    finally:
        await store.close()


def test_each_changing_batch_writes_a_provenance_naming_the_file_lines_and_job(
    run: Any,
) -> None:
    report = run(importing(*parsed(SPONSOR, CHILD)))
    [provenance] = run(lambda ctx: _all(ctx, "Provenance"))
    what = provenance["entity"][0]["what"]
    assert what["identifier"]["value"] == report.job_id
    assert what["display"] == "test.txt lines 1-2"
    targets = {t["reference"].split("/")[0] for t in provenance["target"]}
    assert targets == {"Patient", "RelatedPerson", "Coverage", "Organization"}


def test_a_dry_run_counts_but_stores_nothing(run: Any) -> None:
    async def dry(ctx: Context) -> ImportReport:
        return await import_records(ctx, parsed(SPONSOR, CHILD), source="t", dry_run=True)

    report = run(dry)
    assert report.created == 2
    assert run(_versions) == 0


def test_an_import_paces_its_batches_by_default(run: Any) -> None:
    """Without a batch size the loader takes its batches from a Pace (the first holds
    ``Pace().size`` records): 120 records are more than one transaction, each with its
    Provenance, where fixed batches of BATCH_RECORDS would make one."""
    records = [check(n, values) for n, values in enumerate(generate(40, seed=3), start=1)]
    good = [r for r in records if isinstance(r, EligibilityRecord)][:120]
    assert len(good) == 120 > Pace().size and BATCH_RECORDS >= 120
    report = run(importing(*good))
    assert report.rejected == 0, report.rejects
    provenances = run(lambda ctx: _all(ctx, "Provenance"))
    assert len(provenances) >= 2
