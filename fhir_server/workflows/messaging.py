"""Secure messaging: a Communication is a message, and ``inResponseTo`` and ``topic`` thread
them into conversations between a patient (or a proxy) and a care team.

Rules, for every write of a Communication (API, bundle entry, import):

- **Sent messages are immutable, for everyone.** A stored message whose status is
  ``completed`` is not changed: an update is 422 ``business-rule`` (R4 http.html#update:
  "the proposed resource violated ... server business rules"), a delete 409 ``conflict``
  (http.html#delete: a delete refused for a reason specific to the resource). The one change
  allowed is marking it read: an update whose only change is adding ``received``, by staff
  or by a recipient. A beneficiary is a recipient when a recipient is a Patient the token
  reaches, or the token's fhirUser; anybody else is 403. A beneficiary's ``received`` is the
  server's clock. Re-sending identical content is no change and is accepted.
- **Sending** is a message becoming ``completed``. That stamps ``sent``: a beneficiary's
  always gets the server's clock, whatever the client sent; staff's and systems' keep a
  ``sent`` they give (a message recorded from elsewhere, an import), else get the clock. A
  ``message.sent`` event goes out once it is stored.
- **Attachments** (``payload.contentAttachment``) new in the write are PDF, JPEG, PNG, GIF or
  plain text (``contentType`` without parameters) and at most :data:`MAX_ATTACHMENT_BYTES`:
  the larger of the declared ``size`` and what ``data`` decodes to. Attachments already
  stored are not judged again.
- **Threads**: a reply (``inResponseTo`` a Communication here) that names no ``topic`` takes
  its parent's, so that ``Communication?topic=...&_sort=sent`` lists the whole conversation
  in order; ``Communication?in-response-to=Communication/[id]`` (IG search parameter) lists
  the replies to one message. Unread messages of a patient:
  ``Communication?recipient=Patient/[id]&received:missing=true&_summary=count``.
- **Beneficiaries** (patient and proxy tokens) also:

  - send only: the status is ``completed`` (no drafts); a ``received`` they send on a new
    message is dropped;
  - name the patient the message is about in ``subject``: a Patient the token reaches;
  - send as themselves: ``sender`` is the token's fhirUser (filled in when missing) or a
    Patient the token reaches;
  - send to that patient's care team only: at least one ``recipient``, each a CareTeam whose
    ``subject`` is the message's subject, or a Practitioner who is a ``participant.member``
    of such a CareTeam. Teams ``inactive`` or ``entered-in-error`` and memberships whose
    ``period`` has ended do not count;
  - reply only to messages the token can read.

  Staff (clinician and system tokens) and an open server are not bound by these.

What a beneficiary's role can never do is 403; what breaks a rule of the message is 422.
Access to the content is judged before the rules (a message beyond the token's reach is 403
however else it is wrong), so the rules never tell a token about what it cannot see.
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
from fhir_server.storage.records import Method
from fhir_server.workflows import Effects
from fhir_server.workflows.lookups import found

SENT = "completed"
ALLOWED_CONTENT_TYPES = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "text/plain": "plain text",
}
"""Attachment content types a message may carry (lower case, without parameters)."""
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024
"""Largest attachment (decoded): 5 MiB."""
INACTIVE_TEAM = frozenset({"inactive", "entered-in-error"})

_PERMISSION: dict[Method, Permission] = {
    "POST": Permission.CREATE,
    "PUT": Permission.UPDATE,
    "PATCH": Permission.UPDATE,
    "DELETE": Permission.DELETE,
}


def _rule(message: str, *expression: str) -> Unprocessable:
    return Unprocessable(message, code="business-rule", expression=expression)


def _target(node: Any, base_url: str) -> tuple[str, str] | None:
    """``(type, id)`` of a Reference to a resource on this server."""
    reference = node.get("reference") if isinstance(node, dict) else None
    return local(reference, base_url) if isinstance(reference, str) else None


def _shown(node: Any) -> str:
    if isinstance(node, dict):
        for key in ("reference", "display"):
            if isinstance(node.get(key), str):
                return str(node[key])
    return "a recipient without a reference"


def _content(resource: dict[str, Any], *drop: str) -> dict[str, Any]:
    """What a version says, without what the server stamps (id, versionId, lastUpdated)."""
    out = {k: v for k, v in resource.items() if k not in ("id", "meta", *drop)}
    meta = resource.get("meta")
    if isinstance(meta, dict):
        kept = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
        if kept:
            out["meta"] = kept
    elif meta is not None:
        out["meta"] = meta
    return out


def _ended(period: Any, now: datetime) -> bool:
    end = period.get("end") if isinstance(period, dict) else None
    if not isinstance(end, str):
        return False
    try:
        return parse_instant(end) < now
    except ValueError:
        return False


class Messaging:
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
        if before is not None and before.get("status") == SENT:
            if document is None:
                raise Conflict(
                    f"Communication/{id} was sent{_on(before)}: a sent message is part of the"
                    " record and cannot be deleted; to correct it, send a new message in the"
                    " same thread"
                )
            return Effects(document=_marked_read(ctx, id, document, before))
        if document is None:
            return Effects(document=None)
        message = dict(document)
        beneficiary = ctx.access.is_beneficiary
        if beneficiary:
            await _beneficiary_may_send(ctx, message, _PERMISSION[method])
        _check_attachments(message, before)
        await _join_thread(ctx, message)
        effects = Effects(document=message)
        if message.get("status") == SENT:
            if beneficiary or not isinstance(message.get("sent"), str):
                message["sent"] = now_instant()
            effects.events.append(("message.sent", _event(id, message)))
        return effects


def _on(message: dict[str, Any]) -> str:
    sent = message.get("sent")
    return f" on {sent}" if isinstance(sent, str) else ""


def _marked_read(
    ctx: Context, id: str, document: dict[str, Any], before: dict[str, Any]
) -> dict[str, Any]:
    """A sent message: unchanged, or marked read (``received`` added) by staff or a
    recipient; anything else is refused."""
    if _content(document) == _content(before):
        return document
    adds_received = (
        "received" not in before
        and "received" in document
        and _content(document, "received") == _content(before, "received")
    )
    if not adds_received:
        raise _rule(
            f"Communication/{id} was sent{_on(before)}: a sent message cannot be changed,"
            " only marked read by its recipient (an update that adds received and changes"
            " nothing else); to correct or add to it, send a new message in the same thread"
        )
    if not ctx.access.is_beneficiary:
        return document
    if not _is_recipient(ctx, before):
        raise Forbidden(f"only a recipient of Communication/{id} can mark it read")
    return {**document, "received": now_instant()}


def _is_recipient(ctx: Context, message: dict[str, Any]) -> bool:
    reached = ctx.access.patients_reached(Permission.UPDATE, "Communication")
    own = local(ctx.access.fhir_user, ctx.base_url) if ctx.access.fhir_user else None
    for node in message.get("recipient") or []:
        target = _target(node, ctx.base_url)
        if target is None:
            continue
        if target == own:
            return True
        if target[0] == "Patient" and (reached is None or target[1] in reached):
            return True
    return False


async def _beneficiary_may_send(
    ctx: Context, message: dict[str, Any], permission: Permission
) -> None:
    """A patient's or proxy's message: sent whole, about a patient they act for, from
    themselves, to that patient's care team (changes ``message``: sender, received)."""
    if message.get("status") != SENT:
        raise _rule(
            "a message from a patient is sent whole: its status is completed (drafts are not"
            " kept here)",
            "Communication.status",
        )
    message.pop("received", None)
    reached = ctx.access.patients_reached(permission, "Communication")
    subject = _target(message.get("subject"), ctx.base_url)
    if subject is None or subject[0] != "Patient":
        raise _rule(
            "a message names the patient it is about in subject (Patient/[id])",
            "Communication.subject",
        )
    fhir_user = ctx.access.fhir_user
    if "sender" not in message and fhir_user:
        message["sender"] = {"reference": fhir_user}
    sender = _target(message.get("sender"), ctx.base_url)
    own = local(fhir_user, ctx.base_url) if fhir_user else None
    if sender is None or not (
        sender == own or (sender[0] == "Patient" and (reached is None or sender[1] in reached))
    ):
        raise _rule(
            "the sender of a message is you (your fhirUser) or a patient you act for",
            "Communication.sender",
        )
    recipients = message.get("recipient")
    if not isinstance(recipients, list) or not recipients:
        raise _rule(
            f"a message names its recipient: a care team of Patient/{subject[1]} (a CareTeam,"
            " or a Practitioner on one)",
            "Communication.recipient",
        )
    teams, members = await _care_team(ctx, subject[1])
    for n, node in enumerate(recipients):
        target = _target(node, ctx.base_url)
        if target is None or not (
            (target[0] == "CareTeam" and target[1] in teams) or target in members
        ):
            raise _rule(
                f"{_shown(node)} is not a care team of Patient/{subject[1]}: a patient's"
                " message goes to one of the patient's CareTeams or a Practitioner on one",
                f"Communication.recipient[{n}]",
            )


async def _care_team(ctx: Context, patient: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The ids of the patient's current CareTeams, and their current Practitioner members."""
    now = datetime.now(UTC)
    teams: set[str] = set()
    members: set[tuple[str, str]] = set()
    for team in await found(ctx, "messaging", "CareTeam", [("subject", f"Patient/{patient}")]):
        if team.get("status") in INACTIVE_TEAM:
            continue
        teams.add(str(team.get("id")))
        for participant in team.get("participant") or []:
            if not isinstance(participant, dict) or _ended(participant.get("period"), now):
                continue
            member = _target(participant.get("member"), ctx.base_url)
            if member is not None and member[0] == "Practitioner":
                members.add(member)
    return teams, members


def _check_attachments(message: dict[str, Any], before: dict[str, Any] | None) -> None:
    stored = [
        part.get("contentAttachment")
        for part in (before or {}).get("payload") or []
        if isinstance(part, dict)
    ]
    payload = message.get("payload")
    for n, part in enumerate(payload if isinstance(payload, list) else []):
        attachment = part.get("contentAttachment") if isinstance(part, dict) else None
        if not isinstance(attachment, dict) or attachment in stored:
            continue
        where = f"Communication.payload[{n}].contentAttachment"
        title = attachment.get("title")
        name = repr(title) if isinstance(title, str) else f"the attachment of payload[{n}]"
        content_type = attachment.get("contentType")
        kind = content_type.split(";")[0].strip().lower() if isinstance(content_type, str) else ""
        if kind not in ALLOWED_CONTENT_TYPES:
            said = repr(content_type) if kind else "no contentType"
            raise _rule(
                f"{name} has {said}: attachments may be"
                f" {', '.join(ALLOWED_CONTENT_TYPES.values())} (say which in contentType)",
                f"{where}.contentType",
            )
        size = attachment_size(attachment)
        if size > MAX_ATTACHMENT_BYTES:
            raise _rule(
                f"{name} has {size} bytes: an attachment may have at most"
                f" {MAX_ATTACHMENT_BYTES} bytes (5 MB)",
                where,
            )


def attachment_size(attachment: dict[str, Any]) -> int:
    """The larger of the declared ``size`` and the length ``data`` decodes to (computed from
    the base64 text, without decoding it)."""
    declared = attachment.get("size")
    size = declared if isinstance(declared, int) and not isinstance(declared, bool) else 0
    data = attachment.get("data")
    if isinstance(data, str):
        text = "".join(data.split())
        padding = len(text) - len(text.rstrip("="))
        size = max(size, len(text) * 3 // 4 - min(padding, 2))
    return size


async def _join_thread(ctx: Context, message: dict[str, Any]) -> None:
    """Replies take their parent's topic when they name none; a beneficiary replies only to
    messages the token can read."""
    parents = message.get("inResponseTo")
    beneficiary = ctx.access.is_beneficiary
    for n, node in enumerate(parents if isinstance(parents, list) else []):
        target = _target(node, ctx.base_url)
        where = f"Communication.inResponseTo[{n}]"
        if target is None or target[0] != "Communication":
            if beneficiary:
                raise _rule("inResponseTo names the message answered: Communication/[id]", where)
            continue
        current = await ctx.current(*target)
        parent = parse_json(current.body) if current is not None and current.body else None
        if beneficiary and (
            not isinstance(parent, dict) or not may(ctx, Permission.READ, target[0], parent)
        ):
            raise _rule(f"{_shown(node)} is not a message you can see", where)
        if isinstance(parent, dict) and "topic" not in message and parent.get("topic"):
            message["topic"] = parent["topic"]


def _event(id: str, message: dict[str, Any]) -> dict[str, Any]:
    """``message.sent``: references only, never content."""
    payload: dict[str, Any] = {"communication": f"Communication/{id}"}
    for key in ("subject", "sender"):
        node = message.get(key)
        if isinstance(node, dict) and isinstance(node.get("reference"), str):
            payload[key] = node["reference"]
    recipients = [
        node["reference"]
        for node in message.get("recipient") or []
        if isinstance(node, dict) and isinstance(node.get("reference"), str)
    ]
    if recipients:
        payload["recipients"] = ",".join(recipients)
    return payload
