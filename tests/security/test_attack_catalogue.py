"""The attack catalogue, reading doors: for every way of reading the FHIR API, a patient
token (demo-child), a proxy token (the sponsor acting for the family: the teen only for Patient
and Appointment, the adult spouse not at all) and a granular token (demo-child's laboratory
Observations) try to reach data beyond their reach and get nothing; the positive twin shows the
same request working within bounds.

Rules under test (fhir_server/interactions/access.py): what a token cannot see looks exactly
like what does not exist (404, same OperationOutcome pattern); search criteria (chains,
``_has``) never probe what the token cannot see; no token, no answer (401). The writing doors
are in test_attack_catalogue_writes.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from smart_auth.records import Role
from smart_auth.testing import issue_token

from .conftest import (
    AUDIENCES,
    DOD_ID,
    LOINC,
    PRIVATE_OUTSIDE_COMPARTMENTS,
    Caller,
    World,
    assert_like_missing,
    caller,
    current,
    fresh_id,
    keys,
    observation,
    place,
    seeded_resources,
    written,
)

# -- helpers --------------------------------------------------------------------------------------


def check_search(
    who: Caller,
    path: str,
    params: tuple[tuple[str, str], ...],
    *,
    expected: frozenset[str] = frozenset(),
    excluded: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Search as ``who``: every entry within its reach (by the oracle), ``expected`` there,
    ``excluded`` not."""
    bundle = who.search(path, *params)
    found = keys(bundle, "match", "include")
    seeded = seeded_resources()
    audience = AUDIENCES[who.name]
    beyond = {
        key
        for key in found
        if (key in seeded and not audience.may_see(seeded[key]))
        or key.split("/")[0] in ("Binary", "Task", "Device", "Bundle")
    }
    assert not beyond, f"{who.name} reached {sorted(beyond)} with {path}?{params}"
    assert expected <= found, f"{who.name} missed {sorted(expected - found)}"
    assert not found & excluded, f"{who.name} reached {sorted(found & excluded)}"
    return bundle


def search_case(
    who: str,
    path: str,
    *params: tuple[str, str],
    expected: tuple[str, ...] = (),
    excluded: tuple[str, ...] = (),
    id: str,
) -> Any:
    return pytest.param(who, path, params, frozenset(expected), frozenset(excluded), id=id)


SEARCH_ARGS = "who, path, params, expected, excluded"
Params = tuple[tuple[str, str], ...]


def run_search_case(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: tuple[tuple[str, str], ...],
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    check_search(caller(request, who), path, params, expected=expected, excluded=excluded)


# -- 401: no token, no answer ---------------------------------------------------------------------


def test_a_request_without_a_token_gets_401_with_a_bearer_challenge(world: World) -> None:
    response = world.anonymous().get("Patient/demo-child")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize("token", ["garbage", "Bearer", "x" * 43])
def test_a_garbage_token_gets_401_invalid_token(world: World, token: str) -> None:
    response = world.anonymous(token).get("Observation")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_an_expired_token_gets_401_invalid_token(world: World) -> None:
    token = issue_token(world.database_url, scope="system/*.cruds", role=Role.SYSTEM, lifetime=-1.0)
    response = world.anonymous(token).get("Patient/demo-child")
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


def test_without_a_token_an_existing_and_a_missing_resource_get_the_same_401(
    world: World,
) -> None:
    existing = world.anonymous().get("Observation/demo-ldl")
    missing = world.anonymous().get("Observation/no-such-obs")
    assert existing.status_code == 401
    assert_like_missing(existing, "demo-ldl", missing, "no-such-obs")


def test_the_capability_statement_is_public(world: World) -> None:
    assert world.anonymous().get("metadata").status_code == 200


# -- scope limits: types and interactions ---------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("POST", "Observation", written(None, "Patient/demo-child"), id="create"),
        pytest.param(
            "PUT",
            "Observation/child-lab",
            observation("child-lab", "Patient/demo-child"),
            id="update",
        ),
        pytest.param("DELETE", "Observation/child-lab", None, id="delete"),
    ],
)
@pytest.mark.parametrize("who", ["patient", "proxy", "granular"])
def test_a_read_only_scope_cannot_write_even_within_reach(
    request: pytest.FixtureRequest, system: Caller, who: str, method: str, path: str, body: Any
) -> None:
    response = caller(request, who).request(method, path, json=body)
    assert response.status_code == 403, response.text
    assert current(system, "Observation/child-lab")["meta"]["versionId"] == "1"


def test_a_read_only_scope_cannot_patch_even_within_reach(patient: Caller) -> None:
    ops = [{"op": "replace", "path": "/status", "value": "amended"}]
    assert patient.patch("Observation/child-lab", ops).status_code == 403


@pytest.mark.parametrize(
    "path", ["Patient/demo-child", "MedicationRequest/demo-rx-2", "Patient", "Binary"]
)
def test_an_observation_only_scope_gets_403_for_other_types(granular: Caller, path: str) -> None:
    assert granular.get(path).status_code == 403


def test_an_observation_only_scope_cannot_search_every_type_at_once(granular: Caller) -> None:
    assert granular.get("").status_code == 403
    assert granular.get("Patient/demo-child/*").status_code == 403


def test_a_launch_context_outside_the_tokens_links_reaches_nothing(world: World) -> None:
    stranger = world.caller("patient", "patient/*.rs", patient="other-kid")  # family links
    assert stranger.get("Patient/other-kid").status_code == 404
    assert keys(stranger.search("Observation")) == set()


def test_a_beneficiary_holding_a_system_scope_reaches_nothing(world: World) -> None:
    holder = world.caller("patient", "system/*.rs", patient="demo-child")
    assert holder.get("Patient/demo-child").status_code == 404
    assert keys(holder.search("Observation")) == set()


# -- read -----------------------------------------------------------------------------------------

FORBIDDEN_READS = [
    pytest.param("patient", "Observation/demo-ldl", id="patient-sponsor-observation"),
    pytest.param("patient", "Observation/other-lab", id="patient-other-family-observation"),
    pytest.param("patient", "Observation/moved-obs", id="patient-observation-moved-away"),
    pytest.param("patient", "Patient/demo-sponsor", id="patient-sponsor-patient"),
    pytest.param("patient", "Patient/other-kid", id="patient-other-family-patient"),
    pytest.param("patient", "MedicationRequest/demo-rx-1", id="patient-sponsor-rx"),
    pytest.param("patient", "Communication/demo-msg-1", id="patient-sponsor-message"),
    pytest.param("patient", "Appointment/demo-appt-1", id="patient-sponsor-appointment"),
    pytest.param("patient", "RelatedPerson/demo-sponsor-of-teen", id="patient-teen-related"),
    pytest.param("proxy", "Observation/other-lab", id="proxy-other-family-observation"),
    pytest.param("proxy", "Patient/other-mom", id="proxy-other-family-patient"),
    pytest.param("proxy", "Patient/demo-spouse", id="proxy-adult-spouse"),
    pytest.param("proxy", "RelatedPerson/demo-sponsor-of-spouse", id="proxy-spouse-related"),
    pytest.param("proxy", "Observation/teen-lab", id="proxy-teen-observation"),
    pytest.param("proxy", "MedicationRequest/teen-rx", id="proxy-teen-rx"),
    pytest.param("proxy", "RelatedPerson/demo-sponsor-of-teen", id="proxy-teen-related"),
    pytest.param("proxy", "Communication/other-msg", id="proxy-other-family-message"),
    pytest.param("granular", "Observation/child-vitals", id="granular-own-vital-signs"),
    pytest.param("granular", "Observation/demo-ldl", id="granular-sponsor-lab"),
    pytest.param("granular", "Observation/other-lab", id="granular-other-family-lab"),
    pytest.param("granular", "Observation/teen-lab", id="granular-teen-lab"),
]

ALLOWED_READS = [
    pytest.param("patient", "Observation/child-lab", id="patient-own-observation"),
    pytest.param("patient", "Observation/child-vitals", id="patient-own-vital-signs"),
    pytest.param("patient", "Patient/demo-child", id="patient-own-patient"),
    pytest.param("patient", "MedicationRequest/demo-rx-2", id="patient-own-rx"),
    pytest.param("patient", "Appointment/demo-appt-2", id="patient-own-appointment"),
    pytest.param("patient", "Communication/shared-msg", id="patient-message-received"),
    pytest.param("patient", "RelatedPerson/demo-sponsor-of-child", id="patient-own-related"),
    pytest.param("patient", "Practitioner/demo-pcm", id="patient-shared-practitioner"),
    pytest.param("proxy", "Patient/demo-teen", id="proxy-teen-patient"),
    pytest.param("proxy", "Appointment/teen-appt", id="proxy-teen-appointment"),
    pytest.param("proxy", "Observation/demo-ldl", id="proxy-own-observation"),
    pytest.param("proxy", "Observation/child-lab", id="proxy-child-observation"),
    pytest.param("proxy", "MedicationRequest/demo-rx-2", id="proxy-child-rx"),
    pytest.param("granular", "Observation/child-lab", id="granular-own-lab"),
    pytest.param("other_family", "Observation/moved-obs", id="other-family-moved-in"),
]


def test_the_catalogue_tables_agree_with_the_policy_oracle() -> None:
    seeded = seeded_resources()
    for case in FORBIDDEN_READS:
        who, path = case.values
        assert not AUDIENCES[str(who)].may_see(seeded[str(path)]), case.id
    for case in ALLOWED_READS:
        who, path = case.values
        assert AUDIENCES[str(who)].may_see(seeded[str(path)]), case.id


@pytest.mark.parametrize(("who", "path"), FORBIDDEN_READS)
def test_reading_a_resource_beyond_reach_gets_404_like_a_missing_one(
    request: pytest.FixtureRequest, who: str, path: str
) -> None:
    type, id = path.split("/")
    attacker = caller(request, who)
    missing_id = fresh_id("missing")
    beyond = attacker.get(path)
    assert beyond.status_code == 404, beyond.text
    assert_like_missing(beyond, id, attacker.get(f"{type}/{missing_id}"), missing_id)


@pytest.mark.parametrize(("who", "path"), ALLOWED_READS)
def test_reading_a_resource_within_reach_returns_it(
    request: pytest.FixtureRequest, who: str, path: str
) -> None:
    response = caller(request, who).get(path)
    assert response.status_code == 200, response.text
    assert f"{response.json()['resourceType']}/{response.json()['id']}" == path


@pytest.mark.parametrize(
    "header", [("If-None-Match", 'W/"1"'), ("If-Modified-Since", "Fri, 01 Jan 2100 00:00:00 GMT")]
)
def test_a_conditional_read_of_another_patients_resource_gets_404_not_304(
    patient: Caller, header: tuple[str, str]
) -> None:
    name, value = header
    beyond = patient.request("GET", "Observation/demo-ldl", headers={name: value})
    missing = patient.request("GET", "Observation/no-such-ldl", headers={name: value})
    assert beyond.status_code == 404
    assert_like_missing(beyond, "demo-ldl", missing, "no-such-ldl")


def test_a_conditional_read_of_own_resource_gets_304(patient: Caller) -> None:
    response = patient.request("GET", "Appointment/demo-appt-2", headers={"If-None-Match": "*"})
    assert response.status_code == 304


def test_a_head_read_of_another_patients_resource_answers_like_a_missing_one(
    patient: Caller,
) -> None:
    beyond = patient.request("HEAD", "Observation/demo-ldl")
    missing = patient.request("HEAD", "Observation/no-such-ldl")
    assert (beyond.status_code, missing.status_code) == (404, 404)


# -- vread ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "path", "version"),
    [
        pytest.param("patient", "Observation/demo-ldl", 1, id="patient-sponsor-observation"),
        pytest.param("patient", "Observation/moved-obs", 2, id="patient-version-moved-away"),
        pytest.param("other_family", "Observation/moved-obs", 1, id="other-family-version-1"),
        pytest.param("proxy", "Observation/teen-lab", 1, id="proxy-teen-observation"),
        pytest.param("proxy", "MedicationRequest/teen-rx", 1, id="proxy-teen-rx"),
        pytest.param("granular", "Observation/child-vitals", 1, id="granular-vital-signs"),
    ],
)
def test_vreading_a_version_beyond_reach_gets_404_like_a_missing_one(
    request: pytest.FixtureRequest, who: str, path: str, version: int
) -> None:
    type, id = path.split("/")
    attacker = caller(request, who)
    missing_id = fresh_id("missing")
    beyond = attacker.get(f"{path}/_history/{version}")
    assert beyond.status_code == 404, beyond.text
    missing = attacker.get(f"{type}/{missing_id}/_history/{version}")
    assert_like_missing(beyond, id, missing, missing_id)


@pytest.mark.parametrize(
    ("who", "path", "version"),
    [
        pytest.param("patient", "Observation/moved-obs", 1, id="patient-version-when-theirs"),
        pytest.param("other_family", "Observation/moved-obs", 2, id="other-family-version-2"),
        pytest.param("proxy", "Appointment/teen-appt", 1, id="proxy-teen-appointment"),
        pytest.param("granular", "Observation/child-lab", 1, id="granular-own-lab"),
    ],
)
def test_vreading_a_version_within_reach_returns_it(
    request: pytest.FixtureRequest, who: str, path: str, version: int
) -> None:
    response = caller(request, who).get(f"{path}/_history/{version}")
    assert response.status_code == 200, response.text
    assert response.json()["meta"]["versionId"] == str(version)


def test_vreading_the_deletion_of_another_patients_resource_gets_404_like_a_missing_one(
    system: Caller, patient: Caller
) -> None:
    gone = place(system, written(fresh_id("gone"), "Patient/demo-sponsor"))
    assert system.delete(f"Observation/{gone['id']}").status_code == 200
    beyond = patient.get(f"Observation/{gone['id']}/_history/2")
    missing = patient.get("Observation/no-such-gone-obs/_history/2")
    assert beyond.status_code == 404
    assert_like_missing(beyond, gone["id"], missing, "no-such-gone-obs")


# -- history --------------------------------------------------------------------------------------


def _history_keys(bundle: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(Type/id, version) of each entry of a history Bundle."""
    out = set()
    for entry in bundle.get("entry", []):
        type_id = "/".join(entry["fullUrl"].split("/")[-2:])
        out.add((type_id, entry["response"]["etag"].strip('W/"')))
    return out


def _entry_visible(system: Caller, who: str, entry: Mapping[str, Any]) -> bool:
    """Whether the oracle lets ``who`` see this history entry (a deletion: the version it
    deleted)."""
    resource = entry.get("resource")
    if resource is None:
        type_id = "/".join(entry["fullUrl"].split("/")[-2:])
        version = int(entry["response"]["etag"].strip('W/"'))
        resource = current(system, f"{type_id}/_history/{version - 1}")
    return AUDIENCES[who].may_see(resource)


@pytest.mark.parametrize(
    ("who", "versions"),
    [
        pytest.param("patient", {"1"}, id="patient-sees-version-1"),
        pytest.param("other_family", {"2"}, id="other-family-sees-version-2"),
    ],
)
def test_instance_history_of_a_moved_resource_shows_each_family_only_its_versions(
    request: pytest.FixtureRequest, system: Caller, who: str, versions: set[str]
) -> None:
    everything = _history_keys(system.search("Observation/moved-obs/_history"))
    assert {v for _, v in everything} == {"1", "2"}
    seen = _history_keys(caller(request, who).search("Observation/moved-obs/_history"))
    assert {v for _, v in seen} == versions


@pytest.mark.parametrize(
    ("who", "path"),
    [
        pytest.param("patient", "Observation/demo-ldl", id="patient-sponsor-observation"),
        pytest.param("proxy", "Observation/teen-lab", id="proxy-teen-observation"),
        pytest.param("proxy", "Patient/demo-spouse", id="proxy-adult-spouse"),
        pytest.param("granular", "Observation/child-vitals", id="granular-vital-signs"),
    ],
)
def test_instance_history_of_a_resource_beyond_reach_gets_404_like_a_missing_one(
    request: pytest.FixtureRequest, who: str, path: str
) -> None:
    type, id = path.split("/")
    attacker = caller(request, who)
    missing_id = fresh_id("missing")
    beyond = attacker.get(f"{path}/_history")
    assert beyond.status_code == 404, beyond.text
    assert_like_missing(beyond, id, attacker.get(f"{type}/{missing_id}/_history"), missing_id)


def _own_cursor(attacker: Caller) -> str:
    """A paging cursor the server made for this very token (its own type history's next
    link): cursors are bound to the token, not to the path."""
    bundle = attacker.search("Observation/_history", ("_count", "1"))
    [url] = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
    return str(httpx.URL(url).params["_cursor"])


@pytest.mark.parametrize(
    ("who", "path"),
    [
        pytest.param("patient", "Observation/demo-ldl", id="patient-sponsor-observation"),
        pytest.param("proxy", "Observation/teen-lab", id="proxy-teen-observation"),
        pytest.param("granular", "Observation/child-vitals", id="granular-vital-signs"),
    ],
)
def test_instance_history_with_a_cursor_of_a_resource_beyond_reach_answers_like_a_missing_one(
    request: pytest.FixtureRequest, who: str, path: str
) -> None:
    type, id = path.split("/")
    attacker = caller(request, who)
    missing_id = fresh_id("missing")
    cursor = ("_cursor", _own_cursor(attacker))
    beyond = attacker.get(f"{path}/_history", cursor)
    missing = attacker.get(f"{type}/{missing_id}/_history", cursor)
    assert_like_missing(beyond, id, missing, missing_id)


@pytest.mark.parametrize("who", ["patient", "proxy", "granular", "other_family"])
@pytest.mark.parametrize("path", ["Observation/_history", "_history"])
def test_type_and_system_history_show_a_token_only_versions_within_its_reach(
    request: pytest.FixtureRequest, system: Caller, who: str, path: str
) -> None:
    attacker = caller(request, who)
    if who == "granular" and path == "_history":
        assert attacker.get(path).status_code == 403  # every type: beyond its scope
        return
    bundle = attacker.search(path, ("_count", "1000"))
    beyond = [
        e["fullUrl"]
        for e in bundle.get("entry", [])
        if not _entry_visible(system, who, e)
        and not e["fullUrl"].endswith(PRIVATE_OUTSIDE_COMPARTMENTS)  # a leak of its own, below
    ]
    assert not beyond
    seen = _history_keys(bundle)
    twin = {
        "patient": ("Observation/moved-obs", "1"),
        "other_family": ("Observation/moved-obs", "2"),
        "proxy": ("Observation/demo-ldl", "1"),
        "granular": ("Observation/child-lab", "1"),
    }[who]
    assert twin in seen
    if who in ("patient", "other_family"):
        assert len({k for k in seen if k[0] == "Observation/moved-obs"}) == 1


@pytest.mark.parametrize("who", ["patient", "proxy"])
def test_system_history_shows_no_other_patients_data_kept_outside_every_compartment(
    request: pytest.FixtureRequest, who: str
) -> None:
    bundle = caller(request, who).search("_history", ("_count", "1000"))
    urls = [e["fullUrl"] for e in bundle.get("entry", [])]
    assert not [url for url in urls if url.endswith(PRIVATE_OUTSIDE_COMPARTMENTS)]


def test_walking_history_pages_takes_no_more_pages_than_the_versions_a_token_may_see(
    patient: Caller,
) -> None:
    visible = len(patient.search("Observation/_history", ("_count", "1000")).get("entry", []))
    url: str | None = "Observation/_history?_count=1"
    pages = 0
    while url is not None and pages <= visible + 50:
        bundle = patient.search(url)
        pages += 1
        url = next((link["url"] for link in bundle["link"] if link["relation"] == "next"), None)
    assert pages <= visible + 1, f"{pages} pages for {visible} visible versions"


# -- search: plain, _id, counts -------------------------------------------------------------------


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Observation",
            expected=("Observation/child-lab", "Observation/child-vitals"),
            excluded=("Observation/demo-ldl", "Observation/moved-obs", "Observation/teen-lab"),
            id="patient-all-observations",
        ),
        search_case(
            "patient",
            "Observation",
            ("subject", "Patient/demo-sponsor"),
            excluded=("Observation/demo-ldl",),
            id="patient-observations-of-the-sponsor",
        ),
        search_case(
            "patient",
            "MedicationRequest",
            ("status", "active"),
            expected=("MedicationRequest/demo-rx-2",),
            excluded=("MedicationRequest/demo-rx-1", "MedicationRequest/teen-rx"),
            id="patient-active-prescriptions",
        ),
        search_case(
            "patient",
            "Patient",
            ("family", "Garcia"),
            expected=("Patient/demo-child",),
            excluded=("Patient/demo-sponsor", "Patient/demo-teen", "Patient/demo-spouse"),
            id="patient-family-members",
        ),
        search_case(
            "proxy",
            "Observation",
            expected=("Observation/demo-ldl", "Observation/child-lab"),
            excluded=("Observation/teen-lab", "Observation/other-lab"),
            id="proxy-all-observations",
        ),
        search_case(
            "proxy",
            "Patient",
            expected=("Patient/demo-sponsor", "Patient/demo-child", "Patient/demo-teen"),
            excluded=("Patient/demo-spouse", "Patient/other-mom", "Patient/other-kid"),
            id="proxy-all-patients",
        ),
        search_case(
            "proxy",
            "MedicationRequest",
            ("subject", "Patient/demo-teen"),
            excluded=("MedicationRequest/teen-rx",),
            id="proxy-teen-prescriptions",
        ),
        search_case(
            "proxy",
            "Appointment",
            ("actor", "Patient/demo-teen"),
            expected=("Appointment/teen-appt",),
            id="proxy-teen-appointments",
        ),
        search_case(
            "granular",
            "Observation",
            expected=("Observation/child-lab",),
            excluded=("Observation/child-vitals", "Observation/demo-ldl", "Observation/other-lab"),
            id="granular-all-observations",
        ),
        search_case(
            "granular",
            "Observation",
            ("category", "vital-signs"),
            excluded=("Observation/child-vitals",),
            id="granular-vital-signs",
        ),
    ],
)
def test_a_search_returns_only_resources_within_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Observation",
            ("_id", "demo-ldl,other-lab,moved-obs,child-lab"),
            expected=("Observation/child-lab",),
            excluded=("Observation/demo-ldl", "Observation/other-lab", "Observation/moved-obs"),
            id="patient",
        ),
        search_case(
            "proxy",
            "Observation",
            ("_id", "teen-lab,demo-ldl"),
            expected=("Observation/demo-ldl",),
            excluded=("Observation/teen-lab",),
            id="proxy",
        ),
        search_case(
            "proxy",
            "Patient",
            ("_id", "demo-spouse,demo-teen"),
            expected=("Patient/demo-teen",),
            excluded=("Patient/demo-spouse",),
            id="proxy-spouse",
        ),
        search_case(
            "granular",
            "Observation",
            ("_id", "child-vitals,child-lab"),
            expected=("Observation/child-lab",),
            excluded=("Observation/child-vitals",),
            id="granular",
        ),
    ],
)
def test_a_search_by_id_finds_only_ids_within_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


def test_a_post_search_by_id_finds_only_ids_within_reach(patient: Caller) -> None:
    response = patient.request(
        "POST",
        "Observation/_search",
        content=b"_id=demo-ldl,child-lab",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200
    assert keys(response.json()) == {"Observation/child-lab"}


GLUCOSE = ("code", f"{LOINC}|2345-7")  # child-lab, teen-lab and other-lab


@pytest.mark.parametrize("counting", [("_summary", "count"), ("_total", "accurate")])
@pytest.mark.parametrize(
    ("who", "total"),
    [("system", 3), ("patient", 1), ("proxy", 1), ("granular", 1), ("other_family", 1)],
)
def test_a_total_counts_only_resources_within_reach(
    request: pytest.FixtureRequest, who: str, total: int, counting: tuple[str, str]
) -> None:
    bundle = caller(request, who).search("Observation", GLUCOSE, counting, ("_count", "1"))
    assert bundle["total"] == total


def test_an_ambiguous_bare_id_does_not_reveal_that_another_patients_resources_share_it(
    system: Caller, patient: Caller, proxy: Caller
) -> None:
    # Patient/twin-7 and Group/twin-7 both exist, in the other family's compartments.
    assert system.get("Observation", ("subject", "twin-7")).status_code == 400
    for who in (patient, proxy):
        bundle = who.search("Observation", ("subject", "twin-7"))
        assert keys(bundle) == set()


# -- _include, _revinclude, :iterate --------------------------------------------------------------


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Communication",
            ("_id", "shared-msg"),
            ("_include", "*"),
            expected=("Communication/shared-msg", "Patient/demo-child"),
            excluded=("Patient/other-kid", "Patient/other-mom"),
            id="patient-everything-a-shared-message-names",
        ),
        search_case(
            "patient",
            "Communication",
            ("_id", "shared-msg"),
            ("_include", "Communication:subject"),
            ("_include", "Communication:sender"),
            expected=("Communication/shared-msg",),
            excluded=("Patient/other-kid", "Patient/other-mom"),
            id="patient-other-family-named-by-a-shared-message",
        ),
        search_case(
            "patient",
            "Observation",
            ("_id", "child-lab"),
            ("_include", "Observation:performer"),
            ("_include", "Observation:subject"),
            expected=("Practitioner/demo-pcm", "Patient/demo-child"),
            id="patient-own-observation-performer-and-subject",
        ),
        search_case(
            "proxy",
            "Appointment",
            ("_id", "teen-appt"),
            ("_include", "Appointment:actor"),
            expected=("Patient/demo-teen", "Practitioner/demo-pcm"),
            id="proxy-teen-appointment-actors",
        ),
        search_case(
            "proxy",
            "RelatedPerson",
            ("_include", "RelatedPerson:patient"),
            expected=("RelatedPerson/demo-sponsor-of-child", "Patient/demo-child"),
            excluded=("Patient/demo-spouse", "RelatedPerson/demo-sponsor-of-spouse"),
            id="proxy-related-persons-and-their-patients",
        ),
        search_case(
            "granular",
            "Observation",
            ("_include", "Observation:subject"),
            ("_include", "Observation:performer"),
            expected=("Observation/child-lab",),
            excluded=("Patient/demo-child", "Practitioner/demo-pcm"),
            id="granular-types-beyond-the-scope",
        ),
    ],
)
def test_an_include_pulls_in_only_resources_within_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Practitioner",
            ("_id", "demo-pcm"),
            ("_revinclude", "Appointment:actor"),
            ("_revinclude", "Communication:recipient"),
            ("_revinclude", "MedicationRequest:requester"),
            expected=("Appointment/demo-appt-2", "MedicationRequest/demo-rx-2"),
            excluded=(
                "Appointment/demo-appt-1",
                "Appointment/other-appt",
                "Communication/demo-msg-1",
                "Communication/other-msg",
                "MedicationRequest/demo-rx-1",
                "MedicationRequest/other-rx",
            ),
            id="patient-everything-naming-the-shared-practitioner",
        ),
        search_case(
            "patient",
            "Patient",
            ("_id", "demo-child"),
            ("_revinclude", "RelatedPerson:patient"),
            ("_revinclude", "Communication:recipient"),
            expected=("RelatedPerson/demo-sponsor-of-child", "Communication/shared-msg"),
            id="patient-own-related-persons-and-messages",
        ),
        search_case(
            "proxy",
            "Patient",
            ("_id", "demo-teen"),
            ("_revinclude", "Observation:subject"),
            ("_revinclude", "MedicationRequest:subject"),
            ("_revinclude", "RelatedPerson:patient"),
            ("_revinclude", "Appointment:actor"),
            expected=("Patient/demo-teen", "Appointment/teen-appt"),
            excluded=(
                "Observation/teen-lab",
                "MedicationRequest/teen-rx",
                "RelatedPerson/demo-sponsor-of-teen",
            ),
            id="proxy-teen-beyond-demographics-and-appointments",
        ),
        search_case(
            "granular",
            "Observation",
            ("_id", "child-lab"),
            ("_revinclude", "*"),
            expected=("Observation/child-lab",),
            id="granular",
        ),
    ],
)
def test_a_revinclude_pulls_in_only_resources_within_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Observation",
            ("_id", "child-lab"),
            ("_include", "Observation:performer"),
            ("_revinclude:iterate", "Appointment:actor"),
            ("_revinclude:iterate", "MedicationRequest:requester"),
            ("_revinclude:iterate", "Communication:recipient"),
            expected=("Appointment/demo-appt-2", "MedicationRequest/demo-rx-2"),
            excluded=(
                "Appointment/demo-appt-1",
                "Appointment/teen-appt",
                "Appointment/other-appt",
                "MedicationRequest/demo-rx-1",
                "MedicationRequest/teen-rx",
                "MedicationRequest/other-rx",
                "Communication/demo-msg-1",
                "Communication/other-msg",
            ),
            id="patient-through-the-shared-practitioner",
        ),
        search_case(
            "patient",
            "Communication",
            ("_id", "shared-msg"),
            ("_include:iterate", "*"),
            ("_revinclude:iterate", "Observation:subject"),
            ("_revinclude:iterate", "RelatedPerson:patient"),
            ("_revinclude:iterate", "MedicationRequest:subject"),
            expected=("Patient/demo-child", "RelatedPerson/demo-sponsor-of-child"),
            excluded=(
                "Patient/other-kid",
                "Patient/other-mom",
                "Observation/other-lab",
                "Observation/moved-obs",
                "MedicationRequest/other-rx",
                "RelatedPerson/other-mom-of-kid",
            ),
            id="patient-through-a-shared-message",
        ),
        search_case(
            "proxy",
            "Appointment",
            ("_id", "teen-appt"),
            ("_include", "Appointment:actor"),
            ("_revinclude:iterate", "Observation:subject"),
            ("_revinclude:iterate", "MedicationRequest:subject"),
            ("_revinclude:iterate", "Appointment:actor"),
            expected=("Patient/demo-teen", "Appointment/demo-appt-2"),
            excluded=(
                "Observation/teen-lab",
                "MedicationRequest/teen-rx",
                "Appointment/other-appt",
            ),
            id="proxy-through-the-teen-appointment",
        ),
    ],
)
def test_an_iterated_include_pulls_in_only_resources_within_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


# -- chains and _has: criteria never probe --------------------------------------------------------


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Observation",
            ("subject.name", "Garcia"),
            expected=("Observation/child-lab",),
            excluded=("Observation/demo-ldl", "Observation/teen-lab"),
            id="patient-observations-of-family-members",
        ),
        search_case(
            "patient",
            "Observation",
            ("subject:Patient.identifier", f"{DOD_ID}|1234567890"),
            excluded=("Observation/demo-ldl",),
            id="patient-observations-by-the-sponsors-dod-id",
        ),
        search_case(
            "patient",
            "Communication",
            ("subject:Patient.name", "Nakamura"),
            excluded=("Communication/shared-msg",),
            id="patient-probing-the-other-family-through-a-visible-message",
        ),
        search_case(
            "patient",
            "Communication",
            ("recipient:Patient.name", "Garcia"),
            expected=("Communication/shared-msg",),
            id="patient-messages-to-itself-by-name",
        ),
        search_case(
            "patient",
            "Appointment",
            ("actor:Patient.birthdate", "1988-04-12"),
            excluded=("Appointment/demo-appt-1",),
            id="patient-appointments-by-the-sponsors-birthdate",
        ),
        search_case(
            "patient",
            "Observation",
            ("performer:Practitioner._has:Appointment:actor:actor", "Patient/demo-sponsor"),
            excluded=("Observation/child-lab",),
            id="patient-probing-the-sponsors-appointment-through-the-practitioner",
        ),
        search_case(
            "patient",
            "Observation",
            ("performer:Practitioner._has:Appointment:actor:actor", "Patient/demo-child"),
            expected=("Observation/child-lab",),
            id="patient-own-appointment-through-the-practitioner",
        ),
        search_case(
            "proxy",
            "Observation",
            ("subject:Patient.birthdate", "2012-06-03"),
            excluded=("Observation/teen-lab",),
            id="proxy-teen-observations-by-birthdate",
        ),
        search_case(
            "proxy",
            "Appointment",
            ("actor:Patient.birthdate", "2012-06-03"),
            expected=("Appointment/teen-appt",),
            id="proxy-teen-appointments-by-birthdate",
        ),
        search_case(
            "proxy",
            "RelatedPerson",
            ("patient:Patient.birthdate", "1990-09-30"),
            excluded=("RelatedPerson/demo-sponsor-of-spouse",),
            id="proxy-spouse-by-birthdate",
        ),
        search_case(
            "granular",
            "Observation",
            ("subject.name", "Garcia"),
            excluded=("Observation/child-vitals", "Observation/demo-ldl", "Observation/teen-lab"),
            id="granular",
        ),
    ],
)
def test_a_chained_search_neither_returns_nor_probes_beyond_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


@pytest.mark.parametrize(
    "params",
    [
        (("performer:Practitioner._has:Appointment:actor:actor", "Patient/demo-sponsor"),),
        (("subject:Patient.name", "Nakamura"),),
    ],
)
def test_the_probing_chains_do_find_data_for_an_unrestricted_token(
    system: Caller, params: tuple[tuple[str, str], ...]
) -> None:
    path = "Communication" if params[0][0].startswith("subject") else "Observation"
    assert keys(system.search(path, *params))


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Patient",
            ("_has:Observation:subject:code", f"{LOINC}|18262-6"),
            excluded=("Patient/demo-sponsor",),
            id="patient-who-has-an-ldl-result",
        ),
        search_case(
            "patient",
            "Patient",
            ("_has:Observation:subject:code", f"{LOINC}|2345-7"),
            expected=("Patient/demo-child",),
            excluded=("Patient/other-kid", "Patient/demo-teen"),
            id="patient-who-has-a-glucose-result",
        ),
        search_case(
            "patient",
            "Practitioner",
            ("_has:Appointment:actor:actor", "Patient/demo-sponsor"),
            excluded=("Practitioner/demo-pcm",),
            id="patient-whom-the-sponsor-sees",
        ),
        search_case(
            "patient",
            "Practitioner",
            ("_has:Communication:recipient:subject", "Patient/demo-sponsor"),
            excluded=("Practitioner/demo-pcm",),
            id="patient-whom-the-sponsor-writes-to",
        ),
        search_case(
            "patient",
            "Practitioner",
            ("_has:Appointment:actor:actor", "Patient/demo-child"),
            expected=("Practitioner/demo-pcm",),
            id="patient-whom-it-sees-itself",
        ),
        search_case(
            "proxy",
            "Patient",
            ("_has:Observation:subject:code", f"{LOINC}|2345-7"),
            expected=("Patient/demo-child",),
            excluded=("Patient/demo-teen", "Patient/other-kid"),
            id="proxy-which-child-has-a-glucose-result",
        ),
        search_case(
            "proxy",
            "Patient",
            ("_has:MedicationRequest:subject:status", "active"),
            expected=("Patient/demo-sponsor", "Patient/demo-child"),
            excluded=("Patient/demo-teen",),
            id="proxy-who-takes-medicine",
        ),
        search_case(
            "proxy",
            "Patient",
            ("_has:Appointment:actor:status", "booked"),
            expected=("Patient/demo-teen",),
            excluded=("Patient/demo-spouse", "Patient/other-mom"),
            id="proxy-who-has-an-appointment",
        ),
    ],
)
def test_a_has_search_neither_returns_nor_probes_beyond_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


# -- compartment and system search ----------------------------------------------------------------


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "Patient/demo-sponsor/Observation",
            excluded=("Observation/demo-ldl",),
            id="patient-sponsor-observations",
        ),
        search_case(
            "patient",
            "Patient/other-kid/*",
            excluded=(
                "Patient/other-kid",
                "Observation/other-lab",
                "Observation/moved-obs",
                "MedicationRequest/other-rx",
                "RelatedPerson/other-mom-of-kid",
            ),
            id="patient-other-family-everything",
        ),
        search_case(
            "patient",
            "Patient/demo-child/Observation",
            expected=("Observation/child-lab", "Observation/child-vitals"),
            id="patient-own-observations",
        ),
        search_case(
            "proxy",
            "Patient/demo-teen/*",
            expected=("Patient/demo-teen", "Appointment/teen-appt"),
            excluded=(
                "Observation/teen-lab",
                "MedicationRequest/teen-rx",
                "RelatedPerson/demo-sponsor-of-teen",
            ),
            id="proxy-teen-everything",
        ),
        search_case(
            "proxy",
            "Patient/demo-spouse/*",
            excluded=("Patient/demo-spouse", "RelatedPerson/demo-sponsor-of-spouse"),
            id="proxy-spouse-everything",
        ),
        search_case(
            "granular",
            "Patient/demo-child/Observation",
            expected=("Observation/child-lab",),
            excluded=("Observation/child-vitals",),
            id="granular-own-observations",
        ),
        search_case(
            "granular",
            "Patient/demo-sponsor/Observation",
            excluded=("Observation/demo-ldl",),
            id="granular-sponsor-observations",
        ),
    ],
)
def test_a_compartment_search_returns_only_resources_within_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


@pytest.mark.parametrize(
    SEARCH_ARGS,
    [
        search_case(
            "patient",
            "",
            ("_type", "Observation,MedicationRequest,Patient,Communication,Appointment"),
            expected=(
                "Observation/child-lab",
                "MedicationRequest/demo-rx-2",
                "Patient/demo-child",
                "Communication/shared-msg",
                "Appointment/demo-appt-2",
            ),
            excluded=("Observation/demo-ldl", "Patient/demo-sponsor", "Communication/other-msg"),
            id="patient-several-types",
        ),
        search_case(
            "patient",
            "",
            ("_id", "demo-sponsor,demo-ldl,demo-child,other-binary,child-binary"),
            expected=("Patient/demo-child",),
            excluded=("Patient/demo-sponsor", "Observation/demo-ldl"),
            id="patient-every-type-by-id",
        ),
        search_case(
            "proxy",
            "",
            ("_type", "Patient,Observation,Appointment,MedicationRequest"),
            expected=("Patient/demo-teen", "Appointment/teen-appt", "Observation/demo-ldl"),
            excluded=("Observation/teen-lab", "Patient/demo-spouse", "MedicationRequest/teen-rx"),
            id="proxy-several-types",
        ),
        search_case(
            "granular",
            "",
            ("_type", "Observation"),
            expected=("Observation/child-lab",),
            excluded=("Observation/child-vitals",),
            id="granular-observations",
        ),
    ],
)
def test_a_system_search_returns_only_resources_within_reach(
    request: pytest.FixtureRequest,
    who: str,
    path: str,
    params: Params,
    expected: frozenset[str],
    excluded: frozenset[str],
) -> None:
    run_search_case(request, who, path, params, expected, excluded)


# -- Binary and other patient data outside every compartment --------------------------------------


@pytest.mark.parametrize("who", ["patient", "proxy"])
@pytest.mark.parametrize("id", ["child-binary", "other-binary"])
def test_a_patient_or_proxy_token_gets_404_for_a_binary_like_a_missing_one(
    request: pytest.FixtureRequest, who: str, id: str
) -> None:
    attacker = caller(request, who)
    beyond = attacker.get(f"Binary/{id}")
    assert beyond.status_code == 404
    assert_like_missing(beyond, id, attacker.get("Binary/no-such-binary"), "no-such-binary")


def test_a_patient_token_finds_no_binary(patient: Caller) -> None:
    assert keys(patient.search("Binary")) == set()


def test_a_patient_token_cannot_store_a_binary(patient_writer: Caller, system: Caller) -> None:
    body = {"resourceType": "Binary", "contentType": "text/plain", "data": "aGk="}
    assert patient_writer.post("Binary", body).status_code == 403
    assert system.get("Binary/child-binary").status_code == 200  # the twin: it is there


@pytest.mark.parametrize("path", PRIVATE_OUTSIDE_COMPARTMENTS)
@pytest.mark.parametrize("who", ["patient", "proxy"])
def test_a_patients_data_kept_outside_every_compartment_is_404_for_other_patients(
    request: pytest.FixtureRequest, who: str, path: str
) -> None:
    type, id = path.split("/")
    attacker = caller(request, who)
    beyond = attacker.get(path)
    assert_like_missing(beyond, id, attacker.get(f"{type}/no-such-{type}"), f"no-such-{type}")


@pytest.mark.parametrize("type", ["Task", "Device"])
def test_a_search_of_a_type_outside_every_compartment_finds_no_other_patients_data(
    patient: Caller, type: str
) -> None:
    assert keys(patient.search(type, ("patient", "Patient/other-mom"))) == set()
