"""Legacy records into a real SQLite store through the eligibility import's loader: every
generated record is stored as it says (field by field), importing twice is importing once,
the order of records does not matter, a record without its patient is rejected, ADT updates
and merges change only what they say."""

from __future__ import annotations

import base64
import dataclasses
import io
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.interactions.context import Context
from ig.naming import BENEFICIARY_CATEGORY_EXTENSION, DMIS_ID, DOD_ID
from mappings.eligibility.mapping import enrollment_site
from mappings.eligibility.records import EligibilityRecord, check
from mappings.legacy.codes import (
    APPOINTMENT_ID,
    CLINIC,
    LAST_FILL_EXTENSION,
    NDC,
    REFILLS_REMAINING_EXTENSION,
    RX_NUMBER,
    RXNORM,
    SECURE_MESSAGE,
    SLOT_ID,
)
from mappings.legacy.generator import Population, generate_population, hl7_messages
from mappings.legacy.hl7v2.read import read_lines
from mappings.legacy.mapping.directory import mtf
from mappings.legacy.mapping.medication import derived_status
from mappings.legacy.records import (
    CLEAR,
    AppointmentFacts,
    Clinic,
    DemographicsFacts,
    Facts,
    MergeFacts,
    Party,
    PrescriptionFacts,
    ThreadFacts,
)
from mappings.legacy.tol import appointments, messages, prescriptions

from .support import (
    by_identifier,
    import_eligibility,
    load,
    make_runner,
    resources,
    state,
    versions,
)

Run = Callable[[Callable[[Context], Any]], Any]


@pytest.fixture
def run(tmp_path: Path) -> Run:
    return make_runner(f"sqlite:///{tmp_path}/legacy.db")


def _through_files(population: Population) -> list[tuple[list[Facts], bool]]:
    """The population's records as the readers read them from its files, per file."""
    out: list[tuple[list[Facts], bool]] = []
    for module, facts in (
        (appointments, population.tol_appointments),
        (prescriptions, population.tol_prescriptions),
        (messages, population.tol_threads),
    ):
        stream = io.StringIO()
        module.write(stream, iter(facts))
        stream.seek(0)
        read = list(module.read(stream))
        assert all(not hasattr(r, "reason") for r in read)
        out.append((read, False))
    for texts in hl7_messages(population).values():
        read = list(read_lines(io.StringIO("\r".join(texts) + "\r", newline=None)))
        assert all(not hasattr(r, "reason") for r in read)
        out.append((read, True))
    return out


def import_population(families: int, seed: int, *, size: int = 250) -> Callable[[Context], Any]:
    async def work(ctx: Context) -> list[Any]:
        await import_eligibility(ctx, families, seed)
        reports = []
        for facts, hl7 in _through_files(generate_population(families, seed=seed)):
            reports.append(await load(ctx, facts, hl7=hl7, size=size))
        return reports

    return work


def _latest(facts: list[Any], key: Callable[[Any], str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in facts:
        seen = out.get(key(item))
        if seen is None or item.recorded >= seen.recorded:
            out[key(item)] = item
    return out


def _instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Store:
    """What one store holds, by identifier, with references followed."""

    def __init__(self, found: dict[str, list[dict[str, Any]]]) -> None:
        self.found = found
        self.by_ref = {f"{type}/{r['id']}": r for type, items in found.items() for r in items}

    def target(self, reference: dict[str, Any]) -> dict[str, Any]:
        return self.by_ref[reference["reference"]]

    def key(self, reference: dict[str, Any]) -> str:
        return str(self.target(reference)["identifier"][0]["value"])


async def _snapshot(ctx: Context) -> Store:
    types = (
        "Patient",
        "Appointment",
        "Slot",
        "Schedule",
        "Location",
        "Practitioner",
        "Organization",
        "HealthcareService",
        "MedicationRequest",
        "Communication",
    )
    return Store({t: await resources(ctx, t) for t in types})


def _check_appointment(store: Store, facts: AppointmentFacts) -> None:
    stored = by_identifier(store.found["Appointment"], APPOINTMENT_ID)[facts.appointment_id]
    assert stored["status"] == facts.status
    assert facts.start is not None and facts.end is not None
    assert _instant(stored["start"]) == facts.start
    assert _instant(stored["end"]) == facts.end
    assert stored["minutesDuration"] == facts.minutes
    actors = [p["actor"] for p in stored["participant"]]
    assert store.key(actors[0]) == facts.dod_id
    if facts.provider is not None:
        assert facts.provider.value in [store.key(a) for a in actors[1:]]
    assert facts.clinic is not None and facts.clinic.key == store.key(actors[-1])
    location = store.target(actors[-1])
    assert store.key(location["managingOrganization"]) == facts.clinic.dmis_id
    assert facts.kind is not None
    assert stored["appointmentType"]["coding"][0]["code"] == facts.kind.code
    reason = facts.cancellation_reason
    if reason is None:
        assert "cancelationReason" not in stored
    else:
        assert stored["cancelationReason"]["coding"][0]["code"] == reason.code
    assert stored.get("comment") == facts.comment
    slot = store.target(stored["slot"][0])
    assert slot["identifier"][0] == {"system": SLOT_ID, "value": facts.appointment_id}
    assert slot["status"] == ("free" if facts.status == "cancelled" else "busy")
    assert store.key(store.target(slot["schedule"])["actor"][0]) == facts.clinic.key


def _check_prescription(store: Store, facts: PrescriptionFacts) -> None:
    stored = by_identifier(store.found["MedicationRequest"], RX_NUMBER)[facts.rx_number]
    assert stored["status"] == derived_status(facts)[0]
    assert store.key(stored["subject"]) == facts.dod_id
    codings = {c["system"]: c["code"] for c in stored["medicationCodeableConcept"]["coding"]}
    assert codings.get(NDC) == facts.ndc and codings.get(RXNORM) == facts.rxnorm
    assert stored["medicationCodeableConcept"]["text"] == facts.drug_name
    assert stored["dosageInstruction"] == [{"text": facts.sig}]
    assert facts.written is not None and facts.expires is not None
    assert stored["authoredOn"] == facts.written.isoformat()
    dispense = stored["dispenseRequest"]
    assert dispense["validityPeriod"] == {
        "start": facts.written.isoformat(),
        "end": facts.expires.isoformat(),
    }
    assert dispense["numberOfRepeatsAllowed"] == facts.refills_authorized
    assert Decimal(str(dispense["quantity"]["value"])) == facts.quantity
    assert dispense["expectedSupplyDuration"]["value"] == facts.days_supply
    if facts.pharmacy is None:
        assert "performer" not in dispense
    else:
        assert store.key(dispense["performer"]) == facts.pharmacy.key
    assert facts.prescriber is not None
    assert store.key(stored["requester"]) == facts.prescriber.value
    extensions = {e["url"]: e for e in stored["extension"]}
    assert extensions[REFILLS_REMAINING_EXTENSION]["valueUnsignedInt"] == facts.refills_remaining
    assert facts.last_fill is not None
    assert extensions[LAST_FILL_EXTENSION]["valueDate"] == facts.last_fill.isoformat()
    prior = stored.get("priorPrescription")
    assert (prior["identifier"]["value"] if prior else None) == facts.prior_rx_number


def _party_key(party: Party) -> str:
    if party.dod_id is not None:
        return party.dod_id
    if party.provider is not None:
        return str(party.provider.value)
    assert party.clinic is not None and party.clinic.key is not None
    return party.clinic.key


def _check_thread(store: Store, thread: ThreadFacts) -> None:
    stored = by_identifier(store.found["Communication"], SECURE_MESSAGE)
    for message in thread.messages:
        resource = stored[message.message_id]
        assert resource["topic"]["coding"][0]["code"] == thread.thread_id
        assert resource["topic"]["text"] == thread.subject
        assert store.key(resource["subject"]) == thread.dod_id
        assert _instant(resource["sent"]) == message.sent
        assert (_instant(resource["received"]) if "received" in resource else None) == message.read
        assert store.key(resource["sender"]) == _party_key(message.sender)
        assert [store.key(r) for r in resource["recipient"]] == [
            _party_key(p) for p in message.recipients
        ]
        replied = resource.get("inResponseTo")
        assert (store.key(replied[0]) if replied else None) == message.in_reply_to
        payload = resource["payload"]
        assert payload[0] == {"contentString": message.body}
        for item, attachment in zip(payload[1:], message.attachments, strict=True):
            content = item["contentAttachment"]
            assert base64.b64decode(content["data"]) == attachment.data
            assert content["contentType"] == attachment.content_type
            assert content["size"] == len(attachment.data)


def _check_demographics(store: Store, facts: DemographicsFacts) -> None:
    patient = by_identifier(store.found["Patient"], DOD_ID)[facts.dod_id]
    assert isinstance(facts.names, tuple) and isinstance(facts.addresses, tuple)
    assert isinstance(facts.telecom, tuple)
    assert [n["family"] for n in patient["name"]] == [n.family for n in facts.names]
    assert patient["address"][0]["line"] == list(facts.addresses[0].lines)
    assert patient["address"][0]["postalCode"] == facts.addresses[0].postal_code
    assert [t["value"] for t in patient["telecom"]] == [t.value for t in facts.telecom]
    # what DEERS said and ADT does not send is kept
    assert any(e["url"] == BENEFICIARY_CATEGORY_EXTENSION for e in patient["extension"])
    assert len(patient["identifier"]) >= 2


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(families=st.integers(2, 4), seed=st.integers(0, 10_000))
def test_generated_records_are_stored_as_they_say(
    tmp_path_factory: pytest.TempPathFactory, families: int, seed: int
) -> None:
    run = make_runner(f"sqlite:///{tmp_path_factory.mktemp('pop')}/legacy.db")
    reports = run(import_population(families, seed))
    assert all(r.rejected == 0 for r in reports), [r.rejects for r in reports]
    store: Store = run(_snapshot)
    population = generate_population(families, seed=seed)
    tol = _latest(population.tol_appointments, lambda f: f.appointment_id)
    siu = _latest([f for _, f, _ in population.siu], lambda f: f.appointment_id)
    for facts in [*tol.values(), *siu.values()]:
        _check_appointment(store, facts)
    rx = [*population.tol_prescriptions, *(f for _, f in population.pharmacy)]
    for facts in _latest(rx, lambda f: f.rx_number).values():
        _check_prescription(store, facts)
    for thread in population.tol_threads:
        _check_thread(store, thread)
    for facts in _latest(population.adt, lambda f: f.dod_id).values():
        _check_demographics(store, facts)
    counts = {t: len(v) for t, v in store.found.items()}
    assert counts["Appointment"] == len(tol) + len(siu)
    assert counts["Communication"] == sum(len(t.messages) for t in population.tol_threads)


def test_importing_twice_is_importing_once(run: Run) -> None:
    run(import_population(4, 11))
    before, count = run(state), run(versions)
    assert before["Appointment"] and before["MedicationRequest"] and before["Communication"]

    async def again(ctx: Context) -> list[Any]:
        reports = []
        for facts, hl7 in _through_files(generate_population(4, seed=11)):
            reports.append(await load(ctx, facts, hl7=hl7))
        return reports

    reports = run(again)
    assert all(r.created == r.updated == r.rejected == 0 for r in reports)
    assert run(state) == before
    assert run(versions) == count


def test_the_order_of_records_does_not_matter(tmp_path: Path) -> None:
    ordered = make_runner(f"sqlite:///{tmp_path}/ordered.db")
    ordered(import_population(3, 5))
    expected = ordered(state)
    assert expected["Appointment"] and expected["MedicationRequest"]

    async def shuffled(ctx: Context) -> None:
        await import_eligibility(ctx, 3, 5)
        pieces = _through_files(generate_population(3, seed=5))
        rng = random.Random(5)
        rng.shuffle(pieces)
        for facts, hl7 in pieces:
            facts = list(reversed(facts)) if rng.random() < 0.5 else rng.sample(facts, len(facts))
            await load(ctx, facts, hl7=hl7, size=7)  # small batches: across batch boundaries

    other = make_runner(f"sqlite:///{tmp_path}/shuffled.db")
    other(shuffled)
    assert other(state) == expected


def _person(population: Population, index: int = 0) -> str:
    return population.people[index].person.dod_id


def test_a_record_whose_patient_is_not_stored_is_rejected(run: Run) -> None:
    population = generate_population(2, seed=3)
    booked = dataclasses.replace(population.tol_appointments[0], line=4, dod_id="9999999999")

    async def work(ctx: Context) -> Any:
        await import_eligibility(ctx, 2, 3)
        return await load(
            ctx, [booked, dataclasses.replace(booked, line=5, dod_id=_person(population))]
        )

    report = run(work)
    assert report.created == 1
    assert [(r.line, r.field, r.value, r.reason) for r in report.rejects] == [
        (
            4,
            "dod_id",
            "9999999999",
            "no patient with DoD ID 9999999999 (import the eligibility extract first)",
        )
    ]
    found = run(lambda ctx: resources(ctx, "Appointment"))
    assert len(found) == 1


def test_an_adt_update_changes_only_what_it_sends(run: Run) -> None:
    population = generate_population(2, seed=3)
    dod_id = _person(population)
    when = datetime(2026, 11, 1, tzinfo=UTC)
    clear = DemographicsFacts(
        line=1, dod_id=dod_id, recorded=when, event="A08", addresses=CLEAR, gender="other"
    )
    older = dataclasses.replace(clear, line=2, recorded=when - timedelta(days=1), gender="male")

    async def work(ctx: Context) -> tuple[dict[str, Any], dict[str, Any]]:
        await import_eligibility(ctx, 2, 3)
        before = by_identifier(await resources(ctx, "Patient"), DOD_ID)[dod_id]
        await load(ctx, [clear], hl7=True)
        await load(ctx, [older], hl7=True)  # older than what was applied: skipped
        after = by_identifier(await resources(ctx, "Patient"), DOD_ID)[dod_id]
        return before, after

    before, after = run(work)
    assert after["gender"] == "other" and "address" not in after
    assert after["name"] == before["name"] and after["identifier"] == before["identifier"]
    assert after["birthDate"] == before["birthDate"]


def test_a_merge_links_the_two_records(run: Run) -> None:
    population = generate_population(2, seed=3)
    kept, merged = _person(population, 0), _person(population, 1)
    merge = MergeFacts(
        line=1, dod_id=kept, prior_dod_id=merged, recorded=datetime(2026, 11, 1, tzinfo=UTC)
    )

    async def work(ctx: Context) -> dict[str, dict[str, Any]]:
        await import_eligibility(ctx, 2, 3)
        await load(ctx, [merge], hl7=True)
        await load(ctx, [merge], hl7=True)  # again: nothing changes
        return by_identifier(await resources(ctx, "Patient"), DOD_ID)

    patients = run(work)
    old, new = patients[merged], patients[kept]
    assert old["active"] is False
    assert old["link"] == [{"other": {"reference": f"Patient/{new['id']}"}, "type": "replaced-by"}]
    assert new["link"] == [{"other": {"reference": f"Patient/{old['id']}"}, "type": "replaces"}]
    assert run(versions) > 0
    missing = dataclasses.replace(merge, prior_dod_id="9999999999")
    report = run(lambda ctx: load(ctx, [missing], hl7=True))
    assert [(r.field, r.value) for r in report.rejects] == [("MRG-1", "9999999999")]


def test_a_stored_directory_entry_is_found_not_rewritten(run: Run) -> None:
    population = generate_population(2, seed=3)
    first = population.tol_appointments[0]
    assert first.clinic is not None
    renamed = dataclasses.replace(
        first,
        appointment_id="OTHER1",
        clinic=Clinic(first.clinic.dmis_id, first.clinic.code, "Another name"),
    )

    async def work(ctx: Context) -> list[dict[str, Any]]:
        await import_eligibility(ctx, 2, 3)
        await load(ctx, [first])
        await load(ctx, [renamed])
        return await resources(ctx, "Location")

    [location] = run(work)
    assert location["name"] == first.clinic.name
    assert location["identifier"] == [{"system": CLINIC, "value": first.clinic.key}]
    assert location["meta"]["versionId"] == "1"


def test_a_dry_run_stores_nothing(run: Run) -> None:
    population = generate_population(2, seed=3)

    async def work(ctx: Context) -> Any:
        await import_eligibility(ctx, 2, 3)
        count = await versions(ctx)
        report = await load_dry(ctx, population.tol_appointments)
        return report, count, await versions(ctx)

    async def load_dry(ctx: Context, facts: list[AppointmentFacts]) -> Any:
        from mappings.legacy.loader import import_facts

        return await import_facts(ctx, facts, source="dry", dry_run=True)

    report, before, after = run(work)
    assert report.created > 0 and before == after


def test_the_mtf_organization_is_the_eligibility_enrollment_site() -> None:
    from tests.mappings.eligibility.test_mapping import SPONSOR

    record = check(1, {**SPONSOR, "enrollment_site": "0123"})
    assert isinstance(record, EligibilityRecord)
    site = enrollment_site(record)
    assert site == mtf("0123").resource
    assert mtf("0123").criteria == f"identifier={DMIS_ID}|0123"


def _rx(**changes: Any) -> PrescriptionFacts:
    base = PrescriptionFacts(
        line=1,
        rx_number="R1",
        dod_id="1234567890",
        recorded=datetime(2026, 10, 1, tzinfo=UTC),
        stated_status="active",
        drug_name="x",
        refills_remaining=2,
        last_fill=date(2026, 9, 1),
        expires=date(2027, 1, 1),
    )
    return dataclasses.replace(base, **changes)


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({}, ("active", None)),
        ({"expires": date(2026, 9, 30)}, ("completed", "expired on 2026-09-30")),
        ({"refills_remaining": 0}, ("completed", "no refills left")),
        ({"refills_remaining": 0, "last_fill": None}, ("active", None)),
        ({"stated_status": "stopped", "expires": date(2020, 1, 1)}, ("stopped", None)),
    ],
)
def test_status_follows_from_refills_left_and_expiry(
    changes: dict[str, Any], status: tuple[str, str | None]
) -> None:
    assert derived_status(_rx(**changes)) == status
