"""``mhs-fhir ig``: the implementation guide for integrators."""

from __future__ import annotations

from pathlib import Path

import click

from ig.docs import write_docs


@click.group(name="ig")
def ig_group() -> None:
    """The MHS implementation guide (profiles, extensions, terminology)."""


@ig_group.command(name="docs")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), required=True, help="Folder."
)
def docs(out: Path) -> None:
    """Write a readable HTML page per profile and extension (elements with cardinality,
    type, binding and description) and an index."""
    pages = write_docs(out)
    click.echo(f"wrote {len(pages)} pages to {out} (open {out / 'index.html'})", err=True)
