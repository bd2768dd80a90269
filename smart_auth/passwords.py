"""DS Logon-style account passwords: hashing, verification and the password policy.

Passwords are hashed with scrypt (memory-hard, :func:`hashlib.scrypt`) and stored as one
self-describing string, ``scrypt$n=32768,r=8,p=1$<salt>$<hash>`` (salt and hash in standard
base64 without padding), so the cost parameters can be raised later: :func:`needs_rehash` tells
the login code when to re-hash a password it has just verified.

Passwords are NFKC-normalised before hashing and before the policy checks, so the same password
typed on different keyboards (composed or decomposed accents, full-width digits) hashes the same.

Unknown users: to keep a login for an account that does not exist as slow as one for an account
that does (so response times do not reveal which usernames exist), verify the submitted password
against :data:`DUMMY_HASH` with :func:`verify_against_dummy` when there is no stored hash::

    ok = verify_password(password, stored) if stored else verify_against_dummy(password)

Nothing here logs a password or puts one (or any part of one) into an exception message.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
import unicodedata
from dataclasses import dataclass

ALGORITHM = "scrypt"
SALT_BYTES = 16
KEY_BYTES = 32

# Bounds on what a stored encoding may ask for, so a corrupt or hostile row in the account table
# cannot make one verification take minutes or gigabytes.
MAX_MEMORY_BYTES = 1 << 30  # about 128 * r * (n + p): scrypt's table plus its blocks
MAX_WORK = 1 << 24  # n * r * p; the default cost is 2**18
_MIN_STORED_SALT_BYTES = 8
_MAX_STORED_BYTES = 1024

_PARAMS = re.compile(r"n=([1-9][0-9]{0,9}),r=([1-9][0-9]{0,4}),p=([1-9][0-9]{0,4})", re.ASCII)
_B64 = re.compile(r"[A-Za-z0-9+/]+", re.ASCII)


@dataclass(frozen=True, slots=True)
class ScryptCost:
    """scrypt cost parameters: CPU/memory cost ``n`` (a power of two), block size ``r``,
    parallelism ``p``. Memory used is about ``128 * n * r`` bytes."""

    n: int = 2**15
    r: int = 8
    p: int = 1

    def __post_init__(self) -> None:
        if self.n < 2 or self.n & (self.n - 1):
            raise ValueError("scrypt n must be a power of two greater than 1")
        if self.r < 1 or self.p < 1:
            raise ValueError("scrypt r and p must be positive")
        if 128 * self.r * (self.n + self.p) > MAX_MEMORY_BYTES:
            raise ValueError(f"scrypt cost needs more than {MAX_MEMORY_BYTES} bytes of memory")
        if self.n * self.r * self.p > MAX_WORK:
            raise ValueError(f"scrypt cost n * r * p exceeds {MAX_WORK}")

    @property
    def maxmem(self) -> int:
        """The ``maxmem`` to pass to :func:`hashlib.scrypt`: what OpenSSL needs, plus slack."""
        return 128 * self.r * (self.n + self.p + 2) + (1 << 20)

    def encoded(self) -> str:
        """The parameter field of an encoded hash: ``n=32768,r=8,p=1``."""
        return f"n={self.n},r={self.r},p={self.p}"


DEFAULT_COST = ScryptCost()


@dataclass(frozen=True, slots=True)
class PasswordPolicy:
    """What :func:`password_problems` requires of a new password."""

    min_length: int = 15
    max_length: int = 128
    require_upper: bool = True
    require_lower: bool = True
    require_digit: bool = True
    require_special: bool = True

    def __post_init__(self) -> None:
        if self.min_length < 1:
            raise ValueError("min_length must be at least 1")
        if self.max_length < self.min_length:
            raise ValueError("max_length must not be less than min_length")


DEFAULT_POLICY = PasswordPolicy()

# Usernames shorter than this are only checked for equality, not containment: a one- or
# two-letter username would otherwise forbid most passwords.
_MIN_USERNAME_FOR_CONTAINMENT = 3


@dataclass(frozen=True, slots=True)
class _Decoded:
    cost: ScryptCost
    salt: bytes
    key: bytes


def _normalized_bytes(password: str) -> bytes:
    """The bytes that get hashed. Raises ValueError (without echoing the password) when the
    text cannot be encoded, e.g. it holds unpaired surrogates, or holds a NUL character.

    scrypt keys HMAC with the password, and HMAC pads a short key with zero bytes: ``pw``
    and ``pw`` followed by NULs would give the same hash, so no password may hold a NUL.
    """
    if not isinstance(password, str):
        raise TypeError("password must be a str")
    if "\x00" in password:
        raise ValueError("password must not contain a NUL character")
    try:
        return unicodedata.normalize("NFKC", password).encode("utf-8")
    except UnicodeEncodeError:
        pass  # its message and .object hold the password: raise outside, with no __context__
    raise ValueError("password is not valid Unicode text")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes | None:
    if not _B64.fullmatch(text) or len(text) % 4 == 1:
        return None
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _scrypt(secret: bytes, salt: bytes, cost: ScryptCost, key_bytes: int) -> bytes:
    return hashlib.scrypt(
        secret, salt=salt, n=cost.n, r=cost.r, p=cost.p, maxmem=cost.maxmem, dklen=key_bytes
    )


def _decode(encoded: str) -> _Decoded | None:
    """The parts of an encoded hash, or None if it is not a well-formed scrypt encoding."""
    if not isinstance(encoded, str):
        return None
    fields = encoded.split("$")
    if len(fields) != 4 or fields[0] != ALGORITHM:
        return None
    params = _PARAMS.fullmatch(fields[1])
    if params is None:
        return None
    try:
        cost = ScryptCost(int(params[1]), int(params[2]), int(params[3]))
    except ValueError:
        return None
    salt = _b64decode(fields[2])
    key = _b64decode(fields[3])
    if salt is None or key is None:
        return None
    if not _MIN_STORED_SALT_BYTES <= len(salt) <= _MAX_STORED_BYTES:
        return None
    if not 16 <= len(key) <= _MAX_STORED_BYTES:
        return None
    return _Decoded(cost, salt, key)


def _encode(cost: ScryptCost, salt: bytes, key: bytes) -> str:
    return f"{ALGORITHM}${cost.encoded()}${_b64encode(salt)}${_b64encode(key)}"


def hash_password(password: str, *, cost: ScryptCost = DEFAULT_COST) -> str:
    """The encoded scrypt hash of ``password`` with a fresh random salt.

    Raises ValueError if the password is not encodable Unicode text (the message never contains
    the password). Does not apply the policy: call :func:`password_problems` first.
    """
    secret = _normalized_bytes(password)
    salt = os.urandom(SALT_BYTES)
    return _encode(cost, salt, _scrypt(secret, salt, cost, KEY_BYTES))


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches the encoded hash. Compares in constant time.

    Never raises: a malformed encoding, an unknown algorithm or a password that is not valid
    Unicode text all give False.
    """
    decoded = _decode(encoded)
    if decoded is None:
        return False
    try:
        secret = _normalized_bytes(password)
        candidate = _scrypt(secret, decoded.salt, decoded.cost, len(decoded.key))
    except (TypeError, ValueError, MemoryError):
        return False
    return hmac.compare_digest(candidate, decoded.key)


def needs_rehash(encoded: str, cost: ScryptCost = DEFAULT_COST) -> bool:
    """Whether a stored hash should be replaced (after a successful login) because it is
    malformed, uses another algorithm, or was made with other parameters than ``cost`` or other
    salt or key sizes than the current ones."""
    decoded = _decode(encoded)
    return (
        decoded is None
        or decoded.cost != cost
        or len(decoded.salt) != SALT_BYTES
        or len(decoded.key) != KEY_BYTES
    )


def _dummy_hash(cost: ScryptCost) -> str:
    # Random bytes in place of a real hash: no password matches it, but verifying against it
    # costs exactly as much as verifying against a real hash with the same parameters.
    return _encode(cost, os.urandom(SALT_BYTES), os.urandom(KEY_BYTES))


DUMMY_HASH = _dummy_hash(DEFAULT_COST)
"""A well-formed hash at :data:`DEFAULT_COST` that no password matches."""


def verify_against_dummy(password: str, cost: ScryptCost = DEFAULT_COST) -> bool:
    """Spend the time of a real verification, then return False.

    Call this when the username is unknown, so that failing a login for a user who does not
    exist takes as long as failing one for a user who does. Pass the ``cost`` the real accounts
    are hashed with if it is not :data:`DEFAULT_COST`.
    """
    encoded = DUMMY_HASH if cost == DEFAULT_COST else _dummy_hash(cost)
    verify_password(password, encoded)
    return False


def _is_special(char: str) -> bool:
    return not char.isalnum() and not char.isspace()


def password_problems(
    password: str, *, policy: PasswordPolicy = DEFAULT_POLICY, username: str | None = None
) -> list[str]:
    """What is wrong with ``password`` as a new password, in words fit to show the user.

    An empty list means it is acceptable. Lengths count Unicode code points after NFKC
    normalisation. A special character is anything that is neither a letter, a digit nor
    whitespace. The username check ignores case; usernames shorter than three characters are
    only checked for equality. The messages never quote the password.
    """
    try:
        _normalized_bytes(password)
    except ValueError as exc:
        return [str(exc)]
    text = unicodedata.normalize("NFKC", password)
    problems: list[str] = []
    if not text.strip():
        problems.append("must contain something other than whitespace")
    if len(text) < policy.min_length:
        problems.append(f"must be at least {policy.min_length} characters long")
    if len(text) > policy.max_length:
        problems.append(f"must be at most {policy.max_length} characters long")
    if policy.require_upper and not any(c.isupper() for c in text):
        problems.append("must contain an upper-case letter")
    if policy.require_lower and not any(c.islower() for c in text):
        problems.append("must contain a lower-case letter")
    if policy.require_digit and not any(c.isdigit() for c in text):
        problems.append("must contain a digit")
    if policy.require_special and not any(_is_special(c) for c in text):
        problems.append("must contain a special character (not a letter, digit or space)")
    if username is not None:
        name = unicodedata.normalize("NFKC", username).strip().casefold()
        folded = text.casefold()
        if name and folded == name:
            problems.append("must not be the username")
        elif len(name) >= _MIN_USERNAME_FOR_CONTAINMENT and name in folded:
            problems.append("must not contain the username")
    return problems
