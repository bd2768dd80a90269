"""The eligibility import's promises, proved with hypothesis on generated extracts, each example
against a fresh SQLite store in-process (the same interactions layer the server runs):

- every valid record imports, and what is read back (searched by identifier) carries every
  field of each person's newest record;
- a corrupted record is rejected naming the damaged field, and nothing of it is stored;
- importing twice is importing once (no new versions);
- any order of the same records, in any batch size, gives the same people as importing only each
  person's newest record;
- a crash between batches loses no committed batch, and a rerun ends where a clean run does.

A strict xfail at the end shows where the last promise does not hold for enrollment sites.
"""

from __future__ import annotations

import asyncio
import io
import random
import tempfile
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, TypeVar

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.clock import format_instant
from fhir_server.indexing.reindex import ensure_index
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from fhir_server.storage import HistoryQuery, open_store
from ig.naming import (
    BENEFICIARY_CATEGORY_EXTENSION,
    BRANCH_OF_SERVICE_EXTENSION,
    DMIS_ID,
    DOD_BENEFITS_NUMBER,
    DOD_ID,
    DUTY_STATUS_EXTENSION,
    PAY_GRADE_EXTENSION,
    SSN,
    TRICARE_PLAN_SYSTEM,
)
from mappings.eligibility.codes import (
    BENEFICIARY_CATEGORIES,
    BRANCHES,
    COVERAGE_RELATIONSHIP,
    DUTY_STATUSES,
    PAY_GRADES,
    PLANS,
    RELATIONSHIPS,
    ROLE_CODE,
    SEX,
    SPONSOR_ROLE,
    SUBSCRIBER_RELATIONSHIP,
    SYSTEMS,
)
from mappings.eligibility.generator import corrupt, generate
from mappings.eligibility.loader import import_records, item_of
from mappings.eligibility.readers import read
from mappings.eligibility.records import EligibilityRecord, check
from mappings.eligibility.writers import FORMATS, write
from mappings.imports import RECORD_TIMESTAMP_EXTENSION, Reject, import_items
from smart_auth.context import AccessContext

BASE = "http://127.0.0.1:8080/fhir"
TRICARE_COVERAGE = "http://fhir.mhs-fhir.example/sid/tricare-coverage"
SPONSOR_LINK = "http://fhir.mhs-fhir.example/sid/sponsor-link"
INLINE_SECURITY_LABEL = (
    "http://hl7.org/fhir/uv/security-label-ds4p/StructureDefinition/extension-inline-sec-label"
)
PERSON_TYPES = ("Patient", "RelatedPerson", "Coverage")
PROPERTY = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FAMILIES = st.integers(min_value=1, max_value=4)
SEEDS = st.integers(min_value=0, max_value=2**32)
T = TypeVar("T")
State = dict[str, list[bytes]]


# -- helpers -----------------------------------------------------------------------------------


def generated(families: int, seed: int) -> list[EligibilityRecord]:
    """A generated extract, checked: every record must be valid."""
    out = []
    for line, raw in enumerate(generate(families, seed=seed), start=1):
        record = check(line, raw)
        assert isinstance(record, EligibilityRecord), record
        out.append(record)
    return out


def newest(records: Iterable[EligibilityRecord]) -> dict[str, EligibilityRecord]:
    """Each person's record with the latest record timestamp, by DoD ID."""
    out: dict[str, EligibilityRecord] = {}
    for record in records:
        seen = out.get(record.dod_id)
        if seen is None or record.record_timestamp > seen.record_timestamp:
            out[record.dod_id] = record
    return out


def in_store(work: Callable[[Context], Awaitable[T]]) -> T:
    """``work(ctx)`` against a fresh SQLite store."""

    async def go(url: str) -> T:
        store = open_store(url)
        await store.open()
        try:
            await ensure_index(store, base_url=BASE)
            access = AccessContext.internal("import properties")
            return await work(Context(store=store, access=access, base_url=BASE))
        finally:
            await store.close()

    with tempfile.TemporaryDirectory(prefix="mhs-import-") as folder:
        return asyncio.run(go(f"sqlite:///{folder}/store.db"))


async def import_in_batches(
    ctx: Context, records: Iterable[EligibilityRecord], batch: int, source: str = "extract.txt"
) -> None:
    """Import through the loader with a chosen batch size (the CLI paces its batches)."""
    report = await import_items(
        ctx, (item_of(r) for r in records), source=source, batch_records=batch
    )
    assert report.rejected == 0, report.rejects


async def matches(ctx: Context, type: str, *params: tuple[str, str]) -> list[dict[str, Any]]:
    outcome = await search(
        ctx, types=[type], params=[*params, ("_count", "1000")], strict=True, path=type
    )
    bundle = orjson.loads(orjson.dumps(outcome.body))
    return [e["resource"] for e in bundle.get("entry") or [] if e["search"]["mode"] == "match"]


def _strip(node: Any) -> Any:
    """Without what differs between stores: ids, meta, literal reference strings."""
    if isinstance(node, dict):
        return {
            k: _strip(v)
            for k, v in node.items()
            if k not in ("id", "meta") and not (k == "reference" and isinstance(v, str))
        }
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


async def state(ctx: Context, types: Sequence[str] = PERSON_TYPES) -> State:
    """What the store says of ``types``, comparable between stores."""
    out: State = {}
    for type in types:
        resources = await matches(ctx, type)
        out[type] = sorted(orjson.dumps(_strip(r), option=orjson.OPT_SORT_KEYS) for r in resources)
    return out


async def versions(ctx: Context) -> int:
    return len(await ctx.store.history(HistoryQuery(count=1_000_000)))


async def sites_referenced_and_stored(ctx: Context) -> tuple[set[str], set[str]]:
    """DMIS ids the Patients name as their enrollment site; DMIS ids of stored Organizations."""
    named = {
        p["managingOrganization"]["identifier"]["value"]
        for p in await matches(ctx, "Patient")
        if "managingOrganization" in p
    }
    stored = {
        i["value"]
        for o in await matches(ctx, "Organization")
        for i in o["identifier"]
        if i["system"] == DMIS_ID
    }
    return named, stored


# -- 1. every field of every valid record, read back -----------------------------------------


def _coding(system: str, code: str, display: str) -> dict[str, str]:
    return {"system": system, "code": code, "display": display}


def _expected_extensions(r: EligibilityRecord) -> dict[str, dict[str, str]]:
    category = BENEFICIARY_CATEGORIES[r.beneficiary_category]
    out = {
        BENEFICIARY_CATEGORY_EXTENSION: _coding(
            SYSTEMS["beneficiary_category"], category.code, category.display
        )
    }
    if r.branch:
        branch = BRANCHES[r.branch]
        out[BRANCH_OF_SERVICE_EXTENSION] = _coding(SYSTEMS["branch"], branch.code, branch.display)
    if r.duty_status:
        duty = DUTY_STATUSES[r.duty_status]
        out[DUTY_STATUS_EXTENSION] = _coding(SYSTEMS["duty_status"], duty.code, duty.display)
    if r.pay_grade:
        grade = PAY_GRADES[r.pay_grade]
        out[PAY_GRADE_EXTENSION] = _coding(SYSTEMS["pay_grade"], grade.code, grade.display)
    return out


def _by_system(identifiers: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for identifier in identifiers:
        assert identifier["system"] not in out, f"two identifiers of {identifier['system']}"
        out[identifier["system"]] = identifier
    return out


async def assert_person_stored(ctx: Context, r: EligibilityRecord) -> None:
    """The stored Patient, RelatedPerson, Coverage and Organization carry every field of ``r``."""
    what = f"line {r.line} ({r.record_action}, {r.relationship})"
    [patient] = await matches(ctx, "Patient", ("identifier", f"{DOD_ID}|{r.dod_id}"))
    reference = f"Patient/{patient['id']}"

    # identifiers: DoD ID, DBN, SSN (security-labelled)
    identifiers = _by_system(patient["identifier"])
    assert identifiers[DOD_ID]["value"] == r.dod_id, what
    assert identifiers[DOD_BENEFITS_NUMBER]["value"] == r.dbn, what
    if r.ssn is None:
        assert SSN not in identifiers, what
    else:
        ssn = identifiers[SSN]
        assert ssn["value"] == r.ssn, what
        labels = [e["valueCoding"] for e in ssn["extension"] if e["url"] == INLINE_SECURITY_LABEL]
        assert [(c["system"], c["code"]) for c in labels] == [
            ("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R")
        ], what
    assert set(identifiers) <= {DOD_ID, DOD_BENEFITS_NUMBER, SSN}, what

    # names, birth date, sex
    name: dict[str, Any] = {
        "use": "official",
        "family": r.last_name,
        "given": [r.first_name, *([r.middle_name] if r.middle_name else [])],
    }
    if r.name_suffix:
        name["suffix"] = [r.name_suffix]
    assert patient["name"] == [name], what
    assert patient["birthDate"] == r.birth_date.isoformat(), what
    assert patient["gender"] == SEX[r.sex], what
    assert patient["active"] is True, what

    # address parts, phone, email
    address: dict[str, Any] = {}
    lines = [line for line in (r.address_line1, r.address_line2) if line]
    if lines:
        address["line"] = lines
    for key, value in (
        ("city", r.city),
        ("state", r.state),
        ("postalCode", r.postal_code),
        ("country", r.country),
    ):
        if value:
            address[key] = value
    assert patient.get("address") == ([{"use": "home", **address}] if address else None), what
    telecom = []
    if r.phone:
        telecom.append({"system": "phone", "value": r.phone, "use": "home"})
    if r.email:
        telecom.append({"system": "email", "value": r.email})
    assert patient.get("telecom") == (telecom or None), what

    # category, branch, duty status, pay grade
    extensions = {e["url"]: e["valueCoding"] for e in patient.get("extension") or []}
    assert extensions == _expected_extensions(r), what

    # PCM, enrollment site (an Organization by DMIS id)
    assert patient.get("generalPractitioner") == ([{"display": r.pcm}] if r.pcm else None), what
    if r.enrollment_site is None:
        assert "managingOrganization" not in patient, what
    else:
        site = patient["managingOrganization"]["identifier"]
        assert (site["system"], site["value"]) == (DMIS_ID, r.enrollment_site), what
        [organization] = await matches(
            ctx, "Organization", ("identifier", f"{DMIS_ID}|{r.enrollment_site}")
        )
        assert organization["active"] is True, what

    # the sponsor link: a RelatedPerson naming the sponsor by DoD ID, pointing at this Patient
    links = await matches(ctx, "RelatedPerson", ("patient", reference))
    if r.is_sponsor:
        assert links == [], what
    else:
        [link] = links
        assert link["patient"]["reference"] == reference, what
        link_ids = _by_system(link["identifier"])
        assert link_ids[DOD_ID]["value"] == r.sponsor_dod_id, what
        assert link_ids[SPONSOR_LINK]["value"] == f"{r.sponsor_dod_id}-{r.dod_id}", what
        codes = {(c["system"], c["code"]) for c in link["relationship"][0]["coding"]}
        expected = {(SYSTEMS["relationship"], RELATIONSHIPS[r.relationship].code)}
        role = SPONSOR_ROLE.get(r.relationship)  # v3-RoleCode has no plain "other" (OT)
        if role is not None:
            expected.add((ROLE_CODE, role.code))
        assert codes == expected, what
        assert link["active"] is (r.record_action != "T"), what

    # the Coverage: plan, eligibility dates, the sponsor as subscriber, the newest timestamp
    [coverage] = await matches(ctx, "Coverage", ("beneficiary", reference))
    [same] = await matches(ctx, "Coverage", ("identifier", f"{TRICARE_COVERAGE}|{r.dod_id}"))
    assert same["id"] == coverage["id"], what
    assert coverage["beneficiary"]["reference"] == reference, what
    sponsor = {"system": DOD_ID, "value": r.sponsor_dod_id}
    assert coverage["subscriber"]["identifier"] == sponsor, what
    assert coverage["policyHolder"]["identifier"] == sponsor, what
    assert coverage["subscriberId"] == r.sponsor_dod_id, what
    assert coverage["dependent"] == r.dbn[-2:], what
    assert coverage["relationship"]["coding"] == [
        {"system": SUBSCRIBER_RELATIONSHIP, "code": COVERAGE_RELATIONSHIP[r.relationship]}
    ], what
    end = r.eligibility_end
    if end is None and r.record_action == "T":
        end = r.record_timestamp.date()
    period = {"start": r.eligibility_begin.isoformat()}
    if end is not None:
        period["end"] = end.isoformat()
    assert coverage["period"] == period, what
    if r.plan is None:
        assert "class" not in coverage, what
        assert coverage["type"] == {"text": "TRICARE"}, what
    else:
        plan = PLANS[r.plan]
        assert [(c["value"], c["name"]) for c in coverage["class"]] == [
            (plan.code, plan.display)
        ], what
        assert coverage["type"]["coding"] == [
            _coding(TRICARE_PLAN_SYSTEM, plan.code, plan.display)
        ], what
    stamps = [
        e["valueInstant"]
        for e in coverage.get("extension") or []
        if e["url"] == RECORD_TIMESTAMP_EXTENSION
    ]
    assert stamps == [format_instant(r.record_timestamp)], what


@PROPERTY
@given(families=FAMILIES, seed=SEEDS)
def test_every_valid_record_imports_and_reads_back_with_every_field(
    families: int, seed: int
) -> None:
    records = generated(families, seed)
    people = newest(records)

    async def work(ctx: Context) -> None:
        report = await import_records(ctx, records, source="generated.txt")
        assert report.rejected == 0, report.rejects
        assert report.created == len(people)
        assert report.created + report.updated + report.unchanged == len(records)
        for person in people.values():
            await assert_person_stored(ctx, person)
        for type in ("Patient", "Coverage"):  # one each per person, no duplicates
            assert len(await matches(ctx, type)) == len(people)
        dependents = sum(not p.is_sponsor for p in people.values())
        assert len(await matches(ctx, "RelatedPerson")) == dependents

    in_store(work)


# -- 2. corrupted records ----------------------------------------------------------------------


@PROPERTY
@given(
    families=FAMILIES,
    seed=SEEDS,
    pick=st.integers(min_value=0, max_value=10_000),
    damage=SEEDS,
    format=st.sampled_from(FORMATS),
)
def test_a_corrupted_record_is_rejected_naming_its_field_and_nothing_of_it_is_stored(
    families: int, seed: int, pick: int, damage: int, format: str
) -> None:
    raws = list(generate(families, seed=seed))
    index = pick % len(raws)
    original = raws[index]
    damaged, field = corrupt(original, random.Random(damage), format=format)
    text = io.StringIO(newline="")
    write([*raws[:index], damaged, *raws[index + 1 :]], text, format)
    parsed = list(read(io.StringIO(text.getvalue(), newline=""), format))
    line = index + 1 + (format == "csv")  # a CSV's first line is its header

    rejects = [p for p in parsed if isinstance(p, Reject)]
    assert [(r.line, r.field) for r in rejects] == [(line, field)], (damaged, rejects)
    if field == "ssn":  # an SSN is never shown, neither the damaged value nor the original
        assert rejects[0].value == "***"
        assert original["ssn"] not in str(rejects[0]) or not original["ssn"]
        assert damaged["ssn"] not in str(rejects[0]) or not damaged["ssn"]
    good = [p for p in parsed if isinstance(p, EligibilityRecord)]
    assert len(good) == len(raws) - 1
    alone = sum(r["dod_id"] == original["dod_id"] for r in raws) == 1

    async def with_the_damaged_one(ctx: Context) -> tuple[State, int]:
        report = await import_records(ctx, parsed, source=f"damaged.{format}")
        assert report.rejects == rejects
        if alone:  # the person's only record: nothing of that person is stored
            dod_id = original["dod_id"]
            assert await matches(ctx, "Patient", ("identifier", f"{DOD_ID}|{dod_id}")) == []
            assert (
                await matches(ctx, "Coverage", ("identifier", f"{TRICARE_COVERAGE}|{dod_id}")) == []
            )
            link = f"{original['sponsor_dod_id']}-{dod_id}"
            assert (
                await matches(ctx, "RelatedPerson", ("identifier", f"{SPONSOR_LINK}|{link}")) == []
            )
        return await state(ctx), await versions(ctx)

    async def without_it(ctx: Context) -> tuple[State, int]:
        await import_records(ctx, good, source=f"clean.{format}")
        return await state(ctx), await versions(ctx)

    assert in_store(with_the_damaged_one) == in_store(without_it)


# -- 3. idempotence ------------------------------------------------------------------------------


@PROPERTY
@given(families=FAMILIES, seed=SEEDS, batch=st.integers(min_value=1, max_value=20))
def test_importing_twice_is_importing_once(families: int, seed: int, batch: int) -> None:
    records = generated(families, seed)

    async def work(ctx: Context) -> None:
        await import_in_batches(ctx, records, batch)
        once, count = await state(ctx, (*PERSON_TYPES, "Organization")), await versions(ctx)
        again = await import_items(
            ctx, (item_of(r) for r in records), source="extract.txt", batch_records=batch
        )
        assert (again.created, again.updated, again.rejected) == (0, 0, 0)
        assert again.unchanged == len(records)
        assert await versions(ctx) == count  # no new versions, no Provenance
        assert await state(ctx, (*PERSON_TYPES, "Organization")) == once
        # and through the CLI's path (default batch size) too
        third = await import_records(ctx, records, source="extract.txt")
        assert (third.created, third.updated, third.unchanged) == (0, 0, len(records))
        assert await versions(ctx) == count

    in_store(work)


# -- 4. order ------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), families=st.integers(min_value=1, max_value=3), seed=SEEDS)
def test_any_order_of_the_same_records_gives_the_same_people(
    data: st.DataObject, families: int, seed: int
) -> None:
    records = generated(families, seed)
    shuffled = data.draw(st.permutations(records), label="order")
    batch = data.draw(st.integers(min_value=1, max_value=len(records)), label="batch")

    async def in_order(ctx: Context) -> tuple[State, State]:
        await import_records(ctx, records, source="extract.txt")
        return await state(ctx), await state(ctx, ("Organization",))

    async def only_the_newest(ctx: Context) -> State:
        await import_records(ctx, list(newest(records).values()), source="newest.txt")
        return await state(ctx)

    async def shuffled_in_batches(ctx: Context) -> tuple[State, State, set[str], set[str]]:
        await import_in_batches(ctx, shuffled, batch)
        named, stored = await sites_referenced_and_stored(ctx)
        return await state(ctx), await state(ctx, ("Organization",)), named, stored

    people, sites, named, stored = in_store(shuffled_in_batches)
    assert (people, sites) == in_store(in_order)  # the sites of older records too
    assert people == in_store(only_the_newest)
    assert named <= stored  # every enrollment site a Patient names is stored


# -- 5. crash and rerun --------------------------------------------------------------------------


class Crash(Exception):
    """Stands for a kill or Ctrl-C between two batches."""


@PROPERTY
@given(
    families=FAMILIES,
    seed=SEEDS,
    batch=st.integers(min_value=1, max_value=8),
    at=st.integers(min_value=0, max_value=10_000),
)
def test_a_crash_between_batches_loses_no_committed_batch_and_a_rerun_completes(
    families: int, seed: int, batch: int, at: int
) -> None:
    records = generated(families, seed)
    read_before_crash = at % (len(records) + 1)
    committed = read_before_crash // batch * batch  # whole batches stored before the crash
    everything = (*PERSON_TYPES, "Organization")

    def crashing() -> Iterator[EligibilityRecord]:
        yield from records[:read_before_crash]
        raise Crash

    async def crash_then_rerun(ctx: Context) -> tuple[State, State, int]:
        with pytest.raises(Crash):
            await import_in_batches(ctx, crashing(), batch)
        after_crash = await state(ctx, everything)
        await import_in_batches(ctx, records, batch)
        return after_crash, await state(ctx, everything), await versions(ctx)

    def clean(part: list[EligibilityRecord]) -> Callable[[Context], Awaitable[tuple[State, int]]]:
        async def work(ctx: Context) -> tuple[State, int]:
            await import_in_batches(ctx, part, batch)
            return await state(ctx, everything), await versions(ctx)

        return work

    after_crash, final, written = in_store(crash_then_rerun)
    assert after_crash == in_store(clean(records[:committed]))[0]
    # the same resources, and the same number of versions (Provenance included): the rerun
    # rewrote nothing that was committed before the crash
    assert (final, written) == in_store(clean(records))


# -- a move between enrollment sites, in any order and batching ---------------------------------

_MOVE_FROM = {
    "record_action": "A",
    "record_timestamp": "2026-10-01T06:00:01Z",
    "dod_id": "1234567890",
    "dbn": "12345678900",
    "ssn": "900123456",
    "last_name": "GARCIA",
    "first_name": "LUIS",
    "middle_name": "",
    "name_suffix": "",
    "birth_date": "19880412",
    "sex": "M",
    "address_line1": "100 DEMO WAY",
    "address_line2": "",
    "city": "EL PASO",
    "state": "TX",
    "postal_code": "79901",
    "country": "US",
    "phone": "9155550100",
    "email": "",
    "sponsor_dod_id": "1234567890",
    "relationship": "SF",
    "beneficiary_category": "ADSM",
    "branch": "A",
    "pay_grade": "E05",
    "duty_status": "AD",
    "eligibility_begin": "20100601",
    "eligibility_end": "",
    "plan": "PRI",
    "enrollment_site": "0108",
    "pcm": "",
}
_MOVE_TO = {
    **_MOVE_FROM,
    "record_action": "C",
    "record_timestamp": "2026-10-01T06:00:09Z",
    "address_line1": "7 OAK CT",
    "city": "TAMPA",
    "state": "FL",
    "postal_code": "33601",
    "enrollment_site": "0045",
}


@pytest.mark.parametrize(
    ("order", "batch"),
    [((_MOVE_TO, _MOVE_FROM), 1), ((_MOVE_FROM, _MOVE_TO), 250)],
    ids=["newest-first", "one-batch"],
)
def test_the_organizations_stored_do_not_depend_on_order_or_batching(
    order: tuple[dict[str, str], ...], batch: int
) -> None:
    def records(raws: Sequence[dict[str, str]]) -> list[EligibilityRecord]:
        out = [check(line, raw) for line, raw in enumerate(raws, start=1)]
        assert all(isinstance(r, EligibilityRecord) for r in out), out
        return [r for r in out if isinstance(r, EligibilityRecord)]

    def stored(raws: Sequence[dict[str, str]], size: int) -> State:
        async def work(ctx: Context) -> State:
            await import_in_batches(ctx, records(raws), size)
            return await state(ctx, (*PERSON_TYPES, "Organization"))

        return in_store(work)

    assert stored(order, batch) == stored((_MOVE_FROM, _MOVE_TO), 1)
