"""uri parameters (https://hl7.org/fhir/R4/search.html#uri).

"By default, matches are precise (e.g. case, accent, and escape) sensitive, and the entire URI
must match." ``:below`` matches URIs that start with the value, ``:above`` the value and its
parents; "the :above and :below modifiers only apply to URLs, and not URNs such as OIDs".
Communication.instantiatesUri (``instantiates-uri``) stands in for ValueSet.url.
"""

from __future__ import annotations

from typing import Any

import pytest

URIS = {
    "vs-123": "http://acme.org/fhir/ValueSet/123",
    "vs-124": "http://acme.org/fhir/ValueSet/124",
    "vs-123-v5": "http://acme.org/fhir/ValueSet/123/_history/5",
    "fhir-root": "http://acme.org/fhir",
    "acme-vs-123": "http://acme.org/ValueSet/123",
    "upper-case": "http://acme.org/fhir/VALUESET/123",
    "other-host": "http://other.org/fhir/ValueSet/123",
    "oid": "urn:oid:1.2.3.4.5",
    "oid-child": "urn:oid:1.2.3.4.5.6",
    "comma": "http://acme.org/fhir/ValueSet/124,125",
}


def communication(id: str, uri: str | None) -> dict[str, Any]:
    resource: dict[str, Any] = {"resourceType": "Communication", "id": id, "status": "completed"}
    if uri is not None:
        resource["instantiatesUri"] = [uri]
    return resource


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*(communication(id, uri) for id, uri in URIS.items()), communication("none", None))


def uris(fhir: Any, name: str, value: str) -> set[str]:
    return fhir.ids("Communication", {name: value})


def test_exact_match_of_the_whole_uri(fhir: Any) -> None:
    """url=http://acme.org/fhir/ValueSet/123: "the exact url"."""
    assert uris(fhir, "instantiates-uri", URIS["vs-123"]) == {"vs-123"}


def test_match_is_case_sensitive(fhir: Any) -> None:
    assert uris(fhir, "instantiates-uri", URIS["upper-case"]) == {"upper-case"}
    assert uris(fhir, "instantiates-uri", "HTTP://ACME.ORG/fhir/ValueSet/123") == set()


def test_a_prefix_is_not_a_match(fhir: Any) -> None:
    assert uris(fhir, "instantiates-uri", "http://acme.org/fhir/ValueSet") == set()


def test_below_matches_uris_that_start_with_the_value(fhir: Any) -> None:
    """url:below=http://acme.org/fhir/: "any value sets that have a URL that starts with"."""
    assert uris(fhir, "instantiates-uri:below", "http://acme.org/fhir/") == {
        "vs-123",
        "vs-124",
        "vs-123-v5",
        "upper-case",
        "comma",
    }


def test_below_includes_the_value_itself(fhir: Any) -> None:
    assert uris(fhir, "instantiates-uri:below", URIS["vs-123"]) == {"vs-123", "vs-123-v5"}


def test_above_matches_the_value_and_its_parents(fhir: Any) -> None:
    """url:above=http://acme.org/fhir/ValueSet/123/_history/5: "will match on any value set
    with the specified URL, but also on" the URLs above it."""
    found = uris(fhir, "instantiates-uri:above", URIS["vs-123-v5"])
    assert found == {"vs-123-v5", "vs-123", "fhir-root"}


def test_above_does_not_match_siblings_or_other_hosts(fhir: Any) -> None:
    found = uris(fhir, "instantiates-uri:above", URIS["vs-123"])
    assert found.isdisjoint({"vs-124", "other-host", "acme-vs-123", "vs-123-v5"})


def test_urn_exact_match(fhir: Any) -> None:
    """url=urn:oid:1.2.3.4.5: searching by an OID."""
    assert uris(fhir, "instantiates-uri", URIS["oid"]) == {"oid"}


def test_below_does_not_apply_to_urns(fhir: Any) -> None:
    """Spec: "the :above and :below modifiers only apply to URLs, and not URNs such as OIDs"."""
    assert "oid-child" not in uris(fhir, "instantiates-uri:below", URIS["oid"])


def test_comma_is_or(fhir: Any) -> None:
    found = uris(fhir, "instantiates-uri", f"{URIS['vs-123']},{URIS['oid']}")
    assert found == {"vs-123", "oid"}


def test_escaped_comma_is_part_of_the_uri(fhir: Any) -> None:
    """url=.../ValueSet/123,http://acme.org/fhir/ValueSet/124\\,125: two URLs, the second
    with a comma."""
    found = uris(
        fhir, "instantiates-uri", f"{URIS['vs-123']},http://acme.org/fhir/ValueSet/124\\,125"
    )
    assert found == {"vs-123", "comma"}


def test_percent_encoded_comma_is_still_a_separator(fhir: Any) -> None:
    """Spec: "Standard % escaping still applies": %2C is a comma, so it separates values."""
    response = fhir.get(
        "Communication?instantiates-uri=http://acme.org/fhir/ValueSet/123%2Curn:oid:1.2.3.4.5"
    )
    assert response.status_code == 200
    assert fhir.match_ids(response.json()) == {"vs-123", "oid"}


def test_missing(fhir: Any) -> None:
    assert uris(fhir, "instantiates-uri:missing", "true") == {"none"}


def test_unknown_modifier_is_rejected(fhir: Any) -> None:
    outcome = fhir.error("Communication", {"instantiates-uri:contains": "acme"})
    assert "instantiates-uri" in fhir.diagnostics(outcome)
