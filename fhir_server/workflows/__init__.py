"""Workflow rules: what a write of a first-class type means beyond storing it.

One seam, called by :func:`fhir_server.interactions.common.write_version` for every write
(API, bundle entry, import): the rule of the written type (booking for Appointment, ...)
sees the write and may refuse it (a FhirError with a plain explanation), change the document
the server stores (e.g. a server-set time), and ask for companion writes that are committed
atomically with it (e.g. the Slot that becomes busy), each guarded by the version it was read
at, so two bookings racing for one Slot cannot both win. Domain events (booked, cancelled,
...) go out through :mod:`fhir_server.workflows.events` once the write is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Protocol

from fhir_server.errors import FhirError
from fhir_server.interactions.context import Context
from fhir_server.storage import StoredVersion
from fhir_server.storage.records import Method


@dataclass(frozen=True, slots=True)
class Companion:
    """A resource the workflow changes along with the written one: ``document`` is its new
    content (None: delete), ``current`` the version it was read at (the guard)."""

    type: str
    id: str
    document: dict[str, Any]
    current: StoredVersion


@dataclass(slots=True)
class Effects:
    """What a workflow asks of a write: the (possibly changed) document to store, companion
    writes, the domain events to publish once stored, and what to undo once the write is
    stored or refused (``finally``: e.g. release an in-process claim)."""

    document: dict[str, Any] | None
    companions: list[Companion] = field(default_factory=list)
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    finally_: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        """Run the ``finally_`` hooks (each once)."""
        hooks, self.finally_ = self.finally_, []
        for hook in hooks:
            hook()


class Workflow(Protocol):
    async def effects(
        self,
        ctx: Context,
        *,
        type: str,
        id: str,
        document: dict[str, Any] | None,
        before: dict[str, Any] | None,
        method: Method,
    ) -> Effects: ...


_claimed: set[str] = set()
"""What writes in this process are making right now (see :func:`claim`)."""


@contextmanager
def claimed(
    keys: Sequence[str], effects: Effects, busy: Callable[[str], FhirError]
) -> Iterator[None]:
    """Claim every key (``Slot/1``, ...) for the write of ``effects`` until it is stored or
    refused, or none: ``busy(key)`` is raised when another write of this process holds one.
    The block checks the rules the claim protects; if it raises, the claim ends at once.

    A claim only saves work and closes the gap between a rule's check and the commit within
    this process (two bookings of one Slot, two renewal requests of one prescription): the
    second is refused at once. Between processes only version guards decide (a Slot's)."""
    taken = [key for key in keys if key in _claimed]
    if taken:
        raise busy(taken[0])
    held = list(keys)
    _claimed.update(held)

    def release() -> None:
        _claimed.difference_update(held)

    try:
        yield
    except BaseException:
        release()
        raise
    effects.finally_.append(release)


@cache
def workflow_for(type: str) -> Workflow | None:
    """The rules of ``type``, if it has any (the workflows hold no state: one each)."""
    from fhir_server.workflows.booking import Booking
    from fhir_server.workflows.messaging import Messaging
    from fhir_server.workflows.renewal import Renewal

    rules: dict[str, Workflow] = {
        "Appointment": Booking(),
        "Communication": Messaging(),
        "MedicationRequest": Renewal(),
    }
    return rules.get(type)
