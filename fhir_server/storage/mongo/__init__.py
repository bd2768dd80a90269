"""The MongoDB storage engine (the scale-out one): replica sets, sharding by patient
compartment. ``docs/scaling.md`` says how to deploy it."""

from __future__ import annotations

from fhir_server.storage.mongo.engine import MongoStore
from fhir_server.storage.mongo.errors import StandaloneRefused, StorageUnavailable
from fhir_server.storage.mongo.url import MongoUrl, parse_url

__all__ = [
    "MongoStore",
    "MongoUrl",
    "StandaloneRefused",
    "StorageUnavailable",
    "parse_url",
]
