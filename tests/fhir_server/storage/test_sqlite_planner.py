"""Which condition drives a SQLite search: the most selective kind first, a chain to an exact
reference before a token most resources share, an open-ended range last."""

from __future__ import annotations

from fhir_server.search.plan import (
    Chain,
    Condition,
    DateMatch,
    ParamIn,
    ReferenceMatch,
    TokenMatch,
)
from fhir_server.storage.sqlite_search import driver_rank

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
