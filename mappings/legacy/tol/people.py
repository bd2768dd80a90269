"""Providers in the TOL exports: an NPI column and a ``LAST, FIRST MIDDLE`` name column."""

from __future__ import annotations

from mappings.legacy import values
from mappings.legacy.codes import NPI
from mappings.legacy.records import Provider
from mappings.legacy.tol.table import Row, RowError


def split_name(text: str) -> tuple[str | None, tuple[str, ...]]:
    """``LAST, FIRST MIDDLE`` -> (family, given names); without a comma, all family."""
    family, _, given = text.partition(",")
    return (family.strip() or None), tuple(given.split())


def provider(row: Row, npi_column: str, name_column: str) -> Provider | None:
    npi = row.optional(npi_column, values.npi)
    name = row.optional(name_column, lambda t: values.text(t, limit=80))
    if npi is None and name is None:
        return None
    family, given = split_name(name) if name else (None, ())
    if name is not None and family is None:
        raise RowError(name_column, name, "a name is LAST, FIRST MIDDLE")
    return Provider(NPI if npi else None, npi, family, given)


def name_text(provider: Provider | None) -> str:
    """The name column's text for ``provider`` (the writers')."""
    if provider is None or provider.family is None:
        return ""
    return f"{provider.family}, {' '.join(provider.given)}" if provider.given else provider.family
