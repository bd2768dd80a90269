"""``mhs-fhir backup``, ``restore`` and ``check``: keeping the SQLite database safe.

The commands are plain click commands; ``fhir_server.cli`` registers them on ``mhs-fhir``.
The work itself is in :mod:`fhir_server.storage.maintenance` (see its docstring for how the
online backup stays consistent and how a restore knows the database is in use). MongoDB has
its own tools: docs/operations.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from fhir_server.cli_options import database_option, quiet_option
from fhir_server.storage.maintenance import (
    AUDIT_SUFFIX,
    MaintenanceError,
    backup_database,
    check_database,
    restore_database,
    sqlite_path,
)

__all__ = ["backup", "check", "commands", "restore"]


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB" if count >= 100_000 else f"{count / 1000:.1f} kB"


@click.command()
@database_option
@click.option(
    "--out",
    "-o",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"The backup file; the audit trail goes next to it as FILE{AUDIT_SUFFIX}.",
)
@click.option("--force", is_flag=True, help="Replace the backup file if it exists.")
def backup(database_url: str, out: Path, force: bool) -> None:
    """Copy the database to a backup file while the server keeps serving.

    The copy is one consistent snapshot (SQLite's online backup API): every write
    acknowledged before the backup started is in it, nothing half-written is. The
    authorization tables come along; the audit trail is copied to FILE.audit.
    """
    try:
        report = backup_database(sqlite_path(database_url), str(out), force=force)
    except MaintenanceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"backed up {report.resources} resources ({report.versions} versions, schema"
        f" {report.schema_version}) to {report.path} ({_size(report.bytes)})",
        err=True,
    )
    if report.audit is not None:
        click.echo(f"backed up the audit trail to {report.audit}", err=True)


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@database_option
@click.option("--force", is_flag=True, help="Replace an existing database.")
def restore(file: Path, database_url: str, force: bool) -> None:
    """Put the backup FILE (and FILE.audit, if there) in place as the database.

    The server must be stopped: a database in use is never replaced (SQLite's own locks
    tell). An existing database is replaced only with --force; an audit trail it replaces
    is kept aside as AUDIT_FILE.before-restore-TIME. A database of an older schema is
    upgraded when the server next opens it.
    """
    try:
        report = restore_database(str(file), sqlite_path(database_url), force=force)
    except MaintenanceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"restored {report.resources} resources ({report.versions} versions, schema"
        f" {report.schema_version}) from {file} to {report.path}",
        err=True,
    )
    if report.audit is not None:
        click.echo(f"restored the audit trail to {report.audit}", err=True)
    if report.kept_audit is not None:
        click.echo(f"the replaced audit trail is kept in {report.kept_audit}", err=True)


@click.command()
@database_option
@click.option(
    "--base-url",
    envvar="MHS_FHIR_BASE_URL",
    show_envvar=True,
    default="",
    help="Base URL to re-extract index rows with [default: the one the database was last"
    " indexed for].",
)
@click.option(
    "--max-problems",
    default=20,
    show_default=True,
    type=click.IntRange(min=1),
    help="How many problems to list (all are counted).",
)
@quiet_option
def check(database_url: str, base_url: str, max_problems: int, quiet: bool) -> None:
    """Verify the database; exit status 1 if anything is wrong.

    Checks SQLite's integrity (also of the audit trail), the schema and search index
    versions, that every resource's current version has its history row and all versions
    before it, and that the search index rows agree with the resources (each current
    resource is re-indexed and compared). Safe while the server runs: it reads one snapshot.
    """
    from tqdm import tqdm

    try:
        path = sqlite_path(database_url)
        with tqdm(unit="res", disable=quiet or None, file=sys.stderr) as bar:
            report = check_database(
                path, base_url=base_url or None, limit=max_problems, on_progress=bar.update
            )
    except MaintenanceError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(
        f"{report.path}: schema {'?' if report.schema_version is None else report.schema_version},"
        f" search index"
        f" {report.index_version or '(none)'} for {report.base_url or '(no base URL)'}"
    )
    click.echo(
        f"{report.resources} resources ({report.deleted} deleted), {report.versions} versions,"
        f" {report.index_rows} index rows"
        + ("" if report.audit_records is None else f", {report.audit_records} audit records")
    )
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    if report.problem_count > len(report.problems):
        click.echo(f"... and {report.problem_count - len(report.problems)} more problems")
    if not report.ok:
        click.echo(f"check failed: {report.problem_count} problems", err=True)
        sys.exit(1)
    click.echo("check passed")


commands: tuple[click.Command, ...] = (backup, restore, check)
"""Everything this module adds to ``mhs-fhir``."""
