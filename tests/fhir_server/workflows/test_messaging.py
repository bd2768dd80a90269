"""Secure messaging over HTTP with real tokens: a beneficiary writes only to their patients'
care teams, the server stamps ``sent``, sent messages are immutable except for marking them
read, attachments are limited, threads and unread counts are one search away."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from fhir_server.clock import parse_instant
from fhir_server.config import Settings
from fhir_server.testing import running_server
from fhir_server.workflows import events
from fhir_server.workflows.messaging import MAX_ATTACHMENT_BYTES
from smart_auth.proxy import Link
from smart_auth.records import Role
from smart_auth.testing import issue_token

FHIR = {"content-type": "application/fhir+json"}
THREADS = "urn:test:thread"


class Recorder:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    async def send(self, name: str, payload: dict[str, Any]) -> None:
        self.seen.append((name, payload))


@dataclass(frozen=True)
class Server:
    base: str
    staff: httpx.Client
    patient: httpx.Client
    events: Recorder


def ref(reference: str) -> dict[str, str]:
    return {"reference": reference}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('messaging')}/messaging.db"
    staff_token = issue_token(database_url, scope="system/*.cruds")
    born = f"{datetime.now(UTC).year - 6}-01-01"
    patient_token = issue_token(
        database_url,
        scope="user/*.cruds",
        role=Role.BENEFICIARY,
        username="sponsor",
        fhir_user="Patient/pat",
        links=(Link("pat", "self"), Link("kid", "dependent", born)),
    )
    recorder = Recorder()
    events.add_sink(recorder)
    with running_server(Settings(database_url=database_url)) as base:
        staff = httpx.Client(base_url=base + "/", headers={**FHIR, **bearer(staff_token)})
        patient = httpx.Client(base_url=base + "/", headers={**FHIR, **bearer(patient_token)})
        ended = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
        seed: list[dict[str, Any]] = [
            {"resourceType": "Patient", "id": "pat"},
            {"resourceType": "Patient", "id": "kid", "birthDate": born},
            {"resourceType": "Patient", "id": "other"},
            {"resourceType": "Practitioner", "id": "doc"},
            {"resourceType": "Practitioner", "id": "nurse"},
            {"resourceType": "Practitioner", "id": "stranger"},
            {
                "resourceType": "CareTeam",
                "id": "team-pat",
                "status": "active",
                "subject": ref("Patient/pat"),
                "participant": [
                    {"member": ref("Practitioner/doc")},
                    {"member": ref("Practitioner/nurse"), "period": {"end": ended}},
                ],
            },
            {
                "resourceType": "CareTeam",
                "id": "team-old",
                "status": "inactive",
                "subject": ref("Patient/pat"),
            },
            {"resourceType": "CareTeam", "id": "team-kid", "subject": ref("Patient/kid")},
            {
                "resourceType": "CareTeam",
                "id": "team-other",
                "status": "active",
                "subject": ref("Patient/other"),
                "participant": [{"member": ref("Practitioner/stranger")}],
            },
        ]
        for resource in seed:
            url = f"{resource['resourceType']}/{resource['id']}"
            assert staff.put(url, json=resource).status_code == 201
        try:
            yield Server(base, staff, patient, recorder)
        finally:
            staff.close()
            patient.close()
            events.remove_sink(recorder)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def message(
    *, recipient: str = "CareTeam/team-pat", subject: str = "Patient/pat", **more: Any
) -> dict[str, Any]:
    return {
        "resourceType": "Communication",
        "status": "completed",
        "subject": ref(subject),
        "recipient": [ref(recipient)],
        "payload": [{"contentString": "Could you explain my cholesterol result?"}],
        **more,
    }


def sent_by(client: httpx.Client, body: dict[str, Any]) -> dict[str, Any]:
    answer = client.post("Communication", json=body)
    assert answer.status_code == 201, answer.text
    return dict(answer.json())


def diagnostics(answer: httpx.Response) -> str:
    return str(answer.json()["issue"][0]["diagnostics"])


def to_patient(server: Server, patient: str = "pat", **more: Any) -> dict[str, Any]:
    """A message from the care team to ``patient``, sent by staff."""
    body = message(recipient=f"Patient/{patient}", subject=f"Patient/{patient}", **more)
    return sent_by(server.staff, {**body, "sender": ref("Practitioner/doc")})


# -- what a beneficiary may send ------------------------------------------------------------------


def test_a_beneficiary_writes_to_their_care_team_and_the_server_sets_sent(server: Server) -> None:
    before = datetime.now(UTC) - timedelta(seconds=5)
    stored = sent_by(server.patient, message(sent="2001-01-01T00:00:00Z"))
    assert before <= parse_instant(stored["sent"]) <= datetime.now(UTC) + timedelta(seconds=5)
    assert stored["sender"] == ref("Patient/pat")  # the token's fhirUser, filled in


def test_a_beneficiary_writes_to_a_practitioner_on_the_care_team(server: Server) -> None:
    sent_by(server.patient, message(recipient="Practitioner/doc"))


def test_a_proxy_writes_to_their_young_dependents_care_team(server: Server) -> None:
    sent_by(server.patient, message(recipient="CareTeam/team-kid", subject="Patient/kid"))


@pytest.mark.parametrize(
    "recipient",
    [
        pytest.param("Practitioner/stranger", id="practitioner-off-the-team"),
        pytest.param("CareTeam/team-other", id="another-patients-team"),
        pytest.param("CareTeam/team-old", id="inactive-team"),
        pytest.param("Practitioner/nurse", id="membership-ended"),
        pytest.param("Patient/pat", id="a-patient"),
        pytest.param("CareTeam/team-kid", id="the-team-of-another-subject"),
    ],
)
def test_a_beneficiary_cannot_write_beyond_the_patients_care_team(
    server: Server, recipient: str
) -> None:
    refused = server.patient.post("Communication", json=message(recipient=recipient))
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["code"] == "business-rule"
    assert "not a care team of Patient/pat" in diagnostics(refused)


def test_a_beneficiary_cannot_save_a_draft(server: Server) -> None:
    refused = server.patient.post("Communication", json=message(status="preparation"))
    assert refused.status_code == 422
    assert "status is completed" in diagnostics(refused)


def test_a_beneficiary_cannot_send_as_someone_else(server: Server) -> None:
    body = message(sender=ref("Practitioner/doc"))
    refused = server.patient.post("Communication", json=body)
    assert refused.status_code == 422
    assert "sender" in diagnostics(refused)


def test_a_message_about_a_patient_beyond_reach_is_forbidden_before_any_rule(
    server: Server,
) -> None:
    body = message(recipient="CareTeam/team-other", subject="Patient/other")
    assert server.patient.post("Communication", json=body).status_code == 403


def test_a_beneficiary_cannot_reply_to_a_message_they_cannot_see(server: Server) -> None:
    hidden = to_patient(server, "other")
    body = message(inResponseTo=[ref(f"Communication/{hidden['id']}")])
    refused = server.patient.post("Communication", json=body)
    assert refused.status_code == 422
    assert "not a message you can see" in diagnostics(refused)


def test_staff_write_to_anyone_and_keep_the_sent_time_they_give(server: Server) -> None:
    stored = to_patient(server, sent="2024-05-01T12:00:00Z")
    assert stored["sent"] == "2024-05-01T12:00:00Z"


def test_staff_may_keep_a_draft_and_send_it_later(server: Server) -> None:
    draft = sent_by(server.staff, message(status="preparation", recipient="Patient/pat"))
    assert "sent" not in draft
    answer = server.staff.put(f"Communication/{draft['id']}", json={**draft, "status": "completed"})
    assert answer.status_code == 200
    assert "sent" in answer.json()


# -- sent messages are immutable -------------------------------------------------------------------


def test_a_sent_message_cannot_be_changed_even_by_staff(server: Server) -> None:
    stored = sent_by(server.patient, message())
    changed = {**stored, "payload": [{"contentString": "something else"}]}
    refused = server.staff.put(f"Communication/{stored['id']}", json=changed)
    assert refused.status_code == 422
    assert refused.json()["issue"][0]["code"] == "business-rule"
    assert "cannot be changed" in diagnostics(refused)


def test_a_sent_message_cannot_be_deleted_even_by_staff(server: Server) -> None:
    stored = sent_by(server.patient, message())
    refused = server.staff.delete(f"Communication/{stored['id']}")
    assert refused.status_code == 409
    assert "cannot be deleted" in diagnostics(refused)
    assert server.staff.get(f"Communication/{stored['id']}").status_code == 200


def test_the_recipient_marks_a_message_read(server: Server) -> None:
    stored = to_patient(server)
    read = {**stored, "received": "2001-01-01T00:00:00Z"}
    answer = server.patient.put(f"Communication/{stored['id']}", json=read)
    assert answer.status_code == 200, answer.text
    assert answer.json()["received"] > stored["sent"]  # the server's clock


def test_marking_read_with_another_change_is_refused(server: Server) -> None:
    stored = to_patient(server)
    read = {**stored, "received": "2030-01-01T00:00:00Z", "payload": [{"contentString": "x"}]}
    assert server.patient.put(f"Communication/{stored['id']}", json=read).status_code == 422


def test_only_a_recipient_or_staff_marks_a_message_read(server: Server) -> None:
    stored = sent_by(server.patient, message())
    read = {**stored, "received": "2030-01-01T00:00:00Z"}
    url = f"Communication/{stored['id']}"
    assert server.patient.put(url, json=read).status_code == 403
    assert server.staff.put(url, json=read).status_code == 200


# -- attachments -----------------------------------------------------------------------------------


def with_attachment(**attachment: Any) -> dict[str, Any]:
    body = message()
    body["payload"] = [*body["payload"], {"contentAttachment": attachment}]
    return body


def test_a_pdf_attachment_is_taken(server: Server) -> None:
    data = base64.b64encode(b"%PDF-1.4 letter").decode()
    sent_by(server.patient, with_attachment(contentType="application/pdf", data=data))


@pytest.mark.parametrize(
    ("attachment", "said"),
    [
        pytest.param(
            {"contentType": "application/zip", "data": "UEsDBA=="}, "'application/zip'", id="zip"
        ),
        pytest.param({"data": "aGVsbG8="}, "no contentType", id="no-content-type"),
        pytest.param(
            {"contentType": "image/png", "url": "https://x.example/a.png", "size": 6_000_000},
            "6000000 bytes",
            id="declared-size",
        ),
    ],
)
def test_an_attachment_outside_the_limits_is_refused(
    server: Server, attachment: dict[str, Any], said: str
) -> None:
    refused = server.patient.post("Communication", json=with_attachment(**attachment))
    assert refused.status_code == 422
    assert said in diagnostics(refused)


def test_an_attachment_whose_data_is_over_5_mb_is_refused(server: Server) -> None:
    data = base64.b64encode(bytes(MAX_ATTACHMENT_BYTES + 1)).decode()
    body = with_attachment(contentType="text/plain", data=data, size=10)
    refused = server.staff.post("Communication", json=body)
    assert refused.status_code == 422
    assert f"{MAX_ATTACHMENT_BYTES + 1} bytes" in diagnostics(refused)


# -- threads, unread counts, events ----------------------------------------------------------------


def test_a_thread_is_one_search_in_order_and_replies_join_it(server: Server) -> None:
    topic = {"coding": [{"system": THREADS, "code": "t-1"}], "text": "Lab results"}
    first = to_patient(server, topic=topic, sent="2020-01-01T09:00:00Z")
    reply = sent_by(server.patient, message(inResponseTo=[ref(f"Communication/{first['id']}")]))
    assert reply["topic"] == topic  # the thread's, taken from the message answered
    answer = to_patient(server, inResponseTo=[ref(f"Communication/{reply['id']}")])
    earlier = to_patient(server, topic=topic, sent="2019-12-31T09:00:00Z")  # recorded late
    thread = server.staff.get("Communication", params={"topic": f"{THREADS}|t-1", "_sort": "sent"})
    ids = [entry["resource"]["id"] for entry in thread.json()["entry"]]
    assert ids == [earlier["id"], first["id"], reply["id"], answer["id"]]
    replies = server.patient.get(
        "Communication", params={"in-response-to": f"Communication/{first['id']}"}
    )
    assert [entry["resource"]["id"] for entry in replies.json()["entry"]] == [reply["id"]]


def test_unread_messages_of_a_patient_are_one_count_away(server: Server) -> None:
    unread = {"recipient": "Patient/kid", "received:missing": "true", "_summary": "count"}
    first, _ = to_patient(server, "kid"), to_patient(server, "kid")
    assert server.patient.get("Communication", params=unread).json()["total"] == 2
    read = {**first, "received": "2030-01-01T00:00:00Z"}
    assert server.patient.put(f"Communication/{first['id']}", json=read).status_code == 200
    assert server.patient.get("Communication", params=unread).json()["total"] == 1


def test_sending_publishes_message_sent(server: Server) -> None:
    stored = sent_by(server.patient, message())
    reference = f"Communication/{stored['id']}"
    [payload] = [p for name, p in server.events.seen if p.get("communication") == reference]
    assert ("message.sent", payload) in server.events.seen
    assert payload == {
        "communication": reference,
        "subject": "Patient/pat",
        "sender": "Patient/pat",
        "recipients": "CareTeam/team-pat",
    }
