"""The legacy commands, as click objects for ``fhir_server/cli.py`` to register:

- :data:`legacy_import_commands` under ``mhs-fhir import``: ``tol-appointments``,
  ``tol-messages``, ``tol-prescriptions`` and ``hl7v2`` (``FILE [--dry-run] [--rejects FILE]
  [--database-url URL]``), like ``import eligibility``: progress bar, summary, rejects CSV, exit
  status 1 when a record was rejected;
- :data:`generate_legacy` under ``mhs-fhir generate`` (``legacy --families N --out DIR``);
- :data:`mllp`, a top-level command: ``mhs-fhir mllp --port N``.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable, Iterable, Iterator
from datetime import tzinfo
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from fhir_server.cli_options import base_url_option, database_option, quiet_option
from fhir_server.indexing.reindex import ensure_index
from fhir_server.interactions.context import Context
from fhir_server.storage import open_store
from mappings.import_cli import finish, progress, run_import
from mappings.imports import ImportReport, Reject
from mappings.legacy.hl7v2.read import read_lines
from mappings.legacy.loader import import_facts
from mappings.legacy.records import Facts
from mappings.legacy.tol import appointments, messages, prescriptions
from smart_auth.context import AccessContext

Reader = Callable[[IO[str]], Iterator[Facts | Reject]]


def _records(path: Path, reader: Reader) -> Iterator[Facts | Reject]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
        yield from reader(stream)


def _hl7_records(path: Path, zone: tzinfo | None) -> Iterator[Facts | Reject]:
    # Universal newlines: CR, LF and CRLF all end a segment.
    with path.open(encoding="utf-8", errors="replace") as stream:
        yield from read_lines(stream, zone=zone)


def _count(path: Path, *, hl7: bool) -> int:
    with path.open("rb") as stream:
        data = stream.read()
    if hl7:
        return data.count(b"MSH|")
    return max(0, data.count(b"\n") - (0 if path.suffix == ".ndjson" else 1))


def _zone(value: str | None) -> tzinfo | None:
    if not value:
        return None
    try:
        return ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"unknown time zone {value!r} (an IANA name)") from None


def _run(
    file: Path,
    records: Iterable[Facts | Reject],
    *,
    total: int,
    hl7: bool,
    dry_run: bool,
    rejects: Path | None,
    database_url: str,
    base_url: str,
    quiet: bool,
) -> None:
    async def work(ctx: Context) -> ImportReport:
        return await import_facts(
            ctx,
            progress(iter(records), total, quiet),
            source=file.name,
            dry_run=dry_run,
            hl7=hl7,
        )

    report = run_import(database_url, base_url, "legacy import", work)
    finish(report, rejects=rejects, dry_run=dry_run)


_file_argument = click.argument(
    "file", type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_dry_run_option = click.option(
    "--dry-run", is_flag=True, help="Read, check and compare; store nothing."
)
_rejects_option = click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write rejected records here as CSV (line, field, value, reason).",
)


def _tol_command(name: str, reader: Reader, what: str) -> click.Command:
    @click.command(name=name, help=what)
    @_file_argument
    @_dry_run_option
    @_rejects_option
    @database_option
    @base_url_option
    @quiet_option
    def command(
        file: Path,
        dry_run: bool,
        rejects: Path | None,
        database_url: str,
        base_url: str,
        quiet: bool,
    ) -> None:
        _run(
            file,
            _records(file, reader),
            total=_count(file, hl7=False),
            hl7=False,
            dry_run=dry_run,
            rejects=rejects,
            database_url=database_url,
            base_url=base_url,
            quiet=quiet,
        )

    return command


_COMMON = (
    " Records are matched to the Patients of the eligibility import by DoD ID; a record whose"
    " patient is not stored is rejected. Batches of 250 records are each one FHIR transaction;"
    " importing a file again changes nothing. The exit status is 1 when a record was rejected."
)

import_tol_appointments = _tol_command(
    "tol-appointments",
    appointments.read,
    "Import a TOL appointments export (CSV, mappings/legacy/README.md) into Appointment,"
    " Slot, Schedule, Location and Practitioner resources." + _COMMON,
)
import_tol_messages = _tol_command(
    "tol-messages",
    messages.read,
    "Import a TOL secure messages export (JSON Lines, one thread a line) into Communication"
    " resources." + _COMMON,
)
import_tol_prescriptions = _tol_command(
    "tol-prescriptions",
    prescriptions.read,
    "Import a TOL prescriptions and refill history export (CSV) into MedicationRequest"
    " resources." + _COMMON,
)

_timezone_option = click.option(
    "--timezone",
    "timezone",
    metavar="ZONE",
    help="IANA time zone of the sending system (e.g. America/Chicago) for timestamps without"
    " an offset; default: the offset of the message's MSH-7, else UTC.",
)


@click.command(name="hl7v2")
@_file_argument
@_timezone_option
@_dry_run_option
@_rejects_option
@database_option
@base_url_option
@quiet_option
def import_hl7v2(
    file: Path,
    timezone: str | None,
    dry_run: bool,
    rejects: Path | None,
    database_url: str,
    base_url: str,
    quiet: bool,
) -> None:
    """Import a file of CHCS HL7 v2 messages: SIU^S12-S15/S26 into Appointment, RDE^O11 and
    RDS^O13 into MedicationRequest, ADT^A04/A08/A28/A31 into Patient updates, ADT^A40 into
    Patient merges.

    Segments may end with CR, LF or CRLF; batch envelopes (FHS/BHS) are skipped. Rejects name
    the line of the message's MSH and the field (PID-3). The exit status is 1 when a message
    was rejected.
    """
    _run(
        file,
        _hl7_records(file, _zone(timezone)),
        total=_count(file, hl7=True),
        hl7=True,
        dry_run=dry_run,
        rejects=rejects,
        database_url=database_url,
        base_url=base_url,
        quiet=quiet,
    )


legacy_import_commands: list[click.Command] = [
    import_tol_appointments,
    import_tol_messages,
    import_tol_prescriptions,
    import_hl7v2,
]
"""The commands to add to the ``mhs-fhir import`` group."""


@click.command(name="legacy")
@click.option("--families", type=click.IntRange(1), required=True, help="How many families.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Folder to write the files into (created if missing).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same files.")
def generate_legacy(families: int, out: Path, seed: int) -> None:
    """Write a synthetic population: an eligibility extract and, for the same people, TOL
    exports and CHCS HL7 v2 feeds (file names in mappings/legacy/README.md)."""
    from mappings.legacy.generator import FILES, write_population

    counts = write_population(out, families, seed=seed)
    for key, count in counts.items():
        click.echo(f"wrote {count:>7} records to {out / FILES[key]}", err=True)


@click.command(name="mllp")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="TCP port (0: any).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface (0.0.0.0 for all).")
@_timezone_option
@database_option
@base_url_option
def mllp(port: int, host: str, timezone: str | None, database_url: str, base_url: str) -> None:
    """Listen for HL7 v2 messages over MLLP and import each as `import hl7v2` does.

    Every message is answered with an ACK once its result is stored: AA accepted (stored, or
    nothing to change), AE error (with the reason: no patient with that DoD ID, a bad field),
    AR rejected (not HL7, a message type or event not imported). Messages waiting from all
    connections are stored together, one transaction per batch. Ctrl-C stops it.
    """
    from mappings.legacy.mllp import serve

    zone = _zone(timezone)

    async def run() -> None:
        store = open_store(database_url, bulk=True)
        await store.open()
        try:
            await ensure_index(store, base_url=base_url)
            ctx = Context(
                store=store,
                access=AccessContext.internal("HL7 v2 MLLP listener"),
                base_url=base_url,
            )
            task = asyncio.current_task()
            loop = asyncio.get_running_loop()
            if task is not None:
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, task.cancel)

            def ready(bound: int) -> None:
                click.echo(f"mhs-fhir: MLLP listener on {host}:{bound} ({database_url})", err=True)

            await serve(ctx, host=host, port=port, zone=zone, ready=ready)
        finally:
            await store.close()

    try:
        asyncio.run(run())
    except (KeyboardInterrupt, asyncio.CancelledError):
        click.echo("mhs-fhir: MLLP listener stopped", err=True)


__all__ = ["generate_legacy", "legacy_import_commands", "mllp"]
