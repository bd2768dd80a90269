"""The ``mhs-fhir`` command line.

Every command that touches data takes ``--database-url`` (or ``MHS_FHIR_DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar, cast

import click

from fhir_server.cli_options import base_url_option, database_option, quiet_option
from fhir_server.config import Settings
from fhir_server.indexing.reindex import ensure_index
from fhir_server.interactions.context import Context
from fhir_server.storage import Store, open_store, redacted
from fhir_server.storage.records import StorageError
from smart_auth.context import AccessContext

T = TypeVar("T")
log = logging.getLogger("mhs_fhir")


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _with_store(
    database_url: str,
    base_url: str,
    work: Callable[[Context], Awaitable[T]],
    *,
    ensure_indexed: bool = True,
    bulk: bool = False,
) -> T:
    """Open the store (reindexing first if it needs it; ``bulk``: for a load, see
    ``open_store``), run ``work`` with an interaction context, close the store."""

    async def run() -> T:
        store: Store = open_store(database_url, bulk=bulk)
        await store.open()
        try:
            if ensure_indexed:
                await ensure_index(store, base_url=base_url)
            access = AccessContext.internal("command line")
            ctx = Context(store=store, access=access, base_url=base_url)
            return await work(ctx)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except (ValueError, StorageError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="mhs-fhir")
def main() -> None:
    """mhs-fhir: a FHIR R4 server for military health beneficiaries.

    Serves the FHIR R4 REST API (JSON) on an embedded SQLite database by default. Start it
    with `mhs-fhir serve`, fill it with `mhs-fhir load FILE...`.
    """


@main.command()
@click.option(
    "--host",
    envvar="MHS_FHIR_HOST",
    show_envvar=True,
    default="127.0.0.1",
    show_default=True,
    help="Interface to listen on (0.0.0.0 for all).",
)
@click.option(
    "--port",
    envvar="MHS_FHIR_PORT",
    show_envvar=True,
    default=8080,
    type=int,
    show_default=True,
    help="TCP port.",
)
@database_option
@click.option(
    "--base-url",
    envvar="MHS_FHIR_BASE_URL",
    show_envvar=True,
    default="",
    help="Public FHIR base URL used in Location headers and Bundle links "
    "[default: http://HOST:PORT/fhir]; its path is where the API is mounted.",
)
@click.option(
    "--workers",
    envvar="MHS_FHIR_WORKERS",
    show_envvar=True,
    default=1,
    type=int,
    show_default=True,
    help="Server processes (SQLite serializes their writes).",
)
@click.option(
    "--demo",
    is_flag=True,
    help="Load the demo data set first, and the demo client and accounts (once each).",
)
@click.option(
    "--insecure-no-auth",
    is_flag=True,
    envvar="MHS_FHIR_INSECURE_NO_AUTH",
    show_envvar=True,
    help="Turn authorization off: anyone may read and change everything. Local development"
    " only; the server warns loudly at start and in /metadata.",
)
@click.option(
    "--log-level",
    envvar="MHS_FHIR_LOG_LEVEL",
    show_envvar=True,
    default="info",
    type=click.Choice(["debug", "info", "warning", "error"]),
    show_default=True,
)
def serve(
    host: str,
    port: int,
    database_url: str,
    base_url: str,
    workers: int,
    demo: bool,
    insecure_no_auth: bool,
    log_level: str,
) -> None:
    """Run the FHIR server and its SMART authorization server.

    The API is at BASE_URL (default http://127.0.0.1:8080/fhir): try
    `curl http://127.0.0.1:8080/fhir/metadata`. Every other request needs a bearer token from
    the authorization server (BASE_URL/.well-known/smart-configuration says where), unless
    --insecure-no-auth. Ctrl-C stops it after in-flight requests end.
    """
    import uvicorn

    from fhir_server.serving import uvicorn_options

    _logging(log_level)
    settings = Settings(
        host=host,
        port=port,
        database_url=database_url,
        base_url=base_url,
        workers=workers,
        log_level=log_level,
        insecure_no_auth=insecure_no_auth,
    )
    # Open (and upgrade, and reindex if needed) the store once here: a database this build
    # cannot use is a clear message, not a traceback from every worker.
    _with_store(settings.database_url, settings.base_url, _nothing)
    if demo:
        _load_demo(settings)
        _seed_demo_auth(settings)
    # Worker processes build their settings from the environment (app_from_env).
    os.environ.update(
        MHS_FHIR_HOST=settings.host,
        MHS_FHIR_PORT=str(settings.port),
        MHS_FHIR_DATABASE_URL=settings.database_url,
        MHS_FHIR_BASE_URL=settings.base_url,
        MHS_FHIR_LOG_LEVEL=settings.log_level,
        MHS_FHIR_INSECURE_NO_AUTH="true" if settings.insecure_no_auth else "false",
    )
    database = redacted(settings.database_url)
    click.echo(f"mhs-fhir: FHIR R4 API at {settings.base_url} (database {database})", err=True)
    uvicorn.run(
        "fhir_server.app:app_from_env",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        **uvicorn_options(settings),
    )


async def _nothing(ctx: Context) -> None:
    del ctx


def _load_demo(settings: Settings) -> None:
    from fhir_server.demo import DEMO_MARKER, demo_bundle
    from fhir_server.interactions.bundle import transaction

    async def work(ctx: Context) -> None:
        if await ctx.store.read(*DEMO_MARKER) is not None:
            log.info("demo data already loaded")
            return
        outcome = await transaction(ctx, bundle=demo_bundle(), prefer="minimal", strict=False)
        log.info("loaded the demo data set (%d resources)", len((outcome.body or {})["entry"]))

    _with_store(settings.database_url, settings.base_url, work)


def _seed_demo_auth(settings: Settings) -> None:
    from smart_auth.demo import seed_demo_accounts

    for line in seed_demo_accounts(settings):
        click.echo(line, err=True)


@main.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@database_option
@base_url_option
@quiet_option
def load(files: tuple[Path, ...], database_url: str, base_url: str, quiet: bool) -> None:
    """Load FHIR JSON files into the store, through the same write path as the API.

    FILES may be NDJSON (one resource per line: *.ndjson, *.jsonl), transaction or batch
    Bundles (processed as if POSTed to the base URL), other Bundles (each entry stored) or
    single resources. Resources with an id are stored with update (PUT), others with create.
    Each bad record is reported as FILE:LINE: message; the others are still stored. The exit
    status is 1 if any record failed.
    """
    from tqdm import tqdm

    from fhir_server.loading import count_records
    from fhir_server.loading import load as load_files

    _logging("warning")
    paths = list(files)
    total = count_records(paths)

    async def work(ctx: Context) -> Any:
        with tqdm(total=total, unit="rec", disable=quiet or None, file=sys.stderr) as bar:
            return await load_files(ctx, paths, on_record=lambda: bar.update(1))

    report = _with_store(database_url, base_url, work, bulk=True)
    for error in report.errors:
        click.echo(f"error: {error}", err=True)
    click.echo(
        f"stored {report.stored} resources from {len(paths)} files;"
        f" {len(report.errors)} records failed",
        err=True,
    )
    if report.errors:
        sys.exit(1)


@main.command(name="reindex")
@database_option
@base_url_option
@quiet_option
def reindex_command(database_url: str, base_url: str, quiet: bool) -> None:
    """Rebuild every search index row from the stored resources.

    Needed only when search definitions or extraction change; the server also reindexes by
    itself at start-up when the store was indexed by another version or base URL.
    """
    from tqdm import tqdm

    from fhir_server.indexing.reindex import reindex

    _logging("warning")

    async def work(ctx: Context) -> int:
        store = cast(Store, ctx.store)
        with tqdm(unit="res", disable=quiet or None, file=sys.stderr) as bar:
            return await reindex(store, base_url=base_url, on_progress=bar.update)

    count = _with_store(database_url, base_url, work, ensure_indexed=False)
    click.echo(f"reindexed {count} resources", err=True)


def _register_commands() -> None:
    """The commands that live beside their packages: imports and generators, the
    authorization server's administration, maintenance."""
    from fhir_server.maintenance_cli import backup, check, restore
    from fhir_server.workflows.cli import schedule_group
    from ig.cli import ig_group
    from mappings.cli import generate_group, import_group
    from mappings.legacy.cli import generate_legacy, legacy_import_commands, mllp
    from smart_auth.cli import audit, clients, grants, keys, users

    for command in legacy_import_commands:
        import_group.add_command(command)
    generate_group.add_command(generate_legacy)
    main.add_command(import_group)
    main.add_command(generate_group)
    main.add_command(mllp)
    main.add_command(ig_group)
    main.add_command(schedule_group)
    main.add_command(backup)
    main.add_command(restore)
    main.add_command(check)
    main.add_command(audit)
    main.add_command(clients)
    main.add_command(grants)
    main.add_command(users)
    main.add_command(keys)


_register_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
