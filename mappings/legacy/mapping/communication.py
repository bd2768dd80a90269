"""ThreadFacts -> one Communication per secure message, the thread as one record.

- identifier: the message id; status ``completed``; subject the patient the thread is about;
- topic: the thread (code: its id, text: its subject);
- inResponseTo: the message answered (``in_reply_to``, else the one before it);
- sender, recipient: the patient (by DoD ID), a provider (Practitioner) or a clinic's message
  pool (HealthcareService); sent, received (when the recipient read it);
- payload: the body as text, each attachment with its content type, size, SHA-1 hash, title
  and data (the limits on types and sizes are the reader's).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from mappings.legacy.codes import MESSAGE_THREAD, SECURE_MESSAGE
from mappings.legacy.mapping.appointment import instant
from mappings.legacy.mapping.directory import Entry, message_pool, provider_reference
from mappings.legacy.mapping.draft import Draft, identifier_criteria, patient_reference
from mappings.legacy.records import AttachmentFacts, MessageFacts, Party, ThreadFacts


def message_criteria(message_id: str) -> str:
    return identifier_criteria(SECURE_MESSAGE, message_id)


def _party(party: Party, directory: list[Entry]) -> dict[str, str]:
    if party.kind == "patient" and party.dod_id is not None:
        return patient_reference(party.dod_id)
    if party.kind == "provider" and party.provider is not None:
        ref, entry = provider_reference(party.provider)
        if entry is not None:
            directory.append(entry)
        return ref
    assert party.clinic is not None
    pool = message_pool(party.clinic)
    if pool is None:
        return {"display": party.clinic.name or "clinic"}
    directory.append(pool)
    return pool.ref(pool.resource["name"])


def attachment(item: AttachmentFacts) -> dict[str, Any]:
    return {
        "contentType": item.content_type,
        "data": base64.b64encode(item.data).decode(),
        "size": len(item.data),
        "hash": base64.b64encode(hashlib.sha1(item.data).digest()).decode(),
        "title": item.file_name,
    }


def _communication(
    thread: ThreadFacts, message: MessageFacts, directory: list[Entry]
) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Communication",
        "identifier": [{"system": SECURE_MESSAGE, "value": message.message_id}],
    }
    if message.in_reply_to is not None:
        resource["inResponseTo"] = [
            {"reference": f"Communication?{message_criteria(message.in_reply_to)}"}
        ]
    resource["status"] = "completed"
    resource["subject"] = patient_reference(thread.dod_id)
    resource["topic"] = {
        "coding": [{"system": MESSAGE_THREAD, "code": thread.thread_id, "display": thread.subject}],
        "text": thread.subject,
    }
    resource["sent"] = instant(message.sent)
    if message.read is not None:
        resource["received"] = instant(message.read)
    resource["recipient"] = [_party(p, directory) for p in message.recipients]
    resource["sender"] = _party(message.sender, directory)
    payload: list[dict[str, Any]] = []
    if message.body:
        payload.append({"contentString": message.body})
    payload.extend({"contentAttachment": attachment(a)} for a in message.attachments)
    resource["payload"] = payload
    return resource


def map_thread(thread: ThreadFacts) -> Draft:
    directory: list[Entry] = []
    resources = tuple(
        (_communication(thread, m, directory), message_criteria(m.message_id))
        for m in thread.messages
    )
    return Draft(
        line=thread.line,
        key=f"Communication|{thread.thread_id}",
        recorded=None,
        marker="Communication",
        resources=resources,
        directory=tuple(directory),
        main=resources[0][1],
    )
