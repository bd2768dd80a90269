"""ADT^A04/A08/A28/A31 -> :class:`DemographicsFacts`; ADT^A40 -> :class:`MergeFacts`.

Demographics: PID-5 names (XPN), PID-7 birth date, PID-8 sex (table 0001), PID-11 addresses
(XAD), PID-13/PID-14 home and work phones and e-mail (XTN), PID-29/PID-30 death. A field that
is empty was not sent and keeps what is stored; ``""`` on PID-11, PID-13 and PID-14 deletes the
stored addresses or contact points. The event time is EVN-2 (else MSH-7).
A40: PID-3 is the surviving record, MRG-1 the one merged into it (both by DoD ID).
"""

from __future__ import annotations

from datetime import datetime, tzinfo

from mappings.legacy.codes import (
    ADDRESS_USE,
    ADMINISTRATIVE_SEX,
    TELECOM_SYSTEM,
    TELECOM_USE,
)
from mappings.legacy.hl7v2 import fields
from mappings.legacy.hl7v2.fields import FieldError
from mappings.legacy.hl7v2.message import Message, Segment, day
from mappings.legacy.records import (
    CLEAR,
    Address,
    DemographicsFacts,
    MergeFacts,
    Name,
    Telecom,
)

_NAME_USE = {"L": "official", "D": "usual", "M": "maiden", "N": "nickname", "A": "anonymous"}


def _names(pid: Segment) -> tuple[Name, ...] | None:
    names = []
    for rep in range(1, len(pid.repetitions(5)) + 1):
        family = pid.get(5, 1, 1, rep=rep) or None
        given = tuple(g for g in (pid.get(5, 2, rep=rep), pid.get(5, 3, rep=rep)) if g)
        if family is None and not given:
            continue
        names.append(
            Name(
                family=family,
                given=given,
                suffix=pid.get(5, 4, rep=rep) or None,
                prefix=pid.get(5, 5, rep=rep) or None,
                use=_NAME_USE.get(pid.get(5, 7, rep=rep).upper(), "official"),
            )
        )
    return tuple(names) or None


def _addresses(pid: Segment) -> tuple[Address, ...] | str | None:
    if pid.is_null(11):
        return CLEAR
    out = []
    for rep in range(1, len(pid.repetitions(11)) + 1):
        street = " ".join(p for p in (pid.get(11, 1, n, rep=rep) for n in (1, 2, 3)) if p)
        lines = tuple(x for x in (street, pid.get(11, 2, rep=rep)) if x)
        city, state = pid.get(11, 3, rep=rep) or None, pid.get(11, 4, rep=rep) or None
        postal, country = pid.get(11, 5, rep=rep) or None, pid.get(11, 6, rep=rep) or None
        if not (lines or city or state or postal):
            continue
        use = ADDRESS_USE.get(pid.get(11, 7, rep=rep).upper(), "home")
        out.append(Address(lines, city, state, postal, country, use))
    return tuple(out) or None


def _telecom(pid: Segment) -> tuple[Telecom, ...] | str | None:
    if pid.is_null(13) and (pid.is_null(14) or not pid.repetitions(14)):
        return CLEAR
    out = []
    for field, default_use in ((13, "home"), (14, "work")):
        for rep in range(1, len(pid.repetitions(field)) + 1):
            equipment = pid.get(field, 3, rep=rep)
            system = TELECOM_SYSTEM.get(equipment, "phone")
            if system == "email" or pid.get(field, 2, rep=rep).upper() == "NET":
                value = pid.get(field, 4, rep=rep) or pid.get(field, 1, rep=rep)
                system = "email"
            else:
                area, local = pid.get(field, 6, rep=rep), pid.get(field, 7, rep=rep)
                value = pid.get(field, 12, rep=rep) or pid.get(field, 1, rep=rep)
                if not value and local:
                    value = f"({area}) {local}" if area else local
            if not value:
                continue
            use = TELECOM_USE.get(pid.get(field, 2, rep=rep).upper(), default_use)
            out.append(Telecom(system, value[:80], use))
    return tuple(out) or None


def _event_time(message: Message, zone: tzinfo, recorded: datetime) -> datetime:
    evn = message.first("EVN")
    if evn is not None:
        stamp = fields.instant(evn, 2, zone)
        if stamp is not None:
            return stamp
    return recorded


def read_demographics(
    message: Message, *, dod_id: str, recorded: datetime, zone: tzinfo, line: int
) -> DemographicsFacts:
    pid = message.first("PID")
    assert pid is not None  # the dispatcher found the DoD ID in it
    birth = None
    if pid.get(7):
        try:
            birth = day(pid.get(7))
        except ValueError:
            raise FieldError("PID-7", pid.get(7), "not an HL7 date (YYYYMMDD)") from None
    sex = pid.get(8).upper()
    if sex and sex not in ADMINISTRATIVE_SEX:
        raise FieldError("PID-8", sex, f"one of {', '.join(ADMINISTRATIVE_SEX)} (table 0001)")
    deceased: datetime | bool | None = fields.instant(pid, 29, zone)
    if deceased is None and pid.get(30).upper() in ("Y", "N"):
        deceased = pid.get(30).upper() == "Y"
    return DemographicsFacts(
        line=line,
        dod_id=dod_id,
        recorded=_event_time(message, zone, recorded),
        event=message.event,
        names=_names(pid),
        birth_date=birth,
        gender=ADMINISTRATIVE_SEX.get(sex) if sex else None,
        addresses=_addresses(pid),
        telecom=_telecom(pid),
        deceased=deceased,
    )


def read_merge(
    message: Message, *, dod_id: str, recorded: datetime, zone: tzinfo, line: int
) -> MergeFacts:
    mrg = message.first("MRG")
    if mrg is None:
        raise FieldError("MRG", "", "an ADT^A40 needs an MRG segment")
    prior = fields.dod_id(mrg, 1)
    if prior is None:
        raise FieldError(
            "MRG-1", fields.identifiers_shown(mrg, 1), "no DoD ID (EDIPI) of the merged record"
        )
    if prior == dod_id:
        raise FieldError("MRG-1", prior, "a record cannot be merged into itself")
    return MergeFacts(
        line=line, dod_id=dod_id, prior_dod_id=prior, recorded=_event_time(message, zone, recorded)
    )
