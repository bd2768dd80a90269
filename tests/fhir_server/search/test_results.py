"""Managing returned resources (https://hl7.org/fhir/R4/search.html#return): ``_sort``,
``_count`` and paging links, ``_total``, ``_summary``, ``_elements``, ``_include`` and
``_revinclude``.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

TEST = "http://test.org"
SUBSETTED = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")


def tag(code: str) -> dict[str, Any]:
    return {"tag": [{"system": TEST, "code": code}]}


def patient(
    id: str, code: str, family: str | None, given: list[str], born: str | None = None
) -> dict[str, Any]:
    name: dict[str, Any] = {"given": given}
    if family is not None:
        name["family"] = family
    resource: dict[str, Any] = {
        "resourceType": "Patient",
        "id": id,
        "meta": tag(code),
        "name": [name],
    }
    if born:
        resource["birthDate"] = born
    return resource


def observation(id: str, code: str, **fields: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": id,
        "status": "final",
        "code": {"coding": [{"system": TEST, "code": code}]},
        **fields,
    }


def ref(target: str) -> dict[str, str]:
    return {"reference": target}


SORTED = [
    patient("s1", "sort", "Baker", ["Ann"], "1990-05-01"),
    patient("s2", "sort", "adams", ["Zed"], "1985-01-01"),
    patient("s3", "sort", "Baker", ["Zoe"], "1970-01-01"),
    patient("s4", "sort", "Clark", ["Bob"], "1990-05-01"),
    patient("s5", "sort", None, ["Xavier"]),
    patient("s6", "sort", "Évans", ["Carl"], "2000-01-01"),
    patient("s7", "sort", "Dunn", ["Mike", "Aaron"], "1995-06-15"),
]
PAGED = [patient(f"page-{i:02d}", "page", f"Page{i:02d}", ["P"]) for i in range(10)]
SUMMARY_PATIENT = {
    "resourceType": "Patient",
    "id": "summary-patient",
    "meta": tag("summary"),
    "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Ann</div>'},
    "name": [{"family": "Summary", "given": ["Ann"]}],
    "gender": "female",
    "birthDate": "1970-01-01",
    "contact": [{"name": {"family": "Contact"}}],
    "communication": [{"language": {"text": "English"}}],
}
SUMMARY_OBSERVATION = observation(
    "summary-observation",
    "summary",
    meta=tag("summary"),
    text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">5.4</div>'},
    subject=ref("Patient/summary-patient"),
    valueQuantity={"value": 5.4, "unit": "mg"},
    note=[{"text": "a note"}],
)
INCLUDED = [
    {"resourceType": "Organization", "id": "org", "name": "Org"},
    {"resourceType": "Practitioner", "id": "doc", "name": [{"family": "Doc"}]},
    {"resourceType": "Group", "id": "group", "type": "person", "actual": True},
    {
        "resourceType": "Patient",
        "id": "pat-a",
        "name": [{"family": "Alpha"}],
        "managingOrganization": ref("Organization/org"),
    },
    {"resourceType": "Patient", "id": "pat-b", "name": [{"family": "Beta"}]},
    {
        "resourceType": "Encounter",
        "id": "visit",
        "status": "finished",
        "class": {"code": "AMB"},
        "subject": ref("Patient/pat-a"),
    },
    observation(
        "o1",
        "inc",
        subject=ref("Patient/pat-a"),
        performer=[ref("Practitioner/doc")],
        encounter=ref("Encounter/visit"),
    ),
    observation("o2", "inc", subject=ref("Patient/pat-a")),
    observation("o3", "inc", subject=ref("Patient/pat-b")),
    observation("o4", "inc-group", subject=ref("Group/group")),
    observation("o5", "inc", subject=ref("Patient/gone")),
    observation("panel", "panel", hasMember=[ref("Observation/member")]),
    observation("member", "member", hasMember=[ref("Observation/member-of-member")]),
    observation("member-of-member", "member-of-member"),
]


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    for resource in SORTED:
        fhir.put(resource)
        time.sleep(0.003)  # distinct meta.lastUpdated for _sort=-_lastUpdated
    fhir.put(*PAGED, SUMMARY_PATIENT, SUMMARY_OBSERVATION, *INCLUDED)


def ordered(fhir: Any, path: str, params: Any) -> list[str]:
    return [e["resource"]["id"] for e in fhir.entries(fhir.search(path, params), "match")]


def sorted_by(fhir: Any, sort: str) -> list[str]:
    return ordered(fhir, "Patient", {"_tag": f"{TEST}|sort", "_sort": sort})


def is_subsequence(wanted: list[str], got: list[str]) -> bool:
    position = iter(got)
    return all(item in position for item in wanted)


def walk(fhir: Any, path: str, params: Any, between: Any = None) -> list[list[str]]:
    """The match ids of every page, following next links (calling ``between`` after each)."""
    pages = []
    bundle = fhir.search(path, params)
    while True:
        pages.append([e["resource"]["id"] for e in fhir.entries(bundle, "match")])
        if between is not None:
            between(len(pages))
        url = fhir.link(bundle, "next")
        if url is None:
            return pages
        assert len(pages) < 50, "too many pages"
        response = fhir.http.get(url)
        assert response.status_code == 200, response.text
        bundle = response.json()


def has_subsetted_tag(resource: dict[str, Any]) -> bool:
    return any(
        (t.get("system"), t.get("code")) == SUBSETTED
        for t in resource.get("meta", {}).get("tag", [])
    )


# -- _sort -----------------------------------------------------------------------------


def test_sort_ascending_by_string(fhir: Any) -> None:
    order = sorted_by(fhir, "family")
    assert set(order) == {p["id"] for p in SORTED}, "sorting must not drop resources"
    with_family = [id for id in order if id != "s5"]
    assert with_family[:3] in (["s2", "s1", "s3"], ["s2", "s3", "s1"])
    assert with_family[3:] == ["s4", "s7", "s6"]


def test_string_sort_is_case_insensitive(fhir: Any) -> None:
    """Spec: "When sorting on string search parameters, sorting SHOULD be performed on a
    case-insensitive basis": adams before Baker."""
    order = sorted_by(fhir, "family")
    assert order.index("s2") < order.index("s1")


def test_sort_descending(fhir: Any) -> None:
    """Spec: "The prefix [-] indicates decreasing order"."""
    with_family = [id for id in sorted_by(fhir, "-family") if id != "s5"]
    assert with_family[:3] == ["s6", "s7", "s4"]
    assert with_family[3:] in (["s1", "s3", "s2"], ["s3", "s1", "s2"])


def test_sort_by_date_descending(fhir: Any) -> None:
    order = [id for id in sorted_by(fhir, "-birthdate") if id != "s5"]
    assert order[:2] == ["s6", "s7"]
    assert set(order[2:4]) == {"s1", "s4"}
    assert order[4:] == ["s2", "s3"]


def test_sort_multi_key_second_key_ascending(fhir: Any) -> None:
    """_sort=status,-date,category: a comma-separated list of rules in priority order."""
    order = sorted_by(fhir, "family,birthdate")
    assert is_subsequence(["s2", "s3", "s1", "s4", "s7", "s6"], order)


def test_sort_multi_key_second_key_descending(fhir: Any) -> None:
    order = sorted_by(fhir, "family,-birthdate")
    assert is_subsequence(["s2", "s1", "s3", "s4", "s7", "s6"], order)


def test_second_key_only_breaks_ties_of_the_first(fhir: Any) -> None:
    assert is_subsequence(["s3", "s2", "s1", "s4", "s7", "s6"], sorted_by(fhir, "birthdate,family"))
    assert is_subsequence(
        ["s3", "s2", "s4", "s1", "s7", "s6"], sorted_by(fhir, "birthdate,-family")
    )


def test_sort_on_repeating_element_uses_the_earliest_value_in_sort_order(fhir: Any) -> None:
    """Spec: "the sort is based on the item in the set of multiple parameters that comes earliest
    in the specified sort order": s7 (Mike, Aaron) is first by given, and by -given it sorts
    as Mike."""
    assert sorted_by(fhir, "given")[:2] == ["s7", "s1"]
    assert sorted_by(fhir, "-given") == ["s3", "s2", "s5", "s7", "s6", "s4", "s1"]


def test_sort_by_id(fhir: Any) -> None:
    ids = sorted(p["id"] for p in SORTED)
    assert sorted_by(fhir, "_id") == ids
    assert sorted_by(fhir, "-_id") == ids[::-1]


def test_sort_by_last_updated(fhir: Any) -> None:
    ids = [p["id"] for p in SORTED]
    assert sorted_by(fhir, "_lastUpdated") == ids
    assert sorted_by(fhir, "-_lastUpdated") == ids[::-1]


def test_sorted_pages_join_up_to_the_unpaged_order(fhir: Any) -> None:
    params = {"_tag": f"{TEST}|sort", "_sort": "birthdate,-given"}
    whole = ordered(fhir, "Patient", params)
    pages = walk(fhir, "Patient", {**params, "_count": "2"})
    assert all(len(page) <= 2 for page in pages)
    assert [id for page in pages for id in page] == whole


def test_ties_do_not_lose_or_repeat_resources_across_pages(fhir: Any) -> None:
    pages = walk(fhir, "Patient", {"_tag": f"{TEST}|sort", "_sort": "-birthdate", "_count": "1"})
    found = [id for page in pages for id in page]
    assert sorted(found) == sorted(p["id"] for p in SORTED)


# -- _count and paging -----------------------------------------------------------------


def test_count_limits_the_page_and_links_the_next(fhir: Any) -> None:
    """Spec: "Servers SHALL NOT return more resources than requested"."""
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_count": "3"})
    assert len(fhir.entries(bundle, "match")) == 3
    assert fhir.link(bundle, "next") is not None
    assert fhir.link(bundle, "previous") is None
    assert bundle["total"] == 10


def test_next_links_walk_every_match_once(fhir: Any) -> None:
    pages = walk(fhir, "Patient", {"_tag": f"{TEST}|page", "_count": "3"})
    assert [len(page) for page in pages] == [3, 3, 3, 1]
    found = [id for page in pages for id in page]
    assert sorted(found) == sorted(p["id"] for p in PAGED)


def test_next_link_repeats_count_and_criteria(fhir: Any) -> None:
    """Spec: "The server should repeat the original _count parameter in its returned page links"."""
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_count": "3"})
    url = fhir.link(bundle, "next")
    assert "_count=3" in url
    assert "_tag=" in url
    assert url.startswith(fhir.base + "/Patient?")


def test_previous_link_returns_the_page_before(fhir: Any) -> None:
    params = {"_tag": f"{TEST}|page", "_count": "3", "_sort": "family"}
    first = fhir.search("Patient", params)
    second = fhir.http.get(fhir.link(first, "next")).json()
    back = fhir.http.get(fhir.link(second, "previous")).json()
    ids = [[e["resource"]["id"] for e in fhir.entries(b, "match")] for b in (first, second, back)]
    assert ids[0] == ["page-00", "page-01", "page-02"]
    assert ids[1] == ["page-03", "page-04", "page-05"]
    assert ids[2] == ids[0]


def test_last_page_has_no_next_link(fhir: Any) -> None:
    first = fhir.search("Patient", {"_tag": f"{TEST}|page", "_count": "7"})
    last = fhir.http.get(fhir.link(first, "next")).json()
    assert len(fhir.entries(last, "match")) == 3
    assert fhir.link(last, "next") is None
    assert fhir.link(last, "previous") is not None


def test_page_that_ends_with_the_last_match_has_no_next_link(fhir: Any) -> None:
    """Bundle.link "next" names the next page of the search set; after the last match there
    is none (the server reads one row too few to know)."""
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_count": "10"})
    assert len(fhir.entries(bundle, "match")) == 10
    assert fhir.link(bundle, "next") is None


def test_first_page_reached_by_previous_has_no_previous_link(fhir: Any) -> None:
    params = {"_tag": f"{TEST}|page", "_count": "3", "_sort": "family"}
    first = fhir.search("Patient", params)
    second = fhir.http.get(fhir.link(first, "next")).json()
    back = fhir.http.get(fhir.link(second, "previous")).json()
    assert fhir.link(back, "previous") is None


def test_count_zero_is_summary_count(fhir: Any) -> None:
    """Spec: "if _count has the value 0, this shall be treated the same as _summary=count: ... the
    total number of resources that match in Bundle.total, but with no entries, and no
    prev/next/last links"."""
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_count": "0"})
    assert bundle["total"] == 10
    assert "entry" not in bundle
    assert {item["relation"] for item in bundle["link"]} <= {"self"}


def creator(fhir: Any, code: str, families: list[str]) -> Any:
    def create(page: int) -> None:
        family = families[(page - 1) % len(families)]
        fhir.put(patient(f"{code}-new-{page}", code, f"{family}{page}", ["New"]))

    return create


def test_paging_stays_right_while_resources_are_created(fhir: Any) -> None:
    """New resources created between page fetches: no match twice, none of the resources
    that existed before the search skipped."""
    originals = [patient(f"live-{i}", "live", f"M{i}", ["L"]) for i in range(9)]
    fhir.put(*originals)
    pages = walk(
        fhir, "Patient", {"_tag": f"{TEST}|live", "_count": "2"}, creator(fhir, "live", ["N"])
    )
    found = [id for page in pages for id in page]
    assert len(found) == len(set(found)), "a resource came back twice"
    assert {p["id"] for p in originals} <= set(found), "a resource was skipped"


def test_newest_first_paging_stays_right_while_resources_are_created(fhir: Any) -> None:
    """_sort=-_lastUpdated: every created resource sorts ahead of the pages already read."""
    originals = [patient(f"newest-{i}", "newest", f"M{i}", ["L"]) for i in range(7)]
    for resource in originals:
        fhir.put(resource)
        time.sleep(0.003)
    pages = walk(
        fhir,
        "Patient",
        {"_tag": f"{TEST}|newest", "_count": "2", "_sort": "-_lastUpdated"},
        creator(fhir, "newest", ["N"]),
    )
    found = [id for page in pages for id in page]
    assert found == [f"newest-{i}" for i in range(6, -1, -1)]


def test_sorted_paging_stays_right_while_resources_are_created(fhir: Any) -> None:
    """Created resources sort before and after the current page."""
    originals = [patient(f"sorted-live-{i}", "sorted-live", f"M{i}", ["L"]) for i in range(9)]
    fhir.put(*originals)
    pages = walk(
        fhir,
        "Patient",
        {"_tag": f"{TEST}|sorted-live", "_count": "2", "_sort": "-family"},
        creator(fhir, "sorted-live", ["A", "Z", "M5"]),
    )
    found = [id for page in pages for id in page]
    assert len(found) == len(set(found)), "a resource came back twice"
    assert {p["id"] for p in originals} <= set(found), "a resource was skipped"
    originals_found = [id for id in found if id in {p["id"] for p in originals}]
    assert originals_found == [f"sorted-live-{i}" for i in range(8, -1, -1)]


# -- _total ----------------------------------------------------------------------------


def test_total_accurate_counts_every_match_not_the_page(fhir: Any) -> None:
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_count": "2", "_total": "accurate"})
    assert bundle["total"] == 10
    assert len(fhir.entries(bundle)) == 2


def test_total_none_leaves_total_out(fhir: Any) -> None:
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_total": "none"})
    assert "total" not in bundle
    assert len(fhir.entries(bundle, "match")) == 10


def test_total_estimate_is_accepted(fhir: Any) -> None:
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_total": "estimate"})
    assert len(fhir.entries(bundle, "match")) == 10
    assert bundle.get("total", 10) == 10


def test_total_does_not_count_included_resources(fhir: Any) -> None:
    """Spec: "Bundle.total only include the total number of matching resources. It does not count
    extra resources such as OperationOutcome or included resources"."""
    bundle = fhir.search(
        "Observation", {"code": f"{TEST}|inc", "_include": "Observation:subject", "foo": "bar"}
    )
    assert bundle["total"] == 4
    assert len(fhir.entries(bundle, "include")) == 2
    assert len(fhir.entries(bundle, "outcome")) == 1


# -- _summary and _elements ------------------------------------------------------------


def only_match(fhir: Any, path: str, params: Any) -> dict[str, Any]:
    [entry] = fhir.entries(fhir.search(path, params), "match")
    resource: dict[str, Any] = entry["resource"]
    return resource


def test_summary_true_returns_the_summary_elements(fhir: Any) -> None:
    resource = only_match(fhir, "Patient", {"_id": "summary-patient", "_summary": "true"})
    assert resource["name"] == SUMMARY_PATIENT["name"]
    assert resource["gender"] == "female"
    assert resource["birthDate"] == "1970-01-01"
    assert {"contact", "communication", "text"}.isdisjoint(resource)


def test_summary_true_is_tagged_subsetted(fhir: Any) -> None:
    """Spec: "Servers SHOULD mark the resources with the tag SUBSETTED"."""
    resource = only_match(fhir, "Patient", {"_id": "summary-patient", "_summary": "true"})
    assert has_subsetted_tag(resource)


def test_summary_text_returns_text_id_meta_and_mandatory_elements(fhir: Any) -> None:
    """_summary=text: "Return only the text element, the 'id' element, the 'meta' element, and
    only top-level mandatory elements"."""
    resource = only_match(fhir, "Observation", {"_id": "summary-observation", "_summary": "text"})
    assert set(resource) == {"resourceType", "id", "meta", "text", "status", "code"}
    assert has_subsetted_tag(resource)


def test_summary_data_removes_only_the_text(fhir: Any) -> None:
    """_summary=data: "Remove the text element"."""
    resource = only_match(fhir, "Observation", {"_id": "summary-observation", "_summary": "data"})
    assert "text" not in resource
    expected = set(SUMMARY_OBSERVATION) - {"text"}
    assert set(resource) == expected
    assert resource["note"] == SUMMARY_OBSERVATION["note"]
    assert has_subsetted_tag(resource)


def test_summary_count_returns_only_the_count(fhir: Any) -> None:
    """_summary=count: "just return a count of the matching resources, without returning the
    actual matches"."""
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_summary": "count"})
    assert bundle["total"] == 10
    assert "entry" not in bundle


def test_summary_count_reports_the_total_even_with_total_none(fhir: Any) -> None:
    bundle = fhir.search("Patient", {"_tag": f"{TEST}|page", "_summary": "count", "_total": "none"})
    assert bundle["total"] == 10


def test_summary_false_returns_the_whole_resource(fhir: Any) -> None:
    resource = only_match(fhir, "Patient", {"_id": "summary-patient", "_summary": "false"})
    assert resource == fhir.get("Patient/summary-patient").json()
    assert not has_subsetted_tag(resource)


def test_summary_does_not_change_the_stored_resource(fhir: Any) -> None:
    only_match(fhir, "Patient", {"_id": "summary-patient", "_summary": "true"})
    stored = fhir.get("Patient/summary-patient").json()
    assert stored["contact"] == SUMMARY_PATIENT["contact"]
    assert not has_subsetted_tag(stored)


def test_elements_returns_only_the_listed_elements(fhir: Any) -> None:
    """Patient?_elements=identifier,active,link: "Only elements that are listed are to be
    returned"."""
    resource = only_match(
        fhir, "Patient", {"_id": "summary-patient", "_elements": "name,birthDate"}
    )
    assert set(resource) == {"resourceType", "id", "meta", "name", "birthDate"}
    assert resource["name"] == SUMMARY_PATIENT["name"]
    assert has_subsetted_tag(resource)


def test_elements_keeps_mandatory_elements(fhir: Any) -> None:
    """Spec: "Servers SHOULD always return mandatory elements whether they are requested or not"."""
    resource = only_match(
        fhir, "Observation", {"_id": "summary-observation", "_elements": "subject"}
    )
    assert set(resource) == {"resourceType", "id", "meta", "subject", "status", "code"}


def test_elements_does_not_apply_to_included_resources(fhir: Any) -> None:
    """search.html#elements: "The list of elements does not apply to included resources"."""
    bundle = fhir.search(
        "Observation",
        {"_id": "summary-observation", "_elements": "status", "_include": "Observation:subject"},
    )
    [included] = fhir.entries(bundle, "include")
    assert included["resource"] == fhir.get("Patient/summary-patient").json()


# -- _include and _revinclude ----------------------------------------------------------


def keys(bundle: dict[str, Any], mode: str) -> list[str]:
    return [
        f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in bundle.get("entry", [])
        if e["search"]["mode"] == mode
    ]


def test_include_adds_referenced_resources_in_mode_include(fhir: Any) -> None:
    """_include=MedicationRequest:patient: entry.search.mode "include"."""
    bundle = fhir.search("Observation", {"code": f"{TEST}|inc", "_include": "Observation:subject"})
    assert fhir.match_ids(bundle) == {"o1", "o2", "o3", "o5"}
    assert sorted(keys(bundle, "include")) == ["Patient/pat-a", "Patient/pat-b"]


def test_include_lists_a_resource_once_however_often_it_is_referenced(fhir: Any) -> None:
    bundle = fhir.search("Observation", {"code": f"{TEST}|inc", "_include": "Observation:subject"})
    included = keys(bundle, "include")
    assert len(included) == len(set(included))


def test_include_skips_references_to_missing_resources(fhir: Any) -> None:
    """Spec: "If there is no reference, or no matching resource ... the resource is omitted, and no
    error is returned"."""
    bundle = fhir.search("Observation", {"_id": "o5", "_include": "Observation:subject"})
    assert fhir.match_ids(bundle) == {"o5"}
    assert keys(bundle, "include") == []


def test_include_with_a_target_type(fhir: Any) -> None:
    params = {"code": f"{TEST}|inc,{TEST}|inc-group", "_include": "Observation:subject:Group"}
    assert keys(fhir.search("Observation", params), "include") == ["Group/group"]


def test_include_wildcard_follows_every_reference_parameter(fhir: Any) -> None:
    bundle = fhir.search("Observation", {"_id": "o1", "_include": "Observation:*"})
    assert sorted(keys(bundle, "include")) == [
        "Encounter/visit",
        "Patient/pat-a",
        "Practitioner/doc",
    ]


def test_several_includes(fhir: Any) -> None:
    bundle = fhir.search(
        "Observation",
        [("_id", "o1"), ("_include", "Observation:subject"), ("_include", "Observation:performer")],
    )
    assert sorted(keys(bundle, "include")) == ["Patient/pat-a", "Practitioner/doc"]


def test_include_is_not_iterative_without_iterate(fhir: Any) -> None:
    bundle = fhir.search("Observation", {"_id": "panel", "_include": "Observation:has-member"})
    assert keys(bundle, "include") == ["Observation/member"]


def test_include_iterate_follows_included_resources(fhir: Any) -> None:
    """_include:iterate=MedicationRequest:performer on MedicationRequests that were
    themselves included."""
    bundle = fhir.search(
        "Observation",
        [
            ("_id", "o1"),
            ("_include", "Observation:subject"),
            ("_include:iterate", "Patient:organization"),
        ],
    )
    assert sorted(keys(bundle, "include")) == ["Organization/org", "Patient/pat-a"]


def test_include_iterate_on_a_circular_reference(fhir: Any) -> None:
    """_include:iterate=Observation:related-target "will retrieve observations that are
    directly related, and also any related observations to any other included observation"."""
    bundle = fhir.search(
        "Observation", {"_id": "panel", "_include:iterate": "Observation:has-member"}
    )
    assert sorted(keys(bundle, "include")) == ["Observation/member", "Observation/member-of-member"]


def test_a_match_is_not_repeated_as_an_include(fhir: Any) -> None:
    bundle = fhir.search(
        "Observation",
        {"code": f"{TEST}|panel,{TEST}|member", "_include": "Observation:has-member"},
    )
    assert fhir.match_ids(bundle) == {"panel", "member"}
    assert keys(bundle, "include") == ["Observation/member-of-member"]


def test_revinclude_adds_resources_that_refer_to_the_matches(fhir: Any) -> None:
    """MedicationRequest?_revinclude=Provenance:target."""
    bundle = fhir.search("Patient", {"_id": "pat-a", "_revinclude": "Observation:subject"})
    assert fhir.match_ids(bundle) == {"pat-a"}
    assert sorted(keys(bundle, "include")) == ["Observation/o1", "Observation/o2"]


def test_revinclude_wildcard(fhir: Any) -> None:
    bundle = fhir.search("Practitioner", {"_id": "doc", "_revinclude": "Observation:*"})
    assert keys(bundle, "include") == ["Observation/o1"]


def test_revinclude_iterate(fhir: Any) -> None:
    bundle = fhir.search(
        "Patient",
        [
            ("_id", "pat-a"),
            ("_revinclude", "Encounter:subject"),
            ("_revinclude:iterate", "Observation:encounter"),
        ],
    )
    assert sorted(keys(bundle, "include")) == ["Encounter/visit", "Observation/o1"]


def test_include_and_revinclude_together(fhir: Any) -> None:
    bundle = fhir.search(
        "Patient",
        [
            ("_id", "pat-a"),
            ("_include", "Patient:organization"),
            ("_revinclude", "Encounter:patient"),
        ],
    )
    assert sorted(keys(bundle, "include")) == ["Encounter/visit", "Organization/org"]


def test_count_applies_to_matches_and_each_page_carries_its_includes(fhir: Any) -> None:
    """Spec: "the _count parameter only applies to resources with entry.search.mode = search", and
    "each page of search results should include the matching includes for the resources in
    each page"."""
    params = {
        "code": f"{TEST}|inc",
        "_sort": "_id",
        "_count": "1",
        "_include": "Observation:subject",
    }
    first = fhir.search("Observation", params)
    second = fhir.http.get(fhir.link(first, "next")).json()
    assert keys(first, "match") == ["Observation/o1"]
    assert keys(first, "include") == ["Patient/pat-a"]
    assert keys(second, "match") == ["Observation/o2"]
    assert keys(second, "include") == ["Patient/pat-a"]
    assert first["total"] == second["total"] == 4
