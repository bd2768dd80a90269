"""X12 271 responses -> eligibility facts -> Patient and Coverage: the shared samples (5010 and
4010, ``*`` and ``|`` separators) import, AAA rejections are reported with their codes, the
resources are valid FHIR, and no input, however broken, raises."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_server.resource_json import stamped
from fhir_server.validation import validate_resource
from ig.naming import DOD_ID
from mappings.eligibility.mapping import TRICARE_COVERAGE, patient_criteria
from mappings.eligibility.x12_271 import (
    REJECT_REASONS,
    X12_DEPENDENT,
    X12_INSURANCE_TYPE,
    X12_MEMBER_ID,
    X12_PAYER_ID,
    Eligibility271,
    EligibilityDate,
    Reference,
    read_271,
    to_resources,
)
from mappings.imports import Reject

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO.parent / "shared" / "data" / "x12-271"
RESPONSES = sorted([*SAMPLES.glob("*.271"), *SAMPLES.glob("*.txt")])
INQUIRIES = sorted(SAMPLES.glob("*.270"))

SUBSCRIBER_271 = "lfh-subscriber-health-benefit-check.271"
DEPENDENT_271 = "lfh-dependent-health-benefit-check.271"
AAA_4010 = "tigershark-4010-271-example.txt"
DEPENDENT_4010 = "tigershark-4010-271-dependent-benefits.txt"
ZENTIST_5010 = "tigershark-zentist-5010-271-example-1.txt"

# file -> (people imported, AAA rejects): the whole expected outcome of each shared sample
EXPECTED = {
    SUBSCRIBER_271: (1, 0),
    DEPENDENT_271: (2, 0),
    AAA_4010: (0, 4),
    DEPENDENT_4010: (2, 0),
    "tigershark-4010-271-example-2.txt": (1, 0),
    ZENTIST_5010: (1, 0),
}


@pytest.fixture(autouse=True)
def _shared_samples() -> None:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared X12 samples not found at {SAMPLES}")


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="ascii")


def split(items: list[Eligibility271 | Reject]) -> tuple[list[Eligibility271], list[Reject]]:
    facts = [i for i in items if isinstance(i, Eligibility271)]
    rejects = [i for i in items if isinstance(i, Reject)]
    return facts, rejects


def read(text: str) -> tuple[list[Eligibility271], list[Reject]]:
    return split(list(read_271(text)))


def resources(facts: Eligibility271) -> dict[str, dict[str, Any]]:
    return {r["resourceType"]: r for r, _ in to_resources(facts).resources}


def assert_valid(facts: Eligibility271) -> None:
    for resource, _ in to_resources(facts).resources:
        document = stamped(
            _literal(resource), id="x", version=1, last_updated="2026-11-01T12:00:00.000Z"
        )
        validate_resource(document)


def _literal(node: Any) -> Any:
    """Conditional references (resolved by the import's transaction) as literal ones."""
    if isinstance(node, dict):
        reference = node.get("reference")
        if isinstance(reference, str) and "?" in reference:
            return {**node, "reference": "Patient/p"}
        return {key: _literal(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_literal(item) for item in node]
    return node


ISA = (
    "ISA*03*9876543210*01*9876543210*30*000000005      *30*12345          *131031*1147*^*00501"
    "*000000907*1*T*:~"
)


def interchange(*body: str, implementation: str = "005010X279A1", kind: str = "271") -> str:
    """A complete interchange around the segments of one transaction set (from BHT on)."""
    st03 = f"*{implementation}" if implementation.startswith("005") else ""
    transaction = [f"ST*{kind}*0001{st03}", *body]
    return "\n".join(
        [
            ISA,
            f"GS*HB*SENDER*RECEIVER*20260101*1200*1*X*{implementation}~",
            *(f"{s}~" for s in transaction),
            f"SE*{len(transaction) + 1}*0001~",
            "GE*1*1~",
            "IEA*1*000000907~",
        ]
    )


SOURCE = [
    "BHT*0022*11*1*20260101*1200",
    "HL*1**20*1",
    "NM1*PR*2*DEFENSE HEALTH AGENCY*****PI*DHA01",
]
RECEIVER = ["HL*2*1*21*1", "NM1*1P*2*NAVAL HOSPITAL*****XX*1234567893"]


def subscriber(*segments: str, child: str = "0", hl: int = 3) -> list[str]:
    return [f"HL*{hl}*2*22*{child}", *segments]


# -- the shared samples -----------------------------------------------------------------------


def test_all_six_271_samples_and_three_270s_are_there() -> None:
    assert sorted(p.name for p in RESPONSES) == sorted(EXPECTED)
    assert len(INQUIRIES) == 3


@pytest.mark.parametrize("path", RESPONSES, ids=lambda p: p.stem)
def test_every_shared_271_imports_and_reports_its_aaa_rejections(path: Path) -> None:
    facts, rejects = read(path.read_text(encoding="ascii"))
    assert (len(facts), len(rejects)) == EXPECTED[path.name]
    assert all(r.field == "AAA" for r in rejects)  # nothing else goes wrong
    for one in facts:
        assert_valid(one)


@pytest.mark.parametrize("path", INQUIRIES, ids=lambda p: p.stem)
def test_a_270_inquiry_is_the_wrong_transaction_set(path: Path) -> None:
    facts, rejects = read(path.read_text(encoding="ascii"))
    assert facts == []
    assert rejects == [Reject(3, "ST01", "270", "not a 271 eligibility response transaction set")]


def test_the_linuxforhealth_subscriber_field_by_field() -> None:
    [facts], rejects = read(sample(SUBSCRIBER_271))
    assert rejects == []
    assert facts == Eligibility271(
        line=9,
        implementation="005010X279A1",
        payer_name="ABC COMPANY",
        payer_id="841610001",
        payer_id_qualifier="PI",
        loop="2000C",
        member_id="123456789",
        member_id_qualifier="MI",
        last_name="SMITH",
        first_name="JOHN",
        middle_name=None,
        name_prefix=None,
        name_suffix=None,
        birth_date=date(1963, 5, 19),
        gender="M",
        relationship="self",
        relationship_code=None,
        subscriber_member_id="123456789",
        coverage_status="1",
        coverage_level=None,
        service_types=("30",),
        insurance_type=None,
        plan_description="GOLD 123 PLAN",
        dates=(EligibilityDate("346", date(2006, 1, 1), None, "2100"),),
        references=(),
        notes=(),
    )
    assert facts.active is True
    assert facts.coverage_status_display == "Active Coverage"
    assert facts.period == (date(2006, 1, 1), None)
    assert not facts.is_dependent


def test_the_linuxforhealth_dependent_field_by_field() -> None:
    [subscriber_facts, dependent], rejects = read(sample(DEPENDENT_271))
    assert rejects == []
    # the subscriber has no EB of their own: a person, but no coverage status
    assert (subscriber_facts.line, subscriber_facts.loop) == (9, "2000C")
    assert subscriber_facts.member_id == "123456789"
    assert (subscriber_facts.coverage_status, subscriber_facts.active) == (None, None)
    assert dependent == Eligibility271(
        line=14,
        implementation="005010X279A1",
        payer_name="ABC COMPANY",
        payer_id="841610001",
        payer_id_qualifier="PI",
        loop="2000D",
        member_id=None,
        member_id_qualifier=None,
        last_name="SMITH",
        first_name="MARY",
        middle_name=None,
        name_prefix=None,
        name_suffix=None,
        birth_date=date(1998, 10, 14),
        gender="F",
        relationship="child",
        relationship_code="19",
        subscriber_member_id="123456789",
        coverage_status="1",
        coverage_level=None,
        service_types=("30",),
        insurance_type=None,
        plan_description="GOLD 123 PLAN",
        dates=(EligibilityDate("346", date(2006, 1, 1), None, "2100"),),
        references=(),
        notes=(),
    )
    assert dependent.is_dependent


def test_the_4010_aaa_rejections_are_reported_with_their_codes() -> None:
    facts, rejects = read(sample(AAA_4010))
    assert facts == []
    where = "(subscriber (loop 2100C), member id R11111111)"
    fix = "follow-up C: Please Correct and Resubmit"
    assert rejects == [
        Reject(14, "AAA", "72", f"Invalid/Missing Subscriber/Insured ID; {fix} {where}"),
        Reject(15, "AAA", "73", f"Invalid/Missing Subscriber/Insured Name; {fix} {where}"),
        Reject(16, "AAA", "73", f"Invalid/Missing Subscriber/Insured Name; {fix} {where}"),
        Reject(17, "AAA", "58", f"Invalid/Missing Date-of-Birth; {fix} {where}"),
    ]


def test_the_4010_dependent_gets_the_coverage_benefit_not_the_deductible_dates() -> None:
    [john, jane], _ = read(sample(DEPENDENT_4010))
    assert john.references == (Reference("6P", "11111", "ACME MEDICAL, INC"),)
    assert john.coverage_status is None
    assert jane.implementation == "004010X092A1"
    assert (jane.loop, jane.member_id, jane.subscriber_member_id) == ("2000D", None, "111111111")
    assert (jane.relationship, jane.relationship_code) == (None, None)  # no INS segment
    assert (jane.coverage_status, jane.coverage_level) == ("1", "FAM")
    assert (jane.insurance_type, jane.plan_description) == ("PS", "Aetna Choice POS II")
    # DTP 472 (service) is not an eligibility date; the 307s after EB*C are the deductible's
    assert jane.dates == (
        EligibilityDate("346", date(2011, 8, 1), None, "2100"),
        EligibilityDate("307", date(2011, 8, 1), None, "2100"),
    )
    assert jane.plan_number == Reference("18", "1234567", None)
    # the envelope's wrong counts and control numbers are notes, not rejections
    assert jane.notes == (
        "SE count of 79 for SE02=0001 is wrong. I count 81",
        "GE id=0931 does not match GS id=410",
        "IEA id=000090132 does not match ISA id=000000418",
    )


def test_the_zentist_5010_sample_with_pipes_and_crlf() -> None:
    [facts], _ = read(sample(ZENTIST_5010))
    assert (facts.member_id, facts.last_name, facts.first_name) == ("1234567899", "SMITH", "JOHN")
    assert (facts.relationship, facts.relationship_code) == ("self", "18")
    assert (facts.coverage_status, facts.coverage_level, facts.insurance_type) == ("1", "EMP", "EP")
    assert facts.plan_description == "Open Access Elect Choice"
    assert facts.group_number == Reference("6P", "030030001000120", "NEVADA EXCHANGE")
    assert facts.plan_number == Reference("18", "0404044", None)
    # eligibility begin (356) is preferred to plan begin (346) for the period
    assert facts.period == (date(2014, 12, 8), None)
    assert facts.notes == ("SE count of 74 for SE02=0001 is wrong. I count 73",)


def test_a_single_line_interchange_reads_the_same() -> None:
    text = sample(SUBSCRIBER_271)
    assert read(text.replace("\n", "")) == read(text)


# -- the mapping ----------------------------------------------------------------------------


def test_a_subscriber_becomes_a_patient_and_a_coverage_found_again_by_identifier() -> None:
    [facts], _ = read(sample(SUBSCRIBER_271))
    system = f"{X12_MEMBER_ID}/841610001"
    [(patient, patient_criteria), (coverage, coverage_criteria)] = to_resources(facts).resources
    assert patient_criteria == f"identifier={system}|123456789"
    assert patient["identifier"][0]["system"] == system
    assert patient["name"] == [{"use": "official", "family": "SMITH", "given": ["JOHN"]}]
    assert (patient["gender"], patient["birthDate"]) == ("male", "1963-05-19")
    assert coverage_criteria == f"identifier={TRICARE_COVERAGE}|123456789"
    assert coverage["identifier"] == [{"system": TRICARE_COVERAGE, "value": "123456789"}]
    assert coverage["status"] == "active"
    assert coverage["beneficiary"] == {"reference": f"Patient?{patient_criteria}"}
    holder = {"identifier": {"system": system, "value": "123456789"}}
    assert coverage["subscriber"] == coverage["policyHolder"] == holder
    assert coverage["subscriberId"] == "123456789"
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    assert coverage["period"] == {"start": "2006-01-01"}
    assert coverage["payor"] == [
        {
            "identifier": {"system": X12_PAYER_ID, "value": "841610001"},
            "display": "ABC COMPANY (PI 841610001)",
        }
    ]
    [plan] = coverage["class"]
    assert (plan["type"]["coding"][0]["code"], plan["value"]) == ("plan", "GOLD 123 PLAN")


def test_a_ten_digit_member_id_is_a_dod_id() -> None:
    [facts], _ = read(sample(ZENTIST_5010))
    [(_, criteria), _] = to_resources(facts).resources
    assert criteria == patient_criteria("1234567899")  # finds a DEERS-imported person too
    mapped = resources(facts)
    assert mapped["Patient"]["identifier"][0]["system"] == DOD_ID
    assert mapped["Coverage"]["subscriber"]["identifier"]["system"] == DOD_ID
    assert mapped["Coverage"]["type"]["coding"][0] == {
        "system": X12_INSURANCE_TYPE,
        "code": "EP",
        "display": "Exclusive Provider Organization",
    }
    classes = {c["type"]["coding"][0]["code"]: c for c in mapped["Coverage"]["class"]}
    assert classes["plan"]["value"] == "0404044"
    assert classes["plan"]["name"] == "Open Access Elect Choice"
    assert (classes["group"]["value"], classes["group"]["name"]) == (
        "030030001000120",
        "NEVADA EXCHANGE",
    )


def test_a_dependent_without_an_id_is_named_by_subscriber_birth_date_and_first_name() -> None:
    _, dependent = read(sample(DEPENDENT_271))[0]
    mapped = resources(dependent)
    key = {"system": f"{X12_DEPENDENT}/841610001", "value": "123456789-19981014-MARY"}
    assert {k: mapped["Patient"]["identifier"][0][k] for k in key} == key
    coverage = mapped["Coverage"]
    assert coverage["identifier"] == [{"system": TRICARE_COVERAGE, "value": key["value"]}]
    assert coverage["subscriber"]["identifier"]["value"] == "123456789"
    assert coverage["relationship"]["coding"][0]["code"] == "child"


def test_a_person_without_a_coverage_status_is_only_a_patient() -> None:
    subscriber_facts, _ = read(sample(DEPENDENT_271))[0]
    assert list(resources(subscriber_facts)) == ["Patient"]


def test_inactive_coverage_with_a_date_range_is_cancelled_with_a_period() -> None:
    text = interchange(
        *SOURCE,
        *RECEIVER,
        *subscriber(
            "NM1*IL*1*DOE*JOHN*Q**JR*MI*1234567890",
            "DMG*D8*19800101*U",
            "DTP*291*RD8*20240101-20251231",
            "EB*6**30^1^33*HM*TRICARE PRIME",
        ),
    )
    [facts], rejects = read(text)
    assert rejects == []
    assert (facts.coverage_status, facts.active) == ("6", False)
    assert facts.service_types == ("30", "1", "33")  # the repetition separator splits EB03
    assert (facts.middle_name, facts.name_suffix, facts.gender) == ("Q", "JR", "U")
    assert facts.period == (date(2024, 1, 1), date(2025, 12, 31))
    coverage = resources(facts)["Coverage"]
    assert coverage["status"] == "cancelled"
    assert coverage["period"] == {"start": "2024-01-01", "end": "2025-12-31"}
    assert_valid(facts)


def test_the_coverage_benefits_own_dates_win_over_the_persons() -> None:
    text = interchange(
        *SOURCE,
        *RECEIVER,
        *subscriber(
            "NM1*IL*1*DOE*JOHN****MI*1234567890",
            "DTP*356*D8*20200101",
            "EB*C**30***23*500",
            "DTP*356*D8*20210101",  # a deductible's date: not the coverage's
            "EB*1**30",
            "DTP*356*D8*20230101",
            "DTP*357*D8*20261231",
        ),
    )
    [facts], _ = read(text)
    assert facts.period == (date(2023, 1, 1), date(2026, 12, 31))


# -- rejections at every level ----------------------------------------------------------------


def test_an_aaa_on_the_subscriber_also_stops_the_dependents_under_it() -> None:
    text = interchange(
        *SOURCE,
        *RECEIVER,
        *subscriber("NM1*IL*1*DOE*JOHN****MI*1234567890", "AAA*Y**75*N", child="1"),
        "HL*4*3*23*0",
        "NM1*03*1*DOE*JANE",
        "DMG*D8*20100101*F",
        "INS*N*19",
        "EB*1**30",
    )
    facts, rejects = read(text)
    assert facts == []
    assert rejects == [
        Reject(
            11,
            "AAA",
            "75",
            "Subscriber/Insured Not Found; follow-up N: Resubmission Not Allowed"
            " (subscriber (loop 2100C), member id 1234567890)",
        ),
        Reject(
            12,
            "HL",
            "4",
            "not imported: the payer rejected the subscriber above (AAA at segment 11)",
        ),
    ]


def test_an_aaa_on_the_payer_rejects_the_whole_response() -> None:
    text = interchange(
        "BHT*0022*11*1*20260101*1200",
        "HL*1**20*0",
        "AAA*Y**42*R",
        "NM1*PR*2*DEFENSE HEALTH AGENCY*****PI*DHA01",
    )
    facts, rejects = read(text)
    assert facts == []
    assert [(r.line, r.value) for r in rejects] == [(6, "42")]
    assert rejects[0].reason.startswith("Unable to Respond at Current Time; follow-up R")


def test_an_aaa_on_a_benefit_is_reported_and_the_person_still_imports() -> None:
    text = interchange(
        *SOURCE,
        *RECEIVER,
        *subscriber("NM1*IL*1*DOE*JOHN****MI*1234567890", "EB*1**30", "EB*1**35", "AAA*Y**53*C"),
    )
    [facts], [reject] = read(text)
    assert facts.coverage_status == "1"
    assert (reject.line, reject.field, reject.value) == (13, "AAA", "53")
    assert "loop 2110, EB at segment 12" in reject.reason
    assert REJECT_REASONS["53"] in reject.reason


def test_an_unknown_aaa_code_is_still_reported() -> None:
    text = interchange(*SOURCE, *RECEIVER, *subscriber("NM1*IL*1*DOE*JOHN", "AAA*N**ZZ"))
    [reject] = read(text)[1]
    assert (reject.field, reject.value) == ("AAA", "ZZ")
    assert "not in the 271 code lists" in reject.reason


def test_a_social_security_number_is_never_an_identifier_nor_shown() -> None:
    text = interchange(*SOURCE, *RECEIVER, *subscriber("NM1*IL*1*DOE*JOHN****34*123456789"))
    facts, [reject] = read(text)
    assert facts == []
    assert (reject.field, reject.value) == ("NM109", "***")
    assert "123456789" not in str(reject)


def test_a_ref_sy_ssn_is_not_kept() -> None:
    text = interchange(
        *SOURCE,
        *RECEIVER,
        *subscriber("NM1*IL*1*DOE*JOHN****MI*1234567890", "REF*SY*123456789", "REF*6P*G1"),
    )
    [facts], _ = read(text)
    assert facts.references == (Reference("6P", "G1", None),)


@pytest.mark.parametrize(
    ("segments", "field", "reason"),
    [
        (["NM1*IL*1*DOE*JOHN"], "NM109", "a subscriber needs a member id (2100C NM109)"),
        (["NM1*IL*1*DOE*JOHN****MI*12|34"], "NM109", "a member id is letters, digits"),
        (["NM1*IL*1*DOE*JOHN****MI*1", "DMG*D8*19801301"], "DMG02", "a birth date is CCYYMMDD"),
        (["NM1*IL*1*DOE*JOHN****MI*1", "DMG*D8*19800101*X"], "DMG03", "a gender code is one"),
        (["NM1*IL*1*DOE*JOHN****MI*1", "DTP*346*D8*2024"], "DTP03", "a date (D8) is CCYYMMDD"),
        (["NM1*IL*1*DOE*JOHN****MI*1", "DTP*346*RD8*20250101-20240101"], "DTP03", "in order"),
        (["NM1*IL*1*DOE*JOHN****MI*1", "DTP*346*D8*20250101", "DTP*347*D8*20240101"], "DTP03",
         "eligibility ends before it begins"),
        (["DMG*D8*19800101"], "NM1", "the subscriber loop has no NM1 name segment"),
        (["NM1*IL*1*DOE*JO\x00HN****MI*1"], "NM104", "control or non-printing characters"),
    ],
)  # fmt: skip
def test_a_person_that_cannot_be_imported_is_rejected_with_the_field(
    segments: list[str], field: str, reason: str
) -> None:
    facts, [reject] = read(interchange(*SOURCE, *RECEIVER, *subscriber(*segments)))
    assert facts == []
    assert reject.field == field
    assert reason in reject.reason


def test_a_dependent_without_id_needs_birth_date_and_first_name() -> None:
    text = interchange(
        *SOURCE,
        *RECEIVER,
        *subscriber("NM1*IL*1*DOE*JOHN****MI*1234567890", child="1"),
        "HL*4*3*23*0",
        "NM1*03*1*DOE",
    )
    [_], [reject] = read(text)
    assert (reject.line, reject.field) == (12, "NM109")


def test_a_payer_without_an_id_rejects_its_people() -> None:
    source = ["BHT*0022*11*1*20260101*1200", "HL*1**20*1", "NM1*PR*2*SOME PAYER"]
    facts, [reject] = read(interchange(*source, *RECEIVER, *subscriber("NM1*IL*1*A*B****MI*1")))
    assert facts == []
    assert (reject.line, reject.field) == (5, "NM109")


def test_a_dependent_must_hang_under_a_subscriber() -> None:
    text = interchange(*SOURCE, *RECEIVER, "HL*3*2*23*0", "NM1*03*1*DOE*JANE")
    _, rejects = read(text)
    assert [(r.line, r.field) for r in rejects] == [(3, "HL"), (9, "HL02")]


def test_an_unsupported_implementation_guide_is_rejected() -> None:
    facts, [reject] = read(interchange(*SOURCE, implementation="005010X212"))
    assert facts == []
    assert (reject.line, reject.field, reject.value) == (3, "GS08", "005010X212")
    assert "unsupported implementation guide" in reject.reason


# -- malformed input: always a Reject, never an exception --------------------------------------


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty: no X12 interchange"),
        ("  \r\n\t", "empty: no X12 interchange"),
        ("MSH|^~\\&|DEERS|", "not X12: an interchange begins with ISA"),
        ('{"resourceType": "Patient"}', "not X12: an interchange begins with ISA"),
        ("ISA*00*          *00", "truncated: an ISA segment is 106 characters, got 20"),
        (ISA.replace("00501", "00999"), "not readable X12: ISA Interchange Control Version"),
        (ISA.replace("*", "+", 3), "not readable X12: The ISA segment must have 16 elements"),
    ],
)
def test_what_is_not_x12_is_one_reject(text: str, reason: str) -> None:
    [reject] = read_271(text)
    assert isinstance(reject, Reject)
    assert reject.line == 1
    assert reject.reason.startswith(reason)


def test_random_bytes_are_a_reject() -> None:
    noise = bytes((i * 7919 + 13) % 256 for i in range(2048)).decode("latin-1")
    [reject] = read_271(noise)
    assert isinstance(reject, Reject)


def test_an_interchange_without_a_transaction_set() -> None:
    text = "\n".join(
        [ISA, "GS*HB*S*R*20260101*1200*1*X*005010X279A1~", "GE*0*1~", "IEA*1*000000907~"]
    )
    assert read(text) == ([], [Reject(4, "ST", "", "the interchange holds no transaction set")])


def test_a_transaction_cut_before_its_se_imports_nothing_of_it() -> None:
    text = sample(SUBSCRIBER_271)
    cut = text[: text.index("SE*22")]
    facts, rejects = read(cut)
    assert facts == []
    assert [(r.line, r.field) for r in rejects] == [(23, "SE"), (23, "GE"), (23, "IEA")]
    assert rejects[0].reason.startswith("truncated: transaction set 4321 (ST at segment 3)")


def test_an_interchange_cut_after_its_se_imports_the_transaction_and_says_so() -> None:
    text = sample(SUBSCRIBER_271)
    facts, rejects = read(text[: text.index("GE*1")])
    assert len(facts) == 1
    assert [(r.line, r.field) for r in rejects] == [(24, "GE"), (24, "IEA")]


@pytest.mark.parametrize("name", [SUBSCRIBER_271, DEPENDENT_4010, ZENTIST_5010])
def test_every_truncation_of_a_sample_reads_without_raising(name: str) -> None:
    text = sample(name)
    se = text.index("SE" + text[3])
    for end in range(0, len(text), 5):
        facts, rejects = read(text[:end])
        assert facts or rejects
        if end <= se:
            assert facts == []


MUTATION_ALPHABET = "*|~^:}\n\r ISAGEBHLNM0123456789\x00\x7f\u00e9"


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A shared sample with a few characters deleted, replaced or inserted."""
    text = sample(draw(st.sampled_from([SUBSCRIBER_271, DEPENDENT_271, AAA_4010, DEPENDENT_4010])))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["delete", "replace", "insert"]))
        char = draw(st.sampled_from(MUTATION_ALPHABET))
        if kind == "delete":
            text = text[:at] + text[at + 1 :]
        elif kind == "replace":
            text = text[:at] + char + text[at + 1 :]
        else:
            text = text[:at] + char + text[at:]
    return text


@settings(max_examples=150, deadline=None, database=None)
@given(mutated())
def test_a_mutated_sample_never_raises_and_what_it_imports_is_valid_fhir(text: str) -> None:
    items = list(read_271(text))
    assert items
    for item in items:
        assert isinstance(item, Eligibility271 | Reject)
        if isinstance(item, Eligibility271):
            assert_valid(item)
