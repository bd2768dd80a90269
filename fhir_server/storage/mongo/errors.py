"""Storage errors of the MongoDB engine, and the one place driver errors become them.

::

    StorageError                    (fhir_server.storage.records; the API answers 503)
     ├── StorageUnavailable         the server cannot be reached or did not answer in time
     └── StandaloneRefused          open() found a server without transactions

The API already maps every :class:`StorageError` to ``503 transient`` (``fhir_server/app.py``,
``on_storage_error``), so a lost connection needs no mapping of its own; a client that wants
``Retry-After`` for :class:`StorageUnavailable` only can catch it there.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from pymongo.errors import (
    ConnectionFailure,
    ExecutionTimeout,
    PyMongoError,
    WTimeoutError,
)

from fhir_server.storage.records import StorageError


class StorageUnavailable(StorageError):
    """The MongoDB deployment cannot be reached, lost the connection or timed out: nothing
    is known to have changed, and the request may be retried."""


class StandaloneRefused(StorageError):
    """The server has no multi-document transactions (a standalone ``mongod``), and the
    store was not told to accept that (``allow_standalone``)."""


@contextmanager
def translated(action: str) -> Iterator[None]:
    """Re-raise driver errors met while doing ``action`` as storage errors."""
    try:
        yield
    except (ConnectionFailure, ExecutionTimeout, WTimeoutError) as exc:
        raise StorageUnavailable(f"MongoDB unavailable while {action}: {exc}") from exc
    except PyMongoError as exc:
        raise StorageError(f"MongoDB failed while {action}: {exc}") from exc
