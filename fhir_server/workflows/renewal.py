"""Medication renewal: a beneficiary asks for a prescription to be renewed, staff decide.

A **renewal request** is a MedicationRequest with ``intent=proposal``, ``status=active`` and
``priorPrescription`` naming the prescription to renew (``MedicationRequest/[id]`` here; the
IG's MHSRenewalRequest). Rules, for every write of a MedicationRequest (API, bundle entry,
import):

- **Asking** (a request created, or updated into being one):

  - the prescription must be here (and, for a beneficiary, one the token can read), an order
    (intent ``order`` or one of its kinds) for the request's subject, and ``active`` or
    ``completed``: a stopped, cancelled, on-hold, draft or entered-in-error one cannot be
    renewed (422);
  - a prescription has at most one open request: asking again while one is ``active`` is
    422, naming it; while another ask of it is being written in this process, 409 (try
    again) — the check and the write are one step within a process. (With several worker
    processes, two asks arriving in the same millisecond at two processes could both be
    stored: the care team then sees two open requests for one prescription, and approving
    completes both.)
  - a beneficiary may ask only once the prescription has **no refills left or has
    expired** (422 otherwise, saying how many are left). ``completed`` counts as nothing
    left (all its fills happened, or the import found it expired or used up). For an active
    one, the fills left are ``dispenseRequest.numberOfRepeatsAllowed + 1`` minus the
    ``completed`` MedicationDispenses whose ``authorizingPrescription`` it is; without any
    such dispense, the legacy import's count (extension :data:`REFILLS_REMAINING`, refills
    after the first fill, so one more fill while :data:`LAST_FILL` says it was never
    filled); without either, ``numberOfRepeatsAllowed + 1``. It has expired when
    ``dispenseRequest.validityPeriod.end`` is past (a date: after that day, UTC);
    staff and systems may ask early;
  - the server completes the request from the prescription: ``subject``, ``medication[x]``
    and ``dosageInstruction`` when missing (a beneficiary's medication is always the
    prescription's: a renewal asks for the same medicine), ``requester`` the token's
    fhirUser when missing, ``authoredOn`` the server's clock when missing (always for a
    beneficiary). ``renewal.requested`` goes out.

- **Deciding** is staff's:

  - approving is writing the renewed prescription: an active order whose
    ``priorPrescription`` is the original, while a request for it is open. In the same
    atomic write the open request (the one its ``basedOn`` names, else every open one)
    becomes ``completed``, and the original, if ``active``, becomes ``completed`` with
    ``statusReason.text`` "renewed as MedicationRequest/[new]" (``completed`` as the import
    marks a prescription used up or expired; it is superseded, nothing more will be filled
    on it). The order gets ``basedOn`` the request when it names none. Each companion write
    is guarded by the version read, so two approvals racing cannot both win (409). Setting
    a request ``completed`` directly also counts as approved (the order made elsewhere);
  - denying is setting the request ``cancelled`` with a ``statusReason.text`` the patient
    can read (422 without one);
  - ``renewal.decided`` goes out with ``decision`` approved or denied.

- **A beneficiary** writes only renewal requests: asking, and withdrawing their own open
  request (``status`` ``cancelled``, with an optional ``statusReason``; ``renewal.decided``
  with ``decision`` withdrawn). Writing or changing prescriptions, deciding, or deleting is
  the care team's (403).

What a beneficiary's role can never do is 403; a request the data does not allow is 422.
Access to the content is judged before the rules, so they never tell a token about what it
cannot see. Open requests of a prescription:
``MedicationRequest?prior-prescription=MedicationRequest/[id]&intent=proposal&status=active``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fhir_server.clock import now_instant, parse_instant
from fhir_server.errors import Conflict, Forbidden, Unprocessable
from fhir_server.interactions.access import Permission, may, require_writable
from fhir_server.interactions.context import Context
from fhir_server.resource_json import parse_json
from fhir_server.search.types.reference import local
from fhir_server.storage import StoredVersion
from fhir_server.storage.records import Method
from fhir_server.workflows import Companion, Effects, claimed
from fhir_server.workflows.lookups import count, found
from ig.naming import EXTENSION

REFILLS_REMAINING = f"{EXTENSION}/refills-remaining"
"""MedicationRequest: refills left (valueUnsignedInt) as the legacy pharmacy last reported
(written by the legacy import, ``mappings.legacy.codes.REFILLS_REMAINING_EXTENSION``)."""
LAST_FILL = f"{EXTENSION}/last-fill-date"
"""MedicationRequest: the date of the last (re)fill (``mappings.legacy.codes``)."""

ORDER_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)
RENEWABLE = frozenset({"active", "completed"})
_WHY_NOT = {
    "stopped": "was stopped by the care team",
    "cancelled": "was cancelled",
    "on-hold": "is on hold",
    "draft": "is not yet a prescription (a draft)",
    "entered-in-error": "was entered in error",
}
_MEDICATION = ("medicationCodeableConcept", "medicationReference")
_PERMISSION: dict[Method, Permission] = {
    "POST": Permission.CREATE,
    "PUT": Permission.UPDATE,
    "PATCH": Permission.UPDATE,
    "DELETE": Permission.DELETE,
}


def _rule(message: str, *expression: str) -> Unprocessable:
    return Unprocessable(message, code="business-rule", expression=expression)


def _prior(request: dict[str, Any] | None, base_url: str) -> str | None:
    """The id of the MedicationRequest here that ``priorPrescription`` names."""
    node = request.get("priorPrescription") if request else None
    reference = node.get("reference") if isinstance(node, dict) else None
    target = local(reference, base_url) if isinstance(reference, str) else None
    return target[1] if target is not None and target[0] == "MedicationRequest" else None


def _is_proposal(request: dict[str, Any] | None) -> bool:
    return request is not None and request.get("intent") == "proposal"


def _is_open(request: dict[str, Any] | None, base_url: str) -> bool:
    """An open renewal request: an active proposal naming a prescription here."""
    return (
        _is_proposal(request)
        and request is not None
        and request.get("status") == "active"
        and _prior(request, base_url) is not None
    )


def _is_active_order(request: dict[str, Any] | None, base_url: str) -> bool:
    return (
        request is not None
        and request.get("intent") in ORDER_INTENTS
        and request.get("status") == "active"
        and _prior(request, base_url) is not None
    )


def _reason(request: dict[str, Any]) -> str | None:
    reason = request.get("statusReason")
    text = reason.get("text") if isinstance(reason, dict) else None
    return text.strip() if isinstance(text, str) and text.strip() else None


def _subject(request: dict[str, Any]) -> str | None:
    node = request.get("subject")
    reference = node.get("reference") if isinstance(node, dict) else None
    return reference if isinstance(reference, str) else None


def _without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def _content(resource: dict[str, Any], *drop: str) -> dict[str, Any]:
    """What a version says, without the id and meta the server stamps (and ``drop``)."""
    return {k: v for k, v in resource.items() if k not in ("id", "meta", *drop)}


async def _open_requests(ctx: Context, prescription: str) -> list[dict[str, Any]]:
    return await found(
        ctx,
        "renewal",
        "MedicationRequest",
        [
            ("prior-prescription", f"MedicationRequest/{prescription}"),
            ("intent", "proposal"),
            ("status", "active"),
        ],
    )


class Renewal:
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
        if document is not None and not ctx.access.unrestricted:
            require_writable(ctx, _PERMISSION[method], type, document, before)
        beneficiary = ctx.access.is_beneficiary
        if beneficiary:
            _beneficiary_may(ctx, id, document, before)
        if document is None:
            return Effects(document=None)
        base_url = ctx.base_url
        request = dict(document)
        effects = Effects(document=request)
        if _is_open(request, base_url) and (
            not _is_open(before, base_url) or _prior(before, base_url) != _prior(request, base_url)
        ):
            await _asking(ctx, id, request, effects)
        elif (
            before is not None
            and _is_open(before, base_url)
            and request.get("status") in ("completed", "cancelled")
        ):
            _deciding(ctx, id, request, before, effects)
        elif _is_active_order(request, base_url) and not (
            _is_active_order(before, base_url)
            and _prior(before, base_url) == _prior(request, base_url)
        ):
            await _approving(ctx, id, request, effects)
        return effects


def _beneficiary_may(
    ctx: Context, id: str, document: dict[str, Any] | None, before: dict[str, Any] | None
) -> None:
    """A beneficiary asks for renewals and withdraws their own open ones; nothing else."""
    base_url = ctx.base_url
    if document is None:
        raise Forbidden(
            "prescriptions and renewal requests are kept by the care team; withdraw a renewal"
            " request by setting its status to cancelled"
        )
    if before is not None and _content(document) == _content(before):
        return
    if _is_open(before, base_url):
        assert before is not None
        withdrawn = _content(document, "status", "statusReason")
        if document.get("status") == "cancelled" and withdrawn == _content(
            before, "status", "statusReason"
        ):
            return
        raise Forbidden(
            f"MedicationRequest/{id} is a renewal request waiting for the care team: you can"
            " withdraw it (status cancelled), not change it"
        )
    if before is not None and _is_proposal(before):
        raise Forbidden(f"MedicationRequest/{id} was decided; ask for a new renewal instead")
    if before is not None or not _is_proposal(document) or _prior(document, base_url) is None:
        raise Forbidden(
            "prescriptions are written by the care team; you can ask to renew one (a"
            " MedicationRequest with intent proposal naming it in priorPrescription)"
        )
    if document.get("status") != "active":
        raise _rule("a renewal request is sent with status active", "MedicationRequest.status")


async def _asking(ctx: Context, id: str, request: dict[str, Any], effects: Effects) -> None:
    beneficiary = ctx.access.is_beneficiary
    prior = _prior(request, ctx.base_url)
    assert prior is not None
    named = f"MedicationRequest/{prior}"
    current = await ctx.current("MedicationRequest", prior)
    original = parse_json(current.body) if current is not None and current.body else None
    if not isinstance(original, dict) or (
        beneficiary and not may(ctx, Permission.READ, "MedicationRequest", original)
    ):
        raise _rule(
            f"priorPrescription names {named}, which is not a prescription known here",
            "MedicationRequest.priorPrescription",
        )
    if original.get("intent") not in ORDER_INTENTS:
        raise _rule(
            f"{named} is a {original.get('intent')}, not a prescription: only an order can be"
            " renewed",
            "MedicationRequest.priorPrescription",
        )
    status = original.get("status")
    if status not in RENEWABLE:
        why = _WHY_NOT.get(str(status), f"is {status}")
        raise _rule(
            f"{named} {why}: only an active or completed prescription can be renewed; send"
            " your care team a message about it",
            "MedicationRequest.priorPrescription",
        )
    subject = _subject(original)
    if "subject" not in request and subject is not None:
        request["subject"] = original["subject"]
    if _subject(request) != subject:
        raise _rule(
            f"{named} is the prescription of {subject}; a renewal request is for the same patient",
            "MedicationRequest.subject",
        )
    with claimed([f"renewal of {named}"], effects, _being_asked):
        waiting = [r for r in await _open_requests(ctx, prior) if r.get("id") != id]
        if waiting:
            raise _rule(
                f"a renewal of {named} was already asked for (MedicationRequest/"
                f"{waiting[0].get('id')}) and is waiting for the care team's decision",
                "MedicationRequest.priorPrescription",
            )
        if beneficiary and status == "active":
            left = await fills_left(ctx, prior, original)
            if left > 0 and not expired(original):
                end = _validity_end(original)
                until = f", valid until {end}" if end else ""
                raise _rule(
                    f"{named} has {left} fill{'s' if left != 1 else ''} left{until}: ask the"
                    " pharmacy for a refill; a renewal can be asked for once no refills are left"
                    " or the prescription has expired",
                    "MedicationRequest.priorPrescription",
                )
        _complete_from(ctx, request, original)
        effects.events.append(
            (
                "renewal.requested",
                {
                    "proposal": f"MedicationRequest/{id}",
                    "prescription": named,
                    "subject": str(subject),
                },
            )
        )


def _being_asked(key: str) -> Conflict:
    return Conflict(f"a {key} is being asked for right now; try again in a moment to see it")


def _complete_from(ctx: Context, request: dict[str, Any], original: dict[str, Any]) -> None:
    """Fill the request from the prescription it renews (see the module's rules)."""
    beneficiary = ctx.access.is_beneficiary
    has_medication = any(key in request for key in _MEDICATION)
    if beneficiary or not has_medication:
        for key in _MEDICATION:
            request.pop(key, None)
            if key in original:
                request[key] = original[key]
    if "dosageInstruction" not in request and "dosageInstruction" in original:
        request["dosageInstruction"] = original["dosageInstruction"]
    if "requester" not in request and ctx.access.fhir_user:
        request["requester"] = {"reference": ctx.access.fhir_user}
    if beneficiary or "authoredOn" not in request:
        request["authoredOn"] = now_instant()


def _deciding(
    ctx: Context, id: str, request: dict[str, Any], before: dict[str, Any], effects: Effects
) -> None:
    """Staff approve (completed) or deny (cancelled, saying why); a beneficiary withdraws."""
    status = request.get("status")
    decision = "approved" if status == "completed" else "denied"
    if ctx.access.is_beneficiary:
        decision = "withdrawn"
    elif status == "cancelled" and _reason(request) is None:
        raise _rule(
            "a denied renewal request says why in statusReason.text: the patient reads it",
            "MedicationRequest.statusReason",
        )
    effects.events.append(
        (
            "renewal.decided",
            {
                "proposal": f"MedicationRequest/{id}",
                "prescription": f"MedicationRequest/{_prior(before, ctx.base_url)}",
                "decision": decision,
            },
        )
    )


async def _approving(ctx: Context, id: str, order: dict[str, Any], effects: Effects) -> None:
    """A renewed prescription closes the open requests for the original and supersedes it."""
    prior = _prior(order, ctx.base_url)
    assert prior is not None
    named = f"MedicationRequest/{prior}"
    waiting = [r for r in await _open_requests(ctx, prior) if r.get("id") != id]
    if not waiting:
        return  # a renewal nobody asked for here: nothing to decide
    current = await ctx.current("MedicationRequest", prior)
    original = parse_json(current.body) if current is not None and current.body else None
    if not isinstance(original, dict) or current is None:
        return
    if _subject(order) != _subject(original):
        raise _rule(
            f"{named} is the prescription of {_subject(original)}; its renewal is for the same"
            " patient",
            "MedicationRequest.subject",
        )
    given = order.get("basedOn")
    based_on: list[Any] = given if isinstance(given, list) else []
    targets = [_reference(node, ctx.base_url) for node in based_on]
    named_ids = {t[1] for t in targets if t is not None and t[0] == "MedicationRequest"}
    matched = [r for r in waiting if r.get("id") in named_ids]
    chosen = matched or waiting
    for proposal in chosen:
        proposal_id = str(proposal.get("id"))
        stored = await _stored(ctx, proposal_id)
        changed = _without_meta(parse_json(stored.body or b"{}"))
        changed["status"] = "completed"
        effects.companions.append(
            Companion(type="MedicationRequest", id=proposal_id, document=changed, current=stored)
        )
        effects.events.append(
            (
                "renewal.decided",
                {
                    "proposal": f"MedicationRequest/{proposal_id}",
                    "prescription": named,
                    "decision": "approved",
                    "order": f"MedicationRequest/{id}",
                },
            )
        )
    if not matched:
        order["basedOn"] = [
            *based_on,
            *({"reference": f"MedicationRequest/{p.get('id')}"} for p in chosen),
        ]
    if original.get("status") == "active":
        superseded = _without_meta(original)
        superseded["status"] = "completed"
        superseded["statusReason"] = {"text": f"renewed as MedicationRequest/{id}"}
        effects.companions.append(
            Companion(type="MedicationRequest", id=prior, document=superseded, current=current)
        )


def _reference(node: Any, base_url: str) -> tuple[str, str] | None:
    reference = node.get("reference") if isinstance(node, dict) else None
    return local(reference, base_url) if isinstance(reference, str) else None


async def _stored(ctx: Context, id: str) -> StoredVersion:
    current = await ctx.current("MedicationRequest", id)
    if current is None or current.body is None:  # pragma: no cover - found by search just now
        raise _rule(f"MedicationRequest/{id} changed while this write was made; try again")
    return current


async def fills_left(ctx: Context, id: str, prescription: dict[str, Any]) -> int:
    """Fills left on a prescription (see the module's rules): from its completed dispenses,
    else the legacy refill count, else all of them."""
    dispense = prescription.get("dispenseRequest")
    repeats = dispense.get("numberOfRepeatsAllowed") if isinstance(dispense, dict) else None
    allowed = (repeats if isinstance(repeats, int) else 0) + 1
    dispensed = await count(
        ctx,
        "renewal",
        "MedicationDispense",
        [("prescription", f"MedicationRequest/{id}"), ("status", "completed")],
    )
    if dispensed:
        return max(0, allowed - dispensed)
    remaining: int | None = None
    filled = False
    for extension in prescription.get("extension") or []:
        if not isinstance(extension, dict):
            continue
        if extension.get("url") == REFILLS_REMAINING:
            value = extension.get("valueUnsignedInt")
            remaining = value if isinstance(value, int) else remaining
        elif extension.get("url") == LAST_FILL:
            filled = True
    if remaining is not None:
        return remaining + (0 if filled else 1)
    return allowed


def _validity_end(prescription: dict[str, Any]) -> str | None:
    dispense = prescription.get("dispenseRequest")
    period = dispense.get("validityPeriod") if isinstance(dispense, dict) else None
    end = period.get("end") if isinstance(period, dict) else None
    return end if isinstance(end, str) else None


def expired(prescription: dict[str, Any], now: datetime | None = None) -> bool:
    """Whether ``dispenseRequest.validityPeriod.end`` is past: a date (or year, or month)
    once that whole day (year, month) is over in UTC, a dateTime once that moment passed."""
    end = _validity_end(prescription)
    if end is None:
        return False
    moment = now or datetime.now(UTC)
    if "T" not in end:
        return end < moment.date().isoformat()[: len(end)]
    try:
        return parse_instant(end) < moment
    except ValueError:
        return False
