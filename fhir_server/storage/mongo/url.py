"""``mongodb://`` and ``mongodb+srv://`` database URLs: what pymongo gets, what the engine keeps.

Every connection option in the URL (``tls``, ``authSource``, ``replicaSet``, ``w``,
``readPreference``, ``serverSelectionTimeoutMS``...) passes to pymongo untouched. The engine
reads two things itself: the database name from the path (default ``mhs_fhir``) and its own
option ``allow_standalone=true``, which it removes before pymongo sees the URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

DEFAULT_DATABASE = "mhs_fhir"
SCHEMES = ("mongodb://", "mongodb+srv://")
_OWN_OPTION = "allow_standalone"
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class MongoUrl:
    """``client_url`` for pymongo, the ``database`` to use and whether a standalone server
    (no transactions) is acceptable."""

    client_url: str
    database: str
    allow_standalone: bool


def parse_url(url: str) -> MongoUrl:
    """Split a database URL; raises ValueError for another scheme or a bad own option."""
    scheme = next((s for s in SCHEMES if url.startswith(s)), None)
    if scheme is None:
        raise ValueError(f"expected a mongodb:// or mongodb+srv:// URL, got {url!r}")
    rest, _, query = url[len(scheme) :].partition("?")
    hosts, _, path = rest.partition("/")
    if not hosts:
        raise ValueError(f"{url!r} names no host")
    database = unquote(path) or DEFAULT_DATABASE
    if any(ch in database for ch in '/\\. "$'):
        raise ValueError(f"{database!r} is not a valid MongoDB database name")
    kept: list[str] = []
    allow = False
    for option in query.split("&") if query else ():
        name, _, value = option.partition("=")
        if name.lower() != _OWN_OPTION:
            kept.append(option)
            continue
        if value.lower() in _TRUE:
            allow = True
        elif value.lower() not in _FALSE:
            raise ValueError(f"allow_standalone takes true or false, not {value!r}")
    client_url = scheme + rest + ("?" + "&".join(kept) if kept else "")
    return MongoUrl(client_url=client_url, database=database, allow_standalone=allow)
