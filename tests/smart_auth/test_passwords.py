"""DS Logon-style passwords: scrypt hashing, verification, re-hashing and the password policy."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import unicodedata
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from smart_auth.passwords import (
    DEFAULT_COST,
    DEFAULT_POLICY,
    DUMMY_HASH,
    KEY_BYTES,
    SALT_BYTES,
    PasswordPolicy,
    ScryptCost,
    hash_password,
    needs_rehash,
    password_problems,
    verify_against_dummy,
    verify_password,
)

FAST = ScryptCost(n=16, r=1, p=1)  # tests only: the default cost is far higher
GOOD = "Correct-Horse-Battery-9"
SECRET = "Zq7!unguessable-sentinel"

# Text a password may be: encodable (no unpaired surrogates), no NUL (refused: see
# test_a_password_holding_a_nul_character_is_refused).
passwords_text = st.text(
    st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=40
)
printable_ascii = st.characters(min_codepoint=0x21, max_codepoint=0x7E)
fast_settings = settings(max_examples=40, deadline=None)


def b64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4))


# --- hashing ---------------------------------------------------------------------------------


@fast_settings
@given(password=passwords_text)
def test_hashed_password_verifies(password: str) -> None:
    assert verify_password(password, hash_password(password, cost=FAST))


def test_a_password_with_trailing_nul_characters_does_not_verify_against_it_without() -> None:
    """HMAC pads short keys with zero bytes, so scrypt alone hashes 'pw' and 'pw\\x00' alike."""
    assert not verify_password("pass\x00", hash_password("pass", cost=FAST))
    assert not verify_password("\x00", hash_password("", cost=FAST))


def test_a_password_holding_a_nul_character_is_refused() -> None:
    with pytest.raises(ValueError, match="NUL"):
        hash_password("pass\x00word", cost=FAST)
    assert "password must not contain a NUL character" in password_problems("Pass\x00word-123")


@fast_settings
@given(password=passwords_text, other=passwords_text)
def test_different_password_does_not_verify(password: str, other: str) -> None:
    assume(unicodedata.normalize("NFKC", password) != unicodedata.normalize("NFKC", other))
    assert not verify_password(other, hash_password(password, cost=FAST))


def test_unicode_equivalent_forms_verify_alike() -> None:
    composed = "Caf\u00e9-Password-123"
    decomposed = "Cafe\u0301-Password-123"
    assert verify_password(decomposed, hash_password(composed, cost=FAST))


def test_encoding_names_algorithm_parameters_salt_and_hash() -> None:
    encoded = hash_password(GOOD, cost=FAST)
    match = re.fullmatch(r"scrypt\$n=16,r=1,p=1\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)", encoded)
    assert match is not None
    assert len(b64(match[1])) == SALT_BYTES == 16
    assert len(b64(match[2])) == KEY_BYTES == 32


def test_default_cost_is_n_32768_r_8_p_1() -> None:
    assert ScryptCost(n=2**15, r=8, p=1) == DEFAULT_COST
    encoded = hash_password(GOOD)
    assert encoded.startswith("scrypt$n=32768,r=8,p=1$")
    assert verify_password(GOOD, encoded)


def test_hash_matches_hashlib_scrypt_of_utf8_password() -> None:
    encoded = hash_password(GOOD, cost=FAST)
    _, _, salt, key = encoded.split("$")
    expected = hashlib.scrypt(GOOD.encode(), salt=b64(salt), n=16, r=1, p=1, dklen=32)
    assert b64(key) == expected


def test_each_hash_gets_a_fresh_salt() -> None:
    assert hash_password(GOOD, cost=FAST) != hash_password(GOOD, cost=FAST)


def test_verification_uses_parameters_stored_in_the_encoding() -> None:
    encoded = hash_password(GOOD, cost=ScryptCost(n=32, r=2, p=2))
    assert verify_password(GOOD, encoded)


@pytest.mark.parametrize(
    ("n", "r", "p"), [(15, 1, 1), (1, 1, 1), (0, 1, 1), (16, 0, 1), (16, 1, 0)]
)
def test_invalid_scrypt_cost_is_rejected(n: int, r: int, p: int) -> None:
    with pytest.raises(ValueError, match="scrypt"):
        ScryptCost(n=n, r=r, p=p)


def test_excessive_scrypt_cost_is_rejected() -> None:
    with pytest.raises(ValueError, match="memory"):
        ScryptCost(n=2**24, r=8, p=1)


# --- verification failures -------------------------------------------------------------------


@pytest.mark.parametrize(
    "encoded",
    [
        "",
        "scrypt",
        "scrypt$n=16,r=1,p=1$AAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=16,r=1,p=1$!!!$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=15,r=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$r=1,n=16,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=\u0661\u0666,r=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=16,r=1,p=1$$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "scrypt$n=16,r=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAA",
        "scrypt$n=16,r=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA$x",
    ],
)
def test_malformed_encoding_does_not_verify(encoded: str) -> None:
    assert verify_password(GOOD, encoded) is False


@pytest.mark.parametrize(
    "encoded",
    [
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
def test_unknown_algorithm_does_not_verify(encoded: str) -> None:
    assert verify_password(GOOD, encoded) is False


@settings(max_examples=200, deadline=None)
@given(encoded=st.text(max_size=200))
def test_verify_never_raises_on_arbitrary_encodings(encoded: str) -> None:
    assert verify_password(GOOD, encoded) in (True, False)


@settings(max_examples=50, deadline=None)
@given(password=st.text(max_size=20))
def test_verify_never_raises_on_arbitrary_passwords(password: str) -> None:
    assert verify_password(password, hash_password(GOOD, cost=FAST)) in (True, False)


def test_password_with_unpaired_surrogate_does_not_verify() -> None:
    assert verify_password("\ud800" + GOOD, hash_password(GOOD, cost=FAST)) is False


def test_tampered_hash_does_not_verify() -> None:
    algorithm, params, salt, key = hash_password(GOOD, cost=FAST).split("$")
    flipped = bytes([b64(key)[0] ^ 1]) + b64(key)[1:]
    tampered = "$".join([algorithm, params, salt, base64.b64encode(flipped).decode().rstrip("=")])
    assert verify_password(GOOD, tampered) is False


def test_encoding_asking_for_excessive_cost_is_refused_without_hashing() -> None:
    encoded = "scrypt$n=1073741824,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA$" + "A" * 43
    assert verify_password(GOOD, encoded) is False


def test_verification_compares_digests_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert verify_password(GOOD, hash_password(GOOD, cost=FAST))
    assert len(calls) == 1


# --- re-hashing ------------------------------------------------------------------------------


def test_hash_at_requested_cost_needs_no_rehash() -> None:
    assert needs_rehash(hash_password(GOOD, cost=FAST), FAST) is False


def test_hash_at_other_cost_needs_rehash() -> None:
    assert needs_rehash(hash_password(GOOD, cost=FAST), ScryptCost(n=32, r=1, p=1)) is True


def test_needs_rehash_defaults_to_default_cost() -> None:
    assert needs_rehash(hash_password(GOOD, cost=FAST)) is True
    assert needs_rehash(DUMMY_HASH) is False


def test_hash_with_short_salt_needs_rehash() -> None:
    encoded = "scrypt$n=16,r=1,p=1$AAAAAAAAAAA$" + "A" * 43  # 8-byte salt
    assert needs_rehash(encoded, FAST) is True


@pytest.mark.parametrize("encoded", ["", "garbage", "bcrypt$x$y$z"])
def test_malformed_or_foreign_hash_needs_rehash(encoded: str) -> None:
    assert needs_rehash(encoded) is True


# --- unknown users ---------------------------------------------------------------------------


def test_dummy_hash_is_a_well_formed_default_cost_hash() -> None:
    assert DUMMY_HASH.startswith("scrypt$n=32768,r=8,p=1$")
    assert needs_rehash(DUMMY_HASH) is False


@fast_settings
@given(password=passwords_text)
def test_verify_against_dummy_is_always_false(password: str) -> None:
    assert verify_against_dummy(password, FAST) is False


def test_verify_against_dummy_does_a_full_default_cost_scrypt(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[dict[str, Any]] = []

    def fake_scrypt(password: bytes, **kwargs: Any) -> bytes:
        calls.append(kwargs)
        return bytes(kwargs["dklen"])

    monkeypatch.setattr(hashlib, "scrypt", fake_scrypt)
    assert verify_against_dummy(GOOD) is False
    assert len(calls) == 1
    assert (calls[0]["n"], calls[0]["r"], calls[0]["p"]) == (2**15, 8, 1)
    assert calls[0]["dklen"] == KEY_BYTES


# --- secrecy ---------------------------------------------------------------------------------


def test_hash_error_does_not_reveal_the_password() -> None:
    with pytest.raises(ValueError) as caught:
        hash_password("\ud800" + SECRET, cost=FAST)
    assert SECRET not in str(caught.value)
    assert SECRET not in repr(caught.value.args)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None


@fast_settings
@given(password=st.text(max_size=60))
def test_problem_messages_never_quote_the_password(password: str) -> None:
    candidate = SECRET + password
    assert all(SECRET not in problem for problem in password_problems(candidate))


# --- policy ----------------------------------------------------------------------------------


def test_password_meeting_every_rule_has_no_problems() -> None:
    assert password_problems(GOOD) == []


@settings(max_examples=100, deadline=None)
@given(
    upper=st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
    lower=st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
    digit=st.sampled_from("0123456789"),
    special=st.sampled_from("!@#$%^&*()-_=+[]{};:,.<>/?~"),
    filler=st.text(
        st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=11, max_size=124
    ),
)
def test_any_password_with_every_character_class_in_range_is_acceptable(
    upper: str, lower: str, digit: str, special: str, filler: str
) -> None:
    assert password_problems(upper + lower + digit + special + filler) == []


def test_password_shorter_than_15_characters_is_rejected() -> None:
    assert password_problems("Aa1!aaaaaaaaaa") == ["must be at least 15 characters long"]


def test_password_of_exactly_15_characters_is_accepted() -> None:
    assert password_problems("Aa1!aaaaaaaaaaa") == []


def test_password_longer_than_128_characters_is_rejected() -> None:
    assert password_problems("Aa1!" + "a" * 125) == ["must be at most 128 characters long"]


def test_password_of_exactly_128_characters_is_accepted() -> None:
    assert password_problems("Aa1!" + "a" * 124) == []


def test_password_without_upper_case_is_rejected() -> None:
    assert password_problems(GOOD.lower()) == ["must contain an upper-case letter"]


def test_password_without_lower_case_is_rejected() -> None:
    assert password_problems(GOOD.upper()) == ["must contain a lower-case letter"]


def test_password_without_digit_is_rejected() -> None:
    assert password_problems("Correct-Horse-Battery") == ["must contain a digit"]


def test_password_without_special_character_is_rejected() -> None:
    assert password_problems("CorrectHorseBattery9") == [
        "must contain a special character (not a letter, digit or space)"
    ]


def test_space_does_not_count_as_special_character() -> None:
    assert password_problems("Correct Horse Battery 9") == [
        "must contain a special character (not a letter, digit or space)"
    ]


@pytest.mark.parametrize("password", ["", " " * 20, "\t\n " * 10])
def test_blank_password_is_rejected(password: str) -> None:
    assert "must contain something other than whitespace" in password_problems(password)


def test_password_equal_to_username_is_rejected() -> None:
    assert password_problems(GOOD, username=GOOD.upper()) == ["must not be the username"]


def test_password_containing_username_is_rejected() -> None:
    problems = password_problems("John.Doe-Secret-42!", username="john.doe")
    assert problems == ["must not contain the username"]


def test_very_short_username_is_only_checked_for_equality() -> None:
    assert password_problems(GOOD, username="co") == []


def test_blank_username_is_ignored() -> None:
    assert password_problems(GOOD, username="   ") == []


def test_password_with_unpaired_surrogate_is_rejected() -> None:
    assert password_problems("\ud800" + GOOD) == ["password is not valid Unicode text"]


def test_policy_minimum_length_is_configurable() -> None:
    policy = PasswordPolicy(min_length=8)
    assert password_problems("Aa1!aaaa", policy=policy) == []


def test_policy_rules_can_be_switched_off() -> None:
    policy = PasswordPolicy(require_special=False, require_upper=False)
    assert password_problems("correcthorsebattery9", policy=policy) == []


def test_default_policy_matches_dod_guidance() -> None:
    assert (DEFAULT_POLICY.min_length, DEFAULT_POLICY.max_length) == (15, 128)


@pytest.mark.parametrize(("minimum", "maximum"), [(0, 128), (20, 10)])
def test_inconsistent_policy_is_rejected(minimum: int, maximum: int) -> None:
    with pytest.raises(ValueError, match="length"):
        PasswordPolicy(min_length=minimum, max_length=maximum)
