"""What a mapper makes of one record before the loader looks at the store: its own resources
(each with the criteria that find it again), the directory entries it points at, and the
DoD IDs of the patients it needs."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mappings.legacy.codes import DOD_ID
from mappings.legacy.mapping.directory import Entry


@dataclass(frozen=True, slots=True)
class Draft:
    line: int
    key: str
    """What the record is about (``Appointment|<id>``): of two records of one key in a batch,
    the newer wins."""
    recorded: datetime | None
    marker: str
    resources: tuple[tuple[dict[str, Any], str], ...]
    directory: tuple[Entry, ...] = ()
    main: str = ""
    """The criteria of the record's main resource (the first one): new or not decides whether
    the record created something."""


def patient_criteria(dod_id: str) -> str:
    return f"identifier={DOD_ID}|{dod_id}"


def patient_reference(dod_id: str) -> dict[str, str]:
    """A conditional reference to the Patient the eligibility import made for ``dod_id``;
    the loader replaces it with ``Patient/<id>`` (or rejects the record)."""
    return {"reference": f"Patient?{patient_criteria(dod_id)}"}


def identifier_criteria(system: str, value: str) -> str:
    return f"identifier={system}|{value}"
