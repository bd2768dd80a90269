"""``mhs-fhir schedule generate``: bookable Slots from a weekly template.

A thin layer over :mod:`fhir_server.workflows.schedule` (the template format is in its
docstring and in docs/scheduling.md); ``fhir_server.cli`` registers the ``schedule`` group.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path

import click
import orjson

from fhir_server.cli_options import base_url_option, database_option, quiet_option
from fhir_server.interactions.context import Context
from fhir_server.workflows.schedule import (
    MAX_DAYS,
    Report,
    Template,
    TemplateError,
    generate,
    parse_template,
)

__all__ = ["generate_command", "read_template", "schedule_group"]


def read_template(path: Path) -> Template:
    """The template in ``path``, checked; ClickException naming the file and the problem."""
    try:
        data = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{path} is not valid JSON: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    try:
        return parse_template(data)
    except TemplateError as exc:
        raise click.ClickException(f"{path}: {exc}") from None


@click.group(name="schedule")
def schedule_group() -> None:
    """Schedules and Slots: generate bookable slots from clinics' weekly hours."""


@schedule_group.command(name="generate")
@click.option(
    "--template",
    "template_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Weekly template (JSON): clinics, providers, schedules and their opening hours;"
    " format in docs/scheduling.md.",
)
@click.option(
    "--from",
    "first",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="First day (YYYY-MM-DD, in each clinic's time zone)  [default: today]",
)
@click.option(
    "--days",
    required=True,
    type=click.IntRange(1, MAX_DAYS),
    help="How many days, the first included.",
)
@click.option("--dry-run", is_flag=True, help="Count what would be created; write nothing.")
@database_option
@base_url_option
@quiet_option
def generate_command(
    template_path: Path,
    first: datetime | None,
    days: int,
    dry_run: bool,
    database_url: str,
    base_url: str,
    quiet: bool,
) -> None:
    """Create the template's Schedules (when missing) and their free Slots for DAYS days.

    Idempotent: each Slot is identified by its schedule and start
    (http://fhir.mhs-fhir.example/sid/slot|<schedule>-<UTC YYYYMMDDHHMM>); a slot that exists,
    or that would overlap an existing slot of the schedule, is not created, and existing
    slots (booked ones above all) are never changed. One transaction per schedule and day.
    """
    from tqdm import tqdm

    from fhir_server.cli import _with_store  # here: fhir_server.cli registers this module

    template = read_template(template_path)
    start = first.date() if first is not None else date.today()

    async def work(ctx: Context) -> Report:
        total = len(template.schedules) * days
        with tqdm(total=total, unit="day", disable=quiet or None, file=sys.stderr) as bar:
            return await generate(
                ctx, template, start, days, dry_run=dry_run, on_day=lambda: bar.update(1)
            )

    report = _with_store(database_url, base_url, work)
    click.echo(report.summary(), err=True)
