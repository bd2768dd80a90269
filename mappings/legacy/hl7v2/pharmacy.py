"""RDE^O11 (pharmacy encoded order) and RDS^O13 (dispense) -> :class:`PrescriptionFacts`, one
per order group (ORC and the RXE/RXD/TQ1/ZRX after it).

- Rx number: RXE-15, else RXD-7, else ORC-3.1 (filler order), else ORC-2.1 (placer order);
- stated status: ORC-5 order status (table 0038) when valued, else ORC-1 order control (0119);
- recorded: ORC-9 (transaction), else MSH-7;
- drug: RXE-2 (RXD-2): NDC when the coding system (CE-3) is NDC and the code a valid NDC;
  RxNorm from the alternate code (CE-4..6) in the RXNORM system; the name CE-2 (or CE-5);
- strength: RXE-25 RXE-26; sig: RXE-7 (each repetition's text, one a line);
- quantity, unit: RXE-10, RXE-11 (RXD-4, RXD-5);
- refills: RXE-12 authorized; RXE-16 (RXD-8) remaining;
- written: RXE-32, else ORC-15, else ORC-9; expires: ZRX-2, else TQ1-8, else ORC-7.5;
- last fill: RXD-3, else RXE-18; prescriber: ORC-12, else RXE-13;
- ZRX (a CHCS Z-segment, our layout): ZRX-1 days supply, ZRX-2 expiry date, ZRX-3 the Rx
  number renewed, ZRX-4 the pharmacy (DMIS id^code^name).
"""

from __future__ import annotations

from datetime import date, datetime, tzinfo

from mappings.legacy import values
from mappings.legacy.codes import ORDER_CONTROL, ORDER_STATUS, RX_UNITS
from mappings.legacy.hl7v2 import fields
from mappings.legacy.hl7v2.fields import FieldError
from mappings.legacy.hl7v2.message import Message, Segment, day
from mappings.legacy.records import Pharmacy, PrescriptionFacts

_GROUP = ("ORC", "RXE", "RXD", "TQ1", "ZRX", "RXO")


def _groups(message: Message) -> list[dict[str, Segment]]:
    groups: list[dict[str, Segment]] = []
    for segment in message.segments:
        if segment.name == "ORC":
            groups.append({"ORC": segment})
        elif groups and segment.name in _GROUP and segment.name not in groups[-1]:
            groups[-1][segment.name] = segment
    return groups


def _key(segment: Segment, field: int, value: str) -> str:
    try:
        return values.key(value)
    except values.Bad as bad:
        raise FieldError(f"{segment.name}-{field}", value, bad.reason) from None


def _count(segment: Segment | None, field: int) -> int | None:
    if segment is None or not segment.get(field):
        return None
    text = segment.get(field)
    try:
        return values.count(text, high=99)
    except values.Bad as bad:
        raise FieldError(f"{segment.name}-{field}", text, bad.reason) from None


def _day(segment: Segment | None, field: int, component: int = 1) -> date | None:
    if segment is None or not segment.get(field, component):
        return None
    text = segment.get(field, component)
    try:
        return day(text)
    except ValueError:
        raise FieldError(f"{segment.name}-{field}", text, "not an HL7 date (YYYYMMDD)") from None


def _drug(segment: Segment, field: int) -> tuple[str, str | None, str | None]:
    """(name, NDC, RxNorm) of a CE/CWE drug code."""
    name = segment.get(field, 2) or segment.get(field, 5)
    ndc = rxnorm = None
    for code_at, system_at in ((1, 3), (4, 6)):
        code, system = segment.get(field, code_at), segment.get(field, system_at).upper()
        if system == "NDC" and code and ndc is None:
            try:
                ndc = values.ndc(code)
            except values.Bad:
                ndc = None  # a local or 10-digit code: the name stays, the coding does not
        elif system == "RXNORM" and code.isdigit() and rxnorm is None:
            rxnorm = code
    if not name:
        raise FieldError(f"{segment.name}-{field}", segment.get(field), "no drug name (CE-2)")
    return name[:120], ndc, rxnorm


def _sig(rxe: Segment | None) -> str | None:
    if rxe is None:
        return None
    lines = []
    for rep in range(1, len(rxe.repetitions(7)) + 1):
        text = rxe.get(7, 2, rep=rep) or rxe.get(7, 1, rep=rep)
        if text:
            lines.append(text)
    return "\n".join(lines)[:500] or None


def _pharmacy(zrx: Segment | None) -> Pharmacy | None:
    if zrx is None or not zrx.get(4):
        return None
    try:
        return Pharmacy(
            values.dmis_id(zrx.get(4, 1)), values.key(zrx.get(4, 2)), zrx.get(4, 3) or None
        )
    except values.Bad as bad:
        raise FieldError("ZRX-4", zrx.get(4), bad.reason) from None


def _status(orc: Segment) -> str:
    status = ORDER_STATUS.get(orc.get(5).upper())
    if status is not None:
        return status
    control = orc.get(1).upper()
    if control not in ORDER_CONTROL:
        raise FieldError(
            "ORC-1", control, f"order control not imported; one of {', '.join(ORDER_CONTROL)}"
        )
    return ORDER_CONTROL[control]


def _order(
    group: dict[str, Segment],
    *,
    dod_id: str,
    recorded: datetime,
    zone: tzinfo,
    line: int,
) -> PrescriptionFacts:
    orc, rxe, rxd = group["ORC"], group.get("RXE"), group.get("RXD")
    tq1, zrx = group.get("TQ1"), group.get("ZRX")
    if rxe is None and rxd is None:
        raise FieldError("RXE", "", "an order group needs an RXE (or RXD) segment")
    if rxe is not None and rxe.get(15):
        rx_number = _key(rxe, 15, rxe.get(15))
    elif rxd is not None and rxd.get(7):
        rx_number = _key(rxd, 7, rxd.get(7))
    elif orc.get(3):
        rx_number = _key(orc, 3, orc.get(3))
    elif orc.get(2):
        rx_number = _key(orc, 2, orc.get(2))
    else:
        raise FieldError("RXE-15", "", "no prescription number (RXE-15, RXD-7, ORC-3 or ORC-2)")
    drug_at = (rxe, 2) if rxe is not None else (rxd, 2)
    assert drug_at[0] is not None
    name, ndc, rxnorm = _drug(drug_at[0], drug_at[1])
    stamp = fields.instant(orc, 9, zone) or recorded
    quantity_text = (rxe.get(10) if rxe is not None else "") or (rxd.get(4) if rxd else "")
    unit_code = (rxe.get(11) if rxe is not None else "") or (rxd.get(5) if rxd else "")
    unit_text = (rxe.get(11, 2) if rxe is not None else "") or (rxd.get(5, 2) if rxd else "")
    try:
        quantity = values.amount(quantity_text) if quantity_text else None
    except values.Bad as bad:
        raise FieldError("RXE-10", quantity_text, bad.reason) from None
    unit = unit_code.upper() if unit_code.upper() in RX_UNITS else (unit_text or unit_code or None)
    strength = " ".join(p for p in ((rxe.get(25), rxe.get(26)) if rxe else ()) if p) or None
    remaining = _count(rxd, 8) if rxd is not None and rxd.get(8) else _count(rxe, 16)
    written = _day(rxe, 32) or _day(orc, 15) or _day(orc, 9)
    expires = _day(zrx, 2) or _day(tq1, 8) or _day(orc, 7, 5)
    days_supply = None
    if zrx is not None and zrx.get(1):
        try:
            days_supply = values.count(zrx.get(1), low=1, high=365)
        except values.Bad as bad:
            raise FieldError("ZRX-1", zrx.get(1), bad.reason) from None
    prior = _key(zrx, 3, zrx.get(3)) if zrx is not None and zrx.get(3) else None
    prescriber = fields.provider(orc, 12) or (fields.provider(rxe, 13) if rxe else None)
    return PrescriptionFacts(
        line=line,
        rx_number=rx_number,
        dod_id=dod_id,
        recorded=stamp,
        stated_status=_status(orc),
        drug_name=name,
        ndc=ndc,
        rxnorm=rxnorm,
        strength=strength,
        sig=_sig(rxe),
        quantity=quantity,
        quantity_unit=unit,
        days_supply=days_supply,
        refills_authorized=_count(rxe, 12),
        refills_remaining=remaining,
        written=written,
        expires=expires if expires is None or written is None or expires >= written else None,
        prescriber=prescriber,
        pharmacy=_pharmacy(zrx),
        last_fill=_day(rxd, 3) or _day(rxe, 18),
        prior_rx_number=prior if prior != rx_number else None,
    )


def read_pharmacy(
    message: Message, *, dod_id: str, recorded: datetime, zone: tzinfo, line: int
) -> list[PrescriptionFacts]:
    groups = _groups(message)
    if not groups:
        raise FieldError("ORC", "", f"an {message.type} message needs an ORC segment")
    return [
        _order(group, dod_id=dod_id, recorded=recorded, zone=zone, line=line) for group in groups
    ]
