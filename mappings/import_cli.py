"""What every ``mhs-fhir import ...`` command shares: a progress bar over the records, the
store opened for the server's own work, the summary, the rejects file and the exit status."""

from __future__ import annotations

import asyncio
import csv
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar

import click

from fhir_server.indexing.reindex import ensure_index
from fhir_server.interactions.context import Context
from fhir_server.storage import open_store
from mappings.imports import ImportReport, Reject
from smart_auth.context import AccessContext

T = TypeVar("T")
SHOWN_REJECTS = 20


def progress(items: Iterator[T], total: int, quiet: bool) -> Iterator[T]:
    """``items``, counted on a progress bar on stderr (none when ``quiet``)."""
    from tqdm import tqdm

    with tqdm(total=total, unit="rec", disable=quiet or None, file=sys.stderr) as bar:
        for item in items:
            yield item
            bar.update(1)


def run_import(
    database_url: str,
    base_url: str,
    purpose: str,
    work: Callable[[Context], Awaitable[ImportReport]],
) -> ImportReport:
    """Open the store (reindexing first if needed), run ``work`` as the server's own work,
    close the store; a bad database URL is a clear error."""

    async def run() -> ImportReport:
        store = open_store(database_url, bulk=True)
        await store.open()
        try:
            await ensure_index(store, base_url=base_url)
            access = AccessContext.internal(purpose)
            return await work(Context(store=store, access=access, base_url=base_url))
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def write_rejects(rejects: list[Reject], target: IO[str]) -> None:
    writer = csv.writer(target)
    writer.writerow(["line", "field", "value", "reason"])
    for reject in rejects:
        writer.writerow([reject.line, reject.field, reject.value, reject.reason])


def finish(report: ImportReport, *, rejects: Path | None, dry_run: bool) -> None:
    """Write the rejects file, say what happened, and exit 1 when anything was rejected."""
    if rejects is not None:
        with rejects.open("w", newline="", encoding="utf-8") as target:
            write_rejects(report.rejects, target)
    for reject in report.rejects[:SHOWN_REJECTS]:
        click.echo(f"rejected: {reject}", err=True)
    if report.rejected > SHOWN_REJECTS:
        click.echo(f"... and {report.rejected - SHOWN_REJECTS} more rejected records", err=True)
    click.echo(("dry run: " if dry_run else "") + report.summary(), err=True)
    if report.rejected:
        sys.exit(1)
