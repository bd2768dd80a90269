"""Medication renewal over HTTP with real tokens: a beneficiary asks to renew a prescription
that has no refills left or has expired, once; staff approve (a new order, closing the
request and superseding the original) or deny (saying why)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server
from fhir_server.workflows import events
from fhir_server.workflows.renewal import LAST_FILL, REFILLS_REMAINING, expired
from mappings.legacy import codes
from smart_auth.proxy import Link
from smart_auth.records import Role
from smart_auth.testing import issue_token

FHIR = {"content-type": "application/fhir+json"}
ATORVASTATIN = {
    "coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "617312"}],
    "text": "Atorvastatin 10 mg tablet",
}


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def send(self, name: str, payload: dict[str, Any]) -> None:
        self.seen.append((name, payload))


@dataclass(frozen=True)
class Server:
    staff: httpx.Client
    patient: httpx.Client
    events: Recorder


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


def day(days: int) -> str:
    return (datetime.now(UTC) + timedelta(days=days)).date().isoformat()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('renewal')}/renewal.db"
    staff_token = issue_token(database_url, scope="system/*.cruds")
    patient_token = issue_token(
        database_url,
        scope="user/*.cruds",
        role=Role.BENEFICIARY,
        username="sponsor",
        fhir_user="Patient/pat",
        links=(Link("pat", "self"),),
    )
    recorder = Recorder()
    events.add_sink(recorder)
    with running_server(Settings(database_url=database_url)) as base:
        staff = httpx.Client(base_url=base + "/", headers={**FHIR, **bearer(staff_token)})
        patient = httpx.Client(base_url=base + "/", headers={**FHIR, **bearer(patient_token)})
        for id in ("pat", "other"):
            resource = {"resourceType": "Patient", "id": id}
            assert staff.put(f"Patient/{id}", json=resource).status_code == 201
        try:
            yield Server(staff, patient, recorder)
        finally:
            staff.close()
            patient.close()
            events.remove_sink(recorder)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def prescription(
    server: Server,
    *,
    repeats: int = 3,
    ends: str | None = None,
    subject: str = "Patient/pat",
    **more: Any,
) -> str:
    """A prescription (an active order by default), written by staff; its id."""
    dispense: dict[str, Any] = {"numberOfRepeatsAllowed": repeats}
    if ends is not None:
        dispense["validityPeriod"] = {"start": day(-400), "end": ends}
    body = {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": ATORVASTATIN,
        "subject": ref(subject),
        "requester": ref("Practitioner/doc"),
        "dosageInstruction": [{"text": "Take 1 tablet by mouth daily"}],
        "dispenseRequest": dispense,
        **more,
    }
    created = server.staff.post("MedicationRequest", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def dispensed(server: Server, rx: str, times: int, status: str = "completed") -> None:
    for _ in range(times):
        body = {
            "resourceType": "MedicationDispense",
            "status": status,
            "medicationCodeableConcept": ATORVASTATIN,
            "subject": ref("Patient/pat"),
            "authorizingPrescription": [ref(f"MedicationRequest/{rx}")],
        }
        assert server.staff.post("MedicationDispense", json=body).status_code == 201


def renewal(rx: str, **more: Any) -> dict[str, Any]:
    """What a portal sends: the rest is filled in from the prescription."""
    return {
        "resourceType": "MedicationRequest",
        "status": "active",
        "intent": "proposal",
        "subject": ref("Patient/pat"),
        "priorPrescription": ref(f"MedicationRequest/{rx}"),
        **more,
    }


def ask(client: httpx.Client, rx: str, **more: Any) -> httpx.Response:
    return client.post("MedicationRequest", json=renewal(rx, **more))


def asked(client: httpx.Client, rx: str) -> dict[str, Any]:
    answer = ask(client, rx)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def refusal(answer: httpx.Response, status: int = 422) -> str:
    assert answer.status_code == status, answer.text
    issue = answer.json()["issue"][0]
    if status == 422:
        assert issue["code"] == "business-rule"
    return str(issue["diagnostics"])


def read(server: Server, rx: str) -> dict[str, Any]:
    return dict(server.staff.get(f"MedicationRequest/{rx}").json())


# -- asking ----------------------------------------------------------------------------------------


def test_a_beneficiary_asks_to_renew_an_expired_prescription(server: Server) -> None:
    rx = prescription(server, ends=day(-1))
    request = asked(server.patient, rx)
    assert request["medicationCodeableConcept"] == ATORVASTATIN  # filled from the original
    assert request["dosageInstruction"] == [{"text": "Take 1 tablet by mouth daily"}]
    assert request["requester"] == ref("Patient/pat")
    assert request["authoredOn"].startswith(day(0)[:4])


def test_a_beneficiary_asks_once_every_fill_was_dispensed(server: Server) -> None:
    rx = prescription(server, repeats=1, ends=day(30))
    dispensed(server, rx, 2)
    asked(server.patient, rx)


def test_refills_left_by_the_dispense_history_refuse_the_request(server: Server) -> None:
    rx = prescription(server, repeats=2, ends=day(30))
    dispensed(server, rx, 1)
    dispensed(server, rx, 2, status="in-progress")  # not fills yet
    assert "2 fills left" in refusal(ask(server.patient, rx))


def test_the_legacy_refill_count_says_none_are_left(server: Server) -> None:
    legacy = [
        {"url": REFILLS_REMAINING, "valueUnsignedInt": 0},
        {"url": LAST_FILL, "valueDate": day(-20)},
    ]
    rx = prescription(server, repeats=5, ends=day(200), extension=legacy)
    asked(server.patient, rx)


def test_the_legacy_refill_count_says_some_are_left(server: Server) -> None:
    legacy = [
        {"url": REFILLS_REMAINING, "valueUnsignedInt": 2},
        {"url": LAST_FILL, "valueDate": day(-20)},
    ]
    rx = prescription(server, repeats=5, ends=day(200), extension=legacy)
    assert "2 fills left" in refusal(ask(server.patient, rx))


def test_a_prescription_without_history_has_all_its_fills_left(server: Server) -> None:
    rx = prescription(server, repeats=3, ends=day(30))
    assert "4 fills left" in refusal(ask(server.patient, rx))


def test_a_completed_prescription_can_be_renewed(server: Server) -> None:
    rx = prescription(server, repeats=3, status="completed")
    asked(server.patient, rx)


@pytest.mark.parametrize("status", ["stopped", "cancelled"])
def test_a_stopped_or_cancelled_prescription_cannot_be_renewed(server: Server, status: str) -> None:
    rx = prescription(server, ends=day(-1), status=status)
    assert f"MedicationRequest/{rx} was" in refusal(ask(server.patient, rx))


def test_asking_twice_is_refused_while_the_first_waits(server: Server) -> None:
    rx = prescription(server, ends=day(-1))
    first = asked(server.patient, rx)
    said = refusal(ask(server.patient, rx))
    assert f"MedicationRequest/{first['id']}" in said
    assert "waiting" in said


def test_asks_racing_for_one_prescription_store_one_request(server: Server) -> None:
    rx = prescription(server, ends=day(-1))
    barrier = threading.Barrier(8)
    answers: list[int] = []

    def racer() -> None:
        with httpx.Client(
            base_url=str(server.patient.base_url), headers=server.patient.headers
        ) as c:
            barrier.wait()
            answers.append(ask(c, rx).status_code)

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers.count(201) == 1
    assert set(answers) <= {201, 409, 422}
    open_ones = server.staff.get(
        "MedicationRequest",
        params={"prior-prescription": f"MedicationRequest/{rx}", "intent": "proposal"},
    )
    assert open_ones.json()["total"] == 1


def test_staff_may_ask_early(server: Server) -> None:
    rx = prescription(server, repeats=3, ends=day(30))
    asked(server.staff, rx)


def test_another_patients_prescription_is_not_known(server: Server) -> None:
    rx = prescription(server, ends=day(-1), subject="Patient/other")
    assert "not a prescription known here" in refusal(ask(server.patient, rx))


def test_asking_publishes_renewal_requested(server: Server) -> None:
    rx = prescription(server, ends=day(-1))
    request = asked(server.patient, rx)
    assert (
        "renewal.requested",
        {
            "proposal": f"MedicationRequest/{request['id']}",
            "prescription": f"MedicationRequest/{rx}",
            "subject": "Patient/pat",
        },
    ) in server.events.seen


# -- what a beneficiary may not do -----------------------------------------------------------------


def test_a_beneficiary_cannot_write_a_prescription(server: Server) -> None:
    order = {**renewal(prescription(server)), "intent": "order"}
    order["medicationCodeableConcept"] = ATORVASTATIN
    assert "written by the care team" in refusal(
        server.patient.post("MedicationRequest", json=order), 403
    )


def test_a_beneficiary_cannot_add_refills(server: Server) -> None:
    rx = prescription(server, repeats=0)
    more = {**read(server, rx), "dispenseRequest": {"numberOfRepeatsAllowed": 99}}
    refusal(server.patient.put(f"MedicationRequest/{rx}", json=more), 403)


def test_a_beneficiary_cannot_approve_their_own_request(server: Server) -> None:
    request = asked(server.patient, prescription(server, ends=day(-1)))
    approved = {**request, "status": "completed"}
    refusal(server.patient.put(f"MedicationRequest/{request['id']}", json=approved), 403)


def test_a_beneficiary_withdraws_their_request(server: Server) -> None:
    request = asked(server.patient, prescription(server, ends=day(-1)))
    withdrawn = {**request, "status": "cancelled"}
    answer = server.patient.put(f"MedicationRequest/{request['id']}", json=withdrawn)
    assert answer.status_code == 200, answer.text


# -- deciding --------------------------------------------------------------------------------------


def test_approving_closes_the_request_and_supersedes_the_original(server: Server) -> None:
    rx = prescription(server, ends=day(-1))
    request = asked(server.patient, rx)
    order = {**read(server, rx), "authoredOn": day(0)}
    del order["id"], order["meta"]
    order["dispenseRequest"] = {"numberOfRepeatsAllowed": 3}
    order["priorPrescription"] = ref(f"MedicationRequest/{rx}")
    created = server.staff.post("MedicationRequest", json=order)
    assert created.status_code == 201, created.text
    renewed = created.json()
    assert renewed["basedOn"] == [ref(f"MedicationRequest/{request['id']}")]
    assert read(server, request["id"])["status"] == "completed"
    original = read(server, rx)
    assert original["status"] == "completed"
    assert original["statusReason"]["text"] == f"renewed as MedicationRequest/{renewed['id']}"
    assert (
        "renewal.decided",
        {
            "proposal": f"MedicationRequest/{request['id']}",
            "prescription": f"MedicationRequest/{rx}",
            "decision": "approved",
            "order": f"MedicationRequest/{renewed['id']}",
        },
    ) in server.events.seen


def test_denying_without_a_reason_is_refused(server: Server) -> None:
    request = asked(server.patient, prescription(server, ends=day(-1)))
    denied = {**request, "status": "cancelled"}
    said = refusal(server.staff.put(f"MedicationRequest/{request['id']}", json=denied))
    assert "statusReason.text" in said


def test_a_denial_says_why_to_the_patient(server: Server) -> None:
    rx = prescription(server, ends=day(-1))
    request = asked(server.patient, rx)
    why = {"text": "Please book a visit first: we need new lab results."}
    denied = {**request, "status": "cancelled", "statusReason": why}
    assert server.staff.put(f"MedicationRequest/{request['id']}", json=denied).status_code == 200
    seen = server.patient.get(f"MedicationRequest/{request['id']}").json()
    assert (seen["status"], seen["statusReason"]) == ("cancelled", why)
    assert read(server, rx)["status"] == "active"  # the original is left as it was
    decided = {
        "proposal": f"MedicationRequest/{request['id']}",
        "prescription": f"MedicationRequest/{rx}",
        "decision": "denied",
    }
    assert ("renewal.decided", decided) in server.events.seen


def test_a_new_request_may_follow_a_decided_one(server: Server) -> None:
    request = asked(server.patient, prescription(server, ends=day(-1)))
    why = {"text": "Call the clinic."}
    denied = {**request, "status": "cancelled", "statusReason": why}
    assert server.staff.put(f"MedicationRequest/{request['id']}", json=denied).status_code == 200
    asked(server.patient, request["priorPrescription"]["reference"].split("/")[1])


# -- the rules' own pieces -------------------------------------------------------------------------


def test_expiry_counts_a_date_as_the_whole_day() -> None:
    now = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)
    for end, gone in [("2026-03-10", False), ("2026-03-09", True), ("2026-03", False)]:
        assert expired({"dispenseRequest": {"validityPeriod": {"end": end}}}, now) is gone
    assert expired({"dispenseRequest": {"validityPeriod": {"end": "2026-03-10T22:00:00Z"}}}, now)


def test_the_legacy_extensions_are_the_ones_the_import_writes() -> None:
    assert REFILLS_REMAINING == codes.REFILLS_REMAINING_EXTENSION
    assert LAST_FILL == codes.LAST_FILL_EXTENSION
