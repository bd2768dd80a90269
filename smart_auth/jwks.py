"""Fetching a client's registered JWKS URL (SMART asymmetric client authentication).

Only the URL registered for the client is ever fetched (never a ``jku`` from an assertion that
differs from it), over HTTPS (plain HTTP only on loopback, for local development), with a
timeout and a size cap, and cached for a few minutes.
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import InvalidClientError

MAX_BYTES = 256 * 1024
TIMEOUT_SECONDS = 5.0
CACHE_SECONDS = 300.0

_cache: dict[str, tuple[float, dict[str, Any]]] = {}
_lock = threading.Lock()


def _allowed(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return True
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def fetch_jwks(url: str) -> dict[str, Any]:
    """The key set at ``url`` (raises InvalidClientError when it cannot be had)."""
    now = time.monotonic()
    with _lock:
        hit = _cache.get(url)
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
    if not _allowed(url):
        raise InvalidClientError(description="the registered JWKS URL must use https")
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            body = response.read(MAX_BYTES + 1)
    except OSError as exc:
        raise InvalidClientError(description="the client's JWKS URL could not be read") from exc
    if len(body) > MAX_BYTES:
        raise InvalidClientError(description="the client's JWKS is too large")
    try:
        key_set = json.loads(body)
    except ValueError as exc:
        raise InvalidClientError(description="the client's JWKS is not JSON") from exc
    if not isinstance(key_set, dict) or not isinstance(key_set.get("keys"), list):
        raise InvalidClientError(description="the client's JWKS has no keys")
    with _lock:
        _cache[url] = (now, key_set)
    return key_set
