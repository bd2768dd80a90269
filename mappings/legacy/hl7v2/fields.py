"""HL7 v2 data types read into the legacy facts: CX (the DoD ID in PID-3), XCN (providers),
PL (clinics), CE/CWE (codes), durations. A value that does not fit is not guessed at: it
raises :class:`FieldError` naming the field (``PID-3``), or reads as None where the element
is optional."""

from __future__ import annotations

from datetime import datetime, tzinfo

from mappings.legacy import values
from mappings.legacy.codes import (
    CHCS_PROVIDER,
    DOD_ID_AUTHORITIES,
    DOD_ID_TYPES,
    NPI,
)
from mappings.legacy.hl7v2.message import Segment, timestamp
from mappings.legacy.records import Clinic, Coded, Provider

NPI_OID = "2.16.840.1.113883.4.6"
CODING_SYSTEMS = {
    "SCT": "http://snomed.info/sct",
    "SNM": "http://snomed.info/sct",
    "LN": "http://loinc.org",
    "RXNORM": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "NDC": "http://hl7.org/fhir/sid/ndc",
    "HL70276": "http://terminology.hl7.org/CodeSystem/v2-0276",
}
"""HL7 table 0396 coding system names -> FHIR system URIs."""
_DURATION_UNITS = {"s": 1 / 60, "sec": 1 / 60, "min": 1, "m": 1, "h": 60, "hr": 60, "d": 1440}


class FieldError(ValueError):
    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field, self.value, self.reason = field, value, reason


def dod_id(segment: Segment, field: int) -> str | None:
    """The DoD ID (EDIPI) among a CX list's repetitions: a 10-digit id whose assigning
    authority (CX-4.1) is USDOD/DOD/EDIPI/DEERS/DMDC or whose type (CX-5) is EDIPI/DODID."""
    for rep in range(1, len(segment.repetitions(field)) + 1):
        value = segment.get(field, 1, rep=rep)
        authority = segment.get(field, 4, rep=rep).upper()
        kind = segment.get(field, 5, rep=rep).upper()
        known = authority in DOD_ID_AUTHORITIES or kind in DOD_ID_TYPES
        if known and len(value) == 10 and value.isdigit():
            return value
    return None


def identifiers_shown(segment: Segment, field: int) -> str:
    """The CX list for a reject, without values that could be SSNs."""
    shown = []
    for rep in range(1, len(segment.repetitions(field)) + 1):
        kind = segment.get(field, 5, rep=rep)
        authority = segment.get(field, 4, rep=rep)
        value = "***" if kind.upper() == "SS" else segment.get(field, 1, rep=rep)
        shown.append("^".join((value, authority, kind)))
    return "~".join(shown)


def provider(segment: Segment, field: int, rep: int = 1) -> Provider | None:
    """An XCN: identified by NPI (XCN-13 ``NPI``, or XCN-9 the NPI OID or ``NPI``) or CHCS
    provider number; a name alone makes a display-only provider."""
    value = segment.get(field, 1, rep=rep)
    family = segment.get(field, 2, 1, rep=rep) or None
    given = tuple(g for g in (segment.get(field, 3, rep=rep), segment.get(field, 4, rep=rep)) if g)
    if not value and not family:
        return None
    authority = {segment.get(field, 9, 1, rep=rep), segment.get(field, 9, 2, rep=rep)}
    is_npi = segment.get(field, 13, rep=rep).upper() == "NPI" or bool(authority & {"NPI", NPI_OID})
    system: str | None = None
    if value:
        try:
            if is_npi:
                value, system = values.npi(value), NPI
            else:
                value, system = values.key(value), CHCS_PROVIDER
        except values.Bad:
            value, system = "", None
    return Provider(system, value or None, family, given)


def clinic(segment: Segment, field: int, *, facility: str = "") -> Clinic | None:
    """A PL: point of care (PL-1) at the facility (PL-4.1, else ``facility``, the sending
    facility) as an MTF clinic when the facility is a DMIS id; else known by name only."""
    code = segment.get(field, 1)
    room = segment.get(field, 2)
    place = segment.get(field, 4, 1)
    description = segment.get(field, 9)
    parts = [p for p in (code, room, place) if p]
    name = description or " ".join(parts) or None
    if not parts and not name:
        return None
    dmis = next((f for f in (place, facility) if _is_dmis(f)), None)
    try:
        key = values.key(code) if code else None
    except values.Bad:
        key = None
    if dmis is None or key is None:
        return Clinic(None, None, name)
    return Clinic(dmis, key, description or None)


def _is_dmis(text: str) -> bool:
    try:
        values.dmis_id(text)
    except values.Bad:
        return False
    return True


def coded(segment: Segment, field: int, rep: int = 1) -> Coded | None:
    """A CE/CWE: code^text^system (a system FHIR knows) or its text alone."""
    code = segment.get(field, 1, rep=rep)
    text = segment.get(field, 2, rep=rep)
    system = CODING_SYSTEMS.get(segment.get(field, 3, rep=rep).upper(), "")
    if system and code:
        return Coded(system, code, text or None)
    if text or code:
        return Coded("", "", text or code)
    return None


def minutes(amount: str, unit: str) -> int | None:
    """A duration (amount and a unit code like ``min``, ``h``, ``s``) in whole minutes."""
    try:
        value = float(amount)
    except ValueError:
        return None
    factor = _DURATION_UNITS.get(unit.lower() or "min")
    if factor is None or value <= 0:
        return None
    result = round(value * factor)
    return result if 1 <= result <= 1440 else None


def instant(segment: Segment, field: int, zone: tzinfo, component: int = 1) -> datetime | None:
    text = segment.get(field, component)
    if not text:
        return None
    try:
        return timestamp(text, zone)
    except ValueError:
        raise FieldError(
            f"{segment.name}-{field}", text, "not an HL7 date/time (YYYYMMDDHHMM[SS][+ZZZZ])"
        ) from None
