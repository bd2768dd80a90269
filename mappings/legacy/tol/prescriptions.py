"""TOL prescriptions and refill history export (CSV) -> :class:`PrescriptionFacts`.

Each row is a prescription's state after an event (written, filled, refilled, renewed,
discontinued); rows of one Rx number are its history, and the one with the latest
``last_updated`` wins, whatever their order.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO

from mappings.imports import Reject
from mappings.legacy import values
from mappings.legacy.codes import RX_UNITS, TOL_RX_STATUS
from mappings.legacy.records import Pharmacy, PrescriptionFacts
from mappings.legacy.tol.people import name_text, provider
from mappings.legacy.tol.table import Column, Row, RowError, read_table, write_table

COLUMNS = (
    Column("rx_number", True, "the MTF pharmacy's prescription number (letters, digits, . _ -)"),
    Column("dod_id", True, "the patient's DoD ID (EDIPI), 10 digits"),
    Column("drug_name", True, "the drug as the pharmacy names it"),
    Column("ndc", False, "NDC: 11 digits, or hyphenated 4-4-2, 5-3-2, 5-4-1, 5-4-2"),
    Column("rxnorm", False, "RxNorm concept id (RXCUI), when the export has it"),
    Column("strength", False, "e.g. 10 MG"),
    Column("sig", False, "the directions, as printed on the label"),
    Column("quantity", False, "quantity per fill (a positive number)"),
    Column("quantity_unit", False, "TAB, CAP, ML, G, EA, INH, PKG, PATCH"),
    Column("days_supply", False, "days one fill lasts, 1-365"),
    Column("refills_authorized", False, "refills after the first fill, 0-99"),
    Column("refills_remaining", False, "refills left, 0-99, at most those authorized"),
    Column("written_date", True, "YYYY-MM-DD"),
    Column("expiry_date", False, "YYYY-MM-DD, no fills after it; not before written_date"),
    Column("prescriber_npi", False, "the prescriber's NPI, 10 digits"),
    Column("prescriber_name", False, "LAST, FIRST MIDDLE"),
    Column("pharmacy_dmis_id", False, "DMIS id of the dispensing MTF"),
    Column("pharmacy_code", False, "the pharmacy within that MTF (with pharmacy_dmis_id)"),
    Column("pharmacy_name", False, "the pharmacy's name"),
    Column(
        "status",
        True,
        "ACTIVE, HOLD, SUSPENDED, DISCONTINUED, CANCELLED, EXPIRED, COMPLETED, PENDING, ERROR",
    ),
    Column("last_fill_date", False, "YYYY-MM-DD of the last (re)fill"),
    Column("renewed_from", False, "the Rx number this one renews"),
    Column("last_updated", True, "when the pharmacy recorded this state, UTC"),
)

_RXCUI = "must be an RxNorm concept id (1-8 digits)"


def _rxcui(text: str) -> str:
    if not (text.isdigit() and len(text) <= 8):
        raise values.Bad(_RXCUI)
    return text


def check(row: Row) -> PrescriptionFacts:
    rx_number = row.get("rx_number", values.key)
    written = row.get("written_date", values.day)
    expires = row.optional("expiry_date", values.day)
    if expires is not None and expires < written:
        raise RowError("expiry_date", row.raw("expiry_date"), "before written_date")
    last_fill = row.optional("last_fill_date", values.day)
    if last_fill is not None and last_fill < written:
        raise RowError("last_fill_date", row.raw("last_fill_date"), "before written_date")
    authorized = row.optional("refills_authorized", lambda t: values.count(t, high=99))
    remaining = row.optional("refills_remaining", lambda t: values.count(t, high=99))
    if remaining is not None and authorized is not None and remaining > authorized:
        raise RowError("refills_remaining", str(remaining), "more than refills_authorized")
    prior = row.optional("renewed_from", values.key)
    if prior == rx_number:
        raise RowError("renewed_from", prior, "a prescription cannot renew itself")
    pharmacy = None
    dmis = row.optional("pharmacy_dmis_id", values.dmis_id)
    code = row.optional("pharmacy_code", values.key)
    if (dmis is None) != (code is None):
        missing = "pharmacy_code" if code is None else "pharmacy_dmis_id"
        raise RowError(missing, "", "pharmacy_dmis_id and pharmacy_code go together")
    if dmis is not None and code is not None:
        name = row.optional("pharmacy_name", lambda t: values.text(t, limit=80))
        pharmacy = Pharmacy(dmis, code, name)
    status = row.get("status", values.one_of(TOL_RX_STATUS))
    return PrescriptionFacts(
        line=row.line,
        rx_number=rx_number,
        dod_id=row.get("dod_id", values.dod_id),
        recorded=row.get("last_updated", values.instant),
        stated_status=TOL_RX_STATUS[status],
        drug_name=row.get("drug_name", lambda t: values.text(t, limit=120)),
        ndc=row.optional("ndc", values.ndc),
        rxnorm=row.optional("rxnorm", _rxcui),
        strength=row.optional("strength", lambda t: values.text(t, limit=40)),
        sig=row.optional("sig", lambda t: values.text(t, limit=500)),
        quantity=row.optional("quantity", values.amount),
        quantity_unit=row.optional("quantity_unit", values.one_of(RX_UNITS)),
        days_supply=row.optional("days_supply", lambda t: values.count(t, low=1, high=365)),
        refills_authorized=authorized,
        refills_remaining=remaining,
        written=written,
        expires=expires,
        prescriber=provider(row, "prescriber_npi", "prescriber_name"),
        pharmacy=pharmacy,
        last_fill=last_fill,
        prior_rx_number=prior,
    )


def read(stream: IO[str]) -> Iterator[PrescriptionFacts | Reject]:
    return read_table(stream, COLUMNS, check)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def row_of(facts: PrescriptionFacts) -> dict[str, str]:
    """The CSV row that reads back as ``facts`` (the generator's writer)."""
    status = next(k for k, v in TOL_RX_STATUS.items() if v == facts.stated_status)
    pharmacy = facts.pharmacy
    return {
        "rx_number": facts.rx_number,
        "dod_id": facts.dod_id,
        "drug_name": facts.drug_name,
        "ndc": _text(facts.ndc),
        "rxnorm": _text(facts.rxnorm),
        "strength": _text(facts.strength),
        "sig": _text(facts.sig),
        "quantity": _text(facts.quantity),
        "quantity_unit": _text(facts.quantity_unit),
        "days_supply": _text(facts.days_supply),
        "refills_authorized": _text(facts.refills_authorized),
        "refills_remaining": _text(facts.refills_remaining),
        "written_date": _text(facts.written),
        "expiry_date": _text(facts.expires),
        "prescriber_npi": _text(facts.prescriber.value if facts.prescriber else None),
        "prescriber_name": name_text(facts.prescriber),
        "pharmacy_dmis_id": pharmacy.dmis_id if pharmacy else "",
        "pharmacy_code": pharmacy.code if pharmacy else "",
        "pharmacy_name": _text(pharmacy.name if pharmacy else None),
        "status": status,
        "last_fill_date": _text(facts.last_fill),
        "renewed_from": _text(facts.prior_rx_number),
        "last_updated": facts.recorded.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def write(stream: IO[str], rows: Iterator[PrescriptionFacts]) -> int:
    return write_table(stream, COLUMNS, (row_of(f) for f in rows))
