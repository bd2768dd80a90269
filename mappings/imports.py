"""Importing mapped records through the FHIR interactions layer, batch by batch: the one
loader of every import (eligibility, legacy TOL exports, HL7 v2).

An :class:`Item` is one source record already mapped to resources (each with the search
criteria that find it again), with the key of the person or thing it is about and, when the
source has one, its record timestamp. Each batch of items becomes one FHIR transaction (so
it is stored whole or not at all, with validation, indexing and versioning), holding only
what changes:

1. the batch's mapped resources are compared with what is stored (found by their identifiers,
   four searches a batch): unchanged resources are left out, so importing a file twice writes
   nothing the second time, and a changed record makes a new version of only what changed;
2. a record older (by its record timestamp) than the one last applied to the same key (kept
   on the item's marker resource) is skipped, so the order of records does not matter; only
   the directory entries it names (an enrollment site, a clinic) are still created when not
   stored yet, so that they do not depend on the order either;
3. changed resources go in as updates (``If-Match`` on the stored version, so a concurrent
   change fails the batch rather than being lost) or creates, with a Provenance naming the
   file, its line range and the job;
4. a record the server refuses (the transaction names its entry) is rejected with its line and
   the batch is retried without it: bad records never stop the run or leave half a resource.

A crash or Ctrl-C loses no committed batch; rerunning resumes cleanly, since what is stored is
unchanged the second time.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import orjson

from fhir_server.clock import format_instant
from fhir_server.errors import FhirError
from fhir_server.ids import new_id
from fhir_server.interactions.bundle import transaction
from fhir_server.interactions.common import prepare
from fhir_server.interactions.context import Context, Prepared
from fhir_server.interactions.search import search
from fhir_server.resource_json import with_references
from ig.naming import EXTENSION

RECORD_TIMESTAMP_EXTENSION = f"{EXTENSION}/source-record-timestamp"
"""On an item's marker resource: when the source recorded the data last applied (decides
which of two records of one key wins)."""

BATCH_RECORDS = 250
"""The most records one batch (one transaction) takes."""
MIN_BATCH_RECORDS = 10
TRANSACTION_SECONDS = 0.1
"""How long a batch's transaction should hold the store's write lock (see Pace)."""

Change = tuple[dict[str, Any], str, dict[str, Any] | None]  # resource, criteria, stored


@dataclass(frozen=True, slots=True)
class Reject:
    """Why one record (a line, a row, a message) was not imported."""

    line: int
    field: str
    value: str
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.field}={self.value!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Mapped:
    """The resources of one record, with the search criteria that find each again.

    ``directory``: what the record names rather than says (an enrollment site, a clinic, a
    provider), stored before its ``resources``. A record that is applied creates or updates
    these like its own; one that is not (an older record of the same person) still creates
    those not stored yet, so that what is in the directory does not depend on the order or
    batching of the records.
    """

    resources: tuple[tuple[dict[str, Any], str], ...]  # (resource, conditional criteria)
    directory: tuple[tuple[dict[str, Any], str], ...] = ()

    @property
    def everything(self) -> tuple[tuple[dict[str, Any], str], ...]:
        return (*self.directory, *self.resources)


@dataclass(frozen=True, slots=True)
class Item:
    """One source record, mapped: what it is about (``key``), when the source recorded it
    (None: no timestamp, compare content only) and which of its resource types carries that
    timestamp once applied (``marker``)."""

    line: int
    key: str
    recorded: datetime | None
    mapped: Mapped
    marker: str = "Coverage"


Plan = tuple[Item, list[Change]]
Extra = tuple[Item, Change]  # a directory entry that a record not applied still creates


@dataclass(slots=True)
class ImportReport:
    job_id: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.rejects)

    def summary(self) -> str:
        return (
            f"created {self.created}, updated {self.updated}, unchanged {self.unchanged},"
            f" rejected {self.rejected} (job {self.job_id})"
        )


class Pace:
    """How many records the next batch takes: as many as keep its transaction near
    ``TRANSACTION_SECONDS`` (from ``MIN_BATCH_RECORDS`` to ``BATCH_RECORDS``).

    The store takes one writer at a time (SQLite's write lock), so a server next to the
    import waits for the transaction in progress: sized by time, not by count, batches keep
    that wait short however large the store grows and each transaction slows down. Alone,
    an import pays for it with a little throughput (more, smaller transactions).
    """

    def __init__(self) -> None:
        self.size = MIN_BATCH_RECORDS * 5

    def took(self, records: int, seconds: float) -> None:
        """A transaction of ``records`` records took ``seconds``."""
        if records <= 0 or seconds <= 0:
            return
        fitting = records * TRANSACTION_SECONDS / seconds
        self.size = max(MIN_BATCH_RECORDS, min(BATCH_RECORDS, round((self.size + fitting) / 2)))

    def or_fixed(self, records: int | None) -> Callable[[], int]:
        """The size of each next batch: ``records`` if given, else what this pace says."""
        return (lambda: records) if records is not None else (lambda: self.size)


def _batches(
    items: Iterable[Item | Reject], size: Callable[[], int], report: ImportReport
) -> Iterator[list[Item]]:
    batch: list[Item] = []
    for item in items:
        if isinstance(item, Reject):
            report.rejects.append(item)
            continue
        batch.append(item)
        if len(batch) >= size():
            yield batch
            batch = []
    if batch:
        yield batch


def _content(resource: dict[str, Any]) -> bytes:
    """What a resource says, without what the server stamps on it (id, meta)."""
    return orjson.dumps(
        {k: v for k, v in resource.items() if k not in ("id", "meta")},
        option=orjson.OPT_SORT_KEYS,
    )


def _stamp(resource: dict[str, Any], item: Item) -> dict[str, Any]:
    if resource["resourceType"] != item.marker or item.recorded is None:
        return resource
    stamp = {"url": RECORD_TIMESTAMP_EXTENSION, "valueInstant": _instant(item)}
    others = [
        e for e in resource.get("extension") or [] if e.get("url") != RECORD_TIMESTAMP_EXTENSION
    ]
    return {
        "resourceType": resource["resourceType"],
        **_without_type(resource),
        "extension": [stamp, *others],
    }


def _without_type(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "resourceType"}


def _instant(item: Item) -> str:
    assert item.recorded is not None
    return format_instant(item.recorded)


def _stamped_at(marker: dict[str, Any]) -> str | None:
    for extension in marker.get("extension") or []:
        if extension.get("url") == RECORD_TIMESTAMP_EXTENSION:
            value = extension.get("valueInstant")
            return str(value) if value is not None else None
    return None


LOOKUP_CHUNK = 100
"""Identifiers one search asks for at most (SQLite bounds an expression's depth)."""


async def find(ctx: Context, type: str, criteria: Iterable[str]) -> dict[str, dict[str, Any]]:
    """Stored ``type`` resources by their ``identifier=system|value`` criteria, looked up
    ``LOOKUP_CHUNK`` at a time."""
    wanted = sorted(set(criteria))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), LOOKUP_CHUNK):
        chunk = wanted[start : start + LOOKUP_CHUNK]
        values = ",".join(c.removeprefix("identifier=") for c in chunk)
        outcome = await search(
            ctx,
            types=[type],
            params=[("identifier", values), ("_count", str(len(chunk) * 2))],
            strict=True,
            path=type,
        )
        bundle = orjson.loads(orjson.dumps(outcome.body or {}))
        keys = set(chunk)
        for entry in bundle.get("entry") or []:
            resource = entry.get("resource") or {}
            if resource.get("resourceType") != type:
                continue
            for identifier in resource.get("identifier") or []:
                key = f"identifier={identifier.get('system')}|{identifier.get('value')}"
                if key in keys:
                    found[key] = resource
    return found


def _order(item: Item) -> tuple[datetime, int]:
    return (item.recorded or datetime.min.replace(tzinfo=UTC), item.line)


async def _plan(ctx: Context, items: list[Item]) -> tuple[list[Plan], list[Extra], int]:
    """Per record, the resources that change; the directory entries that records not
    applied still create (see Mapped); and how many records change nothing."""
    unchanged = 0
    latest: dict[str, Item] = {}
    for item in items:  # within a batch, the newest record of a person wins
        seen = latest.get(item.key)
        if seen is not None:
            unchanged += 1
        if seen is None or _order(item) >= _order(seen):
            latest[item.key] = item
    mapped = [(i, i.mapped.everything) for i in latest.values()]
    wanted: dict[str, set[str]] = {}
    for item in items:
        for resource, criteria in item.mapped.everything:
            wanted.setdefault(resource["resourceType"], set()).add(criteria)
    stored: dict[str, dict[str, Any]] = {}
    for type, keys in wanted.items():
        for key, resource in (await find(ctx, type, keys)).items():
            stored[f"{type}?{key}"] = resource
    # What is not stored yet gets its id now, so that every reference in the batch is
    # literal and each resource is final before the transaction (see _store_batch).
    ids = {f"{type}?{key}": new_id() for type, keys in wanted.items() for key in keys}
    ids.update({key: resource["id"] for key, resource in stored.items()})
    # Conditional references to resources of the batch made literal (Type?criteria ->
    # Type/id); one to anything else is left for the transaction to resolve (which refuses
    # it unless exactly one resource matches).
    literal = {key: f"{key.partition('?')[0]}/{id}" for key, id in ids.items()}
    plans = []
    losers = [i for i in items if latest[i.key] is not i]  # superseded in this batch
    for record, resources in mapped:
        changes: list[Change] = []
        newer = True  # than the record last applied to this person
        for resource, criteria in resources:
            key = f"{resource['resourceType']}?{criteria}"
            before = stored.get(key)
            resource = with_references(_stamp(resource, record), literal)
            if before is None:
                resource = {**resource, "id": ids[key]}
            if (
                resource["resourceType"] == record.marker
                and before is not None
                and record.recorded is not None
            ):
                at = _stamped_at(before)
                if at is not None and at > _instant(record):
                    changes = []
                    losers.append(record)
                    break  # stale: a newer record of this person was applied already
                newer = at is None or at < _instant(record)
                if newer:
                    # Applying a newer record moves the person's marker even when it says
                    # what is stored already: a record between the two can then never win,
                    # whatever order the three come in.
                    changes.append((resource, criteria, before))
                    continue
            if before is None or _content(resource) != _content(_restamped(before, resource)):
                changes.append((resource, criteria, before))
        if not changes:
            unchanged += 1
            continue
        plans.append((record, changes))
    extras: list[Extra] = []
    for record in losers:
        for resource, criteria in record.mapped.directory:
            key = f"{resource['resourceType']}?{criteria}"
            if key not in stored:
                resource = {**with_references(resource, literal), "id": ids[key]}
                extras.append((record, (resource, criteria, None)))
    return plans, extras, unchanged


def urn_for(type: str, criteria: str) -> str:
    """The fullUrl of a resource's entry in its batch."""
    return f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{type}?{criteria}')}"


def _restamped(before: dict[str, Any], resource: dict[str, Any]) -> dict[str, Any]:
    """The stored resource with the new record's timestamp, so that a newer record saying the
    same thing counts as unchanged."""
    if not any(e.get("url") == RECORD_TIMESTAMP_EXTENSION for e in resource.get("extension") or []):
        return before
    return {
        **before,
        "extension": [
            e if e.get("url") != RECORD_TIMESTAMP_EXTENSION else resource["extension"][0]
            for e in before.get("extension") or []
        ],
    }


def _transaction(
    plans: list[Plan],
    extras: list[Extra],
    *,
    source: str,
    job_id: str,
) -> tuple[dict[str, Any], list[Item]]:
    """The batch's transaction Bundle, and for each entry the record it came from. Where
    records of the batch change the same resource (a shared enrollment site), the first
    applied record's change is the one made."""
    entries: list[dict[str, Any]] = []
    owners: list[Item] = []
    targets: list[dict[str, str]] = []
    seen: set[str] = set()
    changes_of = [*plans, *((record, [change]) for record, change in extras)]
    for record, changes in changes_of:
        for resource, criteria, before in changes:
            type = resource["resourceType"]
            key = f"{type}?{criteria}"
            if key in seen:
                continue  # an enrollment site shared by several records of the batch
            seen.add(key)
            full_url = urn_for(type, criteria)
            if before is not None:
                request = {
                    "method": "PUT",
                    "url": f"{type}/{before['id']}",
                    "ifMatch": f'W/"{before["meta"]["versionId"]}"',
                }
                body = {**resource, "id": before["id"]}
            else:
                # Not stored a moment ago (the comparison looked): a create under the id
                # the batch gave it, no second search. One import at a time per store is
                # assumed.
                request = {"method": "PUT", "url": f"{type}/{resource['id']}"}
                body = resource
            entries.append({"fullUrl": full_url, "resource": body, "request": request})
            owners.append(record)
            targets.append({"reference": full_url})
    lines = [r.line for r, _ in changes_of]
    provenance = {
        "resourceType": "Provenance",
        "target": targets,
        "recorded": format_instant(datetime.now(UTC)),
        "activity": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-DataOperation",
                    "code": "UPDATE",
                }
            ],
            "text": "import",
        },
        "agent": [{"who": {"display": "mhs-fhir import"}}],
        "entity": [
            {
                "role": "source",
                "what": {
                    "identifier": {"system": "urn:mhs-fhir:import-job", "value": job_id},
                    "display": f"{source} lines {min(lines)}-{max(lines)}",
                },
            }
        ],
    }
    entries.append({"resource": provenance, "request": {"method": "POST", "url": "Provenance"}})
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}, owners


async def _store_batch(
    ctx: Context,
    records: list[Item],
    report: ImportReport,
    *,
    source: str,
    dry_run: bool,
    pace: Pace,
) -> None:
    while True:
        plans, extras, unchanged = await _plan(ctx, records)
        if (plans or extras) and not dry_run:
            bundle, owners = _transaction(plans, extras, source=source, job_id=report.job_id)
            try:
                ready = _prepared(ctx, bundle)
                started = time.monotonic()
                await transaction(
                    replace(ctx, prepared=ready), bundle=bundle, prefer="minimal", strict=True
                )
                pace.took(len(records), time.monotonic() - started)
            except FhirError as error:
                index = error.entry_index
                if index is None or index >= len(owners):
                    raise  # not one record's fault: let the caller stop
                bad = owners[index]
                report.rejects.append(Reject(bad.line, _field(error), "", _reason(error)))
                records = [r for r in records if r is not bad]
                continue
        report.unchanged += unchanged
        _count(plans, report)
        return


def _prepared(ctx: Context, bundle: dict[str, Any]) -> dict[tuple[str, str], Prepared]:
    """Every resource of the batch checked and indexed before its transaction, which then
    holds the store's write lock only to store them (not to validate: most of the work)."""
    ready: dict[tuple[str, str], Prepared] = {}
    for index, entry in enumerate(bundle["entry"]):
        resource, request = entry["resource"], entry["request"]
        if request["method"] != "PUT":
            continue  # the Provenance: its targets are rewritten by the transaction
        type, id = resource["resourceType"], resource["id"]
        try:
            ready[(type, id)] = prepare(ctx, type, id, resource)
        except FhirError as error:
            error.entry_index = index  # the record's reject, as the transaction would say
            raise
    return ready


def _count(plans: list[Plan], report: ImportReport) -> None:
    """A record created what it is about when its marker resource is new."""
    for item, changes in plans:
        if any(r["resourceType"] == item.marker and before is None for r, _, before in changes):
            report.created += 1
        else:
            report.updated += 1


def _field(error: FhirError) -> str:
    for issue in error.issues:
        if issue.expression:
            return issue.expression[0]
    return "(record)"


def _reason(error: FhirError) -> str:
    text = error.diagnostics
    return text.split(": ", 1)[1] if text.startswith("Bundle.entry[") and ": " in text else text


async def import_items(
    ctx: Context,
    items: Iterable[Item | Reject],
    *,
    source: str,
    dry_run: bool = False,
    batch_records: int | None = None,
    pace: Pace | None = None,
) -> ImportReport:
    """Import every item (and count the readers' rejects among them); ``dry_run``: map and
    compare, count, store nothing. Batches hold ``batch_records`` items, or by default as
    many as ``pace`` (a new one if not given) says; ``pace`` learns from every transaction."""
    report = ImportReport(job_id=str(uuid.uuid4()))
    pace = pace or Pace()
    for batch in _batches(items, pace.or_fixed(batch_records), report):
        await _store_batch(ctx, batch, report, source=source, dry_run=dry_run, pace=pace)
    return report
