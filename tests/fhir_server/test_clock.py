"""Server time: instants in one UTC format that sorts as text, read back exactly, and
Last-Modified as an RFC 9110 HTTP-date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.clock import format_instant, http_date, parse_instant

moments = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
)


@given(moments)
def test_an_instant_is_read_back_to_the_millisecond(moment: datetime) -> None:
    text = format_instant(moment)
    assert len(text) == 24
    assert parse_instant(text) == moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@given(moments, moments)
def test_instants_sort_as_text_the_way_they_sort_in_time(a: datetime, b: datetime) -> None:
    a, b = (m.replace(microsecond=m.microsecond // 1000 * 1000) for m in (a, b))
    assert (format_instant(a) < format_instant(b)) == (a < b)


@given(moments)
def test_last_modified_is_the_rfc_9110_date_of_the_instant(moment: datetime) -> None:
    assert http_date(format_instant(moment)) == format_datetime(
        moment.replace(microsecond=0), usegmt=True
    )


def test_an_instant_with_a_zone_is_read_in_that_zone() -> None:
    moment = parse_instant("2026-11-30T06:44:06.665+05:00")
    assert moment == datetime(2026, 11, 30, 1, 44, 6, 665000, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(hours=5)
    assert moment.tzinfo == timezone(timedelta(hours=5))


@pytest.mark.parametrize(
    "text",
    [
        "+202-11-30T06:44:06.665Z",
        "2_26-11-30T06:44:06.665Z",
        "2026-11-30T06:44:06.66xZ",
        "2026-13-30T06:44:06.665Z",
        "2026-02-30T06:44:06.665Z",
        "yesterday",
    ],
)
def test_what_is_not_an_instant_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_instant(text)
