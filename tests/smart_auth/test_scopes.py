"""SMART App Launch 2.2 scope parsing (scopes-and-launch-context.html): v1 and v2 syntax,
granular filters, launch/identity flags, coverage, narrowing, and properties over arbitrary text.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smart_auth.scopes import (
    FLAG_TOKENS,
    Permission,
    ResourceScope,
    ScopeSet,
    parse_resource_scope,
    parse_scopes,
)

C, R, U, D, S = (
    Permission.CREATE,
    Permission.READ,
    Permission.UPDATE,
    Permission.DELETE,
    Permission.SEARCH,
)
CRUDS = frozenset(Permission)
LAB = "http://terminology.hl7.org/CodeSystem/observation-category|laboratory"

PROPERTIES = settings(max_examples=300, deadline=None, database=None)


def scope(token: str) -> ResourceScope:
    parsed = parse_resource_scope(token)
    assert parsed is not None, token
    return parsed


def only_scope(text: str) -> ResourceScope:
    parsed = parse_scopes(text)
    assert parsed.rejected == ()
    assert len(parsed.resources) == 1
    return parsed.resources[0]


def grants_nothing(scopes: ScopeSet) -> bool:
    return scopes.resources == () and scopes.flags == frozenset()


# -- SMART v1 suffixes ---------------------------------------------------------------------------


def test_v1_read_grants_read_and_search() -> None:
    assert only_scope("patient/Observation.read").permissions == {R, S}


def test_v1_write_grants_create_update_delete() -> None:
    assert only_scope("user/*.write").permissions == {C, U, D}


def test_v1_star_grants_every_permission() -> None:
    assert only_scope("system/*.*").permissions == CRUDS


# -- SMART v2 letters ----------------------------------------------------------------------------


@pytest.mark.parametrize("permission", list(Permission))
def test_v2_each_letter_grants_exactly_its_permission(permission: Permission) -> None:
    parsed = only_scope(f"patient/Observation.{permission.value}")
    assert parsed.permissions == {permission}
    assert (parsed.level, parsed.resource_type, parsed.filters) == ("patient", "Observation", ())


def test_v2_letters_combine() -> None:
    assert only_scope("patient/Observation.rs").permissions == {R, S}
    assert only_scope("user/Patient.cud").permissions == {C, U, D}


def test_v2_cruds_grants_what_v1_star_grants() -> None:
    assert only_scope("user/*.cruds").permissions == only_scope("user/*.*").permissions


@pytest.mark.parametrize("suffix", ["sr", "dc", "sc", "rc", "ruc", "scrud", "sdurc"])
def test_v2_letters_out_of_order_are_rejected(suffix: str) -> None:
    token = f"patient/Observation.{suffix}"
    parsed = parse_scopes(token)
    assert parsed.rejected == (token,)
    assert grants_nothing(parsed)


@pytest.mark.parametrize("suffix", ["rr", "rss", "cc", "crudss", "ccruds"])
def test_v2_duplicate_letters_are_rejected(suffix: str) -> None:
    token = f"patient/Observation.{suffix}"
    assert parse_scopes(token).rejected == (token,)


@pytest.mark.parametrize("suffix", ["", "x", "rx", "R", "READ", "Read", "**", "read*", "rs.r"])
def test_unknown_or_empty_permissions_are_rejected(suffix: str) -> None:
    token = f"patient/Observation.{suffix}"
    assert parse_scopes(token).rejected == (token,)


# -- levels and resource types -------------------------------------------------------------------


@pytest.mark.parametrize(
    "token",
    [
        "Patient/Observation.rs",
        "admin/Observation.rs",
        "practitioner/*.read",
        "/Observation.rs",
        "Observation.rs",
        "patient//Observation.rs",
        "patient/Observation",
    ],
)
def test_unknown_level_or_shape_is_rejected(token: str) -> None:
    parsed = parse_scopes(token)
    assert parsed.rejected == (token,)
    assert grants_nothing(parsed)


@pytest.mark.parametrize(
    "resource_type", ["observation", "O", "Obs3rvation", "Obs-ervation", "", "**", "Ob*"]
)
def test_resource_type_must_be_a_type_name_or_star(resource_type: str) -> None:
    token = f"patient/{resource_type}.rs"
    assert parse_scopes(token).rejected == (token,)


def test_every_level_is_accepted() -> None:
    parsed = parse_scopes("patient/*.rs user/*.rs system/*.rs")
    assert [s.level for s in parsed.resources] == ["patient", "user", "system"]


# -- granular filters ----------------------------------------------------------------------------


def test_granular_filter_is_parsed() -> None:
    parsed = only_scope(f"patient/Observation.rs?category={LAB}")
    assert parsed.filters == (("category", LAB),)
    assert parsed.permissions == {R, S}


def test_granular_filter_is_percent_decoded() -> None:
    parsed = only_scope("patient/Observation.rs?code%3Atext=blood%20pressure&code=a%7Cb+c")
    assert parsed.filters == (("code:text", "blood pressure"), ("code", "a|b+c"))


def test_granular_filters_are_joined_by_ampersand() -> None:
    parsed = only_scope(f"patient/Observation.rs?category={LAB}&status=final")
    assert parsed.filters == (("category", LAB), ("status", "final"))


def test_granular_filter_keeps_the_text_as_requested() -> None:
    token = "patient/Observation.rs?code=a%7Cb"
    assert only_scope(token).text == token


@pytest.mark.parametrize(
    "query",
    [
        "",
        "category",
        "=laboratory",
        "category=",
        "category=a&",
        "&category=a",
        "category=a&&status=final",
        "category=%zz",
        "category=%E",
        "category=%FF",
        "category=a%00b",
        "cat%20egory=a",
        "_count=10",
        "_include=Observation:subject",
        "_revinclude:iterate=Provenance:target",
        "_summary=true",
    ],
)
def test_malformed_granular_filter_is_rejected(query: str) -> None:
    token = f"patient/Observation.rs?{query}"
    parsed = parse_scopes(token)
    assert parsed.rejected == (token,)
    assert grants_nothing(parsed)


@pytest.mark.parametrize("suffix", ["read", "write", "*"])
def test_granular_filter_on_a_v1_suffix_is_rejected(suffix: str) -> None:
    token = f"patient/Observation.{suffix}?category=laboratory"
    assert parse_scopes(token).rejected == (token,)


def test_granular_filter_is_allowed_with_write_letters_and_restricts_them() -> None:
    parsed = parse_scopes("patient/Observation.cu?category=vital-signs")
    assert parsed.allows("patient", C, "Observation")
    assert parsed.filters_for("patient", C, "Observation") == [(("category", "vital-signs"),)]


def test_filtered_scope_allows_and_filters_for_reports_its_filter() -> None:
    parsed = parse_scopes(f"patient/Observation.rs?category={LAB}")
    assert parsed.allows("patient", S, "Observation")
    assert parsed.filters_for("patient", S, "Observation") == [(("category", LAB),)]


def test_filters_for_reports_an_unfiltered_scope_as_the_empty_tuple() -> None:
    parsed = parse_scopes(f"patient/Observation.rs?category={LAB} patient/*.r")
    assert parsed.filters_for("patient", R, "Observation") == [(("category", LAB),), ()]
    assert parsed.filters_for("patient", S, "Observation") == [(("category", LAB),)]
    assert parsed.filters_for("patient", C, "Observation") == []


# -- flags ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "name"), list(FLAG_TOKENS.items()))
def test_each_flag_sets_its_field_and_nothing_else(token: str, name: str) -> None:
    parsed = parse_scopes(token)
    assert getattr(parsed, name) is True
    assert parsed.flags == {token}
    assert parsed.resources == ()
    assert parsed.rejected == ()


@pytest.mark.parametrize(
    "token",
    ["launch/location", "launch/", "launch/Patient", "fhiruser", "OpenID", "offline", "profile"],
)
def test_unknown_flag_or_launch_context_is_rejected(token: str) -> None:
    parsed = parse_scopes(token)
    assert parsed.rejected == (token,)
    assert grants_nothing(parsed)


# -- splitting and rejection ---------------------------------------------------------------------


def test_runs_of_spaces_separate_tokens() -> None:
    parsed = parse_scopes("  openid   fhirUser  patient/*.rs ")
    assert parsed.openid
    assert parsed.fhir_user
    assert len(parsed.resources) == 1
    assert parsed.rejected == ()


@pytest.mark.parametrize("text", [None, "", "   "])
def test_no_scope_string_grants_nothing(text: str | None) -> None:
    assert parse_scopes(text) == ScopeSet()


@pytest.mark.parametrize("token", ["patient/*.rs\t", "openid\n", 'patient/Observation.rs?a="b"'])
def test_tokens_with_characters_outside_rfc6749_are_rejected(token: str) -> None:
    assert parse_scopes(token).rejected == (token,)


def test_rejected_tokens_grant_nothing_and_do_not_stop_the_rest() -> None:
    parsed = parse_scopes("patient/Observation.sr openid patient/Foo.x patient/Patient.r")
    assert parsed.rejected == ("patient/Observation.sr", "patient/Foo.x")
    assert parsed.openid
    assert [s.text for s in parsed.resources] == ["patient/Patient.r"]
    assert not parsed.allows("patient", S, "Observation")


# -- allows --------------------------------------------------------------------------------------


def test_allows_matches_the_exact_level_only() -> None:
    parsed = parse_scopes("user/Observation.rs")
    assert parsed.allows("user", R, "Observation")
    assert not parsed.allows("patient", R, "Observation")
    assert not parsed.allows("system", R, "Observation")


def test_allows_matches_the_permission_and_type() -> None:
    parsed = parse_scopes("patient/Observation.r")
    assert not parsed.allows("patient", S, "Observation")
    assert not parsed.allows("patient", R, "Condition")


def test_wildcard_type_allows_every_type_but_a_typed_scope_does_not_allow_all_types() -> None:
    assert parse_scopes("patient/*.r").allows("patient", R, "Condition")
    assert parse_scopes("patient/*.r").allows("patient", R, "*")
    assert not parse_scopes("patient/Condition.r").allows("patient", R, "*")


# -- covers --------------------------------------------------------------------------------------


def test_scope_covers_itself() -> None:
    token = f"patient/Observation.rs?category={LAB}"
    assert scope(token).covers(scope(token))


def test_wildcard_type_covers_a_typed_scope_but_not_the_reverse() -> None:
    assert scope("patient/*.rs").covers(scope("patient/Observation.rs"))
    assert not scope("patient/Observation.rs").covers(scope("patient/*.rs"))


def test_covers_needs_a_superset_of_permissions() -> None:
    assert scope("patient/Observation.read").covers(scope("patient/Observation.s"))
    assert not scope("patient/Observation.r").covers(scope("patient/Observation.rs"))


def test_levels_do_not_cover_each_other() -> None:
    assert not scope("user/*.cruds").covers(scope("patient/Observation.r"))
    assert not scope("system/*.cruds").covers(scope("user/Observation.r"))


def test_unfiltered_scope_covers_a_filtered_one_but_not_the_reverse() -> None:
    plain = scope("patient/Observation.rs")
    filtered = scope(f"patient/Observation.rs?category={LAB}")
    assert plain.covers(filtered)
    assert not filtered.covers(plain)


def test_more_and_ed_filters_are_narrower() -> None:
    one = scope("patient/Observation.rs?category=laboratory")
    two = scope("patient/Observation.rs?category=laboratory&status=final")
    assert one.covers(two)
    assert not two.covers(one)


def test_filter_pair_order_does_not_matter_to_covers() -> None:
    ab = scope("patient/Observation.rs?a=1&b=2")
    ba = scope("patient/Observation.rs?b=2&a=1")
    assert ab.covers(ba)
    assert ba.covers(ab)


def test_different_filters_do_not_cover_each_other() -> None:
    lab = scope("patient/Observation.rs?category=laboratory")
    vitals = scope("patient/Observation.rs?category=vital-signs")
    both = scope("patient/Observation.rs?category=laboratory,vital-signs")
    assert not lab.covers(vitals)
    assert not lab.covers(both)
    assert not both.covers(lab)


# -- narrowing -----------------------------------------------------------------------------------


def test_request_is_narrowed_to_what_the_client_is_registered_for() -> None:
    registered = parse_scopes("patient/*.rs")
    requested = parse_scopes("patient/Observation.rs patient/Observation.c user/*.rs")
    assert str(requested.narrowed_to(registered)) == "patient/Observation.rs"


def test_narrowing_keeps_flags_only_when_also_allowed() -> None:
    registered = parse_scopes("openid fhirUser launch/patient patient/*.rs")
    requested = parse_scopes("openid fhirUser offline_access launch/patient launch")
    narrowed = requested.narrowed_to(registered)
    assert narrowed.flags == {"openid", "fhirUser", "launch/patient"}
    assert str(narrowed) == "openid fhirUser launch/patient"


def test_narrowing_counts_permissions_granted_by_different_allowed_scopes() -> None:
    registered = parse_scopes("patient/Observation.read patient/Observation.write")
    requested = parse_scopes("patient/Observation.cruds patient/Observation.*")
    assert requested.narrowed_to(registered) == requested


def test_narrowing_keeps_a_filtered_request_under_an_unfiltered_registration() -> None:
    registered = parse_scopes("patient/Observation.rs")
    requested = parse_scopes(f"patient/Observation.rs?category={LAB}")
    assert requested.narrowed_to(registered) == requested


def test_narrowing_drops_an_unfiltered_request_under_a_filtered_registration() -> None:
    registered = parse_scopes(f"patient/Observation.rs?category={LAB}")
    requested = parse_scopes("patient/Observation.rs")
    assert requested.narrowed_to(registered).resources == ()


def test_narrowing_keeps_rejected_tokens_as_they_were() -> None:
    requested = parse_scopes("patient/Observation.rs bogus")
    assert requested.narrowed_to(ScopeSet()).rejected == ("bogus",)


def test_refresh_may_ask_for_the_same_or_fewer_scopes() -> None:
    original = parse_scopes("openid fhirUser offline_access patient/*.rs launch/patient")
    assert parse_scopes("patient/Observation.rs offline_access").is_within(original)
    assert parse_scopes("patient/*.r patient/Condition.s?category=x").is_within(original)
    assert original.is_within(original)


def test_refresh_may_not_ask_for_more_than_was_granted() -> None:
    original = parse_scopes("openid offline_access patient/Observation.rs")
    assert not parse_scopes("patient/Observation.rus").is_within(original)
    assert not parse_scopes("patient/*.rs").is_within(original)
    assert not parse_scopes("user/Observation.rs").is_within(original)
    assert not parse_scopes("openid fhirUser").is_within(original)


# -- rendering -----------------------------------------------------------------------------------


def test_str_lists_granted_scopes_in_request_order_without_duplicates_or_rejects() -> None:
    parsed = parse_scopes("launch/patient patient/*.rs bogus openid patient/*.rs launch/patient")
    assert str(parsed) == "launch/patient patient/*.rs openid"


def test_str_round_trips_to_an_equal_grant() -> None:
    parsed = parse_scopes(f"openid patient/Observation.rs?category={LAB} user/*.read fhirUser x")
    assert parse_scopes(str(parsed)) == dataclasses.replace(parsed, rejected=())


def test_order_is_not_part_of_equality() -> None:
    assert parse_scopes("openid fhirUser") == parse_scopes("fhirUser openid")


# -- properties ----------------------------------------------------------------------------------

LEVEL_PARTS = st.sampled_from(["patient", "user", "system", "Patient", "admin", ""])
TYPE_PARTS = st.sampled_from(["Observation", "Patient", "Condition", "*", "observation", "X", ""])
PERMISSION_PARTS = st.sampled_from(["read", "write", "*", "rs", "cruds"]) | st.text(
    alphabet="crudsx*", max_size=6
)
FILTER_PARTS = st.sampled_from(
    [
        "",
        "",
        "?category=laboratory",
        "?code=http%3A%2F%2Floinc.org%7C1234-5",
        "?",
        "?a",
        "?_count=1",
    ]
) | st.text(alphabet="ab_=&%2F", max_size=8).map(lambda query: "?" + query)
SCOPE_LIKE = st.builds(
    lambda level, type_, permissions, query: f"{level}/{type_}.{permissions}{query}",
    LEVEL_PARTS,
    TYPE_PARTS,
    PERMISSION_PARTS,
    FILTER_PARTS,
)
VALID_SCOPE = st.builds(
    lambda level, type_, permissions, query: f"{level}/{type_}.{permissions}{query}",
    st.sampled_from(["patient", "user", "system"]),
    st.sampled_from(["Observation", "Patient", "Condition", "*"]),
    st.sampled_from(["read", "write", "*"])
    | st.sets(st.sampled_from("cruds"), min_size=1).map(
        lambda letters: "".join(letter for letter in "cruds" if letter in letters)
    ),
    st.sampled_from(["", "?category=laboratory", "?category=laboratory&status=final"]),
).filter(lambda token: parse_resource_scope(token) is not None)
TOKENS = (
    VALID_SCOPE
    | SCOPE_LIKE
    | st.sampled_from([*FLAG_TOKENS, "launch/location", "openid2"])
    | st.text(max_size=12)
)
SCOPE_TEXT = st.lists(TOKENS, max_size=8).map(" ".join)
ANY_TEXT = st.text() | SCOPE_TEXT

GRID_TYPES = ("Observation", "Patient", "Condition", "*")


def grant_grid(scopes: ScopeSet) -> set[tuple[str, Permission, str, tuple[tuple[str, str], ...]]]:
    return {
        (level, permission, type_, filters)
        for level in ("patient", "user", "system")
        for permission in Permission
        for type_ in GRID_TYPES
        for filters in scopes.filters_for(level, permission, type_)
    }


@PROPERTIES
@given(ANY_TEXT)
def test_arbitrary_text_never_raises(text: str) -> None:
    parsed = parse_scopes(text)
    str(parsed)
    parsed.narrowed_to(parsed)
    parsed.is_within(parsed)


@PROPERTIES
@given(ANY_TEXT)
def test_str_reparses_to_an_equal_grant(text: str) -> None:
    parsed = parse_scopes(text)
    again = parse_scopes(str(parsed))
    assert again == dataclasses.replace(parsed, rejected=())
    assert str(again) == str(parsed)


@PROPERTIES
@given(SCOPE_TEXT, st.lists(TOKENS, min_size=1, max_size=4), st.integers(0, 8))
def test_malformed_tokens_never_add_permissions(text: str, garbage: list[str], at: int) -> None:
    # Only the tokens that grant nothing by themselves are garbage (a generated token may
    # happen to be a valid scope); dropping the others keeps every example useful.
    garbage = [token for token in garbage if grants_nothing(parse_scopes(token))]
    tokens = text.split(" ")
    with_garbage = parse_scopes(" ".join([*tokens[:at], *garbage, *tokens[at:]]))
    without = parse_scopes(text)
    assert grant_grid(with_garbage) == grant_grid(without)
    assert with_garbage.flags == without.flags
    assert with_garbage.is_within(without)


@PROPERTIES
@given(SCOPE_TEXT, SCOPE_TEXT)
def test_narrowed_request_is_within_both_the_request_and_the_allowance(
    requested_text: str, allowed_text: str
) -> None:
    requested = parse_scopes(requested_text)
    allowed = parse_scopes(allowed_text)
    narrowed = requested.narrowed_to(allowed)
    assert narrowed.is_within(allowed)
    assert narrowed.is_within(requested)
    assert grant_grid(narrowed) <= grant_grid(requested)
    if requested.is_within(allowed):
        assert narrowed == requested


@PROPERTIES
@given(SCOPE_TEXT)
def test_every_scope_set_is_within_itself(text: str) -> None:
    parsed = parse_scopes(text)
    assert parsed.is_within(parsed)
    assert parsed.narrowed_to(parsed) == parsed
