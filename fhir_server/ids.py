"""New logical ids: random (version 4) UUIDs, from operating-system randomness read in bulk.

One ``os.urandom`` call per id costs most of a millisecond on some virtual machines; reading
4 KiB at a time makes an id cost a slice.
"""

from __future__ import annotations

import os
import threading
import uuid

_CHUNK = 4096
_lock = threading.Lock()
_pool = b""


def new_id() -> str:
    """A fresh random UUID (RFC 9562 version 4) as a FHIR id."""
    global _pool
    with _lock:
        if len(_pool) < 16:
            _pool = os.urandom(_CHUNK)
        raw, _pool = _pool[:16], _pool[16:]
    return str(uuid.UUID(bytes=raw, version=4))
