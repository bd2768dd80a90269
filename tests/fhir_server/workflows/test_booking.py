"""Booking: an Appointment referencing free Slots holds them atomically; cancelling frees
them; racing bookings never double-book; a beneficiary's bookings keep to the window."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.errors import Conflict
from fhir_server.testing import running_server
from fhir_server.workflows import Effects, claimed
from smart_auth.proxy import Link
from smart_auth.records import Role
from smart_auth.testing import issue_token

FHIR = {"content-type": "application/fhir+json"}


def at(days: float) -> str:
    moment = datetime.now(UTC) + timedelta(days=days)
    return moment.replace(microsecond=0).isoformat().replace("+00:00", "Z")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('booking')}/booking.db"
    staff = issue_token(database_url, scope="system/*.cruds")
    beneficiary = issue_token(
        database_url,
        scope="user/*.cruds",
        role=Role.BENEFICIARY,
        username="sponsor",
        links=(Link("pat", "self"),),
    )
    with running_server(Settings(database_url=database_url)) as base:
        with httpx.Client(base_url=base + "/", headers=bearer(staff)) as http:
            assert (
                http.put(
                    "Patient/pat", json={"resourceType": "Patient", "id": "pat"}, headers=FHIR
                ).status_code
                == 201
            )
            schedule = {
                "resourceType": "Schedule",
                "id": "clinic",
                "actor": [{"display": "Clinic"}],
            }
            assert http.put("Schedule/clinic", json=schedule, headers=FHIR).status_code == 201
        yield base, staff, beneficiary


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def new_slot(base: str, token: str, *, days: float) -> str:
    slot = {
        "resourceType": "Slot",
        "schedule": {"reference": "Schedule/clinic"},
        "status": "free",
        "start": at(days),
        "end": at(days + 1 / 48),
    }
    created = httpx.post(f"{base}/Slot", json=slot, headers={**FHIR, **bearer(token)})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def appointment(slot: str, *, days: float, status: str = "booked") -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "status": status,
        "start": at(days),
        "end": at(days + 1 / 48),
        "slot": [{"reference": f"Slot/{slot}"}],
        "participant": [{"actor": {"reference": "Patient/pat"}, "status": "accepted"}],
    }


def slot_status(base: str, token: str, slot: str) -> str:
    return str(httpx.get(f"{base}/Slot/{slot}", headers=bearer(token)).json()["status"])


def book(base: str, token: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{base}/Appointment", json=body, headers={**FHIR, **bearer(token)})


def test_booking_a_free_slot_makes_it_busy(server: tuple[str, str, str]) -> None:
    base, staff, _ = server
    slot = new_slot(base, staff, days=3)
    assert book(base, staff, appointment(slot, days=3)).status_code == 201
    assert slot_status(base, staff, slot) == "busy"


def test_booking_a_busy_slot_is_409_and_stores_nothing(server: tuple[str, str, str]) -> None:
    base, staff, _ = server
    slot = new_slot(base, staff, days=4)
    assert book(base, staff, appointment(slot, days=4)).status_code == 201
    again = book(base, staff, appointment(slot, days=4))
    assert again.status_code == 409
    assert "busy" in again.json()["issue"][0]["diagnostics"]
    found = httpx.get(f"{base}/Appointment", params={"slot": f"Slot/{slot}"}, headers=bearer(staff))
    assert found.json()["total"] == 1


def test_cancelling_frees_the_slot(server: tuple[str, str, str]) -> None:
    base, staff, _ = server
    slot = new_slot(base, staff, days=5)
    created = book(base, staff, appointment(slot, days=5)).json()
    cancelled = {**created, "status": "cancelled", "cancelationReason": {"text": "moved"}}
    answer = httpx.put(
        f"{base}/Appointment/{created['id']}", json=cancelled, headers={**FHIR, **bearer(staff)}
    )
    assert answer.status_code == 200
    assert slot_status(base, staff, slot) == "free"


def test_rescheduling_moves_the_hold_in_one_write(server: tuple[str, str, str]) -> None:
    base, staff, _ = server
    first, second = new_slot(base, staff, days=6), new_slot(base, staff, days=7)
    created = book(base, staff, appointment(first, days=6)).json()
    moved = {**created, **appointment(second, days=7), "id": created["id"]}
    answer = httpx.put(
        f"{base}/Appointment/{created['id']}", json=moved, headers={**FHIR, **bearer(staff)}
    )
    assert answer.status_code == 200
    assert (slot_status(base, staff, first), slot_status(base, staff, second)) == ("free", "busy")


def test_a_slot_being_booked_in_this_process_refuses_a_second_booking_at_once(
    server: tuple[str, str, str],
) -> None:
    base, staff, _ = server
    slot = new_slot(base, staff, days=8)
    in_flight = Effects(document=None)  # a booking of it, until it is stored or refused
    with claimed([f"Slot/{slot}"], in_flight, Conflict):
        pass
    try:
        refused = book(base, staff, appointment(slot, days=8))
        assert refused.status_code == 409
        assert "being booked" in refused.json()["issue"][0]["diagnostics"]
        assert slot_status(base, staff, slot) == "free"
    finally:
        in_flight.close()
    assert book(base, staff, appointment(slot, days=8)).status_code == 201


def test_a_refused_booking_releases_its_claim_on_the_slot(server: tuple[str, str, str]) -> None:
    base, staff, _ = server
    slot = new_slot(base, staff, days=9)
    invalid = {**appointment(slot, days=9), "minutesDuration": "forty"}  # fails validation
    assert book(base, staff, invalid).status_code in (400, 422)
    assert book(base, staff, appointment(slot, days=9)).status_code == 201


def test_racing_clients_never_double_book(server: tuple[str, str, str]) -> None:
    base, staff, _ = server
    slots = [new_slot(base, staff, days=10 + i / 10) for i in range(3)]
    results: list[tuple[str, int]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        slot = slots[n % len(slots)]
        answer = book(base, staff, appointment(slot, days=10))
        with lock:
            results.append((slot, answer.status_code))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for _, code in results if code == 201) == [201, 201, 201]
    assert {code for _, code in results} <= {201, 409}
    for slot in slots:
        assert slot_status(base, staff, slot) == "busy"
        held = httpx.get(
            f"{base}/Appointment", params={"slot": f"Slot/{slot}"}, headers=bearer(staff)
        )
        assert held.json()["total"] == 1


def test_a_beneficiary_cannot_book_in_the_past(server: tuple[str, str, str]) -> None:
    base, staff, beneficiary = server
    slot = new_slot(base, staff, days=-1)
    refused = book(base, beneficiary, appointment(slot, days=-1))
    assert refused.status_code == 422
    assert "past" in refused.json()["issue"][0]["diagnostics"]
    assert slot_status(base, staff, slot) == "free"


def test_a_beneficiary_cannot_cancel_inside_the_cutoff_but_staff_can(
    server: tuple[str, str, str],
) -> None:
    base, staff, beneficiary = server
    slot = new_slot(base, staff, days=0.5)
    created = book(base, staff, appointment(slot, days=0.5)).json()
    cancelled = {**created, "status": "cancelled"}
    url = f"{base}/Appointment/{created['id']}"
    refused = httpx.put(url, json=cancelled, headers={**FHIR, **bearer(beneficiary)})
    assert refused.status_code == 422
    assert "hours before" in refused.json()["issue"][0]["diagnostics"]
    assert httpx.put(url, json=cancelled, headers={**FHIR, **bearer(staff)}).status_code == 200
    assert slot_status(base, staff, slot) == "free"


def test_a_beneficiary_books_a_free_slot_for_themselves(server: tuple[str, str, str]) -> None:
    base, staff, beneficiary = server
    slot = new_slot(base, staff, days=8)
    assert book(base, beneficiary, appointment(slot, days=8)).status_code == 201
    assert slot_status(base, staff, slot) == "busy"
