"""Domain events (booked, cancelled, message sent, renewal decided) through one interface.

Workflows publish after their write is stored; every configured sink gets each event. The
log sink is always there; others (a signed webhook) are added at start-up. FHIR
Subscriptions will be one more sink.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger("mhs_fhir.events")


class Sink(Protocol):
    async def send(self, name: str, payload: dict[str, Any]) -> None: ...


class LogSink:
    """Writes each event to the log (ids and references only, never resource content)."""

    async def send(self, name: str, payload: dict[str, Any]) -> None:
        log.info("event %s %s", name, " ".join(f"{k}={v}" for k, v in sorted(payload.items())))


_sinks: list[Sink] = [LogSink()]


def add_sink(sink: Sink) -> None:
    _sinks.append(sink)


def remove_sink(sink: Sink) -> None:
    if sink in _sinks:
        _sinks.remove(sink)


async def publish(name: str, payload: dict[str, Any]) -> None:
    """Give the event to every sink; a failing sink is logged, never fails the write."""
    for sink in list(_sinks):
        try:
            await sink.send(name, payload)
        except Exception:
            log.exception("event sink %r failed on %s", sink, name)
