"""Search value escaping (search.html#escaping): ``\\,`` ``\\|`` ``\\$`` ``\\\\``."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fhir_server.errors import InvalidSearch
from fhir_server.search.values import split_unescaped, token, unescape

SPECIAL = "\\,|$"
pieces = st.lists(st.text(alphabet=st.sampled_from("ab,|$\\ é")), min_size=1, max_size=4)


def escape(text: str) -> str:
    return "".join("\\" + c if c in SPECIAL else c for c in text)


@given(pieces)
def test_escaped_pieces_joined_by_commas_split_back_into_the_pieces(parts: list[str]) -> None:
    joined = ",".join(escape(p) for p in parts)
    assert [unescape(p) for p in split_unescaped(joined, ",")] == parts


@given(st.text(alphabet=st.sampled_from("ab,| ")))
def test_a_value_without_backslashes_splits_at_every_separator(value: str) -> None:
    assert split_unescaped(value, ",") == value.split(",")
    assert unescape(value) == value


def test_an_escaped_separator_does_not_split() -> None:
    assert split_unescaped("a\\,b,c", ",") == ["a\\,b", "c"]
    assert token("http://x\\|y|code") == ("http://x|y", "code")


@pytest.mark.parametrize("value", ["a\\b", "trailing\\"])
def test_a_backslash_that_escapes_nothing_special_is_an_error(value: str) -> None:
    with pytest.raises(InvalidSearch, match="illegal escape"):
        unescape(value)
