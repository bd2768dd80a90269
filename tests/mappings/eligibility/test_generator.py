"""The synthetic extract generator: every record valid, deterministic per seed, streaming, and
realistic (identifiers, families, categories, plans, ages, changes and terminations)."""

from __future__ import annotations

import itertools
import random
import time
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mappings.eligibility.codes import (
    BENEFICIARY_CATEGORIES,
    BRANCHES,
    DUTY_STATUSES,
    PLANS,
    RELATIONSHIPS,
)
from mappings.eligibility.generator import (
    DEFAULT_START,
    age_on,
    corrupt,
    generate,
    generate_file,
)
from mappings.eligibility.layout import layout
from mappings.eligibility.records import EligibilityRecord, check

SEEDS = st.integers(min_value=0, max_value=2**63)
STARTS = st.dates(min_value=date(2000, 1, 1), max_value=date(2040, 12, 31))
SPONSOR_CATEGORIES = {"ADSM", "RET", "GRD", "VET", "MOH"}


def parse(records: Iterable[dict[str, str]]) -> list[EligibilityRecord]:
    parsed = []
    for number, values in enumerate(records, start=1):
        record = check(number, values)
        assert isinstance(record, EligibilityRecord), f"{record} in {values}"
        parsed.append(record)
    return parsed


@pytest.fixture(scope="module")
def extract() -> list[EligibilityRecord]:
    """A mid-sized extract (2,000 families, ~7,000 records) for the statistical checks."""
    return parse(generate(2_000, seed=2026))


# -- the contract -----------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(seed=SEEDS, families=st.integers(min_value=0, max_value=25), start=STARTS)
def test_every_generated_record_is_valid(seed: int, families: int, start: date) -> None:
    records = list(generate(families, seed=seed, start=start))
    assert {tuple(r) for r in records} <= {tuple(layout().names)}
    parsed = parse(records)
    assert sum(r.is_sponsor and r.record_action == "A" for r in parsed) == families
    check_rules(parsed, start)


def test_large_extract_is_valid_and_follows_the_rules(extract: list[EligibilityRecord]) -> None:
    check_rules(extract, DEFAULT_START)


def check_rules(records: list[EligibilityRecord], start: date) -> None:
    """Every rule of the module docstring that can be checked record by record or family by
    family."""
    stamps = [r.record_timestamp for r in records]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    if records:
        assert stamps[0].date() >= start

    added: dict[str, EligibilityRecord] = {}
    families: dict[str, list[EligibilityRecord]] = defaultdict(list)
    terminated: set[str] = set()
    for r in records:
        assert r.dod_id[0] != "0" and len(r.dod_id) == 10
        if r.record_action == "A":
            assert r.dod_id not in added, "a DoD ID added twice"
            added[r.dod_id] = r
            families[r.sponsor_dod_id].append(r)
        else:  # a change or termination follows the person's add, before any termination
            first = added[r.dod_id]
            assert r.record_timestamp > first.record_timestamp
            assert r.dod_id not in terminated
            assert (r.dbn, r.birth_date, r.sponsor_dod_id) == (
                first.dbn,
                first.birth_date,
                first.sponsor_dod_id,
            )
            if r.record_action == "T":
                terminated.add(r.dod_id)
                assert r.eligibility_end is not None
        check_record(r, start)

    prefixes: set[str] = set()
    for sponsor_id, members in families.items():
        sponsor = added[sponsor_id]
        assert sponsor.is_sponsor and sponsor.dbn.endswith("00")
        prefix = sponsor.dbn[:9]
        assert prefix not in prefixes, "two families share a DBN prefix"
        prefixes.add(prefix)
        assert {m.dbn[:9] for m in members} == {prefix}
        # 00 the sponsor, 01 the spouse, 02.. the children oldest first, a parent, a former
        # spouse: in that order, with no gaps but the spouse's when there is none
        order = {"SF": 0, "SP": 1, "CH": 2, "SC": 2, "WD": 2, "PA": 3, "OT": 4}
        assert [order[m.relationship] for m in members] == sorted(
            order[m.relationship] for m in members
        )
        suffixes = [int(m.dbn[9:]) for m in members]
        spouse = [m for m in members if m.relationship == "SP"]
        assert suffixes == [
            0,
            *([1] if spouse else []),
            *range(2, 2 + len(members) - 1 - len(spouse)),
        ]
        assert all(m.branch == sponsor.branch for m in members)
        children = [m for m in members if m.relationship in ("CH", "SC", "WD")]
        assert [c.birth_date for c in children] == sorted(c.birth_date for c in children)
        if sponsor.beneficiary_category == "VET":
            assert members == [sponsor]
        for m in members:
            if m.plan in ("TRS", "TRR"):
                assert sponsor.plan == m.plan, "Reserve plans cover a family with the member"
            if m.beneficiary_category == "SURV":
                assert sponsor.eligibility_end is not None


def check_record(r: EligibilityRecord, start: date) -> None:
    on = r.record_timestamp.date()
    age = age_on(r.birth_date, on)
    assert r.eligibility_begin >= r.birth_date
    assert r.birth_date <= start
    assert r.branch is not None
    # categories, relationships, service
    if r.is_sponsor:
        assert r.beneficiary_category in SPONSOR_CATEGORIES
        assert r.pay_grade is not None and r.duty_status is not None
        assert 17 <= age_on(r.birth_date, start) <= 100
        allowed = {
            "ADSM": {"AD"},
            "RET": {"RT", "RR"},
            "GRD": {"SR", "AG"},
            "VET": {"DS"},
            "MOH": {"DS", "RT"},
        }[r.beneficiary_category]
        assert r.duty_status in allowed
        if r.branch in ("P", "O"):
            assert r.pay_grade.startswith("O")
        if r.branch in ("F", "S"):
            assert not r.pay_grade.startswith("W")
        if r.duty_status == "RR":
            assert age_on(r.birth_date, start) < 60
    else:
        assert r.beneficiary_category not in SPONSOR_CATEGORIES - {"MOH"}
        assert r.pay_grade is None and r.duty_status is None
        if r.beneficiary_category == "FMSP":
            assert r.relationship == "OT"
        if r.relationship in ("CH", "SC", "WD"):
            assert 0 <= age_on(r.birth_date, start) <= 25
            assert r.eligibility_end is not None
        if r.relationship == "PA":
            assert age_on(r.birth_date, start) >= 55 and r.plan is None
    # plans
    if r.plan == "TFL":
        assert age >= 65
    if r.plan == "TYA":
        assert r.relationship in ("CH", "SC", "WD") and 21 <= age <= 25
    if r.plan in ("PRI", "PRR"):
        assert r.enrollment_site is not None
    else:
        assert r.enrollment_site is None and r.pcm is None
    if r.plan == "TRS":
        assert r.beneficiary_category in ("GRD", "GRDFM")
    if r.plan == "TRR":
        assert r.beneficiary_category in ("RET", "RETFM")
    if r.beneficiary_category == "VET":
        assert r.plan is None
    if r.beneficiary_category == "ADSM" and r.eligibility_end is None:
        assert r.plan in ("PRI", "PRR")
    if r.plan is not None and r.record_action != "T" and r.eligibility_end is not None:
        assert r.eligibility_end > start, "a plan on an eligibility that has ended"


# -- determinism, streaming, identifiers -----------------------------------------------------


def test_same_seed_same_extract() -> None:
    assert list(generate(60, seed=5)) == list(generate(60, seed=5))
    assert list(generate(60, seed=5)) != list(generate(60, seed=6))
    later = date(2030, 1, 15)
    shifted = list(generate(60, seed=5, start=later))
    assert shifted[0]["record_timestamp"].startswith("2030-01-15T")
    assert list(generate(60, seed=5, start=later)) == shifted


def test_a_prefix_of_the_families_is_a_prefix_of_the_extract() -> None:
    """Changes come from earlier families only, so fewer families give a prefix of the adds."""
    small = [r for r in generate(30, seed=8) if r["record_action"] == "A"]
    big = [r for r in generate(60, seed=8) if r["record_action"] == "A"]
    assert [r["dod_id"] for r in big[: len(small)]] == [r["dod_id"] for r in small]


def test_generation_is_lazy() -> None:
    began = time.perf_counter()
    first = list(itertools.islice(generate(10**9, seed=1), 50))
    assert len(first) == 50
    assert time.perf_counter() - began < 2


def test_generation_uses_constant_memory() -> None:
    def peak(families: int) -> int:
        tracemalloc.start()
        try:
            for _ in generate(families, seed=families):
                pass
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, big = peak(100), peak(1_500)
    assert big < small + 256_000, (small, big)


def test_dod_ids_are_unique_and_look_random() -> None:
    ids = [r["dod_id"] for r in generate(3_000, seed=9) if r["record_action"] == "A"]
    assert len(set(ids)) == len(ids) > 9_000
    assert all(len(i) == 10 and i.isdigit() and i[0] != "0" for i in ids)
    steps = {int(b) - int(a) for a, b in itertools.pairwise(ids[:200])}
    assert len(steps) > 190, "consecutive DoD IDs should not be evenly spaced"
    assert len({i[0] for i in ids}) == 9
    other = [r["dod_id"] for r in generate(50, seed=10) if r["record_action"] == "A"]
    assert other[:20] != ids[:20]


def test_ssns_are_unique_and_never_issued() -> None:
    ssns = [r["ssn"] for r in generate(3_000, seed=9) if r["record_action"] == "A" and r["ssn"]]
    assert len(set(ssns)) == len(ssns)
    assert all(s[0] == "9" and s[3:5] != "00" and s[5:] != "0000" for s in ssns)


def test_contact_details_are_fictional(extract: list[EligibilityRecord]) -> None:
    for r in extract:
        if r.email is not None:
            assert r.email.rsplit("@", 1)[1] in ("example.com", "example.net", "example.org")
        if r.phone is not None:
            assert "555" in r.phone


# -- realism: everything appears ----------------------------------------------------------


def test_the_extract_covers_every_code(extract: list[EligibilityRecord]) -> None:
    assert {r.beneficiary_category for r in extract} == set(BENEFICIARY_CATEGORIES)
    assert {r.relationship for r in extract} == set(RELATIONSHIPS)
    assert {r.branch for r in extract} == set(BRANCHES)
    assert {r.duty_status for r in extract} - {None} == set(DUTY_STATUSES)
    assert {r.plan for r in extract} - {None} == set(PLANS)
    assert {r.record_action for r in extract} == {"A", "C", "T"}
    assert {r.pay_grade[0] for r in extract if r.pay_grade} == {"E", "W", "O"}
    assert {r.sex for r in extract} == {"M", "F", "U"}


def test_families_look_like_families(extract: list[EligibilityRecord]) -> None:
    adds = [r for r in extract if r.record_action == "A"]
    sponsors = [r for r in adds if r.is_sponsor]
    with_spouse = {r.sponsor_dod_id for r in adds if r.relationship == "SP"}
    with_family = [s for s in sponsors if s.beneficiary_category != "VET"]
    assert len(with_spouse) > 0.6 * len(with_family)
    children = [r for r in adds if r.relationship in ("CH", "SC", "WD")]
    ages = Counter(age_on(c.birth_date, DEFAULT_START) for c in children)
    assert set(ages) == set(range(26))
    kinds = Counter(c.relationship for c in children)
    assert kinds["SC"] > 0.03 * len(children) and 0 < kinds["WD"] < kinds["SC"]
    assert 0 < sum(r.relationship == "PA" for r in adds) < 0.05 * len(sponsors)
    missing = Counter(f for r in adds for f in ("ssn", "email", "phone") if getattr(r, f) is None)
    assert all(0 < missing[f] < len(adds) for f in ("ssn", "email", "phone"))
    assert sum(r.ssn is not None for r in adds) > 0.9 * len(adds)
    assert any(r.name_suffix for r in adds) and any(r.address_line2 for r in adds)


def test_changes_and_terminations(extract: list[EligibilityRecord]) -> None:
    added = {r.dod_id: r for r in extract if r.record_action == "A"}
    changes = [r for r in extract if r.record_action == "C"]
    ends = [r for r in extract if r.record_action == "T"]
    assert len(changes) > 100 and len(ends) > 20
    changed: Counter[str] = Counter()
    for r in changes:
        before = added[r.dod_id]
        for name in ("address_line1", "plan", "pay_grade", "phone", "email"):
            changed[name] += getattr(r, name) != getattr(before, name)
        changed["category"] += r.beneficiary_category != before.beneficiary_category
    assert all(changed[n] > 0 for n in ("address_line1", "plan", "pay_grade", "category"))
    assert all(r.eligibility_end != added[r.dod_id].eligibility_end for r in ends)


# -- files and damage -------------------------------------------------------------------------


@pytest.mark.parametrize("format", ["fixed", "csv"])
def test_generate_file(tmp_path: Path, format: str) -> None:
    path = tmp_path / "extract.txt"
    count = generate_file(path, 25, 3, format)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert count == len(list(generate(25, seed=3))) == len(lines) - (format == "csv")
    with pytest.raises(ValueError, match="format"):
        generate_file(tmp_path / "other.txt", 1, 1, "xml")
    assert not (tmp_path / "other.txt").exists()


@settings(max_examples=100, deadline=None)
@given(seed=SEEDS, damage=st.integers(min_value=0, max_value=2**32))
def test_corrupt_damages_exactly_one_field(seed: int, damage: int) -> None:
    records = list(generate(1, seed=seed))
    values = random.Random(damage).choice(records)
    for format in ("fixed", "csv"):
        damaged, name = corrupt(values, random.Random(damage), format=format)
        assert set(damaged) == set(values)
        assert [k for k in values if damaged[k] != values[k]] == [name]
        if format == "fixed":
            width = next(f.width for f in layout().fields if f.name == name)
            assert len(damaged[name]) <= width
