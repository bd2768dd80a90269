"""The facts the legacy readers produce and the mappers consume: one set per source record,
whatever its format (a TOL CSV row or JSON thread, an HL7 v2 message).

Readers check and translate source codes (``codes.py``); the facts hold FHIR-ready values
(status codes, aware datetimes, normalised NDCs), so each resource kind has one mapper for
every source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal


@dataclass(frozen=True, slots=True)
class Coded:
    """A code of a code system, with its display."""

    system: str
    code: str
    display: str | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """A practitioner: identified (NPI or CHCS provider number) or known only by name."""

    system: str | None
    value: str | None
    family: str | None = None
    given: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        given = " ".join(self.given)
        if self.family and given:
            return f"{self.family}, {given}"
        return self.family or given or (self.value or "")


@dataclass(frozen=True, slots=True)
class Clinic:
    """An MTF clinic (a Location) or, without a DMIS id, a place known only by name."""

    dmis_id: str | None
    code: str | None
    name: str | None = None

    @property
    def key(self) -> str | None:
        """``<DMIS id>-<clinic code>``: the clinic's identifier value."""
        return f"{self.dmis_id}-{self.code}" if self.dmis_id and self.code else None


@dataclass(frozen=True, slots=True)
class Pharmacy:
    dmis_id: str
    code: str
    name: str | None = None

    @property
    def key(self) -> str:
        return f"{self.dmis_id}-{self.code}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AppointmentFacts:
    line: int
    appointment_id: str
    dod_id: str
    recorded: datetime
    """When the source recorded this state (TOL ``last_updated``, HL7 EVN-2/MSH-7)."""
    status: str
    """Appointment.status."""
    start: datetime | None
    minutes: int | None
    clinic: Clinic | None = None
    provider: Provider | None = None
    kind: Coded | None = None
    """Appointment type (TOL type, HL7 0276 reason)."""
    cancellation_reason: Coded | None = None
    service: Coded | None = None
    comment: str | None = None
    event: str | None = None
    """What happened, for an HL7 trigger (``appointment rescheduled``)."""

    @property
    def end(self) -> datetime | None:
        if self.start is None or self.minutes is None:
            return None
        return self.start + timedelta(minutes=self.minutes)


@dataclass(frozen=True, slots=True, kw_only=True)
class PrescriptionFacts:
    line: int
    rx_number: str
    dod_id: str
    recorded: datetime
    stated_status: str
    """The status the pharmacy states (a MedicationRequest.status code), before derivation."""
    drug_name: str
    ndc: str | None = None
    rxnorm: str | None = None
    strength: str | None = None
    sig: str | None = None
    quantity: Decimal | None = None
    quantity_unit: str | None = None
    days_supply: int | None = None
    refills_authorized: int | None = None
    refills_remaining: int | None = None
    written: date | None = None
    expires: date | None = None
    prescriber: Provider | None = None
    pharmacy: Pharmacy | None = None
    last_fill: date | None = None
    prior_rx_number: str | None = None


@dataclass(frozen=True, slots=True)
class Party:
    """A sender or recipient of a secure message: a patient (DoD ID), a provider or a clinic
    message pool."""

    kind: str  # "patient" | "provider" | "clinic"
    dod_id: str | None = None
    provider: Provider | None = None
    clinic: Clinic | None = None


@dataclass(frozen=True, slots=True)
class AttachmentFacts:
    file_name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageFacts:
    message_id: str
    sender: Party
    recipients: tuple[Party, ...]
    sent: datetime
    read: datetime | None
    body: str
    attachments: tuple[AttachmentFacts, ...] = ()
    in_reply_to: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ThreadFacts:
    line: int
    thread_id: str
    dod_id: str
    """The beneficiary the thread is about."""
    subject: str
    messages: tuple[MessageFacts, ...]


@dataclass(frozen=True, slots=True)
class Name:
    family: str | None
    given: tuple[str, ...]
    suffix: str | None = None
    prefix: str | None = None
    use: str = "official"


@dataclass(frozen=True, slots=True)
class Address:
    lines: tuple[str, ...]
    city: str | None
    state: str | None
    postal_code: str | None
    country: str | None
    use: str = "home"


@dataclass(frozen=True, slots=True)
class Telecom:
    system: str
    value: str
    use: str | None = None


CLEAR = "clear"
"""A demographics field sent as HL7 ``""``: delete what is stored."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DemographicsFacts:
    """An ADT demographics update; a field that is None was not sent (keep what is stored),
    one that is :data:`CLEAR` was sent empty (``""``: delete it)."""

    line: int
    dod_id: str
    recorded: datetime
    event: str
    names: tuple[Name, ...] | str | None = None
    birth_date: date | str | None = None
    gender: str | None = None
    addresses: tuple[Address, ...] | str | None = None
    telecom: tuple[Telecom, ...] | str | None = None
    deceased: datetime | bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MergeFacts:
    """ADT^A40: the record of ``prior_dod_id`` is merged into that of ``dod_id``."""

    line: int
    dod_id: str
    prior_dod_id: str
    recorded: datetime


Facts = AppointmentFacts | PrescriptionFacts | ThreadFacts | DemographicsFacts | MergeFacts
