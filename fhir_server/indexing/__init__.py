"""Search index rows extracted at write time, so search never parses stored JSON.

Every indexed search parameter of the resource's type (the official R4 definitions) is
evaluated with its compiled expression and turned into rows by its type's module.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from fhir_server.resource_json import parse_json
from fhir_server.search.registry import indexed_params
from fhir_server.search.types import module_for
from fhir_server.storage.records import IndexRow, Write

INDEX_VERSION = "r4-core-5+mhs-ig-1"
"""Changes whenever extraction changes: a store indexed under another version is reindexed."""


def extract(
    resource: Mapping[str, Any], *, base_url: str, only: Collection[str] | None = None
) -> tuple[IndexRow, ...]:
    """Index rows of one valid resource; references under ``base_url`` count as local.
    ``only``: just the rows of these parameter keys."""
    data = dict(resource)
    rows: list[IndexRow] = []
    for param in indexed_params(data["resourceType"]):
        assert param.accessor is not None
        if only is not None and param.key not in only:
            continue
        nodes = param.accessor(data)
        if nodes:
            rows.extend(module_for(param.kind).extract(param.key, nodes, base_url))
    return tuple(dict.fromkeys(rows))


def rows_of(write: Write) -> tuple[IndexRow, ...]:
    """The index rows of ``write``'s version: given, or extracted from its body (``index_base``)."""
    if write.index_base is None or write.body is None:
        return write.index
    document = write.document if write.document is not None else parse_json(write.body)
    return extract(document, base_url=write.index_base)
