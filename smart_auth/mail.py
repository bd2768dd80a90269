"""Sending mail (password reset links), pluggable by URL.

``MHS_FHIR_MAIL_URL`` picks the sender:

- ``file:///path/to/outbox`` (the default, ``file://./var/outbox``): each message is written as
  an ``.eml`` file, for development and for tests, which read it back;
- ``smtp://host:port`` (``smtps://`` for implicit TLS; ``?starttls=1`` to upgrade), with
  ``user:password@`` when the relay needs a login.

A sender is anything with ``send(to, subject, body)``; new kinds plug in at :func:`mail_sender`.
"""

from __future__ import annotations

import smtplib
import ssl
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

FROM_ADDRESS = "mhs-fhir <no-reply@mhs-fhir.invalid>"


class MailSender(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


def _message(to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = FROM_ADDRESS
    message["To"] = to
    message["Subject"] = subject
    message.set_content(body)
    return message


class OutboxSender:
    """Writes each message to a folder as an .eml file."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def send(self, to: str, subject: str, body: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}.eml"
        (self.folder / name).write_bytes(bytes(_message(to, subject, body)))


class SmtpSender:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "localhost"
        self.implicit_tls = parts.scheme == "smtps"
        self.port = parts.port or (465 if self.implicit_tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.starttls = parse_qs(parts.query).get("starttls", ["0"])[0] in ("1", "true")

    def send(self, to: str, subject: str, body: str) -> None:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP = (
            smtplib.SMTP_SSL(self.host, self.port, context=context, timeout=10)
            if self.implicit_tls
            else smtplib.SMTP(self.host, self.port, timeout=10)
        )
        with smtp:
            if self.starttls:
                smtp.starttls(context=context)
            if self.user is not None:
                smtp.login(self.user, self.password or "")
            smtp.send_message(_message(to, subject, body))


def mail_sender(url: str) -> MailSender:
    """The sender a mail URL names (``file://`` or ``smtp(s)://``)."""
    parts = urlsplit(url)
    if parts.scheme == "file":
        return OutboxSender(Path(unquote(parts.netloc + parts.path)))
    if parts.scheme in ("smtp", "smtps"):
        return SmtpSender(url)
    raise ValueError(f"unsupported mail URL {url!r}: use file:///folder or smtp://host:port")
