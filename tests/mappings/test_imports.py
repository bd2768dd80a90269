"""The one import loader's pacing: batches sized by how long their transactions hold the
store's write lock, so that a server next to an import waits for it briefly however large
the store grows."""

from __future__ import annotations

from mappings.imports import (
    BATCH_RECORDS,
    MIN_BATCH_RECORDS,
    TRANSACTION_SECONDS,
    Pace,
)


def test_a_batch_whose_transaction_was_quick_makes_the_next_one_larger() -> None:
    pace = Pace()
    before = pace.size
    pace.took(before, TRANSACTION_SECONDS / 4)
    assert pace.size > before


def test_a_batch_whose_transaction_was_slow_makes_the_next_one_smaller() -> None:
    pace = Pace()
    before = pace.size
    pace.took(before, TRANSACTION_SECONDS * 4)
    assert pace.size < before


def test_batches_settle_where_a_transaction_takes_the_target_time() -> None:
    pace = Pace()
    seconds_per_record = TRANSACTION_SECONDS / 80
    for _ in range(20):
        pace.took(pace.size, pace.size * seconds_per_record)
    assert abs(pace.size - 80) <= 1


def test_batch_sizes_stay_within_their_bounds() -> None:
    pace = Pace()
    for _ in range(20):
        pace.took(pace.size, TRANSACTION_SECONDS / 1000)
    assert pace.size == BATCH_RECORDS
    for _ in range(20):
        pace.took(pace.size, TRANSACTION_SECONDS * 1000)
    assert pace.size == MIN_BATCH_RECORDS


def test_an_empty_or_instant_transaction_teaches_nothing() -> None:
    pace = Pace()
    before = pace.size
    pace.took(0, 1.0)
    pace.took(before, 0.0)
    assert pace.size == before


def test_a_fixed_batch_size_ignores_the_pace_and_none_follows_it() -> None:
    pace = Pace()
    fixed, paced = pace.or_fixed(7), pace.or_fixed(None)
    pace.took(pace.size, TRANSACTION_SECONDS / 4)
    assert fixed() == 7
    assert paced() == pace.size
