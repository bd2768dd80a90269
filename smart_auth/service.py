"""The authorization server, assembled: its records, its settings, authlib's server."""

from __future__ import annotations

from fhir_server.config import Settings
from smart_auth.config import AuthConfig
from smart_auth.grants import build_server
from smart_auth.records import AuthStore
from smart_auth.server import SmartAuthorizationServer


class AuthService:
    """Everything the routes need: the records, the settings and authlib's server."""

    def __init__(self, store: AuthStore, config: AuthConfig, server: SmartAuthorizationServer):
        self.store = store
        self.config = config
        self.server = server


def open_auth_store(database_url: str) -> AuthStore:
    """The records for ``database_url`` (not yet opened): the same database as the resources.

    ``sqlite:///path/to/file.db``, or ``mongodb://host/dbname`` / ``mongodb+srv://...`` (the
    database from the URL's path, default ``mhs_fhir``; needs the ``mongo`` extra)."""
    if database_url.startswith("sqlite:"):
        from smart_auth.sqlite_store import SqliteAuthStore

        return SqliteAuthStore.from_url(database_url)
    if database_url.startswith(("mongodb://", "mongodb+srv://")):
        try:
            from smart_auth.mongo_store import MongoAuthStore
        except ImportError as error:  # mongomotor is GPL-3.0: an optional extra
            raise ValueError(
                f"{database_url.split(':', 1)[0]}: URLs need the MongoDB extra"
                f" (pip install 'mhs-fhir[mongo]'): {error}"
            ) from error
        return MongoAuthStore.from_url(database_url)
    raise ValueError(
        f"unsupported database URL {database_url!r}: use sqlite:///path/to/file.db"
        " or mongodb://host/database"
    )


def open_auth_service(settings: Settings) -> AuthService:
    store = open_auth_store(settings.database_url)
    config = AuthConfig.from_settings(settings)
    return AuthService(store, config, build_server(SmartAuthorizationServer(store, config)))
