"""Eligibility records (extract or X12 271) as import items for :mod:`mappings.imports`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from fhir_server.interactions.context import Context
from mappings.eligibility.mapping import map_record
from mappings.eligibility.records import EligibilityRecord
from mappings.eligibility.x12_271 import Eligibility271, member_identifier, to_resources
from mappings.imports import ImportReport, Item, Reject, import_items


def item_of(source: EligibilityRecord | Eligibility271) -> Item:
    """An extract record is keyed by DoD ID and ordered by its record timestamp (kept on the
    person's Coverage); a 271 person by member id, compared by content only."""
    if isinstance(source, EligibilityRecord):
        return Item(source.line, source.dod_id, source.record_timestamp, map_record(source))
    identifier = member_identifier(source)
    key = f"{identifier['system']}|{identifier['value']}"
    return Item(source.line, key, None, to_resources(source))


def _items(
    parsed: Iterable[EligibilityRecord | Eligibility271 | Reject],
) -> Iterator[Item | Reject]:
    for source in parsed:
        yield source if isinstance(source, Reject) else item_of(source)


async def import_records(
    ctx: Context,
    parsed: Iterable[EligibilityRecord | Eligibility271 | Reject],
    *,
    source: str,
    dry_run: bool = False,
) -> ImportReport:
    """Import eligibility records (and count the readers' rejects)."""
    return await import_items(ctx, _items(parsed), source=source, dry_run=dry_run)


__all__ = ["ImportReport", "import_records", "item_of"]
