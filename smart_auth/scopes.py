"""SMART App Launch 2.2 scopes: the one scope parser of the project.

Spec: https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html

A scope string is split on ASCII spaces. Every token is one of:

* a resource scope ``<level>/<type>.<permissions>[?<filters>]`` where ``level`` is ``patient``,
  ``user`` or ``system``; ``type`` is ``*`` or a FHIR type name (``[A-Z][A-Za-z]+``);
  ``permissions`` is a SMART v1 suffix (``read`` = rs, ``write`` = cud, ``*`` = cruds) or a
  SMART v2 suffix (letters from ``cruds``, each at most once, in that order, at least one);
* a flag: ``openid``, ``fhirUser``, ``launch``, ``launch/patient``, ``launch/encounter``,
  ``offline_access``, ``online_access``;
* anything else, which is *rejected*: it is kept in :attr:`ScopeSet.rejected` and grants nothing.
  Parsing never raises.

Decisions this module makes where the spec leaves room:

* Tokens must be RFC 6749 scope-tokens (printable ASCII without ``"`` and ``\\``); scopes are
  case-sensitive (``Patient/Observation.rs`` and ``patient/observation.rs`` are rejected).
* Granular filters (``?param=value&param2=value2``) are a SMART v2 feature: a v1 suffix with a
  filter (``patient/Observation.read?category=x``) is rejected. A filter is allowed with any v2
  letters and restricts *every* permission of its scope (for c/u/d the caller must check the
  resource written matches the filters, or refuse); :meth:`ScopeSet.filters_for` hands them out.
* Filters use query-string syntax with strict percent-decoding (a ``%`` not followed by two hex
  digits, or bytes that are not UTF-8, make the token malformed); ``+`` is a literal plus, not a
  space. A pair without ``=``, with an empty name or an empty value (FHIR search ignores empty
  parameters, so it would restrict nothing), a name that is not a search parameter name
  (``[A-Za-z_][A-Za-z0-9_.:-]*``), a value with control characters, or a result parameter
  (``_count``, ``_include``, ``_summary``, ...: they shape results rather than select
  resources) makes the token malformed. Values are opaque: ``category=a,b`` is neither wider nor
  narrower than ``category=a`` as far as :meth:`ResourceScope.covers` is concerned.
* Filter pairs are AND-ed (as repeated FHIR search parameters are), so more pairs is narrower.
  A scope covers another when the level is the same, its type is the same or ``*``, its
  permissions are a superset, and its filter pairs are a subset of the other's (an unfiltered
  scope covers every filtered one; a filtered scope never covers an unfiltered one).
* :meth:`ScopeSet.narrowed_to` and :meth:`ScopeSet.is_within` check coverage per permission: a
  requested scope is kept when each of its permissions is granted, for its type, with a subset of
  its filters, by some allowed scope (so ``patient/Observation.read patient/Observation.write``
  covers ``patient/Observation.cruds``). Whole scopes are kept or dropped, never trimmed.
* Levels never cover each other: ``user/*.rs`` does not cover ``patient/Observation.rs``.
* The parser does not judge flag combinations (``fhirUser`` without ``openid``, both offline and
  online access) nor whether a client kind may use a level: that is policy, not syntax.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from urllib.parse import unquote

__all__ = [
    "FLAG_TOKENS",
    "LEVELS",
    "Permission",
    "ResourceScope",
    "ScopeSet",
    "parse_resource_scope",
    "parse_scopes",
]


class Permission(StrEnum):
    """One SMART v2 permission letter."""

    CREATE = "c"
    READ = "r"
    UPDATE = "u"
    DELETE = "d"
    SEARCH = "s"


LEVELS = frozenset({"patient", "user", "system"})

ALL_PERMISSIONS = frozenset(Permission)

# SMART v1 suffixes and what they mean in v2 letters.
_V1_SUFFIXES: dict[str, frozenset[Permission]] = {
    "read": frozenset({Permission.READ, Permission.SEARCH}),
    "write": frozenset({Permission.CREATE, Permission.UPDATE, Permission.DELETE}),
    "*": ALL_PERMISSIONS,
}

# The flag tokens, spelled as in the spec, and the ScopeSet field each sets.
FLAG_TOKENS: dict[str, str] = {
    "openid": "openid",
    "fhirUser": "fhir_user",
    "launch": "launch",
    "launch/patient": "launch_patient",
    "launch/encounter": "launch_encounter",
    "offline_access": "offline_access",
    "online_access": "online_access",
}

_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 section 3.3 scope-token
_RESOURCE_TYPE = re.compile(r"\*|[A-Z][A-Za-z]+")
_V2_LETTERS = re.compile(r"c?r?u?d?s?")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:\-]*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Search result parameters (search.html#2.1.1.5 and friends): they select no resources.
_RESULT_PARAMETERS = frozenset(
    {
        "_contained",
        "_containedType",
        "_count",
        "_elements",
        "_format",
        "_graph",
        "_include",
        "_maxresults",
        "_pretty",
        "_revinclude",
        "_sort",
        "_summary",
        "_total",
    }
)

Filters = tuple[tuple[str, str], ...]


def _filters_cover(outer: Filters, inner: Filters) -> bool:
    """True when every resource matching ``inner`` matches ``outer`` (pairs are AND-ed)."""
    return set(outer) <= set(inner)


@dataclass(frozen=True, slots=True)
class ResourceScope:
    """One resource scope, e.g. ``patient/Observation.rs?category=laboratory``."""

    level: str  # "patient" | "user" | "system"
    resource_type: str  # a FHIR type name or "*"
    permissions: frozenset[Permission]
    filters: Filters  # url-decoded (name, value) pairs, AND-ed; () if none
    text: str  # the scope exactly as requested

    def __str__(self) -> str:
        return self.text

    def grants(self, level: str, permission: Permission, resource_type: str) -> bool:
        """True when this scope grants ``permission`` on ``resource_type`` at ``level``.

        A filtered scope counts as granting; the caller applies :attr:`filters`. A typed scope
        does not grant on ``"*"`` (all types): only a wildcard scope does.
        """
        return (
            level == self.level
            and permission in self.permissions
            and self.resource_type in ("*", resource_type)
        )

    def covers(self, other: ResourceScope) -> bool:
        """True when every access ``other`` grants is granted by this scope alone."""
        return (
            self.level == other.level
            and self.resource_type in ("*", other.resource_type)
            and self.permissions >= other.permissions
            and _filters_cover(self.filters, other.filters)
        )


@dataclass(frozen=True, slots=True)
class ScopeSet:
    """What a scope string grants. Build it with :func:`parse_scopes`; ``ScopeSet()`` is empty."""

    resources: tuple[ResourceScope, ...] = ()
    openid: bool = False
    fhir_user: bool = False
    launch: bool = False
    launch_patient: bool = False
    launch_encounter: bool = False
    offline_access: bool = False
    online_access: bool = False
    rejected: tuple[str, ...] = ()  # malformed or unknown tokens: they grant nothing
    # The request order of the granted tokens; only used by __str__, not part of equality.
    order: tuple[str, ...] = field(default=(), compare=False)

    @property
    def flags(self) -> frozenset[str]:
        """The flag tokens granted, spelled as in the spec (``fhirUser``, ``launch/patient``)."""
        return frozenset(token for token, name in FLAG_TOKENS.items() if getattr(self, name))

    def tokens(self) -> tuple[str, ...]:
        """The granted tokens, in request order, without duplicates."""
        present = dict.fromkeys([scope.text for scope in self.resources])
        present.update(dict.fromkeys(token for token in FLAG_TOKENS if token in self.flags))
        ordered = dict.fromkeys(token for token in self.order if token in present)
        ordered.update(present)
        return tuple(ordered)

    def __str__(self) -> str:
        return " ".join(self.tokens())

    def allows(self, level: str, permission: Permission, resource_type: str) -> bool:
        """True when some resource scope of exactly ``level`` grants ``permission`` on the type.

        Filtered scopes count as allowing; the caller restricts with :meth:`filters_for`.
        """
        return any(scope.grants(level, permission, resource_type) for scope in self.resources)

    def filters_for(self, level: str, permission: Permission, resource_type: str) -> list[Filters]:
        """The filters of every scope that allows this, without duplicates.

        An element ``()`` means an unfiltered scope allows it; an empty list means nothing does.
        The access is allowed on a resource matching *any* element (scopes are OR-ed).
        """
        found: dict[Filters, None] = {}
        for scope in self.resources:
            if scope.grants(level, permission, resource_type):
                found.setdefault(scope.filters, None)
        return list(found)

    def covers_scope(self, scope: ResourceScope) -> bool:
        """True when each permission of ``scope`` is granted, for its type and with a subset of
        its filters, by some resource scope of this set."""
        return all(
            any(
                mine.level == scope.level
                and permission in mine.permissions
                and mine.resource_type in ("*", scope.resource_type)
                and _filters_cover(mine.filters, scope.filters)
                for mine in self.resources
            )
            for permission in scope.permissions
        )

    def narrowed_to(self, allowed: ScopeSet) -> ScopeSet:
        """The requested scopes that ``allowed`` covers, and the flags ``allowed`` also has.

        Used to cap a request by what a client is registered for. Rejected tokens are kept as
        they are; scopes dropped here are not added to them.
        """
        return _scope_set(
            resources=(scope for scope in self.resources if allowed.covers_scope(scope)),
            flags=self.flags & allowed.flags,
            rejected=self.rejected,
            order=self.order,
        )

    def is_within(self, other: ScopeSet) -> bool:
        """True when every resource scope and flag of this set is covered by ``other``.

        Rejected tokens grant nothing and are not looked at; a caller that refuses malformed
        requests checks :attr:`rejected` itself.
        """
        return self.flags <= other.flags and all(
            other.covers_scope(scope) for scope in self.resources
        )


def _scope_set(
    *,
    resources: Iterable[ResourceScope],
    flags: Iterable[str],
    rejected: Iterable[str],
    order: Iterable[str],
) -> ScopeSet:
    granted = frozenset(flags)
    unique = {scope.text: scope for scope in resources}  # a duplicate token is the same scope
    return ScopeSet(
        resources=tuple(unique.values()),
        rejected=tuple(dict.fromkeys(rejected)),
        order=tuple(dict.fromkeys(order)),
        openid="openid" in granted,
        fhir_user="fhirUser" in granted,
        launch="launch" in granted,
        launch_patient="launch/patient" in granted,
        launch_encounter="launch/encounter" in granted,
        offline_access="offline_access" in granted,
        online_access="online_access" in granted,
    )


def _decode(raw: str) -> str | None:
    """Strict percent-decoding; None when ``raw`` is not valid percent-encoded UTF-8."""
    if _BAD_PERCENT.search(raw):
        return None
    try:
        return unquote(raw, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        return None


def _parse_filters(query: str) -> Filters | None:
    """``param=value&param2=value2`` -> decoded pairs; None when any pair is malformed."""
    pairs: dict[tuple[str, str], None] = {}
    for part in query.split("&"):
        raw_name, equals, raw_value = part.partition("=")
        if not equals:
            return None
        name = _decode(raw_name)
        value = _decode(raw_value)
        if (
            name is None
            or value is None
            or not value
            or _CONTROL.search(value)
            or not _PARAM_NAME.fullmatch(name)
            or name.split(":", 1)[0] in _RESULT_PARAMETERS
        ):
            return None
        pairs.setdefault((name, value), None)
    return tuple(pairs)


def _permissions(suffix: str, filtered: bool) -> frozenset[Permission] | None:
    if suffix in _V1_SUFFIXES:
        return None if filtered else _V1_SUFFIXES[suffix]
    if suffix and _V2_LETTERS.fullmatch(suffix):
        return frozenset(Permission(letter) for letter in suffix)
    return None


def parse_resource_scope(token: str) -> ResourceScope | None:
    """One resource scope token -> ResourceScope; None when it is not a well-formed one."""
    if not _SCOPE_TOKEN.fullmatch(token):
        return None
    level, slash, rest = token.partition("/")
    if not slash or level not in LEVELS:
        return None
    body, question, query = rest.partition("?")
    resource_type, dot, suffix = body.partition(".")
    if not dot or not _RESOURCE_TYPE.fullmatch(resource_type):
        return None
    permissions = _permissions(suffix, filtered=bool(question))
    if permissions is None:
        return None
    filters: Filters = ()
    if question:
        parsed = _parse_filters(query)
        if parsed is None:
            return None
        filters = parsed
    return ResourceScope(
        level=level,
        resource_type=resource_type,
        permissions=permissions,
        filters=filters,
        text=token,
    )


@lru_cache(maxsize=1024)
def parse_scopes(text: str | None) -> ScopeSet:
    """A space-separated scope string (or None) -> what it grants. Never raises.

    Parsed once per distinct string (the result is immutable): every request with a token
    carries its grant's scope string again."""
    resources: list[ResourceScope] = []
    flags: list[str] = []
    rejected: list[str] = []
    order: list[str] = []
    for token in (text or "").split(" "):
        if not token:
            continue
        if token in FLAG_TOKENS:
            flags.append(token)
        elif (scope := parse_resource_scope(token)) is not None:
            resources.append(scope)
        else:
            rejected.append(token)
            continue
        order.append(token)
    return _scope_set(resources=resources, flags=flags, rejected=rejected, order=order)
