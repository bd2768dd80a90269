"""Generated legacy records survive their files: what the generator's writers put in a TOL
export or an HL7 v2 feed, the readers read back as the same facts (hypothesis over seeds and
population sizes)."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mappings.legacy.generator import generate_population, hl7_messages
from mappings.legacy.hl7v2.read import read_lines
from mappings.legacy.tol import appointments, messages, prescriptions

populations = st.builds(generate_population, st.integers(1, 6), seed=st.integers(0, 2**31 - 1))


def _instants(facts: Any) -> Any:
    """``facts`` with every aware datetime as UTC: the same instant written with a fixed offset
    and read back in a zone compares unequal in a daylight-saving fold (PEP 495)."""
    changes = {
        f.name: value.astimezone(UTC)
        for f in dataclasses.fields(facts)
        if isinstance(value := getattr(facts, f.name), datetime) and value.tzinfo is not None
    }
    return dataclasses.replace(facts, line=0, **changes)


def _same(expected: list[Any], got: list[Any]) -> None:
    assert len(got) == len(expected)
    for want, have in zip(expected, got, strict=True):
        assert _instants(have) == _instants(want)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations)
def test_tol_exports_read_back_as_written(population: Any) -> None:
    for module, facts in (
        (appointments, population.tol_appointments),
        (prescriptions, population.tol_prescriptions),
        (messages, population.tol_threads),
    ):
        stream = io.StringIO()
        module.write(stream, iter(facts))
        stream.seek(0)
        _same(facts, list(module.read(stream)))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(populations)
def test_hl7v2_feeds_read_back_as_written(population: Any) -> None:
    feeds = hl7_messages(population)
    expected = {
        "hl7-scheduling": [facts for _, facts, _ in population.siu],
        "hl7-pharmacy": [facts for _, facts in population.pharmacy],
        "hl7-adt": population.adt,
    }
    for key, texts in feeds.items():
        text = "\r\n".join(texts) + "\r\n"
        _same(expected[key], list(read_lines(io.StringIO(text, newline=None))))


def test_the_generator_is_deterministic_per_seed() -> None:
    assert generate_population(3, seed=9) == generate_population(3, seed=9)
    assert generate_population(3, seed=9) != generate_population(3, seed=10)
