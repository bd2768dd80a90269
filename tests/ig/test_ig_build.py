"""The MHS implementation guide as built: ig/fsh-generated/ is SUSHI's output of the current FSH
sources (`make ig` rebuilds it; Node is needed there, not here), and what it defines agrees with
the code that writes the data: the code tables of the eligibility mapping, the names of
ig/naming.py, the server's validation and search."""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.models import models

from fhir_server.resource_json import stamped
from fhir_server.search.fhirpath import compile_expression
from fhir_server.search.registry import lookup
from fhir_server.validation import profile_registry, validate_resource
from ig import naming
from mappings.eligibility import codes
from mappings.imports import RECORD_TIMESTAMP_EXTENSION

IG = Path(__file__).resolve().parents[2] / "ig"
GENERATED = IG / "fsh-generated"
RESOURCES = GENERATED / "resources"
BASE = naming.BASE
STAMPED = "2026-11-29T00:00:00Z"

Json = dict[str, Any]

CONFORMANCE = {
    "StructureDefinition",
    "CodeSystem",
    "ValueSet",
    "NamingSystem",
    "SearchParameter",
    "CapabilityStatement",
}
PROFILES = {
    "mhs-patient": "Patient",
    "mhs-related-person": "RelatedPerson",
    "mhs-coverage": "Coverage",
    "mhs-appointment": "Appointment",
    "mhs-secure-message": "Communication",
    "mhs-medication-request": "MedicationRequest",
    "mhs-renewal-request": "MedicationRequest",
}
EXTENSIONS = {
    naming.BENEFICIARY_CATEGORY_EXTENSION: naming.BENEFICIARY_CATEGORY_SYSTEM,
    naming.BRANCH_OF_SERVICE_EXTENSION: naming.BRANCH_OF_SERVICE_SYSTEM,
    naming.DUTY_STATUS_EXTENSION: naming.DUTY_STATUS_SYSTEM,
    naming.PAY_GRADE_EXTENSION: naming.PAY_GRADE_SYSTEM,
}


# -- reading the build ---------------------------------------------------------------------------


def sources() -> list[str]:
    """The build's sources, relative to ig/, in the order tools/build_ig.sh hashes them."""
    fsh = [p.relative_to(IG).as_posix() for p in (IG / "input" / "fsh").rglob("*.fsh")]
    return sorted([*fsh, "sushi-config.yaml"])


def source_digest() -> str:
    """SHA-256 of the lines "<sha256 of file>  <path>" of the sorted sources (as the build's)."""
    lines = "".join(
        f"{hashlib.sha256((IG / path).read_bytes()).hexdigest()}  {path}\n" for path in sources()
    )
    return hashlib.sha256(lines.encode()).hexdigest()


def generated() -> list[Json]:
    if not RESOURCES.is_dir():  # the first test says so: run make ig
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RESOURCES.glob("*.json"))]


def of_type(resource_type: str) -> list[Json]:
    return [r for r in generated() if r["resourceType"] == resource_type]


def by_url(resource_type: str) -> dict[str, Json]:
    return {r["url"]: r for r in of_type(resource_type)}


def profiles() -> dict[str, Json]:
    return {
        url: sd
        for url, sd in by_url("StructureDefinition").items()
        if sd["type"] != "Extension" and sd["derivation"] == "constraint"
    }


def examples() -> list[Json]:
    return [r for r in generated() if r["resourceType"] not in CONFORMANCE]


def claimed(example: Json) -> list[str]:
    return list(example.get("meta", {}).get("profile", []))


def lineage(profile: Json) -> Iterator[Json]:
    """The profile and the IG profiles it derives from."""
    known = profiles()
    current: Json | None = profile
    while current is not None:
        yield current
        current = known.get(current["baseDefinition"])


def differential(profile: Json, element_id: str) -> Json:
    [element] = [e for e in profile["differential"]["element"] if e["id"] == element_id]
    return element


# -- the build is current ------------------------------------------------------------------------


def test_the_recorded_source_digest_is_that_of_the_current_sources() -> None:
    assert RESOURCES.is_dir(), "ig/fsh-generated/resources is missing: run make ig"
    recorded = GENERATED / "sources.sha256"
    assert recorded.is_file(), "ig/fsh-generated/sources.sha256 is missing: run make ig"
    assert recorded.read_text().strip() == source_digest(), (
        "ig/fsh-generated is stale (the FSH sources or sushi-config.yaml changed since the last"
        " build): run make ig"
    )


def test_every_generated_file_is_a_fhir_resource_named_by_type_and_id() -> None:
    for path in sorted(RESOURCES.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(data, dict), path.name
        assert isinstance(data.get("resourceType"), str), path.name
        assert path.name == f"{data['resourceType']}-{data['id']}.json"


def test_every_canonical_url_is_under_the_ig_base() -> None:
    with_urls = [r for r in generated() if "url" in r]
    assert {r["resourceType"] for r in with_urls} == CONFORMANCE - {"NamingSystem"}
    for resource in with_urls:
        assert resource["url"] == f"{BASE}/{resource['resourceType']}/{resource['id']}"
    for sd in of_type("StructureDefinition"):
        assert sd["fhirVersion"] == "4.0.1"


def test_the_profiles_are_the_seven_of_the_guide() -> None:
    found = {sd["id"]: sd["type"] for sd in profiles().values()}
    assert found == PROFILES


# -- terminology and names agree with the code that writes the data ------------------------------


@pytest.mark.parametrize("table", sorted(codes.SYSTEMS))
def test_each_code_system_holds_exactly_the_eligibility_codes(table: str) -> None:
    system = codes.SYSTEMS[table]
    code_system = by_url("CodeSystem")[system]
    concepts = {c["code"]: c["display"] for c in code_system["concept"]}
    expected = {code.code: code.display for code in codes.TABLES[table].values()}
    assert concepts == expected
    assert code_system["content"] == "complete"
    assert code_system["caseSensitive"] is True


@pytest.mark.parametrize("table", sorted(codes.SYSTEMS))
def test_each_code_system_has_a_value_set_of_all_its_codes(table: str) -> None:
    system = codes.SYSTEMS[table]
    value_set = by_url("ValueSet")[system.replace("/CodeSystem/", "/ValueSet/")]
    assert value_set["compose"]["include"] == [{"system": system}]


def test_the_extensions_are_those_of_the_mapping_and_the_import_loader() -> None:
    extensions = {
        sd["url"]: sd for sd in of_type("StructureDefinition") if sd["type"] == "Extension"
    }
    assert set(extensions) == {*EXTENSIONS, RECORD_TIMESTAMP_EXTENSION}
    for url, system in EXTENSIONS.items():
        sd = extensions[url]
        assert sd["context"] == [{"type": "element", "expression": "Patient"}]
        value = differential(sd, "Extension.value[x]")
        assert value["type"] == [{"code": "Coding"}]
        value_set = by_url("ValueSet")[value["binding"]["valueSet"]]
        assert value["binding"]["strength"] == "required"
        assert value_set["compose"]["include"] == [{"system": system}]
    stamp = extensions[RECORD_TIMESTAMP_EXTENSION]
    assert stamp["context"] == [{"type": "element", "expression": "Coverage"}]
    assert differential(stamp, "Extension.value[x]")["type"] == [{"code": "instant"}]


def test_the_patient_profile_has_the_extensions_and_identifier_slices_of_naming() -> None:
    patient = profiles()[f"{BASE}/StructureDefinition/mhs-patient"]
    elements = patient["differential"]["element"]
    extension_slices = {
        e["sliceName"]: e["type"][0]["profile"][0]
        for e in elements
        if e["path"] == "Patient.extension" and "sliceName" in e
    }
    assert set(extension_slices.values()) == set(EXTENSIONS)
    systems = {
        e["id"].split(":")[1].split(".")[0]: e["patternUri"]
        for e in elements
        if e["path"] == "Patient.identifier.system" and "patternUri" in e
    }
    assert systems == {
        "dodId": naming.DOD_ID,
        "dbn": naming.DOD_BENEFITS_NUMBER,
        "ssn": naming.SSN,
    }
    dod_id = differential(patient, "Patient.identifier:dodId")
    assert (dod_id["min"], dod_id["max"]) == (1, "1")


def test_every_identifier_system_of_naming_has_a_naming_system() -> None:
    unique_ids = {u["value"] for ns in of_type("NamingSystem") for u in ns["uniqueId"]}
    assert {naming.DOD_ID, naming.DOD_BENEFITS_NUMBER, naming.DMIS_ID} <= unique_ids
    assert all(u.startswith(f"{BASE}/sid/") for u in unique_ids)


def test_the_profiles_fix_the_identifier_systems_the_mapping_writes() -> None:
    known = profiles()
    related = known[f"{BASE}/StructureDefinition/mhs-related-person"]
    assert differential(related, "RelatedPerson.identifier:dodId.system")["patternUri"] == (
        naming.DOD_ID
    )
    coverage = known[f"{BASE}/StructureDefinition/mhs-coverage"]
    assert differential(coverage, "Coverage.subscriber.identifier.system")["patternUri"] == (
        naming.DOD_ID
    )
    plan = differential(coverage, "Coverage.class:plan.value")["binding"]
    assert by_url("ValueSet")[plan["valueSet"]]["compose"]["include"] == [
        {"system": naming.TRICARE_PLAN_SYSTEM}
    ]


# -- examples ------------------------------------------------------------------------------------


def test_every_profile_has_an_example() -> None:
    exemplified = {url for example in examples() for url in claimed(example)}
    assert set(profiles()) <= exemplified


def test_the_examples_pass_the_servers_base_validation() -> None:
    """JSON shape, the R4(B) models and the core required bindings: with ``meta.profile``
    left out, so the MHS profiles (the next test) are not part of it."""
    for example in examples():
        bare = copy.deepcopy(example)
        bare.pop("meta", None)
        resource = stamped(bare, id=bare["id"], version=1, last_updated=STAMPED)
        validate_resource(resource)


def test_the_examples_pass_the_servers_profile_validation() -> None:
    problems = []
    for example in examples():
        resource = stamped(example, id=example["id"], version=1, last_updated=STAMPED)
        for url in claimed(example):
            problems.extend(
                f"{example['id']}: {issue.diagnostics} at {issue.expression}"
                for issue in profile_registry().issues(resource, url)
            )
    assert problems == []


def invariants(profile: Json) -> list[Json]:
    """The profile's own and its IG parents' invariants on the resource itself."""
    return [
        constraint
        for sd in lineage(profile)
        for element in sd["differential"]["element"]
        if element["id"] == sd["type"]
        for constraint in element.get("constraint", [])
    ]


def holds(constraint: Json, resource: Json) -> bool:
    result = fhirpath_compile(constraint["expression"], models["r4"])(resource, {})
    return all(value is True for value in result)


def test_every_profile_invariant_holds_on_its_examples() -> None:
    known = profiles()
    checked = set()
    for example in examples():
        for url in claimed(example):
            for constraint in invariants(known[url]):
                assert holds(constraint, example), f"{example['id']}: {constraint['key']}"
                checked.add(constraint["key"])
    assert checked == {
        "mhs-pat-1",
        "mhs-pat-2",
        "mhs-pat-3",
        "mhs-rp-1",
        "mhs-cov-1",
        "mhs-apt-1",
        "mhs-rx-1",
    }


@pytest.mark.parametrize(
    ("example_id", "key", "break_it"),
    [
        ("example-sponsor", "mhs-pat-1", lambda r: r["identifier"][0].update(value="123456789")),
        ("example-sponsor", "mhs-pat-2", lambda r: r["identifier"][1].update(value="1234")),
        ("example-sponsor", "mhs-pat-3", lambda r: r["identifier"][2].pop("extension")),
        (
            "example-sponsor-of-spouse",
            "mhs-rp-1",
            lambda r: r["identifier"][0].update(value="12345678901"),
        ),
        (
            "example-coverage-spouse",
            "mhs-cov-1",
            lambda r: r["subscriber"]["identifier"].update(value="DOD123"),
        ),
        ("example-appointment", "mhs-apt-1", lambda r: r.update(end="2026-12-03T13:00:00Z")),
        (
            "example-renewal-request",
            "mhs-rx-1",
            lambda r: r["medicationCodeableConcept"].pop("coding"),
        ),
    ],
)
def test_each_invariant_refuses_what_it_describes(example_id: str, key: str, break_it: Any) -> None:
    [example] = [e for e in examples() if e["id"] == example_id]
    [constraint] = [
        c for url in claimed(example) for c in invariants(profiles()[url]) if c["key"] == key
    ]
    broken = copy.deepcopy(example)
    break_it(broken)
    assert not holds(constraint, broken)


# -- search parameters and the CapabilityStatement -----------------------------------------------


@pytest.mark.parametrize("param_id", sorted(r["id"] for r in of_type("SearchParameter")))
def test_each_search_parameter_compiles_to_the_servers_fast_path(param_id: str) -> None:
    """The expression stays in the subset fhir_server/search/fhirpath.py compiles (typed nodes,
    no fhirpathpy fallback), and finds its values in the examples."""
    [param] = [r for r in of_type("SearchParameter") if r["id"] == param_id]
    [base] = param["base"]
    assert param_id == f"{base}-{param['code']}"
    known = lookup(base, param["code"])
    assert known is not None and known.url == param["url"], "a core parameter has this code"
    accessor = compile_expression(param["expression"], base)
    nodes = [node for e in examples() if e["resourceType"] == base for node in accessor(e)]
    assert nodes, f"no example of {base} has a value for {param['code']}"
    assert all(type_name is not None for _, type_name in nodes)
    if param["type"] == "reference":
        assert {type_name for _, type_name in nodes} == {"Reference"}
        assert param["target"] == [base]


def test_the_capability_statement_declares_the_profiles_and_search_parameters() -> None:
    [statement] = of_type("CapabilityStatement")
    assert statement["kind"] == "instance"
    assert statement["fhirVersion"] == "4.0.1"
    assert "json" in statement["format"]
    [rest] = statement["rest"]
    assert rest["mode"] == "server"
    [service] = rest["security"]["service"]
    assert service["coding"][0]["code"] == "SMART-on-FHIR"
    supported = {r["type"]: set(r.get("supportedProfile", [])) for r in rest["resource"]}
    expected: dict[str, set[str]] = {}
    for profile_id, resource_type in PROFILES.items():
        expected.setdefault(resource_type, set()).add(f"{BASE}/StructureDefinition/{profile_id}")
    assert supported == expected
    ours = {r["url"]: r for r in of_type("SearchParameter")}
    declared = set()
    for resource in rest["resource"]:
        for param in resource["searchParam"]:
            if param["definition"] in ours:
                definition = ours[param["definition"]]
                assert definition["base"] == [resource["type"]]
                assert (definition["code"], definition["type"]) == (param["name"], param["type"])
                declared.add(param["definition"])
            else:
                core = lookup(resource["type"], param["name"])
                assert core is not None, f"{resource['type']}?{param['name']}"
                assert (core.url, core.kind) == (param["definition"], param["type"])
    assert declared == set(ours), "every IG search parameter is in the CapabilityStatement"
