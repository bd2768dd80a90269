"""``mhs-fhir import ...`` and ``mhs-fhir generate ...``: data into the store, through the
FHIR interactions layer (validation, indexing, versioning, audit, idempotency)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from fhir_server.cli_options import base_url_option, database_option, quiet_option
from fhir_server.interactions.context import Context
from mappings.eligibility.loader import ImportReport, import_records
from mappings.eligibility.readers import Parsed, detect_format, read
from mappings.eligibility.records import EligibilityRecord
from mappings.eligibility.x12_271 import Eligibility271, read_271
from mappings.import_cli import finish, progress, run_import
from mappings.imports import Reject


@click.group(name="import")
def import_group() -> None:
    """Import eligibility and legacy data as FHIR resources."""


def _count_lines(path: Path) -> int:
    with path.open("rb") as stream:
        return sum(1 for _ in stream)


@import_group.command(name="eligibility")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "format_",
    type=click.Choice(["fixed", "csv", "x12-271", "auto"]),
    default="auto",
    show_default=True,
    help="fixed-width or CSV DEERS-style extract (mappings/eligibility/README.md), or an X12"
    " 271 eligibility response; auto: CSV when the first line is a header, else fixed.",
)
@click.option("--dry-run", is_flag=True, help="Read, check and compare; store nothing.")
@click.option(
    "--rejects",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write rejected records here as CSV (line, field, value, reason).",
)
@database_option
@base_url_option
@quiet_option
def import_eligibility(
    file: Path,
    format_: str,
    dry_run: bool,
    rejects: Path | None,
    database_url: str,
    base_url: str,
    quiet: bool,
) -> None:
    """Import FILE into Patient, RelatedPerson, Coverage and Organization resources.

    Streams the file (constant memory), in batches that are each one FHIR transaction: a
    crash or Ctrl-C loses no committed batch, and rerunning resumes cleanly, because what is
    already stored is left unchanged. Bad records are rejected with their line and field and
    never stop the run. The exit status is 1 when any record was rejected.
    """
    parsed_source: Iterator[Parsed | Eligibility271]
    if format_ == "x12-271":
        parsed_source = _x12_records(file)
    else:
        with file.open(encoding="utf-8", errors="replace") as head:
            sample = head.read(4096)
        fmt = detect_format(sample) if format_ == "auto" else format_
        parsed_source = _extract_records(file, fmt)
    total = _count_lines(file)
    ended_links: set[str] = set()
    parsed_source = _noting_ended_links(parsed_source, ended_links)

    async def work(ctx: Context) -> ImportReport:
        return await import_records(
            ctx, progress(parsed_source, total, quiet), source=file.name, dry_run=dry_run
        )

    report = run_import(database_url, base_url, "eligibility import", work)
    if ended_links and not dry_run:
        _end_proxy_access(database_url, ended_links)
    finish(report, rejects=rejects, dry_run=dry_run)


def _noting_ended_links(
    items: Iterator[Parsed | Eligibility271], ended: set[str]
) -> Iterator[Parsed | Eligibility271]:
    """Pass ``items`` on, noting the sponsors of terminated dependent records."""
    for item in items:
        if (
            isinstance(item, EligibilityRecord)
            and item.record_action == "T"
            and not item.is_sponsor
        ):
            ended.add(item.sponsor_dod_id)
        yield item


def _end_proxy_access(database_url: str, sponsor_dod_ids: set[str]) -> None:
    """A terminated link (divorce, eligibility end) ends the sponsor's live tokens now, not
    when they expire: they sign in again and reach only who they still may act for."""
    from smart_auth.service import open_auth_store

    store = open_auth_store(database_url)
    store.open()
    try:
        for dod_id in sorted(sponsor_dod_ids):
            user = store.get_user_by_dod_id(dod_id)
            if user is not None:
                store.revoke_user(user.username)
    finally:
        store.close()


def _extract_records(path: Path, fmt: str) -> Iterator[Parsed]:
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as stream:
        yield from read(stream, fmt)


def _x12_records(path: Path) -> Iterator[Eligibility271 | Reject]:
    # An interchange is read whole (271 responses are small); its people are streamed.
    yield from read_271(path.read_text(encoding="utf-8", errors="replace"))


@click.group(name="generate")
def generate_group() -> None:
    """Generate realistic synthetic data for demos, tests and benchmarks."""


@generate_group.command(name="eligibility")
@click.option("--families", type=click.IntRange(1), required=True, help="How many families.")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["fixed", "csv"]),
    default="fixed",
    show_default=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same file.")
def generate_eligibility(families: int, format_: str, out: Path, seed: int) -> None:
    """Write a synthetic DEERS-style extract: sponsors of every category with spouses and
    children of all ages, every plan, some terminations and changes."""
    from mappings.eligibility.generator import generate_file

    count = generate_file(out, families, seed, format_)
    click.echo(f"wrote {count} records for {families} families to {out}", err=True)
