"""Booking: an Appointment that references free Slots holds them.

- Booking is creating (or updating into) an active Appointment (proposed, pending, booked,
  arrived, checked-in, waitlist) that references Slots: in the same atomic write every Slot
  becomes ``busy``. A Slot that is not free refuses the booking (409); two bookings racing for
  one Slot cannot both win (each Slot change is guarded by the version read).
- Cancelling (``cancelled``, ``noshow``, ``entered-in-error``, or deleting) frees the Slots it
  held; rescheduling (a new Slot) frees the old and holds the new in one write.
- A Slot this server does not hold is left alone (an EHR's appointment may name one), except
  that a beneficiary books only real, free Slots. The server's own writes (imports of
  authoritative data) pass no workflow.
- A beneficiary's token books only in the booking window (not in the past, at most
  ``BOOKING_WINDOW_DAYS`` ahead) and cancels only up to ``CANCEL_CUTOFF_HOURS`` before the
  start; clinic staff (``user/`` scopes) and systems may override. That a beneficiary books
  only for patients they may act for is the access rules' (the patient participant must be
  within the token's reach).

Within one server process a Slot being booked is *claimed* until that write is stored or
refused: a second booking of it is answered 409 at once instead of doing all the work of a
write that its version guard would refuse at commit (:func:`fhir_server.workflows.claimed`).
The claim only saves work; the guard still decides, also between processes (several
workers).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fhir_server.clock import parse_instant
from fhir_server.errors import Conflict, Unprocessable
from fhir_server.interactions.context import Context
from fhir_server.resource_json import parse_json
from fhir_server.storage.records import Method
from fhir_server.workflows import Companion, Effects, claimed

HOLDING = frozenset({"proposed", "pending", "booked", "arrived", "checked-in", "waitlist"})
BOOKING_WINDOW_DAYS = 180
CANCEL_CUTOFF_HOURS = 24


def _slot_ids(appointment: dict[str, Any] | None) -> list[str]:
    if not appointment or appointment.get("status") not in HOLDING:
        return []
    out = []
    for slot in appointment.get("slot") or []:
        reference = slot.get("reference") if isinstance(slot, dict) else None
        if isinstance(reference, str) and reference.startswith("Slot/"):
            out.append(reference.removeprefix("Slot/").split("/")[0])
    return out


def _start(appointment: dict[str, Any]) -> datetime | None:
    value = appointment.get("start")
    if not isinstance(value, str):
        return None
    try:
        return parse_instant(value)
    except ValueError:
        return None


class Booking:
    async def effects(
        self,
        ctx: Context,
        *,
        type: str,
        id: str,
        document: dict[str, Any] | None,
        before: dict[str, Any] | None,
        method: Method,
    ) -> Effects:
        held_before = set(_slot_ids(before))
        held_after = set(_slot_ids(document))
        effects = Effects(document=document)
        if held_before == held_after:
            return effects
        beneficiary = ctx.access.is_beneficiary
        now = datetime.now(UTC)
        if held_after - held_before and beneficiary and document is not None:
            start = _start(document)
            if start is not None and start < now:
                raise Unprocessable(
                    "an appointment cannot be booked in the past", code="business-rule"
                )
            if start is not None and start > now + timedelta(days=BOOKING_WINDOW_DAYS):
                raise Unprocessable(
                    f"appointments can be booked at most {BOOKING_WINDOW_DAYS} days ahead",
                    code="business-rule",
                )
        if held_before - held_after and beneficiary and before is not None:
            start = _start(before)
            if start is not None and start - now < timedelta(hours=CANCEL_CUTOFF_HOURS):
                raise Unprocessable(
                    f"an appointment can be cancelled or moved up to {CANCEL_CUTOFF_HOURS} hours"
                    " before it starts; call the clinic",
                    code="business-rule",
                )
        claims = [f"Slot/{i}" for i in sorted(held_after - held_before)]
        with claimed(claims, effects, _being_booked):
            for slot_id in sorted(held_after - held_before):
                slot = await _slot(ctx, slot_id, "busy", must_be="free", required=beneficiary)
                if slot is not None:
                    effects.companions.append(slot)
            for slot_id in sorted(held_before - held_after):
                slot = await _slot(ctx, slot_id, "free", must_be=None, required=False)
                if slot is not None:
                    effects.companions.append(slot)
        reference = {"appointment": f"Appointment/{id}"}
        if held_after - held_before:
            effects.events.append(("appointment.booked", {**reference, "slots": len(held_after)}))
        if held_before - held_after and not held_after:
            effects.events.append(("appointment.cancelled", reference))
        return effects


def _being_booked(key: str) -> Conflict:
    return Conflict(f"{key} is being booked by someone else: book another")


async def _slot(
    ctx: Context, slot_id: str, status: str, *, must_be: str | None, required: bool
) -> Companion | None:
    """The Slot's change to ``status``; an unknown Slot is refused when ``required`` (a
    beneficiary books only real Slots), else left alone (an EHR's appointment may reference a
    Slot this server does not hold)."""
    current = await ctx.current("Slot", slot_id)
    if current is None or current.body is None:
        if not required:
            return None
        raise Unprocessable(f"Slot/{slot_id} is not known", code="business-rule")
    slot = parse_json(current.body)
    if must_be is not None and slot.get("status") != must_be:
        raise Conflict(f"Slot/{slot_id} is {slot.get('status')}, not {must_be}: book another")
    changed = {k: v for k, v in slot.items() if k != "meta"}
    changed["status"] = status
    return Companion(type="Slot", id=slot_id, document=changed, current=current)
