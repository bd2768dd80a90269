"""date parameters (https://hl7.org/fhir/R4/search.html#date and #prefix).

Every date is a range: the search value's range is implied by its precision, the target's by
its precision too (a date is a day, a month or a year) or explicitly (a Period; an open end
is "less than" / "greater than" any actual date). The prefixes compare ranges:

- eq: the range of the search value fully contains the range of the target value
- ne: it does not fully contain it
- gt / lt: the range above / below the search value intersects the target range
- ge / le: gt / lt, or eq
- sa / eb: no overlap, and the range above / below the search value contains the target
- ap: the ranges overlap once the search range is widened
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.search.types.date import value_range


def patient(id: str, birth_date: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Patient", "id": id}
    if birth_date:
        resource["birthDate"] = birth_date
    return resource


def observation(id: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"text": "date test"},
        **fields,
    }


def encounter(id: str, period: dict[str, str] | None) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": id,
        "status": "finished",
        "class": {"code": "AMB"},
    }
    if period is not None:
        resource["period"] = period
    return resource


PATIENTS = [
    patient("day", "2013-01-14"),
    patient("month", "2013-01"),
    patient("year", "2013"),
    patient("february", "2013-02-01"),
    patient("unknown", None),
    {
        "resourceType": "Patient",
        "id": "absent",
        "_birthDate": {
            "extension": [
                {
                    "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                    "valueCode": "unknown",
                }
            ]
        },
    },
]
OBSERVATIONS = [
    observation("midnight", effectiveDateTime="2013-01-14T00:00:00Z"),
    observation("ten", effectiveDateTime="2013-01-14T10:00:00Z"),
    observation("next-day", effectiveDateTime="2013-01-15T00:00:00Z"),
    observation("day-before", effectiveDateTime="2013-01-13T23:59:59Z"),
    observation("end-of-january", effectiveDateTime="2013-01-31T23:59:59.999Z"),
    observation("offset", effectiveDateTime="2013-01-14T23:30:00-05:00"),
    observation("march-14", effectiveDateTime="2013-03-14"),
    observation("far-away", effectiveDateTime="2016-06-15"),
]
ENCOUNTERS = [
    encounter("from-jan-21", {"start": "2013-01-21"}),
    encounter("from-mar-15", {"start": "2013-03-15"}),
    encounter("until-jan-21", {"end": "2013-01-21"}),
    encounter("march", {"start": "2013-03-01", "end": "2013-03-31"}),
    encounter("no-period", None),
]
# a Timing: "only the outer limits matter" (31-Jan 2011 to 24-Mar 2011)
TIMING = observation(
    "every-other-day", effectiveTiming={"event": ["2011-01-31T09:00:00Z", "2011-03-24T09:00:00Z"]}
)


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*PATIENTS, *OBSERVATIONS, *ENCOUNTERS, TIMING)


JANUARY_OBSERVATIONS = {"midnight", "ten", "next-day", "day-before", "end-of-january", "offset"}


# -- precision -------------------------------------------------------------------------


def test_month_matches_a_date_and_datetimes_inside_the_month(fhir: Any) -> None:
    """A search for 2013-01 matches a birthDate of 2013-01-14 (and of 2013-01)."""
    assert fhir.ids("Patient", {"birthdate": "2013-01"}) == {"day", "month"}
    assert fhir.ids("Observation", {"date": "2013-01"}) == JANUARY_OBSERVATIONS


def test_year_matches_every_date_inside_the_year(fhir: Any) -> None:
    assert fhir.ids("Patient", {"birthdate": "2013"}) == {"day", "month", "year", "february"}


def test_day_does_not_match_a_less_precise_target(fhir: Any) -> None:
    """eq: the day does not fully contain the month (or the year) of the target."""
    assert fhir.ids("Patient", {"birthdate": "2013-01-14"}) == {"day"}


def test_eq_day_matches_datetimes_in_that_day(fhir: Any) -> None:
    """eq2013-01-14: 2013-01-14T00:00 matches, 2013-01-14T10:00 matches, 2013-01-15T00:00
    does not."""
    assert fhir.ids("Observation", {"date": "eq2013-01-14"}) == {"midnight", "ten"}


def test_no_prefix_means_eq(fhir: Any) -> None:
    assert fhir.ids("Observation", {"date": "2013-01-14"}) == {"midnight", "ten"}


def test_ne_day(fhir: Any) -> None:
    """ne2013-01-14: 2013-01-15T00:00 matches; 2013-01-14T00:00 and T10:00 do not."""
    found = fhir.ids("Observation", {"date": "ne2013-01-14"})
    assert {"next-day", "day-before", "end-of-january"} <= found
    assert found.isdisjoint({"midnight", "ten"})


def test_minute_precision_search(fhir: Any) -> None:
    assert fhir.ids("Observation", {"date": "2013-01-14T10:00Z"}) == {"ten"}
    assert fhir.ids("Patient", {"birthdate": "2013-01-14T10:00Z"}) == set()


def test_millisecond_precision_target(fhir: Any) -> None:
    assert fhir.ids("Observation", {"date": "2013-01-31T23:59:59Z"}) == {"end-of-january"}


def test_lt_a_time_matches_the_day_that_contains_it(fhir: Any) -> None:
    """lt2013-01-14T10:00: "2013-01-14 matches, because it includes the part of 14-Jan 2013
    before 10am"."""
    assert "day" in fhir.ids("Patient", {"birthdate": "lt2013-01-14T10:00"})


def test_gt_a_time_matches_the_day_that_contains_it(fhir: Any) -> None:
    """gt2013-01-14T10:00: "2013-01-14 matches, because it includes the part of 14-Jan 2013
    after 10am"."""
    assert fhir.ids("Patient", {"birthdate": "gt2013-01-14T10:00"}) == {
        "day",
        "month",
        "year",
        "february",
    }


def test_lt_and_gt_on_dates(fhir: Any) -> None:
    assert fhir.ids("Patient", {"birthdate": "lt2013-01-14"}) == {"month", "year"}
    assert fhir.ids("Patient", {"birthdate": "gt2013-01-14"}) == {"month", "year", "february"}


def test_ge_and_le_include_eq(fhir: Any) -> None:
    assert fhir.ids("Patient", {"birthdate": "ge2013-01-14"}) == {
        "day",
        "month",
        "year",
        "february",
    }
    assert fhir.ids("Patient", {"birthdate": "le2013-01-14"}) == {"day", "month", "year"}
    assert fhir.ids("Patient", {"birthdate": "le2013-01-13"}) == {"month", "year"}


def test_sa_and_eb_on_dates(fhir: Any) -> None:
    assert fhir.ids("Patient", {"birthdate": "sa2013-01-14"}) == {"february"}
    assert fhir.ids("Patient", {"birthdate": "eb2013-02-01"}) == {"day", "month"}


def test_repeated_prefixes_make_a_range(fhir: Any) -> None:
    """date=ge2010-01-01&date=le2011-12-31: a two-year window."""
    found = fhir.ids("Observation", [("date", "ge2013-01-14"), ("date", "lt2013-01-15")])
    assert found == {"midnight", "ten"}


def test_time_zone_is_corrected(fhir: Any) -> None:
    """2013-01-14T23:30-05:00 is 2013-01-15T04:30Z: "Where possible, the system should correct
    for time zones when performing queries"."""
    assert fhir.ids("Observation", {"date": "2013-01-15T04:30Z"}) == {"offset"}
    assert fhir.ids("Observation", {"date": "2013-01-14T23:30-05:00"}) == {"offset"}
    assert "offset" not in fhir.ids("Observation", {"date": "2013-01-14T23:30Z"})


def test_escaped_colons_are_handled(fhir: Any) -> None:
    """Spec: "Some user agents may escape the : characters in the URL, and servers SHALL handle
    this correctly"."""
    response = fhir.get("Observation?date=2013-01-14T10%3A00Z")
    assert response.status_code == 200
    assert fhir.match_ids(response.json()) == {"ten"}


def test_missing(fhir: Any) -> None:
    assert fhir.ids("Patient", {"birthdate:missing": "true"}) == {"unknown", "absent"}
    assert fhir.ids("Encounter", {"date:missing": "true"}) == {"no-period"}
    assert "no-period" not in fhir.ids("Encounter", {"date:missing": "false"})


def test_missing_includes_an_element_with_only_extensions(fhir: Any) -> None:
    """Spec: ":missing=true will match on all elements where either the underlying element is
    omitted or where the element is present with extensions but no @value is specified"."""
    assert "absent" in fhir.ids("Patient", {"birthdate:missing": "true"})
    assert "absent" not in fhir.ids("Patient", {"birthdate:missing": "false"})


def test_comma_is_or(fhir: Any) -> None:
    assert fhir.ids("Patient", {"birthdate": "2013-01-14,2013-02"}) == {"day", "february"}


# -- Periods with open ends ------------------------------------------------------------


def test_ge_includes_a_period_without_end(fhir: Any) -> None:
    """ge2013-03-14: "from 21-Jan 2013 onwards" is included because that period may include
    times after 14-Mar 2013."""
    assert fhir.ids("Encounter", {"date": "ge2013-03-14"}) == {
        "from-jan-21",
        "from-mar-15",
        "march",
    }


def test_le_includes_a_period_without_end_that_starts_before(fhir: Any) -> None:
    """le2013-03-14: "from 21-Jan 2013 onwards" is included because that period may include
    times before 14-Mar 2013."""
    assert fhir.ids("Encounter", {"date": "le2013-03-14"}) == {
        "from-jan-21",
        "until-jan-21",
        "march",
    }


def test_sa_needs_the_whole_period_after(fhir: Any) -> None:
    """sa2013-03-14: "from 15-Mar 2013 onwards" is included; "from 21-Jan 2013 onwards" and
    "before and including 21-Jan 2013" are not."""
    assert fhir.ids("Encounter", {"date": "sa2013-03-14"}) == {"from-mar-15"}


def test_eb_needs_the_whole_period_before(fhir: Any) -> None:
    """eb2013-03-14: "before and including 21-Jan 2013" is included; the others are not."""
    assert fhir.ids("Encounter", {"date": "eb2013-03-14"}) == {"until-jan-21"}


def test_eq_does_not_match_an_open_period(fhir: Any) -> None:
    """A missing upper boundary is "greater than" any date, so no year contains the period."""
    assert fhir.ids("Encounter", {"date": "2013"}) == {"march"}
    assert fhir.ids("Encounter", {"date": "2013-03"}) == {"march"}


def test_ne_matches_an_open_period(fhir: Any) -> None:
    assert fhir.ids("Encounter", {"date": "ne2013"}) == {
        "from-jan-21",
        "from-mar-15",
        "until-jan-21",
    }


def test_gt_and_lt_on_periods(fhir: Any) -> None:
    assert fhir.ids("Encounter", {"date": "gt2099"}) == {"from-jan-21", "from-mar-15"}
    assert fhir.ids("Encounter", {"date": "lt1900"}) == {"until-jan-21"}


def test_ap_matches_dates_near_the_value(fhir: Any) -> None:
    """ap2013-03-14: 14-Mar 2013 is included; 15-Jun 2015 "is not near 14-Mar 2013" (the
    width is the server's choice; here the target is three years away)."""
    found = fhir.ids("Observation", {"date": "ap2013-03-14"})
    assert "march-14" in found
    assert "far-away" not in found


# -- Timing ----------------------------------------------------------------------------


def test_timing_covers_its_outer_limits(fhir: Any) -> None:
    found = fhir.ids("Observation", [("date", "ge2011-03-01"), ("date", "lt2012")])
    assert found == {"every-other-day"}
    assert fhir.ids("Observation", {"date": "le2011-02-01"}) == {"every-other-day"}
    assert fhir.ids("Observation", {"date": "2011"}) == {"every-other-day"}


def test_timing_is_one_range_from_first_to_last_event(fhir: Any) -> None:
    """search.html#date, Timing: "the specified scheduling details are ignored and only the
    outer limits matter" - 31-Jan to 24-Mar 2011 overlaps February, so it neither starts
    after 1-Feb nor ends before 1-Mar, and January does not contain it."""
    timing = {"_id": "every-other-day"}
    assert fhir.ids("Observation", {**timing, "date": "sa2011-02-01"}) == set()
    assert fhir.ids("Observation", {**timing, "date": "eb2011-03-01"}) == set()
    assert fhir.ids("Observation", {**timing, "date": "2011-01"}) == set()


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_a_date_covers_its_whole_day_a_month_its_days_a_year_its_months(day: date) -> None:
    def first(moment: date) -> str:
        return f"{moment.isoformat()}T00:00:00.000000Z"

    def last(moment: date) -> str:
        return f"{moment.isoformat()}T23:59:59.999999Z"

    month_end = (day.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    assert value_range(day.isoformat()) == (first(day), last(day))
    assert value_range(day.isoformat()[:7]) == (first(day.replace(day=1)), last(month_end))
    assert value_range(day.isoformat()[:4]) == (
        first(day.replace(month=1, day=1)),
        last(day.replace(month=12, day=31)),
    )


@pytest.mark.parametrize("value", ["0000", "2026-13", "2026-00", "2026-02-30", "2026-04-31"])
def test_a_date_that_does_not_exist_has_no_range(value: str) -> None:
    with pytest.raises(ValueError):
        value_range(value)
