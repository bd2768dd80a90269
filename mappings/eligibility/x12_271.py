"""X12 271 eligibility responses -> eligibility facts -> FHIR Patient and Coverage.

Two implementation guides are read: **005010X279A1** (HIPAA 5010, the current one) and the
older **004010X092A1**; their 271 loops are the same for what is read here.

Reading (:func:`read_271`) goes in two steps:

1. **pyx12** (the X12 library; why this one: README.md, "X12 271") reads the interchange: the
   separators from the ISA segment (any element, component, repetition and segment
   terminator), the interchange version (``00401`` or ``00501``), the segments, and the
   envelope checks (SE segment counts, GE/IEA counts and control numbers, HL numbering).
   Envelope findings that leave the data readable become :attr:`Eligibility271.notes`.
2. This module walks each 271 transaction set's HL hierarchy: 2000A information source (the
   payer, its name in 2100A), 2000B information receiver, 2000C subscriber and 2000D
   dependent, each with its 2100 name loop (NM1, REF, DMG, INS, DTP, AAA) and 2110 benefit
   loops (from each EB); 2115/2120 loops (inside LS/LE) are skipped. pyx12 ships no 5010 271
   map (only the 4010 one), so these loops are this module's: they are few, and one walk
   serves both versions.

It yields, in the order of the interchange, one :class:`Eligibility271` per subscriber and
dependent, and a :class:`~mappings.eligibility.records.Reject` for each AAA segment (its
``line`` the AAA's segment number, ISA being 1; its ``value`` the AAA03 reject reason code)
and for each person or input that cannot be imported. An AAA in a 2000A/2100A, 2100B or
2100C/2100D loop means the payer did not answer for the people under it: no facts for them.
An AAA in a 2110 loop rejects one benefit inquiry; the person's facts still come.

Mapping (:func:`to_resources`) makes the facts a Patient and, when an EB segment says whether
the coverage is active, a Coverage in the shape of :func:`mappings.eligibility.mapping.coverage`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

import pyx12.x12file

from ig.naming import BASE, CODE_SYSTEM, DOD_ID
from mappings.eligibility.codes import SEX, SUBSCRIBER_RELATIONSHIP
from mappings.eligibility.mapping import TRICARE_COVERAGE
from mappings.imports import Mapped, Reject

__all__ = [
    "DATE_QUALIFIERS",
    "ELIGIBILITY_CODES",
    "FOLLOW_UP_ACTIONS",
    "IMPLEMENTATIONS",
    "INSURANCE_TYPES",
    "REJECT_REASONS",
    "RELATIONSHIPS",
    "X12_DEPENDENT",
    "X12_INSURANCE_TYPE",
    "X12_MEMBER_ID",
    "X12_PAYER_ID",
    "Eligibility271",
    "EligibilityDate",
    "Reference",
    "coverage",
    "member_identifier",
    "patient",
    "read_271",
    "to_resources",
]

X12_MEMBER_ID = f"{BASE}/sid/x12-member-id"
"""A payer's member id: ``<this>/<payer id>`` is the system (a DoD ID uses the DoD ID one)."""

X12_DEPENDENT = f"{BASE}/sid/x12-dependent"
"""A dependent without a member id of their own: ``<this>/<payer id>`` is the system and
``<subscriber id>-<birth date YYYYMMDD>-<FIRST NAME>`` the value (the 271's own identity)."""

X12_PAYER_ID = f"{BASE}/sid/x12-payer-id"
"""The payer (2100A NM109) as the Coverage's payor."""

X12_INSURANCE_TYPE = f"{CODE_SYSTEM}/x12-insurance-type"
"""X12 insurance type codes (EB04) as the Coverage's type."""

COVERAGE_CLASS = "http://terminology.hl7.org/CodeSystem/coverage-class"

IMPLEMENTATIONS = {
    "005010X279A1": "5010",
    "005010X279": "5010",
    "004010X092A1": "4010",
    "004010X092": "4010",
}
"""The implementation guides read (GS08, or ST03 in 5010), by X12 version."""

REJECT_REASONS = {
    "04": "Authorized Quantity Exceeded",
    "15": "Required application data missing",
    "33": "Input Errors",
    "35": "Out of Network",
    "41": "Authorization/Access Restrictions",
    "42": "Unable to Respond at Current Time",
    "43": "Invalid/Missing Provider Identification",
    "44": "Invalid/Missing Provider Name",
    "45": "Invalid/Missing Provider Specialty",
    "46": "Invalid/Missing Provider Phone Number",
    "47": "Invalid/Missing Provider State",
    "48": "Invalid/Missing Referring Provider Identification Number",
    "49": "Provider is Not Primary Care Physician",
    "50": "Provider Ineligible for Inquiries",
    "51": "Provider Not on File",
    "52": "Service Dates Not Within Provider Plan Enrollment",
    "53": "Inquired Benefit Inconsistent with Provider Type",
    "54": "Inappropriate Product/Service ID Qualifier",
    "55": "Inappropriate Product/Service ID",
    "56": "Inappropriate Date",
    "57": "Invalid/Missing Date(s) of Service",
    "58": "Invalid/Missing Date-of-Birth",
    "60": "Date of Birth Follows Date(s) of Service",
    "61": "Date of Death Precedes Date(s) of Service",
    "62": "Date of Service Not Within Allowable Inquiry Period",
    "63": "Date of Service in Future",
    "64": "Invalid/Missing Patient ID",
    "65": "Invalid/Missing Patient Name",
    "66": "Invalid/Missing Patient Gender Code",
    "67": "Patient Not Found",
    "68": "Duplicate Patient ID Number",
    "69": "Inconsistent with Patient's Age",
    "70": "Inconsistent with Patient's Gender",
    "71": "Patient Birth Date Does Not Match That for the Patient on the Database",
    "72": "Invalid/Missing Subscriber/Insured ID",
    "73": "Invalid/Missing Subscriber/Insured Name",
    "74": "Invalid/Missing Subscriber/Insured Gender Code",
    "75": "Subscriber/Insured Not Found",
    "76": "Duplicate Subscriber/Insured ID Number",
    "77": "Subscriber Found, Patient Not Found",
    "78": "Subscriber/Insured Not in Group/Plan Identified",
    "79": "Invalid Participant Identification",
    "80": "No Response received - Transaction Terminated",
    "97": "Invalid or Missing Provider Address",
    "98": "Experimental Service or Procedure",
    "AA": "Authorization Number Not Found",
    "AE": "Requires Primary Care Physician Authorization",
    "AF": "Invalid/Missing Diagnosis Code(s)",
    "AG": "Invalid/Missing Procedure Code(s)",
    "AO": "Additional Patient Condition Information Required",
    "CI": "Certification Information Does Not Match Patient",
    "E8": "Requires Medical Review",
    "IA": "Invalid Authorization Number Format",
    "MA": "Missing Authorization",
    "T4": "Payer Name or Identifier Missing",
}
"""AAA03 reject reason codes (X12 element 901) of the 271 guides, 4010 and 5010."""

FOLLOW_UP_ACTIONS = {
    "C": "Please Correct and Resubmit",
    "N": "Resubmission Not Allowed",
    "P": "Please Resubmit Original Transaction",
    "R": "Resubmission Allowed",
    "S": "Do Not Resubmit; Inquiry Initiated to a Third Party",
    "W": "Please Wait 30 Days and Resubmit",
    "X": "Please Wait 10 Days and Resubmit",
    "Y": "Do Not Resubmit; We Will Hold Your Request and Respond Again Shortly",
}
"""AAA04 follow-up action codes (X12 element 889)."""

ELIGIBILITY_CODES = {
    "1": "Active Coverage",
    "2": "Active - Full Risk Capitation",
    "3": "Active - Services Capitated",
    "4": "Active - Services Capitated to Primary Care Physician",
    "5": "Active - Pending Investigation",
    "6": "Inactive",
    "7": "Inactive - Pending Eligibility Update",
    "8": "Inactive - Pending Investigation",
}
"""EB01 codes that say whether coverage is active (1-5) or not (6-8); the other EB01 codes
(co-payments, deductibles, limitations, ...) describe benefits, not the coverage."""

_ACTIVE = frozenset("12345")

INSURANCE_TYPES = {
    "12": "Medicare Secondary Working Aged Beneficiary or Spouse with Employer Group Health Plan",
    "13": "Medicare Secondary End-Stage Renal Disease Beneficiary",
    "14": "Medicare Secondary, No-fault Insurance including Auto is Primary",
    "15": "Medicare Secondary Worker's Compensation",
    "16": "Medicare Secondary Public Health Service (PHS) or Other Federal Agency",
    "41": "Medicare Secondary Black Lung",
    "42": "Medicare Secondary Veteran's Administration",
    "43": "Medicare Secondary Disabled Beneficiary Under Age 65 with Large Group Health Plan",
    "47": "Medicare Secondary, Other Liability Insurance is Primary",
    "C1": "Commercial",
    "CO": "Consolidated Omnibus Budget Reconciliation Act (COBRA)",
    "CP": "Medicare Conditionally Primary",
    "D": "Disability",
    "DB": "Disability Benefits",
    "EP": "Exclusive Provider Organization",
    "FF": "Family or Friends",
    "GP": "Group Policy",
    "HM": "Health Maintenance Organization (HMO)",
    "HN": "Health Maintenance Organization (HMO) - Medicare Risk",
    "HS": "Special Low Income Medicare Beneficiary",
    "IN": "Indemnity",
    "IP": "Individual Policy",
    "LC": "Long Term Care",
    "LD": "Long Term Policy",
    "LI": "Life Insurance",
    "LT": "Litigation",
    "MA": "Medicare Part A",
    "MB": "Medicare Part B",
    "MC": "Medicaid",
    "MH": "Medigap Part A",
    "MI": "Medigap Part B",
    "MP": "Medicare Primary",
    "OT": "Other",
    "PE": "Property Insurance - Personal",
    "PL": "Personal",
    "PP": "Personal Payment (Cash - No Insurance)",
    "PR": "Preferred Provider Organization (PPO)",
    "PS": "Point of Service (POS)",
    "QM": "Qualified Medicare Beneficiary",
    "RP": "Property Insurance - Real",
    "SP": "Supplemental Policy",
    "TF": "Tax Equity Fiscal Responsibility Act (TEFRA)",
    "WC": "Workers Compensation",
    "WU": "Wrap Up Policy",
}
"""EB04 insurance type codes (X12 element 1336)."""

RELATIONSHIPS = {
    "01": "spouse",
    "18": "self",
    "19": "child",
    "20": "self",  # employee: the subscriber
    "53": "common",  # life partner
    "09": "child",  # adopted child (4010)
    "17": "child",  # stepchild (4010)
    "32": "parent",  # mother (4010)
    "33": "parent",  # father (4010)
}
"""INS02 individual relationship codes -> ``subscriber-relationship`` codes; any other code
(unknown, ward, foster child, grandchild, ... ``G8`` other relationship) is ``other``."""

DATE_QUALIFIERS = {
    "291": "Plan",
    "307": "Eligibility",
    "346": "Plan Begin",
    "347": "Plan End",
    "356": "Eligibility Begin",
    "357": "Eligibility End",
}
"""The DTP01 qualifiers read as eligibility dates; others (service dates, ...) are ignored."""

_STARTS = ("356", "346", "291", "307")  # most specific first
_ENDS = ("357", "347", "291", "307")
_SINGLE_ENDS = frozenset({"347", "357"})  # a single date that ends the period

_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9.\-]{0,79}")
_SSN_QUALIFIER = "34"  # NM108 34: a Social Security Number (4010), never used as an id


@dataclass(frozen=True, slots=True)
class EligibilityDate:
    """One DTP: a date (D8) or a range (RD8), from the person's 2100 loop or from the 2110
    loop of the EB that says whether the coverage is active (which then wins)."""

    qualifier: str
    start: date
    end: date | None
    loop: Literal["2100", "2110"]


@dataclass(frozen=True, slots=True)
class Reference:
    """One REF: a group (6P, 1L), plan (18) or other number, never an SSN (SY is dropped)."""

    qualifier: str
    value: str
    description: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class Eligibility271:
    """What a 271 says about one subscriber (loop 2000C) or dependent (loop 2000D)."""

    line: int  # the segment number of the person's HL segment
    implementation: str  # 005010X279A1, 004010X092A1, ...
    payer_name: str | None  # 2100A NM103
    payer_id: str  # 2100A NM109
    payer_id_qualifier: str | None  # 2100A NM108: PI payor id, XV CMS plan id, ...
    loop: Literal["2000C", "2000D"]
    member_id: str | None  # NM109; None for a dependent without an id of their own
    member_id_qualifier: str | None  # NM108: MI member identification number, ...
    last_name: str | None
    first_name: str | None
    middle_name: str | None
    name_prefix: str | None
    name_suffix: str | None
    birth_date: date | None  # DMG02
    gender: str | None  # DMG03: F, M or U
    relationship: str | None  # subscriber-relationship code; self for a subscriber, None
    # for a dependent without an INS segment
    relationship_code: str | None  # INS02 as sent (18 self, 01 spouse, 19 child, ...)
    subscriber_member_id: str  # the subscriber's NM109 (the person's own for a subscriber)
    coverage_status: str | None  # EB01 of the coverage EB: 1 active ... 6 inactive ...
    coverage_level: str | None  # EB02: IND, FAM, EMP, ...
    service_types: tuple[str, ...]  # EB03, repetitions split
    insurance_type: str | None  # EB04
    plan_description: str | None  # EB05
    dates: tuple[EligibilityDate, ...]
    references: tuple[Reference, ...]
    notes: tuple[str, ...] = ()  # envelope problems found in the interchange; not fatal

    @property
    def is_dependent(self) -> bool:
        return self.loop == "2000D"

    @property
    def active(self) -> bool | None:
        """True (EB01 1-5), False (6-8), or None when no EB says."""
        if self.coverage_status is None:
            return None
        return self.coverage_status in _ACTIVE

    @property
    def coverage_status_display(self) -> str | None:
        if self.coverage_status is None:
            return None
        return ELIGIBILITY_CODES.get(self.coverage_status, self.coverage_status)

    @property
    def group_number(self) -> Reference | None:
        return self._reference("6P", "1L")

    @property
    def plan_number(self) -> Reference | None:
        return self._reference("18")

    def _reference(self, *qualifiers: str) -> Reference | None:
        for qualifier in qualifiers:
            for ref in reversed(self.references):  # a 2110 REF (listed last) wins
                if ref.qualifier == qualifier:
                    return ref
        return None

    @property
    def period(self) -> tuple[date | None, date | None]:
        """(start, end) of the eligibility: eligibility dates before plan dates, and the
        coverage EB's own (2110) dates before the person's (2100)."""
        latest: dict[str, EligibilityDate] = {}
        for when in self.dates:  # 2100 first, then 2110: the later wins
            latest[when.qualifier] = when
        start = next((latest[q].start for q in _STARTS if q in latest), None)
        ends = (
            latest[q].end or (latest[q].start if q in _SINGLE_ENDS else None)
            for q in _ENDS
            if q in latest
        )
        return start, next((end for end in ends if end is not None), None)


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True, slots=True)
class _Segment:
    number: int  # 1-based, ISA = 1
    tag: str
    elements: tuple[str, ...]

    def get(self, position: int) -> str | None:
        """Element ``position`` (1-based), stripped; None when absent or empty."""
        if position > len(self.elements):
            return None
        return self.elements[position - 1].strip() or None


class _Unreadable(Exception):
    def __init__(self, reject: Reject) -> None:
        super().__init__(reject.reason)
        self.reject = reject


def read_271(text: str) -> Iterator[Eligibility271 | Reject]:
    """Every subscriber's and dependent's facts in an X12 271 interchange, and a Reject for
    each AAA rejection and each thing that cannot be imported; never raises on bad input."""
    try:
        segments, notes, repetition = _segments(text)
    except _Unreadable as unreadable:
        yield unreadable.reject
        return
    out: list[tuple[int, Eligibility271 | Reject]] = []
    for item in _interchange(segments, repetition, notes):
        out.append((item.line, item))
    out.sort(key=lambda pair: pair[0])  # stable: the order of the interchange
    for _, item in out:
        yield item


def _segments(text: str) -> tuple[list[_Segment], tuple[str, ...], str | None]:
    """The segments (via pyx12), the envelope notes, and the repetition separator."""
    start = text.lstrip("\ufeff \t\r\n")
    if not start:
        raise _Unreadable(Reject(1, "ISA", "", "empty: no X12 interchange"))
    if not start.startswith("ISA"):
        raise _Unreadable(
            Reject(1, "ISA", _shown(start[:3]), "not X12: an interchange begins with ISA")
        )
    if len(start) < 106:
        raise _Unreadable(
            Reject(1, "ISA", "", f"truncated: an ISA segment is 106 characters, got {len(start)}")
        )
    out: list[_Segment] = []
    try:
        reader = pyx12.x12file.X12Reader(io.StringIO(start))
        repetition: str | None = reader.repetition_term
        for number, raw in enumerate(reader, start=1):
            tag = str(raw.get_seg_id() or "")
            values = tuple(str(raw.get_value(f"{i:02d}") or "") for i in range(1, len(raw) + 1))
            out.append(_Segment(number, tag, values))
        reader.cleanup()
        found = reader.pop_errors()
    except Exception as error:  # the library's errors, whatever their class: unreadable X12
        where = "ISA" if not out else "(segment)"
        reject = Reject(len(out) + 1, where, "", f"not readable X12: {error}")
        raise _Unreadable(reject) from error
    notes = tuple(str(problem[2]) for problem in found if not _truncation(problem))
    return out, notes, repetition


def _truncation(problem: tuple[Any, ...]) -> bool:
    """pyx12's missing-trailer findings, which this module reports as Rejects itself."""
    return (str(problem[0]), str(problem[1])) in {("isa", "023"), ("gs", "3"), ("st", "2")}


def _shown(value: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in value)


_ENVELOPE = frozenset({"ISA", "GS", "ST", "GE", "IEA"})


def _interchange(
    segments: list[_Segment], repetition: str | None, notes: tuple[str, ...]
) -> Iterator[Eligibility271 | Reject]:
    """Split the interchange into transaction sets and check the envelope around them."""
    group_version: str | None = None
    open_group: _Segment | None = None
    open_interchange: _Segment | None = None
    transaction: list[_Segment] | None = None
    transactions = 0
    for seg in segments:
        if transaction is not None:
            if seg.tag == "SE":
                transaction.append(seg)
                yield from _transaction(transaction, group_version, repetition, notes)
                transaction = None
                continue
            if seg.tag not in _ENVELOPE:
                transaction.append(seg)
                continue
            yield _truncated(transaction)
            transaction = None
        if seg.tag == "ISA":
            if open_interchange is not None:
                yield _unclosed(seg, "IEA")
            open_interchange = seg
        elif seg.tag == "GS":
            if open_group is not None:
                yield _unclosed(seg, "GE")
            open_group, group_version = seg, seg.get(8)
        elif seg.tag == "ST":
            transaction = [seg]
            transactions += 1
        elif seg.tag == "GE":
            open_group = None
        elif seg.tag == "IEA":
            open_interchange = None
        else:
            tag = _shown(seg.tag) or "(segment)"
            yield Reject(seg.number, tag, "", "outside a transaction set")
    last = segments[-1].number if segments else 1
    if transaction is not None:
        yield _truncated(transaction)
    if transactions == 0:
        yield Reject(last, "ST", "", "the interchange holds no transaction set")
    if open_group is not None:
        yield _unclosed(segments[-1], "GE")
    if open_interchange is not None:
        yield _unclosed(segments[-1], "IEA")


def _unclosed(seg: _Segment, trailer: str) -> Reject:
    return Reject(seg.number, trailer, "", f"truncated: no {trailer} trailer closes the envelope")


def _truncated(transaction: list[_Segment]) -> Reject:
    st = transaction[0]
    return Reject(
        transaction[-1].number,
        "SE",
        "",
        f"truncated: transaction set {st.get(2) or ''} (ST at segment {st.number}) has no SE;"
        " none of it is imported",
    )


@dataclass(slots=True)
class _Benefit:
    eb: _Segment
    dates: list[_Segment] = field(default_factory=list)
    references: list[_Segment] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class _Node:
    """One HL level and what its loops hold."""

    hl: _Segment
    level: str  # 20, 21, 22 or 23
    parent: _Node | None
    name: _Segment | None = None  # NM1 of the 2100 loop
    dmg: _Segment | None = None
    ins: _Segment | None = None
    dates: list[_Segment] = field(default_factory=list)
    references: list[_Segment] = field(default_factory=list)
    benefits: list[_Benefit] = field(default_factory=list)
    rejected_at: int | None = None  # segment number of an AAA that rejects this level

    def ancestors(self) -> Iterator[_Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def source(self) -> _Node | None:
        return next((n for n in (self, *self.ancestors()) if n.level == "20"), None)


_WHO = {
    "20": "information source (payer)",
    "21": "information receiver",
    "22": "subscriber",
    "23": "dependent",
}
_LOOP = {"20": "2100A", "21": "2100B", "22": "2100C", "23": "2100D"}


def _transaction(
    segments: list[_Segment],
    group_version: str | None,
    repetition: str | None,
    notes: tuple[str, ...],
) -> Iterator[Eligibility271 | Reject]:
    st = segments[0]
    kind = st.get(1)
    if kind != "271":
        yield Reject(
            st.number, "ST01", _shown(kind or ""), "not a 271 eligibility response transaction set"
        )
        return
    implementation = st.get(3) or group_version or ""
    if implementation not in IMPLEMENTATIONS:
        yield Reject(
            st.number,
            "GS08",
            _shown(implementation),
            f"unsupported implementation guide; one of {', '.join(IMPLEMENTATIONS)}",
        )
        return
    nodes: dict[str, _Node] = {}
    people: list[_Node] = []
    node: _Node | None = None
    in_ls = False
    for seg in segments[1:-1]:
        if seg.tag == "HL":
            in_ls = False
            node, problem = _hl(seg, nodes)
            if problem is not None:
                yield problem
            elif node is not None and node.level in ("22", "23"):
                people.append(node)
            continue
        if node is None:
            continue  # BHT, or what follows an HL that could not be placed
        if seg.tag == "LS":
            in_ls = True
        elif seg.tag == "LE":
            in_ls = False
        elif not in_ls:
            reject = _loop_segment(node, seg)
            if reject is not None:
                yield reject
    if not people and not any(n.rejected_at for n in nodes.values()):
        yield Reject(st.number, "HL", "", "the 271 names no subscriber (loop 2000C)")
    for person in people:
        item = _person(person, implementation, repetition, notes)
        if item is not None:
            yield item


def _hl(seg: _Segment, nodes: dict[str, _Node]) -> tuple[_Node | None, Reject | None]:
    number, parent_id, level = seg.get(1), seg.get(2), seg.get(3)
    if number is None or level not in _WHO:
        return None, Reject(
            seg.number, "HL03", _shown(level or ""), "not an HL level of a 271 (20, 21, 22, 23)"
        )
    parent = nodes.get(parent_id) if parent_id is not None else None
    wanted = {"20": None, "21": "20", "22": "21", "23": "22"}[level]
    if (parent.level if parent is not None else None) != wanted:
        return None, Reject(
            seg.number,
            "HL02",
            _shown(parent_id or ""),
            f"a {_WHO[level]} level needs a parent {_WHO[wanted] if wanted else 'none'} level",
        )
    node = _Node(hl=seg, level=level, parent=parent)
    nodes[number] = node
    return node, None


def _loop_segment(node: _Node, seg: _Segment) -> Reject | None:
    """File one segment of an HL level's loops (2100, or 2110 once an EB was seen)."""
    tag = seg.tag
    benefit = node.benefits[-1] if node.benefits else None
    if tag == "AAA":
        return _aaa(node, seg, benefit)
    if tag == "EB" and node.level in ("22", "23"):
        node.benefits.append(_Benefit(seg))
    elif benefit is not None:
        if tag == "DTP":
            benefit.dates.append(seg)
        elif tag == "REF":
            benefit.references.append(seg)
    elif tag == "NM1" and node.name is None:
        node.name = seg
    elif tag == "DMG" and node.dmg is None:
        node.dmg = seg
    elif tag == "INS" and node.ins is None:
        node.ins = seg
    elif tag == "DTP":
        node.dates.append(seg)
    elif tag == "REF":
        node.references.append(seg)
    return None


def _aaa(node: _Node, seg: _Segment, benefit: _Benefit | None) -> Reject:
    code = seg.get(3) or ""
    action = seg.get(4)
    reason = REJECT_REASONS.get(code, "reject reason code not in the 271 code lists")
    if action is not None:
        reason += f"; follow-up {action}: {FOLLOW_UP_ACTIONS.get(action, 'unknown action')}"
    if benefit is not None:
        where = f"{_WHO[node.level]}'s benefit (loop 2110, EB at segment {benefit.eb.number})"
    else:
        where = f"{_WHO[node.level]} (loop {_LOOP[node.level]})"
        if node.rejected_at is None:
            node.rejected_at = seg.number
    member = _member_id_shown(node.name)
    if member:
        where += f", member id {member}"
    return Reject(seg.number, "AAA", _shown(code), f"{reason} ({where})")


def _member_id_shown(name: _Segment | None) -> str | None:
    if name is None or name.get(9) is None:
        return None
    if name.get(8) == _SSN_QUALIFIER:
        return "***"
    return _shown(name.get(9) or "")


class _Bad(Exception):
    def __init__(self, seg: _Segment, field: str, value: str, reason: str) -> None:
        super().__init__(reason)
        self.reject = Reject(seg.number, field, _shown(value), reason)


def _person(
    node: _Node, implementation: str, repetition: str | None, notes: tuple[str, ...]
) -> Eligibility271 | Reject | None:
    """The person's facts; None when their own AAA rejection already answered for them."""
    rejected = next((n for n in (node, *node.ancestors()) if n.rejected_at is not None), None)
    if rejected is node:
        return None
    if rejected is not None:
        return Reject(
            node.hl.number,
            "HL",
            _shown(node.hl.get(1) or ""),
            f"not imported: the payer rejected the {_WHO[rejected.level]} above"
            f" (AAA at segment {rejected.rejected_at})",
        )
    try:
        return _facts(node, implementation, repetition, notes)
    except _Bad as bad:
        return bad.reject


def _facts(
    node: _Node, implementation: str, repetition: str | None, notes: tuple[str, ...]
) -> Eligibility271:
    payer_name, payer_id, payer_qualifier = _payer(node)
    name = node.name
    if name is None:
        raise _Bad(node.hl, "NM1", "", f"the {_WHO[node.level]} loop has no NM1 name segment")
    for position in (3, 4, 5, 6, 7):
        _printable(name, f"NM1{position:02d}", name.get(position))
    dependent = node.level == "23"
    member_id, qualifier = _member_id(name)
    birth_date, gender = _demographics(node.dmg)
    if dependent:
        subscriber = node.parent.name if node.parent is not None else None
        if subscriber is None:
            raise _Bad(node.hl, "NM1", "", "the dependent's subscriber has no NM1 name segment")
        subscriber_id, _ = _member_id(subscriber)
        if subscriber_id is None:
            raise _Bad(subscriber, "NM109", "", "the dependent's subscriber has no member id")
        if member_id is None and (birth_date is None or not _key_name(name.get(4))):
            reason = "a dependent without a member id needs a first name and a birth date"
            raise _Bad(name, "NM109", "", reason)
    elif member_id is None:
        raise _Bad(name, "NM109", "", "a subscriber needs a member id (2100C NM109)")
    else:
        subscriber_id = member_id
    code = node.ins.get(2) if node.ins is not None else None
    relationship: str | None = "self"
    if dependent:
        relationship = None if code is None else RELATIONSHIPS.get(code, "other")
    coverage = _coverage_benefit(node.benefits, repetition)
    dates = [*_dates(node.dates, "2100")]
    references = [*_references(node.references)]
    eb: _Segment | None = None
    if coverage is not None:
        eb = coverage.eb
        dates.extend(_dates(coverage.dates, "2110"))
        references.extend(_references(coverage.references))
        _printable(eb, "EB05", eb.get(5))
        insurance = eb.get(4)
        if insurance is not None and not re.fullmatch(r"[A-Z0-9]{1,3}", insurance):
            raise _Bad(eb, "EB04", insurance, "an insurance type code is 1-3 letters or digits")
    facts = Eligibility271(
        line=node.hl.number,
        implementation=implementation,
        payer_name=payer_name,
        payer_id=payer_id,
        payer_id_qualifier=payer_qualifier,
        loop="2000D" if dependent else "2000C",
        member_id=member_id,
        member_id_qualifier=qualifier if member_id is not None else None,
        last_name=name.get(3),
        first_name=name.get(4),
        middle_name=name.get(5),
        name_prefix=name.get(6),
        name_suffix=name.get(7),
        birth_date=birth_date,
        gender=gender,
        relationship=relationship,
        relationship_code=code,
        subscriber_member_id=subscriber_id,
        coverage_status=eb.get(1) if eb is not None else None,
        coverage_level=eb.get(2) if eb is not None else None,
        service_types=_repeated(eb.get(3), repetition) if eb is not None else (),
        insurance_type=eb.get(4) if eb is not None else None,
        plan_description=eb.get(5) if eb is not None else None,
        dates=tuple(dates),
        references=tuple(references),
        notes=notes,
    )
    for used in (facts.plan_number, facts.group_number):
        if used is not None:
            _printable(node.hl, f"REF*{used.qualifier}", used.value, used.description)
    start, end = facts.period
    if start is not None and end is not None and end < start:
        raise _Bad(node.hl, "DTP03", f"{end:%Y%m%d}", "eligibility ends before it begins")
    return facts


def _member_id(name: _Segment) -> tuple[str | None, str | None]:
    """NM109 and NM108 of a person's NM1, when NM109 is usable as an identifier."""
    member_id, qualifier = name.get(9), name.get(8)
    if member_id is None:
        return None, qualifier
    if qualifier == _SSN_QUALIFIER:
        raise _Bad(name, "NM109", "***", "identified only by a Social Security Number (NM108 34)")
    if not _SAFE_ID.fullmatch(member_id):
        raise _Bad(name, "NM109", member_id, "a member id is letters, digits, '.' and '-'")
    return member_id, qualifier


def _printable(seg: _Segment, field: str, *values: str | None) -> None:
    for value in values:
        if value is not None and not value.isprintable():
            raise _Bad(seg, field, value, "control or non-printing characters")


def _payer(node: _Node) -> tuple[str | None, str, str | None]:
    source = node.source()
    name = source.name if source is not None else None
    payer_id = name.get(9) if name is not None else None
    if name is None or payer_id is None:
        where = source.hl if source is not None else node.hl
        raise _Bad(where, "NM109", "", "the payer (loop 2100A) has no identifier")
    if not _SAFE_ID.fullmatch(payer_id):
        raise _Bad(name, "NM109", payer_id, "a payer id is letters, digits, '.' and '-'")
    _printable(name, "NM103", name.get(3))
    return name.get(3), payer_id, name.get(8)


def _demographics(dmg: _Segment | None) -> tuple[date | None, str | None]:
    if dmg is None:
        return None, None
    birth: date | None = None
    raw = dmg.get(2)
    if raw is not None:
        if dmg.get(1) not in (None, "D8"):
            raise _Bad(dmg, "DMG01", dmg.get(1) or "", "a birth date is a D8 date")
        birth = _date(raw)
        if birth is None:
            raise _Bad(dmg, "DMG02", raw, "a birth date is CCYYMMDD")
    gender = dmg.get(3)
    if gender is not None and gender not in SEX:
        raise _Bad(dmg, "DMG03", gender, f"a gender code is one of {', '.join(SEX)}")
    return birth, gender


def _date(text: str) -> date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()
    except ValueError:
        return None


def _dates(segments: list[_Segment], loop: Literal["2100", "2110"]) -> Iterator[EligibilityDate]:
    for seg in segments:
        qualifier, form, raw = seg.get(1), seg.get(2), seg.get(3) or ""
        if qualifier not in DATE_QUALIFIERS:
            continue
        start: date | None
        end: date | None = None
        if form == "RD8":
            first, _, last = raw.partition("-")
            start, end = _date(first), _date(last)
            if start is None or end is None or end < start:
                raise _Bad(seg, "DTP03", raw, "a date range (RD8) is CCYYMMDD-CCYYMMDD, in order")
        elif form in ("D8", "DT"):
            start = _date(raw[:8])
            if start is None:
                raise _Bad(seg, "DTP03", raw, "a date (D8) is CCYYMMDD")
        else:
            raise _Bad(seg, "DTP02", form or "", "a date is D8, DT or RD8")
        yield EligibilityDate(qualifier, start, end, loop)


def _references(segments: list[_Segment]) -> Iterator[Reference]:
    for seg in segments:
        qualifier, value = seg.get(1), seg.get(2)
        if qualifier is None or value is None or qualifier == "SY":  # never keep an SSN
            continue
        yield Reference(qualifier, value, seg.get(3))


def _coverage_benefit(benefits: list[_Benefit], repetition: str | None) -> _Benefit | None:
    """The EB that says whether the coverage is active: the first with EB01 1-8 for health
    benefit plan coverage (service type 30) or no service type, else the first with 1-8."""
    statuses = [b for b in benefits if b.eb.get(1) in ELIGIBILITY_CODES]
    for benefit in statuses:
        types = _repeated(benefit.eb.get(3), repetition)
        if not types or "30" in types:
            return benefit
    return statuses[0] if statuses else None


def _repeated(value: str | None, repetition: str | None) -> tuple[str, ...]:
    if value is None:
        return ()
    parts = value.split(repetition) if repetition else [value]
    return tuple(p.strip() for p in parts if p.strip())


def _key_name(first: str | None) -> str:
    return re.sub(r"[^A-Z0-9]", "", (first or "").upper())


# --------------------------------------------------------------------------- mapping


def member_identifier(facts: Eligibility271) -> dict[str, str]:
    """The identifier (system, value) that names the person: the DoD ID for a 10-digit member
    id, else the payer's member id, else (a dependent with no id) the 271's own key."""
    if facts.member_id is not None:
        return {"system": _id_system(facts.member_id, facts.payer_id), "value": facts.member_id}
    first = _key_name(facts.first_name)
    if facts.birth_date is None or not first:
        raise ValueError("a dependent without a member id needs a first name and a birth date")
    return {
        "system": f"{X12_DEPENDENT}/{facts.payer_id}",
        "value": f"{facts.subscriber_member_id}-{facts.birth_date:%Y%m%d}-{first}",
    }


def _id_system(member_id: str, payer_id: str) -> str:
    return DOD_ID if re.fullmatch(r"[0-9]{10}", member_id) else f"{X12_MEMBER_ID}/{payer_id}"


def _labelled(qualifier: str | None, value: str) -> str:
    return f"{qualifier} {value}" if qualifier else value


def _criteria(identifier: dict[str, str]) -> str:
    return f"identifier={identifier['system']}|{identifier['value']}"


def patient(facts: Eligibility271) -> dict[str, Any]:
    identifier = member_identifier(facts)
    if identifier["system"] == DOD_ID:
        described: dict[str, Any] = {"use": "official", "type": {"text": "DoD ID"}, **identifier}
    elif facts.member_id is not None:
        text = f"member id of payer {facts.payer_id}"
        if facts.member_id_qualifier:
            text += f" (NM108 {facts.member_id_qualifier})"
        described = {"use": "secondary", "type": {"text": text}, **identifier}
    else:
        text = "dependent of subscriber, by birth date and first name (X12 271)"
        described = {"use": "secondary", "type": {"text": text}, **identifier}
    resource: dict[str, Any] = {"resourceType": "Patient", "identifier": [described]}
    name: dict[str, Any] = {"use": "official"}
    if facts.last_name:
        name["family"] = facts.last_name
    given = [part for part in (facts.first_name, facts.middle_name) if part]
    if given:
        name["given"] = given
    if facts.name_prefix:
        name["prefix"] = [facts.name_prefix]
    if facts.name_suffix:
        name["suffix"] = [facts.name_suffix]
    if len(name) > 1:
        resource["name"] = [name]
    if facts.gender is not None:
        resource["gender"] = SEX[facts.gender]
    if facts.birth_date is not None:
        resource["birthDate"] = facts.birth_date.isoformat()
    return resource


def coverage(facts: Eligibility271, *, beneficiary: dict[str, Any]) -> dict[str, Any] | None:
    """The coverage the 271 reports (None when no EB says whether it is active), in the
    shape of :func:`mappings.eligibility.mapping.coverage`."""
    active = facts.active
    if active is None:
        return None
    key = member_identifier(facts)["value"]
    subscriber = {
        "identifier": {
            "system": _id_system(facts.subscriber_member_id, facts.payer_id),
            "value": facts.subscriber_member_id,
        }
    }
    payer = facts.payer_name or facts.payer_id
    resource: dict[str, Any] = {
        "resourceType": "Coverage",
        "identifier": [{"system": TRICARE_COVERAGE, "value": key}],
        "status": "active" if active else "cancelled",
    }
    if facts.insurance_type is not None:
        display = INSURANCE_TYPES.get(facts.insurance_type, facts.insurance_type)
        resource["type"] = {
            "coding": [
                {"system": X12_INSURANCE_TYPE, "code": facts.insurance_type, "display": display}
            ],
            "text": display,
        }
    resource |= {
        "policyHolder": subscriber,
        "subscriber": subscriber,
        "subscriberId": facts.subscriber_member_id,
        "beneficiary": beneficiary,
    }
    if facts.relationship is not None:
        resource["relationship"] = {
            "coding": [{"system": SUBSCRIBER_RELATIONSHIP, "code": facts.relationship}]
        }
    start, end = facts.period
    period = {k: v.isoformat() for k, v in (("start", start), ("end", end)) if v is not None}
    if period:
        resource["period"] = period
    resource["payor"] = [
        {
            "identifier": {"system": X12_PAYER_ID, "value": facts.payer_id},
            "display": f"{payer} ({_labelled(facts.payer_id_qualifier, facts.payer_id)})",
        }
    ]
    classes = _classes(facts)
    if classes:
        resource["class"] = classes
    return resource


def _classes(facts: Eligibility271) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    plan_number = facts.plan_number
    if plan_number is not None or facts.plan_description:
        plan: dict[str, Any] = {
            "type": {"coding": [{"system": COVERAGE_CLASS, "code": "plan"}]},
            "value": plan_number.value if plan_number is not None else facts.plan_description,
        }
        if facts.plan_description:
            plan["name"] = facts.plan_description
        out.append(plan)
    group = facts.group_number
    if group is not None:
        entry: dict[str, Any] = {
            "type": {"coding": [{"system": COVERAGE_CLASS, "code": "group"}]},
            "value": group.value,
        }
        if group.description:
            entry["name"] = group.description
        out.append(entry)
    return out


def to_resources(facts: Eligibility271) -> Mapped:
    """The Patient and (when the 271 says whether it is active) the Coverage of one person,
    each with the conditional-update criteria that find it again."""
    identifier = member_identifier(facts)
    criteria = _criteria(identifier)
    out: list[tuple[dict[str, Any], str]] = [(patient(facts), criteria)]
    own = {"reference": f"Patient?{criteria}"}
    resource = coverage(facts, beneficiary=own)
    if resource is not None:
        out.append((resource, f"identifier={TRICARE_COVERAGE}|{identifier['value']}"))
    return Mapped(tuple(out))
