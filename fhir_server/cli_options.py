"""Options every data command shares, defined once (``--database-url`` above all)."""

from __future__ import annotations

import click

from fhir_server.config import DEFAULT_DATABASE_URL

database_option = click.option(
    "--database-url",
    envvar="MHS_FHIR_DATABASE_URL",
    show_envvar=True,
    default=DEFAULT_DATABASE_URL,
    show_default=True,
    help="Where the data lives: sqlite:///path/to/file.db (created if missing).",
)

base_url_option = click.option(
    "--base-url",
    envvar="MHS_FHIR_BASE_URL",
    show_envvar=True,
    default="http://127.0.0.1:8080/fhir",
    show_default=True,
    help="The server's public base URL: references under it are local ones, and fullUrls in"
    " transactions are read against it.",
)
quiet_option = click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
