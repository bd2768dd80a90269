"""One consistent synthetic population for the legacy imports: the eligibility extract of
:mod:`mappings.eligibility.generator` and, for the same people, TOL exports (appointments with
their history, secure message threads, prescriptions with their refill history) and CHCS HL7 v2
feeds (SIU scheduling, RDE/RDS pharmacy, ADT demographics).

Deterministic per seed. Nothing is real: the people come from the eligibility generator, the
providers' NPIs are made-up (with a valid check digit), the NDCs use labeler ``00000`` (never
assigned), addresses use 555-01xx phone numbers; only the RxNorm codes of the drugs are real
(those of the Synthea sample data in shared/).

:func:`generate_population` returns the facts (what the files say, per record: the import
tests compare the store with them); :func:`write_population` writes the files.
"""

from __future__ import annotations

import base64
import random
import zlib
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from mappings.eligibility.generator import DEFAULT_START, generate, generate_file
from mappings.legacy.codes import (
    NPI,
    TOL_APPOINTMENT_TYPE,
    TOL_APPOINTMENT_TYPES,
    TOL_CANCELLATION_REASON,
    TOL_CANCELLATION_REASONS,
    V2_0276,
    V2_APPOINTMENT_REASONS,
)
from mappings.legacy.hl7v2 import write as hl7
from mappings.legacy.hl7v2.write import Person
from mappings.legacy.records import (
    Address,
    AppointmentFacts,
    AttachmentFacts,
    Clinic,
    Coded,
    DemographicsFacts,
    MessageFacts,
    Name,
    Party,
    Pharmacy,
    PrescriptionFacts,
    Provider,
    Telecom,
    ThreadFacts,
)
from mappings.legacy.tol import appointments as tol_appointments
from mappings.legacy.tol import messages as tol_messages
from mappings.legacy.tol import prescriptions as tol_prescriptions

FILES = {
    "eligibility": "eligibility-extract.txt",
    "tol-appointments": "tol-appointments.csv",
    "tol-messages": "tol-secure-messages.ndjson",
    "tol-prescriptions": "tol-prescriptions.csv",
    "hl7-scheduling": "chcs-scheduling-siu.hl7",
    "hl7-pharmacy": "chcs-pharmacy-rde-rds.hl7",
    "hl7-adt": "chcs-adt-demographics.hl7",
}
"""What each generated file is (key -> file name in the output folder)."""

ZONES = (
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Pacific/Honolulu",
    "Asia/Tokyo",
    "Europe/Berlin",
)
CLINICS = (
    ("FP", "Family Practice"),
    ("PEDS", "Pediatrics"),
    ("IM", "Internal Medicine"),
    ("WH", "Women's Health"),
    ("ORTHO", "Orthopedics"),
    ("BH", "Behavioral Health"),
    ("OPTOM", "Optometry"),
    ("PT", "Physical Therapy"),
)
FAMILIES = ("NGUYEN", "OKAFOR", "LINDQVIST", "PATEL", "MORENO", "O'BRIEN", "TANAKA", "WEBER")
GIVEN = ("ALEX", "JORDAN", "PRIYA", "SAMUEL", "GRACE", "MATEO", "AISHA", "HENRY", "LENA")
DRUGS = (
    ("Amlodipine 5 MG Oral Tablet", "197361", "5 MG", "TAB", "Take 1 tablet by mouth daily", 30),
    ("Simvastatin 20 MG Oral Tablet", "312961", "20 MG", "TAB", "Take 1 tablet at bedtime", 30),
    ("Clopidogrel 75 MG Oral Tablet", "309362", "75 MG", "TAB", "Take 1 tablet daily", 30),
    ("Ibuprofen 200 MG Oral Tablet", "310965", "200 MG", "TAB", "Take 2 tablets every 6 hours", 60),
    (
        "Naproxen sodium 220 MG Oral Tablet",
        "849574",
        "220 MG",
        "TAB",
        "Take 1 tablet every 12 hours as needed for pain",
        60,
    ),
    ("Digoxin 0.125 MG Oral Tablet", "197604", "0.125 MG", "TAB", "Take 1 tablet daily", 30),
    (
        "Warfarin Sodium 5 MG Oral Tablet",
        "855332",
        "5 MG",
        "TAB",
        "Take as directed by the anticoagulation clinic",
        30,
    ),
    (
        "200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler",
        "745679",
        "0.09 MG/ACTUAT",
        "INH",
        "Inhale 2 puffs every 4 to 6 hours as needed",
        1,
    ),
    (
        "Penicillin V Potassium 250 MG Oral Tablet",
        "834061",
        "250 MG",
        "TAB",
        "Take 1 tablet 4 times daily for 10 days",
        40,
    ),
    ("Loratadine 5 MG Chewable Tablet", "665078", "5 MG", "TAB", "Chew 1 tablet daily", 30),
)
SUBJECTS = (
    "Question about my prescription",
    "Lab results follow-up",
    "Appointment request",
    "Referral status",
    "Refill request",
    "Side effects",
)
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@dataclass(frozen=True, slots=True)
class Member:
    person: Person
    site: str
    zone: ZoneInfo


@dataclass(slots=True)
class Population:
    """The facts each generated file says (in file order)."""

    people: list[Member] = field(default_factory=list)
    tol_appointments: list[AppointmentFacts] = field(default_factory=list)
    tol_threads: list[ThreadFacts] = field(default_factory=list)
    tol_prescriptions: list[PrescriptionFacts] = field(default_factory=list)
    siu: list[tuple[str, AppointmentFacts, bool]] = field(default_factory=list)
    """(trigger event, facts, times written without offset)."""
    pharmacy: list[tuple[str, PrescriptionFacts]] = field(default_factory=list)
    adt: list[DemographicsFacts] = field(default_factory=list)


def npi(number: int) -> str:
    """A made-up NPI: ``1`` + 8 digits + the Luhn check digit over ``80840`` + those 9."""
    base = f"1{number % 100_000_000:08d}"
    digits = [int(d) for d in "80840" + base]
    total = 0
    for i, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if i % 2 == 0 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return base + str((10 - total % 10) % 10)


def _people(families: int, seed: int, start: date) -> list[Member]:
    latest: dict[str, dict[str, str]] = {}
    for record in generate(families, seed=seed, start=start):
        latest[record["dod_id"]] = record
    sites = sorted({r["enrollment_site"] for r in latest.values() if r.get("enrollment_site")})
    sites = sites or ["0001"]
    out = []
    for dod_id, r in latest.items():
        site = r.get("enrollment_site") or sites[zlib.crc32(dod_id.encode()) % len(sites)]
        zone = ZoneInfo(ZONES[zlib.crc32(site.encode()) % len(ZONES)])
        person = Person(
            dod_id=dod_id,
            family=r["last_name"],
            given=r["first_name"],
            birth_date=datetime.strptime(r["birth_date"], "%Y%m%d").date(),
            sex=r["sex"],
        )
        out.append(Member(person, site, zone))
    return out


class _Generator:
    def __init__(self, seed: int, start: date) -> None:
        self.rng = random.Random(seed * 7919 + 17)
        self.start = start
        self.clock = datetime.combine(start, time(6), UTC) - timedelta(days=60)
        self.counter = 0
        self.providers: dict[str, list[Provider]] = {}

    def next_id(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}{self.counter:07d}"

    def later(self, low: int = 60, high: int = 3 * 86400) -> datetime:
        self.clock += timedelta(seconds=self.rng.randint(low, high))
        return self.clock

    def clinic(self, site: str) -> Clinic:
        code, name = CLINICS[self.rng.randrange(len(CLINICS))]
        return Clinic(site, code, f"{name} (DMIS {site})")

    def provider(self, site: str) -> Provider:
        pool = self.providers.setdefault(site, [])
        if len(pool) < 6:
            number = zlib.crc32(site.encode()) * 10 + len(pool)
            given: tuple[str, ...] = (self.rng.choice(GIVEN),)
            if self.rng.random() < 0.5:
                given += (self.rng.choice("ABCDEFGHJKLMNPRSTW"),)
            pool.append(Provider(NPI, npi(number), self.rng.choice(FAMILIES), given))
        return self.rng.choice(pool)

    def slot(self, member: Member) -> datetime:
        day = self.start + timedelta(days=self.rng.randint(1, 90))
        minute = self.rng.randrange(7 * 60, 16 * 60 + 1, 15)
        return datetime.combine(day, time(minute // 60, minute % 60), member.zone)

    # -- TOL appointments ------------------------------------------------------------------

    def tol_appointment(self, member: Member, out: list[AppointmentFacts]) -> None:
        kind = TOL_APPOINTMENT_TYPES[self.rng.choice(list(TOL_APPOINTMENT_TYPES))]
        booked = AppointmentFacts(
            line=0,
            appointment_id=self.next_id("A"),
            dod_id=member.person.dod_id,
            recorded=self.later(),
            status=self.rng.choice(("booked", "booked", "booked", "pending")),
            start=self.slot(member),
            minutes=self.rng.choice((15, 20, 30, 30, 60)),
            clinic=self.clinic(member.site),
            provider=self.provider(member.site) if self.rng.random() < 0.8 else None,
            kind=Coded(TOL_APPOINTMENT_TYPE, kind.code, kind.display),
            comment=self.rng.choice((None, None, "Bring your medication list", "Fasting labs")),
        )
        out.append(booked)
        outcome = self.rng.random()
        if outcome < 0.5:
            return
        if outcome < 0.7:
            code = self.rng.choice(list(TOL_CANCELLATION_REASONS))
            reason = TOL_CANCELLATION_REASONS[code]
            final = replace(
                booked,
                status="cancelled",
                cancellation_reason=Coded(TOL_CANCELLATION_REASON, reason.code, reason.display),
            )
        else:
            final = replace(booked, status=self.rng.choice(("fulfilled", "arrived", "noshow")))
        out.append(replace(final, recorded=self.later()))

    # -- HL7 scheduling --------------------------------------------------------------------

    def siu(self, member: Member, out: list[tuple[str, AppointmentFacts, bool]]) -> None:
        recorded = self.later().astimezone(member.zone)
        start = self.slot(member)
        reason = V2_APPOINTMENT_REASONS[self.rng.choice(list(V2_APPOINTMENT_REASONS))]
        booked = AppointmentFacts(
            line=0,
            appointment_id=self.next_id("C"),
            dod_id=member.person.dod_id,
            recorded=recorded,
            status="booked",
            start=start,
            minutes=self.rng.choice((20, 30, 40)),
            clinic=self.clinic(member.site),
            provider=self.provider(member.site),
            kind=Coded(V2_0276, reason.code, reason.display),
            comment=self.rng.choice((None, "Walk-in | urgent^ review", "Line one\nLine two")),
            event="new appointment booked",
        )
        self._siu_out(out, "S12", booked)
        roll = self.rng.random()
        later = self.later().astimezone(member.zone)
        if roll < 0.35:
            return
        if roll < 0.5:
            moved = replace(booked, start=self.slot(member), recorded=later)
            self._siu_out(out, "S13", replace(moved, event="appointment rescheduled"))
        elif roll < 0.65:
            changed = replace(booked, provider=self.provider(member.site), recorded=later)
            self._siu_out(out, "S14", replace(changed, event="appointment modified"))
        elif roll < 0.85:
            code = self.rng.choice(list(TOL_CANCELLATION_REASONS))
            reason_code = TOL_CANCELLATION_REASONS[code]
            cancelled = replace(
                booked,
                status="cancelled",
                recorded=later,
                cancellation_reason=Coded(
                    TOL_CANCELLATION_REASON, reason_code.code, reason_code.display
                ),
                event="appointment cancelled",
            )
            self._siu_out(out, "S15", cancelled)
        else:
            no_show = replace(
                booked, status="noshow", recorded=later, event="patient did not show up"
            )
            self._siu_out(out, "S26", no_show)

    def _siu_out(
        self, out: list[tuple[str, AppointmentFacts, bool]], event: str, facts: AppointmentFacts
    ) -> None:
        assert facts.start is not None
        same_offset = facts.recorded.utcoffset() == facts.start.utcoffset()
        out.append((event, facts, same_offset and self.rng.random() < 0.5))

    # -- threads ---------------------------------------------------------------------------

    def thread(self, member: Member) -> ThreadFacts:
        patient = Party("patient", dod_id=member.person.dod_id)
        clinic = self.clinic(member.site)
        staff = (
            Party("clinic", clinic=clinic)
            if self.rng.random() < 0.5
            else Party("provider", provider=self.provider(member.site))
        )
        messages: list[MessageFacts] = []
        for i in range(self.rng.randint(1, 4)):
            sender, recipient = (patient, staff) if i % 2 == 0 else (staff, patient)
            sent = self.later(60, 86400)
            read = sent + timedelta(minutes=self.rng.randint(5, 600))
            attachments: tuple[AttachmentFacts, ...] = ()
            if self.rng.random() < 0.2:
                attachments = (
                    self.rng.choice(
                        (
                            AttachmentFacts("photo.png", "image/png", PNG),
                            AttachmentFacts("letter.pdf", "application/pdf", PDF),
                            AttachmentFacts("notes.txt", "text/plain", b"BP 120/80\n"),
                        )
                    ),
                )
            messages.append(
                MessageFacts(
                    message_id=self.next_id("M"),
                    sender=sender,
                    recipients=(recipient,),
                    sent=sent,
                    read=read if self.rng.random() < 0.8 else None,
                    body=self.rng.choice(
                        (
                            "Hello, I have a question about my care.",
                            "Thank you.\nSee you at the appointment.",
                            "Please call the clinic at 555-0123.",
                            'Results are normal; "no action" needed.',
                        )
                    ),
                    attachments=attachments,
                    in_reply_to=messages[-1].message_id if messages else None,
                )
            )
        return ThreadFacts(
            line=0,
            thread_id=self.next_id("T"),
            dod_id=member.person.dod_id,
            subject=self.rng.choice(SUBJECTS),
            messages=tuple(messages),
        )

    # -- prescriptions ---------------------------------------------------------------------

    def prescription(self, member: Member, *, prior: str | None = None) -> list[PrescriptionFacts]:
        """A prescription's history: written (first fill), refills, maybe stopped."""
        index = self.rng.randrange(len(DRUGS))
        name, rxcui, strength, unit, sig, quantity = DRUGS[index]
        authorized = self.rng.choice((0, 1, 2, 3, 5, 11))
        days = self.rng.choice((10, 30, 30, 90))
        written_at = self.later()
        written = written_at.date()
        pharmacy = Pharmacy(member.site, "MAIN", f"Main pharmacy (DMIS {member.site})")
        facts = PrescriptionFacts(
            line=0,
            rx_number=self.next_id("R"),
            dod_id=member.person.dod_id,
            recorded=written_at,
            stated_status="active",
            drug_name=name,
            ndc=f"00000{index:04d}{self.rng.choice((1, 30, 90)):02d}",
            rxnorm=rxcui if self.rng.random() < 0.7 else None,
            strength=strength,
            sig=sig,
            quantity=Decimal(quantity),
            quantity_unit=unit,
            days_supply=days,
            refills_authorized=authorized,
            refills_remaining=authorized,
            written=written,
            expires=written + timedelta(days=self.rng.choice((180, 365))),
            prescriber=self.provider(member.site),
            pharmacy=pharmacy if self.rng.random() < 0.9 else None,
            last_fill=written,
            prior_rx_number=prior,
        )
        history = [facts]
        for _ in range(self.rng.randint(0, min(authorized, 3))):
            last = history[-1]
            assert last.refills_remaining is not None and last.last_fill is not None
            filled = self.later(3600, 5 * 86400)
            history.append(
                replace(
                    last,
                    recorded=filled,
                    refills_remaining=last.refills_remaining - 1,
                    last_fill=max(filled.date(), last.last_fill),
                )
            )
        if self.rng.random() < 0.15:
            history.append(
                replace(history[-1], stated_status="stopped", recorded=self.later(3600, 86400))
            )
        return history

    def demographics(self, member: Member) -> DemographicsFacts:
        number = self.rng.randint(100, 9999)
        return DemographicsFacts(
            line=0,
            dod_id=member.person.dod_id,
            recorded=self.later().astimezone(member.zone),
            event=self.rng.choice(("A08", "A31", "A28", "A04")),
            names=(Name(member.person.family, (member.person.given,)),),
            birth_date=member.person.birth_date,
            gender={"M": "male", "F": "female"}.get(member.person.sex, "unknown"),
            addresses=(
                Address(
                    (f"{number} Barracks Row", f"Apt {self.rng.randint(1, 40)}"),
                    "Fort Example",
                    self.rng.choice(("TX", "NC", "WA", "VA")),
                    f"{self.rng.randint(10000, 99999)}",
                    "US",
                ),
            ),
            telecom=(
                Telecom("phone", f"555-01{self.rng.randint(0, 99):02d}", "home"),
                Telecom("email", f"person{number}@example.mil", "home"),
            ),
        )

    def run(self, members: list[Member]) -> Population:
        population = Population(people=members)
        for member in members:
            roll = self.rng.random
            for _ in range(self.rng.choice((0, 1, 1, 2))):
                self.tol_appointment(member, population.tol_appointments)
            if roll() < 0.4:
                population.tol_threads.append(self.thread(member))
            if roll() < 0.5:
                history = self.prescription(member)
                population.tol_prescriptions.extend(history)
                if roll() < 0.3:
                    renewal = self.prescription(member, prior=history[0].rx_number)
                    population.tol_prescriptions.extend(renewal)
            if roll() < 0.5:
                self.siu(member, population.siu)
            if roll() < 0.4:
                history = self.prescription(member)
                for i, facts in enumerate(history):
                    kind = "RDE" if i == 0 or facts.stated_status != "active" else "RDS"
                    population.pharmacy.append((kind, facts))
            if roll() < 0.2:
                population.adt.append(self.demographics(member))
        return population


def generate_population(families: int, *, seed: int, start: date | None = None) -> Population:
    start = start or DEFAULT_START
    return _Generator(seed, start).run(_people(families, seed, start))


def hl7_messages(population: Population) -> dict[str, list[str]]:
    """The HL7 v2 feeds' messages (segments joined by CR), by file key."""
    people = {m.person.dod_id: m.person for m in population.people}
    out: dict[str, list[str]] = {"hl7-scheduling": [], "hl7-pharmacy": [], "hl7-adt": []}
    for i, (event, facts, naive) in enumerate(population.siu):
        out["hl7-scheduling"].append(
            hl7.siu(event, facts, people[facts.dod_id], control=f"S{i:08d}", naive=naive)
        )
    for i, (kind, order) in enumerate(population.pharmacy):
        out["hl7-pharmacy"].append(
            hl7.pharmacy(kind, order, people[order.dod_id], control=f"P{i:08d}")
        )
    for i, update in enumerate(population.adt):
        out["hl7-adt"].append(hl7.adt(update, people[update.dod_id], control=f"A{i:08d}"))
    return out


def write_population(
    folder: str | Path, families: int, *, seed: int, start: date | None = None
) -> dict[str, int]:
    """Write every file of the population into ``folder``; records written, by file key."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    counts = {
        "eligibility": generate_file(
            folder / FILES["eligibility"], families, seed, "fixed", start=start
        )
    }
    population = generate_population(families, seed=seed, start=start)
    with open(folder / FILES["tol-appointments"], "w", encoding="utf-8", newline="") as stream:
        counts["tol-appointments"] = tol_appointments.write(
            stream, iter(population.tol_appointments)
        )
    with open(folder / FILES["tol-messages"], "w", encoding="utf-8", newline="") as stream:
        counts["tol-messages"] = tol_messages.write(stream, iter(population.tol_threads))
    with open(folder / FILES["tol-prescriptions"], "w", encoding="utf-8", newline="") as stream:
        counts["tol-prescriptions"] = tol_prescriptions.write(
            stream, iter(population.tol_prescriptions)
        )
    for key, messages in hl7_messages(population).items():
        with open(folder / FILES[key], "w", encoding="utf-8", newline="") as stream:
            for message in messages:
                stream.write(message + "\r\n")
        counts[key] = len(messages)
    return counts
