"""The TOL export readers: each row or thread becomes facts, or a reject naming the line, the
field, the value and why."""

from __future__ import annotations

import base64
import io
from datetime import UTC, date, datetime, timedelta, timezone

import orjson
import pytest

from mappings.imports import Reject
from mappings.legacy.codes import MAX_ATTACHMENT_BYTES, NPI, TOL_CANCELLATION_REASON
from mappings.legacy.records import AppointmentFacts, PrescriptionFacts, ThreadFacts
from mappings.legacy.tol import appointments, messages, prescriptions

APPOINTMENT_HEADER = (
    "appointment_id,dod_id,clinic_code,clinic_name,dmis_id,provider_npi,provider_name,start,"
    "duration,type,status,cancellation_reason,comment,last_updated"
)
BOOKED = (
    'A1,1234567890,FP,Family Practice,0123,1234567893,"SMITH, JOHN A",'
    "2026-10-05T08:30:00-05:00,30,ROUTINE,BOOKED,,,2026-10-01T12:00:00Z"
)


def read_appointments(*rows: str, header: str = APPOINTMENT_HEADER) -> list[object]:
    return list(appointments.read(io.StringIO("\n".join([header, *rows]) + "\n")))


def test_an_appointment_row_becomes_facts() -> None:
    [facts] = read_appointments(BOOKED)
    assert isinstance(facts, AppointmentFacts)
    assert facts.appointment_id == "A1" and facts.dod_id == "1234567890"
    assert facts.status == "booked"
    assert facts.start == datetime(2026, 10, 5, 13, 30, tzinfo=UTC)
    assert facts.end == datetime(2026, 10, 5, 14, 0, tzinfo=UTC)
    assert facts.clinic is not None and facts.clinic.key == "0123-FP"
    assert facts.provider is not None and facts.provider.system == NPI
    assert facts.provider.family == "SMITH" and facts.provider.given == ("JOHN", "A")
    assert facts.recorded == datetime(2026, 10, 1, 12, tzinfo=UTC)


def test_columns_may_come_in_any_order_and_optional_ones_may_be_left_out() -> None:
    header = "status,type,duration,start,dmis_id,clinic_code,dod_id,appointment_id,last_updated"
    row = "KEPT,WELLNESS,15,2026-10-05T08:30:00+09:00,0123,PEDS,1234567890,A2,2026-10-06T00:00:00Z"
    [facts] = read_appointments(row, header=header)
    assert isinstance(facts, AppointmentFacts)
    assert facts.status == "fulfilled" and facts.provider is None and facts.comment is None


def test_a_cancelled_appointment_needs_its_reason() -> None:
    cancelled = BOOKED.replace("BOOKED,,", "CANCELLED,,")
    assert read_appointments(cancelled) == [
        Reject(2, "cancellation_reason", "", "required when the status is CANCELLED")
    ]
    [facts] = read_appointments(BOOKED.replace("BOOKED,,", "CANCELLED,WEATHER,"))
    assert isinstance(facts, AppointmentFacts)
    assert facts.cancellation_reason is not None
    assert facts.cancellation_reason.system == TOL_CANCELLATION_REASON
    assert read_appointments(BOOKED.replace("BOOKED,,", "BOOKED,WEATHER,")) == [
        Reject(2, "cancellation_reason", "WEATHER", "only for a CANCELLED appointment")
    ]


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("1234567890", "12345X7890", "dod_id", "a DoD ID (EDIPI) is 10 digits"),
        (",0123,", ",01-3,", "dmis_id", "a DMIS id is 4 capital letters or digits"),
        ("-05:00,30", ",30", "start", "must be a date and time"),
        ("-05:00,30", "-05:00,3", "duration", "must be a whole number 5-720"),
        ("ROUTINE", "SOMEDAY", "type", "unknown code"),
        ("BOOKED", "MAYBE", "status", "unknown code"),
        ("1234567893", "123", "provider_npi", "an NPI is 10 digits"),
        ("A1,", "A 1,", "appointment_id", "must be 1-64 letters"),
    ],
)
def test_a_bad_field_rejects_the_row_naming_it(old: str, new: str, field: str, reason: str) -> None:
    [reject] = read_appointments(BOOKED, BOOKED.replace(old, new, 1))[1:]
    assert isinstance(reject, Reject)
    assert (reject.line, reject.field) == (3, field)
    assert reject.reason.startswith(reason)


def test_a_bad_header_rejects_the_file() -> None:
    assert read_appointments(BOOKED, header=APPOINTMENT_HEADER.replace("dod_id", "edipi")) == [
        Reject(1, "(header)", "", "1 unknown columns (edipi); missing required columns dod_id")
    ]


RX_HEADER = ",".join(c.name for c in prescriptions.COLUMNS)


def rx_row(**values: str) -> str:
    row = {
        "rx_number": "R1",
        "dod_id": "1234567890",
        "drug_name": "Amlodipine 5 MG Oral Tablet",
        "ndc": "0000-0012-30",
        "status": "ACTIVE",
        "written_date": "2026-09-01",
        "expiry_date": "2027-09-01",
        "quantity": "30",
        "quantity_unit": "TAB",
        "refills_authorized": "3",
        "refills_remaining": "2",
        "last_updated": "2026-10-01T12:00:00Z",
    } | values
    return ",".join(row.get(c.name, "") for c in prescriptions.COLUMNS)


def read_rx(*rows: str) -> list[object]:
    return list(prescriptions.read(io.StringIO("\n".join([RX_HEADER, *rows]) + "\n")))


def test_a_prescription_row_becomes_facts_with_a_normalised_ndc() -> None:
    [facts] = read_rx(rx_row())
    assert isinstance(facts, PrescriptionFacts)
    assert facts.ndc == "00000001230"  # 4-4-2 -> 5-4-2
    assert facts.refills_authorized == 3 and facts.refills_remaining == 2
    assert facts.written == date(2026, 9, 1) and facts.stated_status == "active"


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"ndc": "0000001230"}, "ndc", "an NDC is 11 digits"),
        ({"expiry_date": "2026-08-01"}, "expiry_date", "before written_date"),
        ({"refills_remaining": "4"}, "refills_remaining", "more than refills_authorized"),
        ({"renewed_from": "R1"}, "renewed_from", "a prescription cannot renew itself"),
        ({"pharmacy_dmis_id": "0123"}, "pharmacy_code", "pharmacy_dmis_id and pharmacy_code"),
        ({"quantity": "-1"}, "quantity", "must be a positive number"),
        ({"rxnorm": "abc"}, "rxnorm", "must be an RxNorm concept id"),
    ],
)
def test_a_bad_prescription_row_is_rejected(
    values: dict[str, str], field: str, reason: str
) -> None:
    [reject] = read_rx(rx_row(**values))
    assert isinstance(reject, Reject) and reject.field == field
    assert reject.reason.startswith(reason)


def thread(**changes: object) -> dict[str, object]:
    message = {
        "message_id": "M1",
        "sender": {"type": "patient", "dod_id": "1234567890"},
        "recipients": [{"type": "clinic", "dmis_id": "0123", "clinic_code": "FP"}],
        "sent": "2026-10-01T12:00:00Z",
        "read": "2026-10-01T13:00:00Z",
        "body": "Hello",
        "attachments": [],
    }
    reply = {
        "message_id": "M2",
        "sender": {"type": "provider", "npi": "1234567893", "name": "SMITH, JOHN"},
        "recipients": [{"type": "patient", "dod_id": "1234567890"}],
        "sent": "2026-10-02T12:00:00Z",
        "body": "Hi",
    }
    document: dict[str, object] = {
        "thread_id": "T1",
        "dod_id": "1234567890",
        "subject": "Refill",
        "messages": [message, reply],
    }
    for path, value in changes.items():
        *parents, last = path.split("__")
        node: object = document
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value  # type: ignore[index]
    return document


def read_threads(*documents: dict[str, object]) -> list[object]:
    text = "\n".join(orjson.dumps(d).decode() for d in documents) + "\n"
    return list(messages.read(io.StringIO(text)))


def test_a_thread_becomes_facts_with_replies_linked() -> None:
    [facts] = read_threads(thread())
    assert isinstance(facts, ThreadFacts)
    first, second = facts.messages
    assert second.in_reply_to == "M1" and first.in_reply_to is None
    assert second.read is None
    assert first.sent == datetime(2026, 10, 1, 12, tzinfo=timezone(timedelta(0)))


def _attachment(data: bytes, content_type: str = "application/pdf", **more: object) -> object:
    return {
        "file_name": "a.pdf",
        "content_type": content_type,
        "data": base64.b64encode(data).decode(),
    } | more


@pytest.mark.parametrize(
    ("changes", "field", "reason"),
    [
        (
            {"messages__0__attachments": [_attachment(b"x", "application/x-msdownload")]},
            "messages[0].attachments[0].content_type",
            "not an allowed attachment type",
        ),
        (
            {"messages__0__attachments": [_attachment(b"x" * (MAX_ATTACHMENT_BYTES + 1))]},
            "messages[0].attachments[0].data",
            f"{MAX_ATTACHMENT_BYTES + 1} bytes; an attachment may have at most",
        ),
        (
            {"messages__0__attachments": [_attachment(b"abc", size=4)]},
            "messages[0].attachments[0].size",
            "the data has 3 bytes",
        ),
        (
            {
                "messages__0__attachments": [
                    {"file_name": "a", "content_type": "text/plain", "data": "@@@"}
                ]
            },
            "messages[0].attachments[0].data",
            "not base64",
        ),
        ({"messages__1__in_reply_to": "M9"}, "messages[1].in_reply_to", "not an earlier message"),
        ({"messages__1__message_id": "M1"}, "messages[1].message_id", "repeated in the thread"),
        ({"messages__0__read": "2026-09-01T00:00:00Z"}, "messages[0].read", "before it was sent"),
        ({"messages__0__sender": {"type": "robot"}}, "messages[0].sender.type", "unknown code"),
        ({"messages__0__body": ""}, "messages[0].body", "a message needs a body"),
        ({"dod_id": "123"}, "dod_id", "a DoD ID (EDIPI) is 10 digits"),
        ({"messages": []}, "messages", "a thread has at least one message"),
    ],
)
def test_a_bad_thread_is_rejected_naming_the_message_and_field(
    changes: dict[str, object], field: str, reason: str
) -> None:
    [reject] = read_threads(thread(**changes))
    assert isinstance(reject, Reject) and reject.line == 1
    assert reject.field == field
    assert reject.reason.startswith(reason), reject.reason


def test_a_line_that_is_not_json_is_rejected_and_the_rest_read() -> None:
    text = "{not json\n" + orjson.dumps(thread()).decode() + "\n"
    first, second = messages.read(io.StringIO(text))
    assert isinstance(first, Reject) and first.line == 1 and first.field == "(line)"
    assert isinstance(second, ThreadFacts) and second.line == 2
