"""Legacy facts into the store, with the one import loader (:func:`mappings.imports.import_items`).

The loader compares, versions and writes what it is given, batch by batch; what it cannot do
is look things up before mapping. That is done here, once per batch (a pre-pass):

1. the Patients every record needs are looked up by DoD ID (one search a batch); a record
   whose patient is not stored is rejected (``no patient with DoD ID ...``) rather than
   written with a dangling reference; an ADT update or merge is applied to the stored Patient;
2. the directory entries the records point at (Practitioner, Location, Organization,
   HealthcareService, Schedule) are looked up by identifier: stored ones are referenced as
   ``Type/id``, missing ones are added to the record's resources to be created with it;
3. each record becomes an :class:`~mappings.imports.Item` (key, record time, marker) for
   :func:`~mappings.imports.import_items`, which stores the batch as one transaction.

A batch never holds a merge together with another change to one of its two patients (the
batch is cut before it), so every change to a Patient in a batch is made from what is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fhir_server.interactions.context import Context
from fhir_server.resource_json import with_references
from mappings.imports import (
    ImportReport,
    Item,
    Mapped,
    Pace,
    Reject,
    find,
    import_items,
)
from mappings.legacy.mapping.appointment import map_appointment
from mappings.legacy.mapping.communication import map_thread
from mappings.legacy.mapping.directory import Entry
from mappings.legacy.mapping.draft import Draft, patient_criteria
from mappings.legacy.mapping.medication import map_prescription
from mappings.legacy.mapping.patient import map_demographics, map_merge
from mappings.legacy.records import (
    AppointmentFacts,
    DemographicsFacts,
    Facts,
    MergeFacts,
    PrescriptionFacts,
    ThreadFacts,
)

"""Identifier values per search (the server caps a page at 1000 resources)."""


def needed_patients(facts: Facts, *, hl7: bool) -> list[tuple[str, str]]:
    """(field, DoD ID) of each Patient ``facts`` needs stored."""
    own = "PID-3" if hl7 else "dod_id"
    if isinstance(facts, MergeFacts):
        return [(own, facts.dod_id), ("MRG-1", facts.prior_dod_id)]
    if isinstance(facts, ThreadFacts):
        out = [(own, facts.dod_id)]
        for i, message in enumerate(facts.messages):
            parties = [("sender", message.sender)] + [
                (f"recipients[{j}]", p) for j, p in enumerate(message.recipients)
            ]
            for where, party in parties:
                if party.dod_id is not None:
                    out.append((f"messages[{i}].{where}.dod_id", party.dod_id))
        return out
    return [(own, facts.dod_id)]


def touched_patients(facts: Facts) -> tuple[str, ...]:
    """DoD IDs of the Patients ``facts`` changes."""
    if isinstance(facts, MergeFacts):
        return (facts.dod_id, facts.prior_dod_id)
    if isinstance(facts, DemographicsFacts):
        return (facts.dod_id,)
    return ()


def draft_of(facts: Facts, patients: Mapping[str, dict[str, Any]]) -> Draft:
    if isinstance(facts, AppointmentFacts):
        return map_appointment(facts)
    if isinstance(facts, PrescriptionFacts):
        return map_prescription(facts)
    if isinstance(facts, ThreadFacts):
        return map_thread(facts)
    if isinstance(facts, DemographicsFacts):
        return map_demographics(facts, patients[facts.dod_id])
    return map_merge(facts, patients[facts.dod_id], patients[facts.prior_dod_id])


def _finish(draft: Draft, found: Mapping[str, str]) -> Item:
    """The loader's Item: missing directory entries first (what they point at before them),
    then the record's own resources; references to stored resources made literal."""
    created: list[tuple[dict[str, Any], str]] = []
    seen: set[str] = set()

    def add(entry: Entry) -> None:
        if entry.reference in seen or entry.reference in found:
            return
        seen.add(entry.reference)
        for dependency in entry.depends:
            add(dependency)
        created.append((entry.resource, entry.criteria))

    for entry in draft.directory:
        add(entry)
    directory = tuple(
        (with_references(resource, found), criteria) for resource, criteria in created
    )
    resources = tuple(
        (with_references(resource, found), criteria) for resource, criteria in draft.resources
    )
    return Item(draft.line, draft.key, draft.recorded, Mapped(resources, directory), draft.marker)


def _entries(drafts: Iterable[Draft]) -> dict[str, Entry]:
    out: dict[str, Entry] = {}

    def add(entry: Entry) -> None:
        if entry.reference not in out:
            out[entry.reference] = entry
            for dependency in entry.depends:
                add(dependency)

    for draft in drafts:
        for entry in draft.directory:
            add(entry)
    return out


@dataclass(slots=True)
class Prepared:
    items: list[Item | Reject]
    new_keys: dict[str, int] = field(default_factory=dict)
    """Keys of records whose main resource is not stored yet, with their line."""


async def prepare(ctx: Context, batch: Sequence[Facts], *, hl7: bool = False) -> Prepared:
    """The pre-pass: ``batch`` as loader items, or rejects for records without a patient."""
    needed = {dod for facts in batch for _, dod in needed_patients(facts, hl7=hl7)}
    stored = await find(ctx, "Patient", (patient_criteria(d) for d in needed))
    patients = {
        dod: stored[patient_criteria(dod)] for dod in needed if patient_criteria(dod) in stored
    }
    drafts: list[Draft | Reject] = []
    for facts in batch:
        missing = [(f, d) for f, d in needed_patients(facts, hl7=hl7) if d not in patients]
        if missing:
            where, dod = missing[0]
            drafts.append(
                Reject(
                    facts.line,
                    where,
                    dod,
                    f"no patient with DoD ID {dod} (import the eligibility extract first)",
                )
            )
            continue
        drafts.append(draft_of(facts, patients))
    ready = [d for d in drafts if isinstance(d, Draft)]
    entries = _entries(ready)
    found: dict[str, str] = {
        f"Patient?{patient_criteria(dod)}": f"Patient/{resource['id']}"
        for dod, resource in patients.items()
    }
    by_type: dict[str, list[Entry]] = {}
    for entry in entries.values():
        by_type.setdefault(entry.type, []).append(entry)
    for type, group in by_type.items():
        stored_entries = await find(ctx, type, (e.criteria for e in group))
        for entry in group:
            if entry.criteria in stored_entries:
                found[entry.reference] = f"{type}/{stored_entries[entry.criteria]['id']}"
    mains: dict[str, list[Draft]] = {}
    for draft in ready:
        if draft.marker != "Patient":
            mains.setdefault(draft.marker, []).append(draft)
    prepared = Prepared(items=[])
    for marker, owners in mains.items():
        existing = await find(ctx, marker, (d.main for d in owners))
        for draft in owners:
            if draft.main not in existing:
                prepared.new_keys.setdefault(draft.key, draft.line)
    prepared.items = [d if isinstance(d, Reject) else _finish(d, found) for d in drafts]
    return prepared


def weight(facts: Facts) -> int:
    """How many resources of one type ``facts`` brings: a thread one per message."""
    return len(facts.messages) if isinstance(facts, ThreadFacts) else 1


def batches(
    facts: Iterable[Facts | Reject], size: Callable[[], int], rejects: list[Reject]
) -> Iterator[list[Facts]]:
    """``facts`` in batches of ``size()`` records (readers' rejects go to ``rejects``), cut early
    so that a merge shares its batch with no other change to its patients, and so that no
    batch holds more than ``size`` resources of one type (a thread counts its messages): the
    loader looks a batch's resources up with one identifier search a type, and SQLite refuses
    a search of many more than that (``Expression tree is too large``)."""
    batch: list[Facts] = []
    owner: dict[str, str] = {}
    load = 0
    for item in facts:
        if isinstance(item, Reject):
            rejects.append(item)
            continue
        touched = touched_patients(item)
        key = f"{type(item).__name__}|{item.line}" if isinstance(item, MergeFacts) else "adt"
        if batch and (
            any(owner.get(d, key) != key for d in touched) or load + weight(item) > size()
        ):
            yield batch
            batch, owner, load = [], {}, 0
        for dod in touched:
            owner[dod] = key
        batch.append(item)
        load += weight(item)
        if load >= size():
            yield batch
            batch, owner, load = [], {}, 0
    if batch:
        yield batch


@dataclass(slots=True)
class BatchResult:
    created: int
    updated: int
    unchanged: int
    rejects: list[Reject]
    job_id: str


async def load_batch(
    ctx: Context,
    batch: Sequence[Facts],
    *,
    source: str,
    dry_run: bool = False,
    hl7: bool = False,
    pace: Pace | None = None,
) -> BatchResult:
    """One batch through the pre-pass and the loader (one transaction, timed into ``pace``)."""
    prepared = await prepare(ctx, batch, hl7=hl7)
    part = await import_items(
        ctx,
        prepared.items,
        source=source,
        dry_run=dry_run,
        batch_records=max(1, len(prepared.items)),
        pace=pace,
    )
    # The loader counts a record as "created" when it created a Patient (eligibility's
    # meaning); a legacy record creates its Appointment, MedicationRequest or thread.
    refused = {r.line for r in part.rejects}
    created = sum(1 for line in prepared.new_keys.values() if line not in refused)
    changed = part.created + part.updated
    return BatchResult(
        created=min(created, changed),
        updated=max(0, changed - created),
        unchanged=part.unchanged,
        rejects=part.rejects,
        job_id=part.job_id,
    )


async def import_facts(
    ctx: Context,
    facts: Iterable[Facts | Reject],
    *,
    source: str,
    dry_run: bool = False,
    hl7: bool = False,
    batch_records: int | None = None,
) -> ImportReport:
    """Import every record (and count the readers' rejects among them), batch by batch:
    ``batch_records`` records each, or by default as many as a :class:`Pace` says."""
    report: ImportReport | None = None
    rejects: list[Reject] = []
    pace = Pace()
    for batch in batches(facts, pace.or_fixed(batch_records), rejects):
        result = await load_batch(ctx, batch, source=source, dry_run=dry_run, hl7=hl7, pace=pace)
        if report is None:
            report = ImportReport(job_id=result.job_id)
        report.created += result.created
        report.updated += result.updated
        report.unchanged += result.unchanged
        report.rejects.extend(result.rejects)
    if report is None:
        report = ImportReport(job_id="(nothing imported)")
    report.rejects[:0] = rejects
    report.rejects.sort(key=lambda r: r.line)
    return report
