"""The SQLite schema and its migrations, versioned by ``PRAGMA user_version``.

``MIGRATIONS[n]`` takes a database from schema version ``n`` to ``n + 1``. Each runs as one
transaction together with the version bump, so an upgrade either happens whole or not at all.
A database whose version is newer than ``len(MIGRATIONS)`` is refused, never guessed at.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 0 -> 1: current resources, every version, token index.
    """
    CREATE TABLE resources (
        rid          INTEGER PRIMARY KEY,
        type         TEXT    NOT NULL,
        id           TEXT    NOT NULL,
        version      INTEGER NOT NULL,
        last_updated TEXT    NOT NULL,
        deleted      INTEGER NOT NULL,
        UNIQUE (type, id)
    );
    CREATE TABLE versions (
        seq          INTEGER PRIMARY KEY,
        rid          INTEGER NOT NULL REFERENCES resources (rid),
        version      INTEGER NOT NULL,
        last_updated TEXT    NOT NULL,
        method       TEXT    NOT NULL,
        body         BLOB,
        UNIQUE (rid, version)
    );
    CREATE INDEX versions_last_updated ON versions (last_updated);
    CREATE TABLE token_index (
        rid    INTEGER NOT NULL REFERENCES resources (rid),
        param  TEXT    NOT NULL,
        system TEXT,
        code   TEXT
    );
    CREATE INDEX token_index_lookup ON token_index (param, code, system, rid);
    CREATE INDEX token_index_rid ON token_index (rid);
    """,
)

SCHEMA_VERSION = len(MIGRATIONS)
