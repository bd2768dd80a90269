"""string parameters (https://hl7.org/fhir/R4/search.html#string).

"By default, a field matches a string query if the value of the field equals or starts with
the supplied parameter value, after both have been normalized by case and combining
characters." ``:contains`` matches anywhere, ``:exact`` the whole value including case and
accents.
"""

from __future__ import annotations

from typing import Any

import pytest

from fhir_server.indexing import extract
from fhir_server.search.registry import lookup


def patient(id: str, **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id, **fields}


PATIENTS = [
    patient("jose", name=[{"family": "García", "given": ["José"]}]),
    patient("joseph", name=[{"family": "Smith", "given": ["Joseph"]}]),
    patient("eve", name=[{"family": "Adams", "given": ["Eve"]}]),
    patient("evelyn", name=[{"family": "Baker", "given": ["Evelyn"]}]),
    patient("severine", name=[{"family": "Clark", "given": ["Séverine"]}]),
    patient("obrien", name=[{"family": "O'Brien", "given": ["Liam"]}]),
    patient("carreno", name=[{"family": "Carreno Quinones", "given": ["Ana"]}]),
    patient("maryann", name=[{"family": "Lee", "given": ["Mary  Ann"]}]),
    patient("comma", name=[{"family": "Doe,Smith", "given": ["Pat"]}]),
    patient("titled", name=[{"text": "Dr. Ruth Westheimer", "prefix": ["Dr."]}]),
    patient(
        "elm",
        name=[{"family": "Young", "given": ["Tom"]}],
        address=[{"line": ["12 Elm Street"], "city": "Shelbyville", "postalCode": "49503"}],
    ),
    patient("noname", address=[{"city": "Springfield", "state": "IL"}]),
]
ALL = {p["id"] for p in PATIENTS}


@pytest.fixture(scope="module", autouse=True)
def data(fhir: Any) -> None:
    fhir.put(*PATIENTS)


def test_default_matches_values_that_start_with_the_search_value(fhir: Any) -> None:
    assert fhir.ids("Patient", {"given": "eve"}) == {"eve", "evelyn"}


def test_default_does_not_match_inside_the_value(fhir: Any) -> None:
    assert "severine" not in fhir.ids("Patient", {"given": "ver"})


def test_default_is_case_insensitive(fhir: Any) -> None:
    assert fhir.ids("Patient", {"family": "GARCÍA"}) == {"jose"}
    assert fhir.ids("Patient", {"family": "garcía"}) == {"jose"}


def test_default_is_accent_insensitive_on_the_stored_value(fhir: Any) -> None:
    """``name=JOSE`` matches José: both are normalized by case and combining characters."""
    assert fhir.ids("Patient", {"name": "JOSE"}) == {"jose", "joseph"}
    assert fhir.ids("Patient", {"given": "jose"}) == {"jose", "joseph"}


def test_default_is_accent_insensitive_on_the_search_value(fhir: Any) -> None:
    assert fhir.ids("Patient", {"given": "SÉVÉRINE"}) == {"severine"}
    assert fhir.ids("Patient", {"family": "GÁRCIA"}) == {"jose"}


def test_default_ignores_repeated_white_space(fhir: Any) -> None:
    """Spec: "Punctuation and non-significant whitespace (e.g. repeated space characters ...)
    should also be ignored"."""
    assert fhir.ids("Patient", {"given": "mary ann"}) == {"maryann"}


def test_default_ignores_punctuation(fhir: Any) -> None:
    """search.html#string: "Punctuation and non-significant whitespace ... should also be
    ignored"."""
    assert fhir.ids("Patient", {"family": "OBrien"}) == {"obrien"}


def test_punctuated_value_matches_itself(fhir: Any) -> None:
    assert fhir.ids("Patient", {"family": "o'brien"}) == {"obrien"}


def test_each_part_of_a_family_name_is_searched(fhir: Any) -> None:
    """search.html#string: 'searching either "Carreno" or "Quinones" should match a family
    name of "Carreno Quinones"'."""
    assert fhir.ids("Patient", {"family": "Quinones"}) == {"carreno"}


def test_first_part_of_a_family_name_matches(fhir: Any) -> None:
    assert fhir.ids("Patient", {"family": "Carreno"}) == {"carreno"}


def test_exact_matches_the_whole_value_with_case_and_accents(fhir: Any) -> None:
    assert fhir.ids("Patient", {"given:exact": "José"}) == {"jose"}


def test_exact_does_not_fold_case(fhir: Any) -> None:
    assert fhir.ids("Patient", {"given:exact": "JOSÉ"}) == set()
    assert fhir.ids("Patient", {"given:exact": "eve"}) == set()


def test_exact_does_not_fold_accents(fhir: Any) -> None:
    """``name=JOSE`` matches José; ``:exact`` does not."""
    assert fhir.ids("Patient", {"given:exact": "Jose"}) == set()
    assert fhir.ids("Patient", {"name:exact": "JOSE"}) == set()


def test_exact_does_not_match_a_prefix(fhir: Any) -> None:
    """given:exact=Eve: "This would not include patients with the given name ... Evelyn"."""
    assert fhir.ids("Patient", {"given:exact": "Eve"}) == {"eve"}


def test_contains_matches_anywhere_in_the_value(fhir: Any) -> None:
    """given:contains=eve: "Eve", "Evelyn", and also "Severine"."""
    assert fhir.ids("Patient", {"given:contains": "eve"}) == {"eve", "evelyn", "severine"}


def test_contains_is_case_and_accent_insensitive(fhir: Any) -> None:
    assert fhir.ids("Patient", {"given:contains": "VÉR"}) == {"severine"}
    assert fhir.ids("Patient", {"family:contains": "RCI"}) == {"jose"}


def test_name_searches_every_string_part_of_human_name(fhir: Any) -> None:
    assert fhir.ids("Patient", {"name": "garc"}) == {"jose"}
    assert fhir.ids("Patient", {"name": "dr. ruth"}) == {"titled"}
    assert fhir.ids("Patient", {"name:contains": "westheimer"}) == {"titled"}


def test_address_searches_every_string_part_of_address(fhir: Any) -> None:
    assert fhir.ids("Patient", {"address": "shelby"}) == {"elm"}
    assert fhir.ids("Patient", {"address": "12 elm"}) == {"elm"}
    assert fhir.ids("Patient", {"address": "4950"}) == {"elm"}
    assert fhir.ids("Patient", {"address:contains": "elm st"}) == {"elm"}


def test_address_part_parameter_searches_only_that_part(fhir: Any) -> None:
    assert fhir.ids("Patient", {"address-city": "spring"}) == {"noname"}
    assert fhir.ids("Patient", {"address-city": "12"}) == set()


def test_comma_is_or(fhir: Any) -> None:
    assert fhir.ids("Patient", {"given": "eve,jos"}) == {"eve", "evelyn", "jose", "joseph"}


def test_repeated_parameter_is_and(fhir: Any) -> None:
    assert fhir.ids("Patient", [("given", "jos"), ("family", "smith")]) == {"joseph"}
    assert fhir.ids("Patient", [("given", "jos"), ("given", "joseph")]) == {"joseph"}
    assert fhir.ids("Patient", [("given", "eve"), ("given", "jos")]) == set()


def test_and_of_ors(fhir: Any) -> None:
    """``language=FR,NL&language=EN``: every parameter holds, each by any of its values."""
    found = fhir.ids("Patient", [("given", "eve,jos,tom"), ("family", "smith,young")])
    assert found == {"joseph", "elm"}


def test_escaped_comma_is_part_of_the_value(fhir: Any) -> None:
    assert fhir.ids("Patient", {"family": r"Doe\,Smith"}) == {"comma"}
    assert fhir.ids("Patient", {"family:exact": r"Doe\,Smith"}) == {"comma"}


def test_unescaped_comma_splits_the_value(fhir: Any) -> None:
    assert fhir.ids("Patient", {"family": "Doe,Smith"}) == {"comma", "joseph"}
    assert fhir.ids("Patient", {"family:exact": "Doe,Smith"}) == {"joseph"}


def test_missing_true_finds_resources_without_the_element(fhir: Any) -> None:
    assert fhir.ids("Patient", {"name:missing": "true"}) == {"noname"}


def test_missing_false_finds_resources_with_the_element(fhir: Any) -> None:
    assert fhir.ids("Patient", {"name:missing": "false"}) == ALL - {"noname"}
    assert fhir.ids("Patient", {"address:missing": "false"}) == {"elm", "noname"}


def test_no_match_is_an_empty_bundle_not_an_error(fhir: Any) -> None:
    bundle = fhir.search("Patient", {"name": "zzzz"})
    assert fhir.match_ids(bundle) == set()
    assert bundle["total"] == 0


def test_phonetic_finds_what_name_finds(fhir: Any) -> None:
    """Patient's ``phonetic`` has the expression of ``name`` (R4 leaves the algorithm open):
    it searches the same stored values, the same way."""
    for value in ("garcia", "eve", "ruth"):
        assert fhir.ids("Patient", {"phonetic": value}) == fhir.ids("Patient", {"name": value})
    assert fhir.ids("Patient", {"phonetic": "eve"}) == {"eve", "evelyn"}


def test_parameters_with_the_same_expression_store_their_rows_once() -> None:
    name, phonetic = lookup("Patient", "name"), lookup("Patient", "phonetic")
    assert name is not None and phonetic is not None
    assert phonetic.key == name.key == "Patient.name"
    keys = {row.param for row in extract(PATIENTS[0], base_url="http://example.org/fhir")}
    assert "Patient.name" in keys
    assert "Patient.phonetic" not in keys
