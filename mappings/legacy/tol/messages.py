"""TOL secure messages export (JSON Lines, one thread a line) -> :class:`ThreadFacts`.

A thread: ``{"thread_id", "dod_id", "subject", "messages": [...]}``; a message:
``{"message_id", "sender", "recipients", "sent", "read", "body", "in_reply_to",
"attachments"}``; a party: ``{"type": "patient", "dod_id"}``, ``{"type": "provider", "npi",
"name"}`` or ``{"type": "clinic", "dmis_id", "clinic_code", "name"}``; an attachment:
``{"file_name", "content_type", "size", "data"}`` (base64). Layout and limits: README.md.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import IO, Any, TypeVar

import orjson

from mappings.imports import Reject
from mappings.legacy import values
from mappings.legacy.codes import (
    ATTACHMENT_TYPES,
    MAX_ATTACHMENT_BYTES,
    MAX_ATTACHMENTS,
    MAX_BODY_CHARACTERS,
    NPI,
)
from mappings.legacy.records import (
    AttachmentFacts,
    Clinic,
    MessageFacts,
    Party,
    Provider,
    ThreadFacts,
)
from mappings.legacy.tol.people import name_text, split_name
from mappings.legacy.values import Bad

T = TypeVar("T")
MAX_MESSAGES = 200
"""Most messages in one thread (a thread is imported in one transaction)."""


class _Problem(Exception):
    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.field, self.value, self.reason = field, value, reason


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= 80 else text[:77] + "..."


def _get(node: dict[str, Any], where: str, name: str, check: Callable[[str], T]) -> T:
    value = node.get(name)
    if value is None or value == "":
        raise _Problem(f"{where}{name}", "", "required")
    if not isinstance(value, str):
        raise _Problem(f"{where}{name}", _shown(value), "must be a string")
    try:
        return check(value)
    except Bad as bad:
        raise _Problem(f"{where}{name}", _shown(value), bad.reason) from None


def _optional(node: dict[str, Any], where: str, name: str, check: Callable[[str], T]) -> T | None:
    value = node.get(name)
    return None if value is None or value == "" else _get(node, where, name, check)


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Problem(where.rstrip("."), _shown(value), "must be an object")
    return value


def _list(node: dict[str, Any], where: str, name: str, *, limit: int) -> list[Any]:
    value = node.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Problem(f"{where}{name}", _shown(value), "must be a list")
    if len(value) > limit:
        raise _Problem(f"{where}{name}", f"{len(value)} items", f"at most {limit}")
    return value


def _party(value: Any, where: str) -> Party:
    node = _object(value, where)
    kind = _get(node, where, "type", values.one_of({"patient": 1, "provider": 1, "clinic": 1}))
    if kind == "patient":
        return Party("patient", dod_id=_get(node, where, "dod_id", values.dod_id))
    if kind == "provider":
        npi = _optional(node, where, "npi", values.npi)
        name = _optional(node, where, "name", lambda t: values.text(t, limit=80))
        if npi is None and name is None:
            raise _Problem(f"{where}npi", "", "a provider needs an npi or a name")
        family, given = split_name(name) if name else (None, ())
        return Party("provider", provider=Provider(NPI if npi else None, npi, family, given))
    clinic = Clinic(
        _get(node, where, "dmis_id", values.dmis_id),
        _get(node, where, "clinic_code", values.key),
        _optional(node, where, "name", lambda t: values.text(t, limit=80)),
    )
    return Party("clinic", clinic=clinic)


def _file_name(text: str) -> str:
    values.text(text, limit=120)
    if "/" in text or "\\" in text:
        raise Bad("a file name, not a path")
    return text


def _attachment(value: Any, where: str) -> AttachmentFacts:
    node = _object(value, where)
    name = _get(node, where, "file_name", _file_name)
    content_type = _get(node, where, "content_type", lambda t: t.split(";")[0].strip().lower())
    if content_type not in ATTACHMENT_TYPES:
        raise _Problem(
            f"{where}content_type",
            _shown(node["content_type"]),
            f"not an allowed attachment type ({', '.join(sorted(ATTACHMENT_TYPES))})",
        )
    encoded = _get(node, where, "data", lambda t: t)
    if len(encoded) > (MAX_ATTACHMENT_BYTES + 2) // 3 * 4 + 4:
        raise _Problem(
            f"{where}data", f"{len(encoded)} base64 characters", _too_big(len(encoded) * 3 // 4)
        )
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _Problem(f"{where}data", _shown(encoded), "not base64") from None
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise _Problem(f"{where}data", f"{len(data)} bytes", _too_big(len(data)))
    size = node.get("size")
    if size is not None and size != len(data):
        raise _Problem(f"{where}size", _shown(size), f"the data has {len(data)} bytes")
    return AttachmentFacts(name, content_type, data)


def _too_big(size: int) -> str:
    return f"{size} bytes; an attachment may have at most {MAX_ATTACHMENT_BYTES} bytes"


def _message(value: Any, where: str, earlier: list[MessageFacts]) -> MessageFacts:
    node = _object(value, where)
    message_id = _get(node, where, "message_id", values.key)
    if any(m.message_id == message_id for m in earlier):
        raise _Problem(f"{where}message_id", message_id, "repeated in the thread")
    sent = _get(node, where, "sent", values.instant)
    read = _optional(node, where, "read", values.instant)
    if read is not None and read < sent:
        raise _Problem(f"{where}read", node["read"], "before it was sent")
    reply = _optional(node, where, "in_reply_to", values.key)
    if reply is not None and not any(m.message_id == reply for m in earlier):
        raise _Problem(f"{where}in_reply_to", reply, "not an earlier message of the thread")
    if reply is None and earlier:
        reply = earlier[-1].message_id
    recipients = _list(node, where, "recipients", limit=50)
    if not recipients:
        raise _Problem(f"{where}recipients", "", "required")
    attachments = _list(node, where, "attachments", limit=MAX_ATTACHMENTS)
    body = node.get("body")
    if body is None:
        body = ""
    if not isinstance(body, str):
        raise _Problem(f"{where}body", _shown(body), "must be a string")
    try:
        values.text(body, limit=MAX_BODY_CHARACTERS, multiline=True)
    except Bad as bad:
        raise _Problem(f"{where}body", _shown(body), bad.reason) from None
    if not body.strip() and not attachments:
        raise _Problem(f"{where}body", "", "a message needs a body or an attachment")
    return MessageFacts(
        message_id=message_id,
        sender=_party(node.get("sender"), f"{where}sender."),
        recipients=tuple(_party(r, f"{where}recipients[{i}].") for i, r in enumerate(recipients)),
        sent=sent,
        read=read,
        body=body,
        attachments=tuple(
            _attachment(a, f"{where}attachments[{i}].") for i, a in enumerate(attachments)
        ),
        in_reply_to=reply,
    )


def check(line: int, document: Any) -> ThreadFacts:
    node = _object(document, "(thread).")
    messages: list[MessageFacts] = []
    for i, raw in enumerate(_list(node, "", "messages", limit=MAX_MESSAGES)):
        messages.append(_message(raw, f"messages[{i}].", messages))
    if not messages:
        raise _Problem("messages", "", "a thread has at least one message")
    return ThreadFacts(
        line=line,
        thread_id=_get(node, "", "thread_id", values.key),
        dod_id=_get(node, "", "dod_id", values.dod_id),
        subject=_get(node, "", "subject", lambda t: values.text(t, limit=200)),
        messages=tuple(messages),
    )


def read(stream: IO[str]) -> Iterator[ThreadFacts | Reject]:
    for line, text in enumerate(stream, start=1):
        text = text.removeprefix("\ufeff") if line == 1 else text
        if not text.strip():
            continue
        try:
            document = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            yield Reject(line, "(line)", _shown(text.strip()), f"not JSON: {error}")
            continue
        try:
            yield check(line, document)
        except _Problem as problem:
            yield Reject(line, problem.field, problem.value, problem.reason)


# -- writing (the generator's) ---------------------------------------------------------------


def _instant(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _party_json(party: Party) -> dict[str, Any]:
    if party.kind == "patient":
        return {"type": "patient", "dod_id": party.dod_id}
    if party.kind == "provider" and party.provider is not None:
        out: dict[str, Any] = {"type": "provider"}
        if party.provider.value:
            out["npi"] = party.provider.value
        if party.provider.family:
            out["name"] = name_text(party.provider)
        return out
    assert party.clinic is not None
    clinic = {
        "type": "clinic",
        "dmis_id": party.clinic.dmis_id,
        "clinic_code": party.clinic.code,
    }
    return clinic | ({"name": party.clinic.name} if party.clinic.name else {})


def document_of(thread: ThreadFacts) -> dict[str, Any]:
    """The JSON thread that reads back as ``thread``."""
    messages = []
    for message in thread.messages:
        messages.append(
            {
                "message_id": message.message_id,
                "sender": _party_json(message.sender),
                "recipients": [_party_json(p) for p in message.recipients],
                "sent": _instant(message.sent),
                "read": _instant(message.read) if message.read else None,
                "body": message.body,
                "in_reply_to": message.in_reply_to,
                "attachments": [
                    {
                        "file_name": a.file_name,
                        "content_type": a.content_type,
                        "size": len(a.data),
                        "data": base64.b64encode(a.data).decode(),
                    }
                    for a in message.attachments
                ],
            }
        )
    return {
        "thread_id": thread.thread_id,
        "dod_id": thread.dod_id,
        "subject": thread.subject,
        "messages": messages,
    }


def write(stream: IO[str], threads: Iterator[ThreadFacts]) -> int:
    count = 0
    for thread in threads:
        stream.write(orjson.dumps(document_of(thread)).decode() + "\n")
        count += 1
    return count
