"""The document layout of the MongoDB engine: writes in, stored versions out.

``resources`` holds one document per resource, its current version::

    {_id: "Patient/a", type, id, version, lastUpdated, deleted, method, body, seq, rid,
     shard: "Patient/a", patients: ["a"],
     idx_string:    [{p, norm, exact}],          idx_token: [{p, system, code}],
     idx_reference: [{p, type, id, url}],        idx_date:  [{p, low, high}],
     idx_number:    [{p, value, top, system, code, unit}],   idx_uri: [{p, uri}],
     idx_composite: [{p, c1: {...}, c2: {...}, c3: {...}}],
     sort: {"idx_date:Patient/birthdate": {asc, desc}}}

- ``p`` is the parameter key (``Patient.birthdate``); the index arrays are what multikey
  indexes serve searches from, one array per parameter type like SQLite's ``idx_*`` tables.
- ``rid`` orders resources by creation (SQLite's rowid); ``seq`` is the current version's
  history number. Both come from one counter.
- ``sort`` keeps, per parameter, the value an ascending sort uses (the smallest) and the one a
  descending sort uses (the largest), so sorting reads one field (keyed by array and
  parameter, ``.`` -> ``/``).
- ``shard`` is the shard key: ``Patient/<id>`` of the patient compartment the first version
  belonged to (the patient itself for a Patient), else the resource's own ``Type/id``. It is
  fixed at create: MongoDB can change a shard key only with the old value in the filter.
  ``patients`` follows every version (all patient compartments).

``history`` holds every version: ``{_id: seq, type, id, version, lastUpdated, method, body}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from fhir_server.indexing import rows_of
from fhir_server.search.registry import compartment_params
from fhir_server.storage.records import (
    INDEX_OF_KIND,
    KIND_OF_ROW,
    ComponentRow,
    CompositeRow,
    DateRow,
    IndexRow,
    Method,
    NumberRow,
    ReferenceRow,
    StoredVersion,
    StringRow,
    TokenRow,
    UriRow,
    Write,
)

Document = dict[str, Any]

ARRAYS = INDEX_OF_KIND
"""The array holding each parameter kind's index entries."""

INDEX_ARRAYS = tuple(dict.fromkeys(INDEX_OF_KIND.values()))
COMPONENTS = ("c1", "c2", "c3")


def resource_key(type: str, id: str) -> str:
    """The ``_id`` of a resource document."""
    return f"{type}/{id}"


def sort_field(array: str, param: str) -> str:
    """The key under ``sort`` of ``param``'s values in ``array`` (as SQLite sorts a key by
    its kind's table alone); field names cannot hold dots."""
    return f"{array}:{param.replace('.', '/')}"


def _fields(row: ComponentRow) -> Document:
    """A row's values under the names the search compiler uses (no parameter key)."""
    if isinstance(row, StringRow):
        return {"norm": row.norm, "exact": row.exact}
    if isinstance(row, TokenRow):
        return {"system": row.system, "code": row.code}
    if isinstance(row, ReferenceRow):
        return {"type": row.type, "id": row.id, "url": row.url}
    if isinstance(row, DateRow):
        return {"low": row.low, "high": row.high}
    if isinstance(row, NumberRow):
        return {
            "value": float(row.value),
            "top": float(row.top),
            "system": row.system,
            "code": row.code,
            "unit": row.unit,
        }
    return {"uri": row.uri}


def _entry(row: IndexRow) -> Document:
    if isinstance(row, CompositeRow):
        entry: Document = {"p": row.param}
        for name, part in zip(COMPONENTS, row.parts, strict=False):
            fields = _fields(part)
            if isinstance(part, NumberRow):  # a composite keeps one number per component
                fields["top"] = fields["value"]
            entry[name] = fields
        return entry
    return {"p": row.param, **_fields(row)}


def _sort_values(row: IndexRow) -> tuple[Any, Any]:
    """(what an ascending sort uses, what a descending one uses) of one row."""
    if isinstance(row, StringRow):
        return row.norm, row.norm
    if isinstance(row, TokenRow):
        return row.code, row.code
    if isinstance(row, ReferenceRow):
        return row.id, row.id
    if isinstance(row, DateRow):
        return row.low, row.high
    if isinstance(row, NumberRow):
        return float(row.value), float(row.top)
    if isinstance(row, UriRow):
        return row.uri, row.uri
    return None, None  # composites do not sort


def index_fields(rows: Iterable[IndexRow]) -> Document:
    """The index arrays and sort keys of a resource with these index rows."""
    out: Document = {name: [] for name in INDEX_ARRAYS}
    ranges: dict[str, list[Any]] = {}
    for row in rows:
        array = INDEX_OF_KIND[KIND_OF_ROW[type(row)]]
        out[array].append(_entry(row))
        ascending, descending = _sort_values(row)
        if ascending is None and descending is None:
            continue
        bounds = ranges.setdefault(sort_field(array, row.param), [None, None])
        if ascending is not None and (bounds[0] is None or ascending < bounds[0]):
            bounds[0] = ascending
        if descending is not None and (bounds[1] is None or descending > bounds[1]):
            bounds[1] = descending
    out["sort"] = {
        key: {"asc": low, "desc": high} for key, (low, high) in ranges.items() if low is not None
    }
    return out


def patients(type: str, id: str, rows: Iterable[IndexRow]) -> list[str]:
    """Ids of the Patients whose compartment holds this resource (the official
    CompartmentDefinition: the reference parameters it lists for ``type``)."""
    keys = {f"{type}.{code}" for code in compartment_params(type)}
    found = {
        row.id
        for row in rows
        if isinstance(row, ReferenceRow)
        and row.param in keys
        and row.type == "Patient"
        and row.id is not None
    }
    if type == "Patient":
        found.add(id)
    return sorted(found)


def shard_key(type: str, id: str, members: Sequence[str]) -> str:
    """The shard key value of a new resource: its (first) patient, else itself."""
    return resource_key("Patient", members[0]) if members else resource_key(type, id)


def current_fields(w: Write, seq: int) -> Document:
    """What a write sets on the resource document (not ``_id``, ``rid`` or ``shard``)."""
    rows = rows_of(w) if w.body is not None else ()
    return {
        "type": w.type,
        "id": w.id,
        "version": w.version,
        "lastUpdated": w.last_updated,
        "deleted": w.body is None,
        "method": w.method,
        "body": w.body,
        "seq": seq,
        "patients": patients(w.type, w.id, rows),
        **index_fields(rows),
    }


def new_resource(w: Write, seq: int) -> Document:
    fields = current_fields(w, seq)
    return {
        "_id": resource_key(w.type, w.id),
        "rid": seq,
        "shard": shard_key(w.type, w.id, fields["patients"]),
        **fields,
    }


def history_entry(w: Write, seq: int) -> Document:
    return {
        "_id": seq,
        "type": w.type,
        "id": w.id,
        "version": w.version,
        "lastUpdated": w.last_updated,
        "method": w.method,
        "body": w.body,
    }


def _body(value: Any) -> bytes | None:
    return None if value is None else bytes(value)


def stored(doc: Mapping[str, Any], *, seq_field: str) -> StoredVersion:
    """A stored version from a resource or history document; ``seq`` from ``seq_field``."""
    return StoredVersion(
        type=str(doc["type"]),
        id=str(doc["id"]),
        version=int(doc["version"]),
        last_updated=str(doc["lastUpdated"]),
        method=cast(Method, doc["method"]),
        body=_body(doc.get("body")),
        seq=int(doc[seq_field]),
    )


PAGE_FIELDS = ("type", "id", "version", "lastUpdated", "method", "body", "rid")
"""What a search page needs of each resource document."""
SUMMARY_PROJECTION: Document = {name: 0 for name in (*INDEX_ARRAYS, "sort", "patients")}
"""Leave the index out of what a read or search fetches."""
