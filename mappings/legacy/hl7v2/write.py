"""Writing SIU, RDE, RDS and ADT messages from legacy facts (the generator's feeds): what
:mod:`mappings.legacy.hl7v2.read` reads back as the same facts."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from mappings.legacy.codes import NPI, SIU_EVENTS, TOL_CANCELLATION_REASON
from mappings.legacy.hl7v2.escape import escape
from mappings.legacy.records import (
    AppointmentFacts,
    Clinic,
    DemographicsFacts,
    PrescriptionFacts,
    Provider,
)

ENCODING = "^~\\&"
_ORDER_CONTROL = {
    "active": ("NW", "IP"),
    "on-hold": ("HD", "HD"),
    "cancelled": ("CA", "CA"),
    "stopped": ("DC", "DC"),
    "completed": ("XO", "CM"),
    "entered-in-error": ("CA", "ER"),
    "draft": ("NW", ""),
}
_FILLER_STATUS = {
    "pending": "Pending",
    "waitlist": "Waitlist",
    "booked": "Booked",
    "arrived": "Started",
    "fulfilled": "Complete",
    "cancelled": "Cancelled",
    "noshow": "Noshow",
    "entered-in-error": "Deleted",
}


@dataclass(frozen=True, slots=True)
class Person:
    """Who a message is about (PID)."""

    dod_id: str
    family: str
    given: str
    birth_date: date
    sex: str  # M, F, U


def stamp(value: datetime, *, naive: bool = False) -> str:
    """An HL7 DTM: with its offset, or without (``naive``: the reader takes MSH-7's zone)."""
    text = value.strftime("%Y%m%d%H%M%S")
    return text if naive else text + value.strftime("%z")


def _row(*fields: str) -> str:
    end = len(fields)
    while end > 1 and not fields[end - 1]:
        end -= 1
    return "|".join(fields[:end])


def _seg(name: str, fields: dict[int, str]) -> str:
    """A segment from its valued fields by number."""
    values = [""] * (max(fields) + 1 if fields else 1)
    values[0] = name
    for number, value in fields.items():
        values[number] = value
    return _row(*values)


def _msh(kind: str, control: str, sent: datetime, facility: str) -> str:
    return _row(
        "MSH",
        ENCODING,
        "CHCS",
        facility,
        "MHS-FHIR",
        "MHS",
        stamp(sent),
        "",
        kind,
        control,
        "P",
        "2.5.1",
    )


def _pid(person: Person) -> str:
    return _row(
        "PID",
        "1",
        "",
        f"{person.dod_id}^^^USDOD^NI",
        "",
        f"{escape(person.family)}^{escape(person.given)}",
        "",
        person.birth_date.strftime("%Y%m%d"),
        person.sex,
    )


def xcn(provider: Provider | None) -> str:
    if provider is None:
        return ""
    given = [*list(provider.given), "", ""]
    parts = [
        provider.value or "",
        escape(provider.family or ""),
        escape(given[0]),
        escape(" ".join(given[1:]).strip()),
    ]
    if provider.system == NPI:
        parts += ["", "", "", "", "", "", "", "", "NPI"]
    return "^".join(parts).rstrip("^")


def _pl(clinic: Clinic | None) -> str:
    if clinic is None:
        return ""
    return "^".join(
        [
            escape(clinic.code or ""),
            "",
            "",
            clinic.dmis_id or "",
            "",
            "",
            "",
            "",
            escape(clinic.name or ""),
        ]
    ).rstrip("^")


def siu(
    event: str,
    facts: AppointmentFacts,
    person: Person,
    *,
    control: str,
    naive: bool = False,
) -> str:
    """An SIU^``event`` message saying ``facts`` (``naive``: times without offsets)."""
    assert event in SIU_EVENTS and facts.start is not None and facts.end is not None
    facility = facts.clinic.dmis_id if facts.clinic and facts.clinic.dmis_id else "CHCS"
    reason = ""
    if facts.cancellation_reason is not None:
        coded = facts.cancellation_reason
        reason = coded.code if coded.system == TOL_CANCELLATION_REASON else coded.display or ""
    kind = f"{facts.kind.code}^{escape(facts.kind.display or '')}^HL70276" if facts.kind else ""
    status = _FILLER_STATUS[facts.status] if event not in ("S15", "S26") else ""
    start, end = stamp(facts.start, naive=naive), stamp(facts.end, naive=naive)
    segments = [
        _msh(f"SIU^{event}^SIU_{event}", control, facts.recorded, facility),
        _seg(
            "SCH",
            {
                1: facts.appointment_id,
                2: facts.appointment_id,
                6: escape(reason),
                7: kind,
                9: str(facts.minutes or ""),
                10: "min",
                25: status,
            },
        ),
        _row("TQ1", "1", "", "", "", "", "", start, end),
    ]
    if facts.comment:
        segments.append(_row("NTE", "1", "", escape(facts.comment)))
    segments += [_pid(person), _row("RGS", "1")]
    if facts.clinic is not None:
        segments.append(
            _row("AIL", "1", "", _pl(facts.clinic), "", "", start, "", "", str(facts.minutes))
        )
    if facts.provider is not None:
        segments.append(
            _row("AIP", "1", "", xcn(facts.provider), "", "", start, "", "", str(facts.minutes))
        )
    return "\r".join(segments)


def _day(value: date | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def pharmacy(
    kind: str,
    facts: PrescriptionFacts,
    person: Person,
    *,
    control: str,
) -> str:
    """An RDE^O11 (``kind`` ``RDE``) or RDS^O13 (``RDS``: with the dispense) saying ``facts``."""
    control_code, order_status = _ORDER_CONTROL[facts.stated_status]
    facility = facts.pharmacy.dmis_id if facts.pharmacy else "CHCS"
    drug = f"{facts.ndc or ''}^{escape(facts.drug_name)}^{'NDC' if facts.ndc else ''}"
    if facts.rxnorm:
        drug += f"^{facts.rxnorm}^^RXNORM"
    strength_value, _, strength_unit = (facts.strength or "").partition(" ")
    message = "RDE^O11^RDE_O11" if kind == "RDE" else "RDS^O13^RDS_O13"
    quantity = str(facts.quantity) if facts.quantity is not None else ""
    remaining = "" if facts.refills_remaining is None else str(facts.refills_remaining)
    segments = [
        _msh(message, control, facts.recorded, facility),
        _pid(person),
        _seg(
            "ORC",
            {
                1: control_code,
                2: facts.rx_number,
                3: facts.rx_number,
                5: order_status,
                9: stamp(facts.recorded),
                12: xcn(facts.prescriber),
                15: _day(facts.written),
            },
        ),
        _seg(
            "RXE",
            {
                2: drug,
                7: f"^{escape(facts.sig)}" if facts.sig else "",
                10: quantity,
                11: escape(facts.quantity_unit or ""),
                12: "" if facts.refills_authorized is None else str(facts.refills_authorized),
                15: facts.rx_number,
                16: remaining,
                18: _day(facts.last_fill) if kind == "RDE" else "",
                25: escape(strength_value),
                26: escape(strength_unit),
            },
        ),
    ]
    if kind == "RDS":
        segments.append(
            _seg(
                "RXD",
                {
                    1: "1",
                    2: drug,
                    3: _day(facts.last_fill),
                    4: quantity,
                    5: escape(facts.quantity_unit or ""),
                    7: facts.rx_number,
                    8: remaining,
                },
            )
        )
    place = facts.pharmacy
    pharmacy_field = (
        f"{place.dmis_id}^{escape(place.code)}^{escape(place.name or '')}".rstrip("^")
        if place
        else ""
    )
    zrx = _row(
        "ZRX",
        "" if facts.days_supply is None else str(facts.days_supply),
        _day(facts.expires),
        facts.prior_rx_number or "",
        pharmacy_field,
    )
    if zrx != "ZRX":
        segments.append(zrx)
    return "\r".join(segments)


def adt(facts: DemographicsFacts, person: Person, *, control: str) -> str:
    """An ADT^``facts.event`` with the names, address and phones of ``facts``."""
    names = ""
    if isinstance(facts.names, tuple):
        names = "~".join(
            f"{escape(n.family or '')}^{escape(' '.join(n.given[:1]))}"
            f"^{escape(' '.join(n.given[1:]))}^^^^L"
            for n in facts.names
        )
    addresses = '""' if facts.addresses == "clear" else ""
    if isinstance(facts.addresses, tuple):
        addresses = "~".join(
            "^".join(
                [
                    escape(a.lines[0] if a.lines else ""),
                    escape(a.lines[1] if len(a.lines) > 1 else ""),
                    escape(a.city or ""),
                    escape(a.state or ""),
                    escape(a.postal_code or ""),
                    escape(a.country or ""),
                    "H",
                ]
            )
            for a in facts.addresses
        )
    phones = '""' if facts.telecom == "clear" else ""
    if isinstance(facts.telecom, tuple):
        phones = "~".join(
            f"^NET^Internet^{escape(t.value)}"
            if t.system == "email"
            else f"^PRN^PH^^^^^^^^^{t.value}"
            for t in facts.telecom
        )
    pid = _pid(person).split("|")
    pid += [""] * (14 - len(pid))
    pid[5] = names or pid[5]
    pid[11], pid[13] = addresses, phones
    return "\r".join(
        [
            _msh(f"ADT^{facts.event}^ADT_A01", control, facts.recorded, "CHCS"),
            _row("EVN", facts.event, stamp(facts.recorded)),
            _row(*pid),
            _row("PV1", "1", "N"),
        ]
    )
