"""Bulk loading of FHIR JSON files through the interactions (the API's own write path).

- ``*.ndjson``: one resource per line; each line is a record.
- a transaction or batch Bundle: processed as one POST to the base URL would be.
- any other Bundle (collection, searchset, ...): each entry's resource is a record.
- any other resource: one record.

A record with an id is stored with update (PUT, so loading twice changes nothing new but a
version), one without with create (POST). A bad record is reported with its file and line and
the rest go on; what was stored before stays stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fhir_server.errors import BadRequest, FhirError
from fhir_server.interactions.bundle import batch, transaction
from fhir_server.interactions.context import Context, Preconditions
from fhir_server.interactions.create import create
from fhir_server.interactions.update import update
from fhir_server.resource_json import parse_json

_IN_FLIGHT = 64


@dataclass(frozen=True, slots=True)
class LoadError:
    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


@dataclass(slots=True)
class LoadReport:
    stored: int = 0
    errors: list[LoadError] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Record:
    file: str
    line: int
    data: Any


def records(path: Path) -> Iterator[Record]:
    """The records of one file; unreadable JSON becomes a record that fails on store."""
    name = str(path)
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        with path.open("rb") as lines:
            for number, line in enumerate(lines, start=1):
                if line.strip():
                    yield Record(name, number, line)
        return
    raw = path.read_bytes()
    try:
        data = parse_json(raw)
    except FhirError:
        yield Record(name, 1, raw)
        return
    if (
        isinstance(data, dict)
        and data.get("resourceType") == "Bundle"
        and data.get("type") not in ("transaction", "batch")
    ):
        for index, entry in enumerate(data.get("entry") or []):
            resource = entry.get("resource") if isinstance(entry, dict) else None
            if resource is not None:
                yield Record(name, index + 1, resource)
        return
    yield Record(name, 1, data)


async def store_record(ctx: Context, data: Any) -> int:
    """Store one record; return how many resources it stored. Raises FhirError."""
    if isinstance(data, bytes):
        data = parse_json(data)
    if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
        raise BadRequest("not a FHIR resource (no resourceType)", code="structure")
    type = data["resourceType"]
    if type == "Bundle" and data.get("type") in ("transaction", "batch"):
        process = transaction if data["type"] == "transaction" else batch
        outcome = await process(ctx, bundle=data, prefer="minimal", strict=False)
        entries = (outcome.body or {}).get("entry", [])
        failed = [e for e in entries if not str(e["response"]["status"]).startswith("2")]
        if failed:
            first = failed[0]["response"].get("outcome", {}).get("issue", [{}])[0]
            raise BadRequest(
                f"{len(failed)} of {len(entries)} batch entries failed; first: "
                f"{first.get('diagnostics', 'unknown error')}"
            )
        return len(entries)
    pre = Preconditions()
    if isinstance(data.get("id"), str):
        await update(ctx, type=type, id=data["id"], resource=data, pre=pre)
    else:
        await create(ctx, type=type, resource=data, pre=pre)
    return 1


async def load(
    ctx: Context,
    paths: list[Path],
    *,
    on_record: Callable[[], None] = lambda: None,
) -> LoadReport:
    """Load every record of every file, up to 64 in flight (the store commits them in groups)."""
    report = LoadReport()
    gate = asyncio.Semaphore(_IN_FLIGHT)

    async def one(record: Record) -> None:
        try:
            count = await store_record(ctx, record.data)
            report.stored += count
        except FhirError as error:
            report.errors.append(LoadError(record.file, record.line, error.diagnostics))
        finally:
            gate.release()
            on_record()

    tasks: set[asyncio.Task[None]] = set()
    for path in paths:
        try:
            for record in records(path):
                await gate.acquire()
                task = asyncio.create_task(one(record))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
        except OSError as exc:
            report.errors.append(LoadError(str(path), 0, f"cannot read: {exc.strerror}"))
    if tasks:
        await asyncio.gather(*tasks)
    report.errors.sort(key=lambda e: (e.file, e.line))
    return report


def count_records(paths: list[Path]) -> int:
    """How many records the files hold (for a progress bar's total)."""
    total = 0
    for path in paths:
        try:
            total += sum(1 for _ in records(path))
        except OSError:
            continue
    return total
