"""Shared helpers of the legacy import tests: a real SQLite store in-process, the generated
population imported through the same code as the CLI, and views of what the store holds."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import orjson

from fhir_server.indexing.reindex import ensure_index
from fhir_server.interactions.context import Context
from fhir_server.interactions.search import search
from fhir_server.storage import HistoryQuery, Store, open_store
from mappings.eligibility.generator import generate
from mappings.eligibility.loader import ImportReport, import_records
from mappings.eligibility.readers import read_csv
from mappings.eligibility.writers import write
from mappings.imports import Reject
from mappings.legacy.loader import import_facts
from mappings.legacy.records import Facts
from smart_auth.context import AccessContext

BASE = "http://127.0.0.1:8080/fhir"
SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
T = TypeVar("T")
Runner = Callable[[Callable[[Context], Awaitable[T]]], T]


def make_runner(url: str) -> Runner[Any]:
    """Run ``work(ctx)`` against the store at ``url`` (one event loop per call)."""

    def runner(work: Callable[[Context], Awaitable[T]]) -> T:
        async def go() -> T:
            store: Store = open_store(url)
            await store.open()
            try:
                await ensure_index(store, base_url=BASE)
                access = AccessContext.internal("test import")
                return await work(Context(store=store, access=access, base_url=BASE))
            finally:
                await store.close()

        return asyncio.run(go())

    return runner


async def import_eligibility(ctx: Context, families: int, seed: int) -> ImportReport:
    stream = io.StringIO()
    write(generate(families, seed=seed), stream, "csv")
    stream.seek(0)
    return await import_records(ctx, read_csv(stream), source="extract.csv")


async def load(
    ctx: Context, facts: Iterable[Facts | Reject], *, hl7: bool = False, size: int = 250
) -> ImportReport:
    return await import_facts(ctx, facts, source="test", hl7=hl7, batch_records=size)


async def resources(ctx: Context, type: str) -> list[dict[str, Any]]:
    outcome = await search(ctx, types=[type], params=[("_count", "1000")], strict=True, path=type)
    bundle = orjson.loads(orjson.dumps(outcome.body))
    return [e["resource"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def by_identifier(found: Sequence[dict[str, Any]], system: str) -> dict[str, dict[str, Any]]:
    out = {}
    for resource in found:
        for identifier in resource.get("identifier", []):
            if identifier.get("system") == system:
                out[identifier["value"]] = resource
    return out


def _strip(node: Any, ids: dict[str, str]) -> Any:
    """Without ids and meta; references to stored resources as what they point at."""
    if isinstance(node, dict):
        out = {}
        for k, v in node.items():
            if k in ("id", "meta"):
                continue
            if k == "reference" and isinstance(v, str) and v in ids:
                v = ids[v]
            out[k] = _strip(v, ids)
        return out
    if isinstance(node, list):
        return [_strip(v, ids) for v in node]
    return node


STATE_TYPES = (
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


async def state(ctx: Context) -> dict[str, list[bytes]]:
    """What the store says, independent of server ids (references named by identifier)."""
    found = {t: await resources(ctx, t) for t in STATE_TYPES}
    ids = {}
    for type, items in found.items():
        for resource in items:
            identifier = (resource.get("identifier") or [{}])[0]
            ids[f"{type}/{resource['id']}"] = f"{type}:{identifier.get('value')}"
    out = {}
    for type, items in found.items():
        out[type] = sorted(orjson.dumps(_strip(r, ids), option=orjson.OPT_SORT_KEYS) for r in items)
    return out


async def versions(ctx: Context) -> int:
    return len(await ctx.store.history(HistoryQuery(count=100_000)))


def samples() -> list[Path]:
    return sorted((SHARED / "hl7v2").glob("*.hl7"))
