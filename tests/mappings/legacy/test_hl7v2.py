"""HL7 v2 messages into facts: every shared sample maps or is rejected with its reason, and the
real-world quirks (escapes, repetitions, Z-segments, local times, missing fields, ``""``, BOMs,
any line ending, batch envelopes) are read as the README says."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from mappings.imports import Reject
from mappings.legacy.codes import CHCS_PROVIDER, NPI, V2_0276
from mappings.legacy.hl7v2.ack import ack
from mappings.legacy.hl7v2.read import read_lines, read_message, split_lines
from mappings.legacy.records import (
    CLEAR,
    AppointmentFacts,
    DemographicsFacts,
    MergeFacts,
    PrescriptionFacts,
)

from .support import SHARED

HL7 = SHARED / "hl7v2"
NO_DOD_ID = "no DoD ID (EDIPI)"
EXPECTED = {
    # sample: (field of the reject, start of its reason) without a DoD ID in PID-3
    "lfh-OMP-O09-full-example.hl7": ("MSH-9", "not imported; supported:"),
    "lfh-OMP-O09-multiple-orders.hl7": ("MSH-9", "not imported; supported:"),
    "msft-ADT-A04-01.hl7": ("PID-3", NO_DOD_ID),
    "msft-ADT-A04-02.hl7": ("PID-3", NO_DOD_ID),
    "msft-ADT-A08-01.hl7": ("PID-3", NO_DOD_ID),
    "msft-ADT-A28-01.hl7": ("PID-3", NO_DOD_ID),
    "msft-ADT04-23.hl7": ("PID-3", NO_DOD_ID),
    "msft-ADT04-251.hl7": ("PID-3", NO_DOD_ID),
    "msft-RDE-O11-01.hl7": ("PID-3", NO_DOD_ID),
    "msft-RDS-O13-01.hl7": ("PID-3", NO_DOD_ID),
    "msft-SIU-S12-01.hl7": ("PID-3", NO_DOD_ID),
    "msft-SIU-S14-01.hl7": ("PID-3", NO_DOD_ID),
    "msft-SIU-S15-01.hl7": ("PID-3", NO_DOD_ID),
    "python-hl7-ADT-A01-insurance-v23.hl7": ("MSH-9", "not imported; supported:"),
}
DOD_ID = "1234567890"


def sample(name: str) -> str:
    path = HL7 / name
    if not path.exists():
        pytest.skip(f"shared data not available: {path}")
    with path.open(encoding="utf-8") as stream:
        [(_, text)] = list(split_lines(stream))
    return text


def with_dod_id(text: str, dod_id: str = DOD_ID) -> str:
    """``text`` with the DoD ID added to PID-3 as a CHCS feed carries it."""
    segments = text.split("\r")
    for i, segment in enumerate(segments):
        if segment.startswith("PID|"):
            fields = segment.split("|") + [""] * 4
            fields[3] = "~".join(x for x in (fields[3], f"{dod_id}^^^USDOD^NI") if x)
            segments[i] = "|".join(fields).rstrip("|")
    return "\r".join(segments)


def test_every_shared_sample_is_covered() -> None:
    if not HL7.exists():
        pytest.skip("shared data not available")
    assert sorted(p.name for p in HL7.glob("*.hl7")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_is_read_or_rejected_with_a_reason(name: str) -> None:
    [result] = read_message(sample(name))
    field, reason = EXPECTED[name]
    assert isinstance(result, Reject)
    assert result.line == 1 and result.field == field
    assert result.reason.startswith(reason)
    assert "123456789^^^USSSA" not in result.value  # an SSN (USSSA^SS) is never shown


def test_the_sample_appointments_map_once_the_patient_has_a_dod_id() -> None:
    [booked] = read_message(with_dod_id(sample("msft-SIU-S12-01.hl7")))
    [modified] = read_message(with_dod_id(sample("msft-SIU-S14-01.hl7")))
    [cancelled] = read_message(with_dod_id(sample("msft-SIU-S15-01.hl7")))
    assert isinstance(booked, AppointmentFacts)
    assert isinstance(modified, AppointmentFacts) and isinstance(cancelled, AppointmentFacts)
    plus_0215 = timezone(timedelta(hours=2, minutes=15))
    assert booked.appointment_id == "36996"  # SCH-2, the filler's id
    assert booked.status == "booked" and cancelled.status == "cancelled"
    assert booked.start == datetime(2021, 9, 24, 9, 30, tzinfo=plus_0215)  # TQ1-7
    assert booked.minutes == 50  # TQ1-8 - TQ1-7 (SCH-9/10 say 60 s: TQ1 wins)
    assert booked.kind is not None and (booked.kind.system, booked.kind.code) == (
        V2_0276,
        "EMERGENCY",
    )
    assert booked.provider is not None and booked.provider.system == CHCS_PROVIDER
    assert booked.provider.value == "1210" and booked.provider.family == "GE"
    assert booked.clinic is not None and booked.clinic.key is None  # no DMIS id: name only
    assert booked.comment == "Appointment booked for emergency procedure"
    assert modified.clinic is not None and modified.clinic.name == "055 Room02 GH Clinic"
    assert modified.recorded < cancelled.recorded  # MSH-7 orders them


def test_the_sample_pharmacy_messages_map_once_the_patient_has_a_dod_id() -> None:
    [order] = read_message(with_dod_id(sample("msft-RDE-O11-01.hl7")))
    [dispense] = read_message(with_dod_id(sample("msft-RDS-O13-01.hl7")))
    assert isinstance(order, PrescriptionFacts) and isinstance(dispense, PrescriptionFacts)
    assert order.stated_status == "active"  # ORC-1 NW
    assert order.ndc is None  # "0143963401": 10 digits without hyphens is no NDC
    assert order.drug_name.startswith("200 ML BAG : NICARDIPINE")
    assert order.sig is not None and len(order.sig.splitlines()) == 3  # RXE-7 repetitions
    assert dispense.rx_number == "PN12345" and dispense.last_fill == date(2020, 12, 12)
    assert dispense.refills_remaining == 1 and dispense.quantity == Decimal(6)


def test_the_sample_adt_messages_map_once_the_patient_has_a_dod_id() -> None:
    [update] = read_message(with_dod_id(sample("msft-ADT04-23.hl7")))
    assert isinstance(update, DemographicsFacts)
    assert update.event == "A04" and update.gender == "male"
    assert update.birth_date == date(1985, 1, 1)
    assert isinstance(update.telecom, tuple) and len(update.telecom) == 2  # PID-13 repeats
    [short] = read_message(with_dod_id(sample("msft-ADT04-251.hl7")))
    assert isinstance(short, DemographicsFacts)
    assert short.addresses is None and short.telecom is None  # not sent: kept as stored


MSH = "MSH|^~\\&|CHCS|0123|MHS|MHS|20261001083000-0500||{type}|C1|P|2.4"
PID = f"PID|1||{DOD_ID}^^^USDOD^NI||DOE^JANE||19900101|F"


NPI_XCN = "1234567893^SMITH^ANN^^^^^^^^^^NPI"


def seg(name: str, fields: dict[int, str]) -> str:
    values = [name] + [""] * max(fields)
    for number, value in fields.items():
        values[number] = value
    return "|".join(values)


def message(type: str, *segments: str, msh: str = MSH) -> str:
    return "\r".join([msh.format(type=type), *segments])


def test_escape_sequences_and_repetitions_are_decoded() -> None:
    text = message(
        "ADT^A08",
        "EVN|A08|20261001083000",
        PID.replace("DOE^JANE", "O\\T\\BRIEN^JANE~SMITH^JANE^^^^^M")
        + "|||1 Main St\\F\\Apt 2^^Fort Hood\\S\\Area^TX^76544^US^H",
    )
    [update] = read_message(text)
    assert isinstance(update, DemographicsFacts)
    assert isinstance(update.names, tuple)
    assert [n.family for n in update.names] == ["O&BRIEN", "SMITH"]
    assert update.names[1].use == "maiden"
    assert isinstance(update.addresses, tuple)
    assert update.addresses[0].lines == ("1 Main St|Apt 2",)
    assert update.addresses[0].city == "Fort Hood^Area"


def test_explicit_nulls_clear_and_missing_fields_keep() -> None:
    [update] = read_message(message("ADT^A31", "EVN|A31|", PID + '|||""||""'))
    assert isinstance(update, DemographicsFacts)
    assert update.addresses == CLEAR and update.telecom == CLEAR
    assert update.names is not None and update.deceased is None


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (None, datetime(2026, 10, 5, 13, 30, tzinfo=UTC)),  # MSH-7's -0500
        (ZoneInfo("Asia/Tokyo"), datetime(2026, 10, 4, 23, 30, tzinfo=UTC)),  # --timezone
    ],
)
def test_times_without_an_offset_take_the_feed_zone_else_msh_7s(
    zone: ZoneInfo | None, expected: datetime
) -> None:
    text = message(
        "SIU^S12",
        "SCH|X1|X1||||||||||||||||||||||||Booked",
        "TQ1|1||||||202610050830|202610050900",
        PID,
    )
    [booked] = read_message(text, zone=zone)
    assert isinstance(booked, AppointmentFacts)
    assert booked.start == expected and booked.minutes == 30


def test_an_explicit_offset_always_wins() -> None:
    text = message("SIU^S26", "SCH|X1|X1", "TQ1|1||||||202610050830+0100|202610050900+0100", PID)
    [noshow] = read_message(text, zone=ZoneInfo("America/Denver"))
    assert isinstance(noshow, AppointmentFacts) and noshow.status == "noshow"
    assert noshow.start == datetime(2026, 10, 5, 7, 30, tzinfo=UTC)


def test_v2_3_scheduling_times_come_from_sch_11_and_resources() -> None:
    text = message(
        "SIU^S13",
        seg("SCH", {1: "X2", 2: "X2", 11: "^^^202610050830-0500^202610050915-0500"}),
        PID,
        "AIP|1||1234567893^SMITH^ANN^^^^^^NPI",
    )
    [moved] = read_message(text)
    assert isinstance(moved, AppointmentFacts)
    assert moved.minutes == 45 and moved.event == "appointment rescheduled"
    assert moved.provider is not None and moved.provider.system == NPI


def test_z_segments_carry_what_chcs_adds_and_unknown_ones_are_ignored() -> None:
    text = message(
        "RDE^O11",
        PID,
        "ZXX|anything|at all",
        seg("ORC", {1: "NW", 2: "R9", 9: "20261001083000-0500", 12: f"{NPI_XCN}"}),
        seg(
            "RXE",
            {
                2: "00000-0012-30^Amlodipine 5 MG Oral Tablet^NDC^197361^^RXNORM",
                7: "^Take 1 daily",
                10: "30",
                11: "TAB",
                12: "3",
                15: "R9",
                16: "2",
            },
        ),
        "ZRX|30|20270930|R1|0123^MAIN^Main pharmacy",
    )
    [order] = read_message(text)
    assert isinstance(order, PrescriptionFacts)
    assert (order.ndc, order.rxnorm) == ("00000001230", "197361")
    assert (order.days_supply, order.expires, order.prior_rx_number) == (
        30,
        date(2027, 9, 30),
        "R1",
    )
    assert order.pharmacy is not None and order.pharmacy.key == "0123-MAIN"
    assert order.written == date(2026, 10, 1)  # ORC-9's day


def test_several_orders_in_one_message_are_several_prescriptions() -> None:
    group = (
        "ORC|{c}|{n}|||{s}||||20261001083000",
        "RXE||^Drug {n}|||||||||||||{n}",
    )
    segments = [PID]
    for control, number, status in (("NW", "R1", ""), ("DC", "R2", "DC"), ("XO", "R3", "CM")):
        segments += [s.format(c=control, n=number, s=status) for s in group]
    results = read_message(message("RDE^O11", *segments))
    assert [
        (r.rx_number, r.stated_status) for r in results if isinstance(r, PrescriptionFacts)
    ] == [
        ("R1", "active"),
        ("R2", "stopped"),
        ("R3", "completed"),
    ]


def test_a_merge_names_both_records() -> None:
    [merge] = read_message(message("ADT^A40", "EVN|A40|20261001", PID, "MRG|2234567890^^^USDOD^NI"))
    assert merge == MergeFacts(
        line=1,
        dod_id=DOD_ID,
        prior_dod_id="2234567890",
        recorded=datetime(2026, 10, 1, tzinfo=timezone(timedelta(hours=-5))),
    )
    [bad] = read_message(message("ADT^A40", PID, "MRG|12345^^^HOSP^MR"))
    assert isinstance(bad, Reject) and bad.field == "MRG-1"


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("garbage", "MSH", "a message starts with an MSH segment"),
        (message("ORU^R01", PID), "MSH-9", "not imported"),
        (message("SIU^S12", PID), "SCH", "an SIU message needs an SCH segment"),
        (message("SIU^S12", "SCH|"), "PID", "a SIU^S12 message needs a PID segment"),
        (message("SIU^S12", "SCH|||"), "PID", "a SIU^S12 message"),
        (message("ADT^A08", PID.replace("19900101", "1990XX01")), "PID-7", "not an HL7 date"),
        (message("ADT^A08", PID.replace("|F", "|Q")), "PID-8", "one of M, F"),
        (message("RDE^O11", PID, "ORC|ZZ|R1", "RXE||^x"), "ORC-1", "order control not imported"),
        (message("RDE^O11", PID, "ORC|NW|R1"), "RXE", "an order group needs an RXE"),
        (message("SIU^S12", "SCH|bad id|", PID), "SCH-2", "must be 1-64 letters"),
        (message("SIU^S12", PID, msh=MSH.replace("20261001083000-0500", "")), "MSH-7", "required"),
    ],
)
def test_unusable_messages_are_rejected_with_the_field(text: str, field: str, reason: str) -> None:
    [reject] = read_message(text, line=7)
    assert isinstance(reject, Reject)
    assert (reject.line, reject.field) == (7, field)
    assert reject.reason.startswith(reason), reject.reason


def test_a_file_may_use_any_line_ending_a_bom_and_batch_envelopes() -> None:
    one = message("ADT^A08", "EVN|A08|20261001", PID)
    two = message("ADT^A31", "EVN|A31|20261002", PID)
    for ending in ("\r", "\n", "\r\n"):
        text = "\ufeffFHS|^~\\&\rBHS|^~\\&\r" + ending.join(
            [*one.split("\r"), "", *two.split("\r")]
        )
        text += "\rBTS|2\rFTS|1\r"
        results = list(read_lines(io.StringIO(text, newline="")))
        assert [r.event for r in results if isinstance(r, DemographicsFacts)] == ["A08", "A31"]


def test_the_line_of_a_message_is_its_msh_segment_number() -> None:
    text = "\n".join([message("ORU^R01", PID), "", message("ORU^R01", PID)]).replace("\r", "\n")
    assert [r.line for r in read_lines(io.StringIO(text)) if isinstance(r, Reject)] == [1, 4]


def test_acks_answer_the_message_they_acknowledge() -> None:
    text = message("SIU^S12", "SCH|X1|X1", PID)
    accepted = ack(text, "AA").split("\r")
    assert accepted[0].startswith("MSH|^~\\&|MHS-FHIR|MHS|CHCS|0123|")
    assert "|ACK^S12^ACK|" in accepted[0] and accepted[0].endswith("|P|2.4")
    assert accepted[1] == "MSA|AA|C1"
    error = ack(text, "AE", field="PID-3", reason="no patient with DoD ID 1|2").split("\r")
    assert error[1] == "MSA|AE|C1|no patient with DoD ID 1\\F\\2"
    assert re.match(r"ERR\|\|PID\^1\^3\|204\^Unknown key identifier\^HL70357\|E\|", error[2])
    refused = ack("not hl7 at all", "AR", field="MSH", reason="not HL7").split("\r")
    assert refused[1] == "MSA|AR||not HL7"
