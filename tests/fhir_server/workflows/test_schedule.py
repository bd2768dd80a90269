"""Slot generation: a weekly template becomes a Schedule and free Slots, idempotently, never
touching booked slots; the template is checked with messages that say where."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from fhir_server.cli import _with_store
from fhir_server.interactions.bundle import transaction
from fhir_server.interactions.context import Context, Preconditions
from fhir_server.interactions.create import create
from fhir_server.interactions.read import read
from fhir_server.interactions.search import search
from fhir_server.resource_json import parse_json
from fhir_server.workflows.cli import schedule_group
from fhir_server.workflows.schedule import (
    SLOT_SYSTEM,
    TemplateError,
    parse_template,
    plan_slots,
    schedule_resource,
    slot_id,
    slot_key,
)
from smart_auth.context import AccessContext

BASE = "http://127.0.0.1:8080/fhir"
CLINIC_SYSTEM = "http://fhir.mhs-fhir.example/sid/clinic"
SERVICE = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/service-type",
            "code": "124",
            "display": "General Practice",
        }
    ]
}


def template(**schedule: Any) -> dict[str, Any]:
    return {
        "timezone": "America/New_York",
        "clinics": [
            {
                "name": "fm",
                "location": {"id": "loc-fm"},
                "healthcareService": {"identifier": f"{CLINIC_SYSTEM}|FM-01"},
                "organization": {"id": "mtf"},
            }
        ],
        "providers": [{"name": "reyes", "practitioner": {"id": "pcm"}}],
        "schedules": [
            {
                "id": "pcm-fm",
                "clinic": "fm",
                "provider": "reyes",
                "serviceType": SERVICE,
                "slotMinutes": 30,
                "hours": [
                    {
                        "days": ["mon", "tue", "wed", "thu", "fri"],
                        "open": "08:00",
                        "close": "10:00",
                    },
                    {"days": ["wed"], "open": "13:00", "close": "14:00"},
                ],
                "closed": ["2027-01-01"],
                **schedule,
            }
        ],
    }


# -- the pure part ---------------------------------------------------------------------------


def test_a_week_of_slots_in_local_time() -> None:
    spec = parse_template(template()).schedules[0]
    # Thu 2026-12-31 .. Wed 2027-01-06: Thu 4, Fri closed, weekend none, Mon 4, Tue 4, Wed 4+2.
    slots = plan_slots(spec, date(2026, 12, 31), 7)
    assert len(slots) == 18
    first = slots[0]
    assert first.document["start"] == "2026-12-31T08:00:00-05:00"
    assert first.document["end"] == "2026-12-31T08:30:00-05:00"
    assert first.key == "pcm-fm-202612311300"  # 08:00 in New York is 13:00 UTC
    assert first.id == first.key
    assert first.document["identifier"] == [{"system": SLOT_SYSTEM, "value": first.key}]
    assert first.document["schedule"] == {"reference": "Schedule/pcm-fm"}
    assert first.document["status"] == "free"
    assert first.document["serviceType"] == [SERVICE]
    assert [s.document["start"][11:16] for s in slots if s.day == date(2027, 1, 6)] == [
        "08:00",
        "08:30",
        "09:00",
        "09:30",
        "13:00",
        "13:30",
    ]
    assert len({s.id for s in slots}) == len(slots)


def test_daylight_saving_time_keeps_local_hours_and_skips_missing_times() -> None:
    night = template(
        slotMinutes=60,
        hours=[{"days": ["sun"], "open": "01:00", "close": "04:00"}],
        closed=[],
    )
    spec = parse_template(night).schedules[0]
    # 2027-03-14: clocks go from 02:00 to 03:00 in New York; 02:00 does not exist that day.
    starts = [s.document["start"] for s in plan_slots(spec, date(2027, 3, 14), 1)]
    assert starts == ["2027-03-14T01:00:00-05:00", "2027-03-14T03:00:00-04:00"]
    summer = [s.document["start"] for s in plan_slots(spec, date(2027, 3, 21), 1)]
    assert summer[0] == "2027-03-21T01:00:00-04:00"


def test_long_ids_are_hashed_but_keep_the_identifier() -> None:
    key = slot_key("x" * 60, datetime(2027, 1, 4, 13, tzinfo=UTC))
    assert key.endswith("-202701041300")
    assert slot_id(key).startswith("slot-") and len(slot_id(key)) <= 64
    assert slot_id(key) == slot_id(key)


def test_the_schedule_names_its_actors_and_hours() -> None:
    spec = parse_template(template()).schedules[0]
    document = schedule_resource(spec, ["Practitioner/pcm", "Location/loc-fm"])
    assert document["actor"] == [
        {"reference": "Practitioner/pcm"},
        {"reference": "Location/loc-fm"},
    ]
    assert "Mon,Tue,Wed,Thu,Fri 08:00-10:00" in document["comment"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slotMinutes": 0}, "schedules[0].slotMinutes"),
        ({"slotMinutes": "30"}, "schedules[0].slotMinutes"),
        ({"clinic": "nowhere"}, "no clinic is named 'nowhere'"),
        ({"provider": "nobody"}, "no provider is named 'nobody'"),
        ({"hours": [{"days": ["mon"], "open": "8am", "close": "10:00"}]}, "hours[0].open"),
        ({"hours": [{"days": ["funday"], "open": "08:00", "close": "10:00"}]}, "days[0]"),
        ({"hours": [{"days": ["mon"], "open": "10:00", "close": "08:00"}]}, "close must be after"),
        (
            {
                "hours": [
                    {"days": ["mon", "tue"], "open": "08:00", "close": "10:00"},
                    {"days": ["tue"], "open": "09:30", "close": "11:00"},
                ]
            },
            "blocks 0 and 1 overlap on tue",
        ),
        ({"closed": ["2027-02-30"]}, "closed[0]"),
        ({"id": "bad id!"}, "not a valid FHIR id"),
        ({"slotLength": 30}, "unknown key 'slotLength'"),
        ({"serviceType": "General Practice"}, "serviceType"),
    ],
)
def test_bad_templates_say_where(change: dict[str, Any], message: str) -> None:
    with pytest.raises(TemplateError, match=re.escape(message)):
        parse_template(template(**change))


def test_a_clinic_needs_a_location_or_a_service_and_refs_need_one_key() -> None:
    bad = template()
    bad["clinics"][0] = {"name": "fm", "organization": {"id": "mtf"}}
    with pytest.raises(TemplateError, match="needs a location or a healthcareService"):
        parse_template(bad)
    bad = template()
    bad["providers"][0]["practitioner"] = {"id": "pcm", "identifier": "x|y"}
    with pytest.raises(TemplateError, match=r"providers\[0\].practitioner: give exactly one"):
        parse_template(bad)
    bad = template()
    bad["timezone"] = "Mars/Olympus_Mons"
    with pytest.raises(TemplateError, match="not a known IANA time zone"):
        parse_template(bad)


# -- through the store -----------------------------------------------------------------------


def _put(resource: dict[str, Any]) -> dict[str, Any]:
    url = f"{resource['resourceType']}/{resource['id']}"
    return {"resource": resource, "request": {"method": "PUT", "url": url}}


CLINIC_RESOURCES: list[dict[str, Any]] = [
    {"resourceType": "Organization", "id": "mtf", "name": "Test MTF"},
    {"resourceType": "Practitioner", "id": "pcm", "name": [{"family": "Reyes"}]},
    {
        "resourceType": "Location",
        "id": "loc-fm",
        "name": "Family Medicine Clinic",
        "managingOrganization": {"reference": "Organization/mtf"},
    },
    {
        "resourceType": "HealthcareService",
        "id": "hs-fm",
        "identifier": [{"system": CLINIC_SYSTEM, "value": "FM-01"}],
        "providedBy": {"reference": "Organization/mtf"},
        "location": [{"reference": "Location/loc-fm"}],
        "name": "Family Medicine",
    },
]


@pytest.fixture
def database(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path}/schedule.db"

    async def seed(ctx: Context) -> None:
        bundle = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [_put(r) for r in CLINIC_RESOURCES],
        }
        await transaction(ctx, bundle=bundle, prefer="minimal", strict=True)

    _with_store(url, BASE, seed)
    return url


def run_generate(database: str, tmp_path: Path, body: dict[str, Any], *args: str) -> Any:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(body))
    command = [
        "generate",
        "--template",
        str(path),
        "--from",
        "2027-01-04",
        "--days",
        "14",
        "--database-url",
        database,
        "--base-url",
        BASE,
        "--quiet",
        *args,
    ]
    return CliRunner().invoke(schedule_group, command, catch_exceptions=False)


async def _slots(ctx: Context, *params: tuple[str, str]) -> list[dict[str, Any]]:
    outcome = await search(
        ctx, types=["Slot"], params=[*params, ("_count", "1000")], strict=True, path="Slot"
    )
    bundle = orjson.loads(orjson.dumps(outcome.body))  # entries hold the stored bytes
    return [e["resource"] for e in bundle.get("entry", [])]


def _query(database: str, *params: tuple[str, str]) -> list[dict[str, Any]]:
    async def work(ctx: Context) -> list[dict[str, Any]]:
        return await _slots(ctx, *params)

    return _with_store(database, BASE, work)


def test_generate_creates_the_schedule_and_slots_once(database: str, tmp_path: Path) -> None:
    first = run_generate(database, tmp_path, template())
    assert first.exit_code == 0, first.output
    # Two weeks from Mon 2027-01-04: 10 weekdays x 4 slots + 2 Wednesdays x 2 slots.
    assert "created 1 schedules (0 existed) and 44 slots" in first.output
    slots = _query(database, ("schedule.actor", "Practitioner/pcm"), ("status", "free"))
    assert len(slots) == 44
    by_location = _query(
        database,
        ("schedule.actor", "Location/loc-fm"),
        ("service-type", "http://terminology.hl7.org/CodeSystem/service-type|124"),
        ("start", "ge2027-01-11"),
    )
    assert len(by_location) == 22

    async def schedule(ctx: Context) -> dict[str, Any]:
        outcome = await read(ctx, type="Schedule", id="pcm-fm", pre=Preconditions())
        assert outcome.version is not None and outcome.version.body is not None
        document: dict[str, Any] = parse_json(outcome.version.body)
        return document

    document = _with_store(database, BASE, schedule)
    assert [a["reference"] for a in document["actor"]] == [
        "Practitioner/pcm",
        "Location/loc-fm",
        "HealthcareService/hs-fm",  # found by its identifier
    ]
    again = run_generate(database, tmp_path, template())
    assert again.exit_code == 0, again.output
    assert "created 0 schedules (1 existed) and 0 slots; 44 slots existed already" in again.output
    assert len(_query(database, ("schedule", "Schedule/pcm-fm"))) == 44


def test_booked_and_hand_made_slots_are_left_alone(database: str, tmp_path: Path) -> None:
    assert run_generate(database, tmp_path, template(), "--days", "1").exit_code == 0
    booked = slot_key("pcm-fm", datetime(2027, 1, 4, 13, tzinfo=UTC))  # 08:00 New York

    async def book_and_add(internal: Context) -> None:
        # As an API caller would (the command line's own work skips the workflow rules).
        ctx = replace(internal, access=AccessContext.open_server())
        appointment = {
            "resourceType": "Appointment",
            "status": "booked",
            "start": "2027-01-04T08:00:00-05:00",
            "end": "2027-01-04T08:30:00-05:00",
            "slot": [{"reference": f"Slot/{booked}"}],
            "participant": [{"actor": {"reference": "Practitioner/pcm"}, "status": "accepted"}],
        }
        await create(ctx, type="Appointment", resource=appointment, pre=Preconditions())
        by_hand = {
            "resourceType": "Slot",
            "schedule": {"reference": "Schedule/pcm-fm"},
            "status": "busy-unavailable",
            "start": "2027-01-05T08:15:00-05:00",
            "end": "2027-01-05T08:45:00-05:00",
        }
        await create(ctx, type="Slot", resource=by_hand, pre=Preconditions())

    _with_store(database, BASE, book_and_add)
    result = run_generate(database, tmp_path, template(), "--days", "2")
    assert result.exit_code == 0, result.output
    # Day 2 (Tue): 08:00 and 08:30 overlap the hand-made 08:15-08:45 slot.
    assert "created 0 schedules (1 existed) and 2 slots; 4 slots existed already," in result.output
    assert "2 overlapped existing slots" in result.output
    busy = _query(database, ("_id", booked))
    assert busy[0]["status"] == "busy"
    assert busy[0]["meta"]["versionId"] == "2"  # created, then booked; not touched since


def test_dry_run_writes_nothing(database: str, tmp_path: Path) -> None:
    result = run_generate(database, tmp_path, template(), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "would create 1 schedules (0 existed) and 44 slots" in result.output
    assert _query(database, ("schedule", "Schedule/pcm-fm")) == []


def test_unknown_names_and_bad_files_are_clear_errors(database: str, tmp_path: Path) -> None:
    missing = template()
    missing["providers"][0]["practitioner"] = {"id": "nobody"}
    result = run_generate(database, tmp_path, missing)
    assert result.exit_code == 1
    assert "Practitioner/nobody (named by provider 'reyes') is not known" in result.output
    unmatched = template()
    unmatched["clinics"][0]["healthcareService"] = {"identifier": f"{CLINIC_SYSTEM}|NOPE"}
    result = run_generate(database, tmp_path, unmatched)
    assert result.exit_code == 1
    assert "matches no HealthcareService" in result.output
    assert _query(database, ("schedule", "Schedule/pcm-fm")) == []
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    result = CliRunner().invoke(
        schedule_group,
        ["generate", "--template", str(bad), "--days", "1", "--database-url", database],
    )
    assert result.exit_code == 1
    assert "is not valid JSON" in result.output
    result = run_generate(database, tmp_path, template(slotMinutes=1))
    assert result.exit_code == 1
    assert "schedules[0].slotMinutes: must be a whole number" in result.output
