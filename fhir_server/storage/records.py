"""Plain data that crosses the storage boundary: stored versions, writes, history queries.

An engine knows these shapes and its database; it knows nothing of FHIR HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Method = Literal["POST", "PUT", "PATCH", "DELETE"]


@dataclass(frozen=True, slots=True)
class StoredVersion:
    """One version of one resource, as the store keeps it.

    ``body`` is the resource JSON exactly as stored (id and meta included); it is served as it
    is. A delete is a version too: ``deleted`` is true and ``body`` is ``None``.
    """

    type: str
    id: str
    version: int
    last_updated: str
    method: Method
    body: bytes | None
    seq: int = 0

    @property
    def deleted(self) -> bool:
        return self.body is None


@dataclass(frozen=True, slots=True)
class TokenRow:
    """A token index entry: ``param`` is ``Type.name`` of the search parameter."""

    param: str
    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Write:
    """One new version of one resource: the unit an engine applies atomically with others.

    ``expected_version`` is the compare-and-swap guard: the engine applies the write only if
    the current version is exactly that (``None``: no version exists at all). Otherwise the
    whole batch of writes fails with :class:`VersionConflict` and nothing is stored.
    """

    type: str
    id: str
    version: int
    expected_version: int | None
    last_updated: str
    method: Method
    body: bytes | None
    tokens: tuple[TokenRow, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class HistoryQuery:
    """History at system (no type), type (no id) or instance level, newest first.

    ``before_seq`` is the paging cursor: only versions written before that sequence number.
    """

    type: str | None = None
    id: str | None = None
    since: str | None = None
    at: str | None = None
    before_seq: int | None = None
    count: int = 50


class StorageError(Exception):
    """Base of storage-level errors; the interactions layer turns them into FHIR errors."""


class VersionConflict(StorageError):
    """A compare-and-swap guard failed: the resource changed since it was read."""

    def __init__(self, type: str, id: str, expected: int | None) -> None:
        super().__init__(f"{type}/{id}: expected version {expected}")
        self.type = type
        self.id = id
        self.expected = expected
