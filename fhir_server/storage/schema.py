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
    # 1 -> 2: index rows for every search parameter type; parameters interned as small ids.
    """
    DROP TABLE token_index;
    CREATE TABLE params (pid INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE);
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE INDEX resources_updated ON resources (type, last_updated);
    CREATE TABLE idx_string (
        rid INTEGER NOT NULL, pid INTEGER NOT NULL, norm TEXT NOT NULL, exact TEXT NOT NULL
    );
    CREATE INDEX idx_string_value ON idx_string (pid, norm);
    CREATE INDEX idx_string_rid ON idx_string (rid, pid);
    CREATE TABLE idx_token (rid INTEGER NOT NULL, pid INTEGER NOT NULL, system TEXT, code TEXT);
    CREATE INDEX idx_token_value ON idx_token (pid, code, system);
    CREATE INDEX idx_token_rid ON idx_token (rid, pid);
    CREATE TABLE idx_reference (
        rid INTEGER NOT NULL, pid INTEGER NOT NULL, type TEXT, id TEXT, url TEXT
    );
    CREATE INDEX idx_reference_target ON idx_reference (pid, id, type);
    CREATE INDEX idx_reference_url ON idx_reference (pid, url);
    CREATE INDEX idx_reference_rid ON idx_reference (rid, pid);
    CREATE TABLE idx_date (rid INTEGER NOT NULL, pid INTEGER NOT NULL, low TEXT, high TEXT);
    CREATE INDEX idx_date_low ON idx_date (pid, low);
    CREATE INDEX idx_date_high ON idx_date (pid, high);
    CREATE INDEX idx_date_rid ON idx_date (rid, pid);
    CREATE TABLE idx_number (
        rid INTEGER NOT NULL, pid INTEGER NOT NULL, value REAL,
        system TEXT, code TEXT, unit TEXT
    );
    CREATE INDEX idx_number_value ON idx_number (pid, value);
    CREATE INDEX idx_number_rid ON idx_number (rid, pid);
    CREATE TABLE idx_uri (rid INTEGER NOT NULL, pid INTEGER NOT NULL, uri TEXT);
    CREATE INDEX idx_uri_value ON idx_uri (pid, uri);
    CREATE INDEX idx_uri_rid ON idx_uri (rid, pid);
    """,
    # 2 -> 3: composite parameters; each component in generic columns (a, b, n, lo, hi) as
    # fhir_server/storage/sqlite_search.COMPONENT_COLUMNS lays out per parameter type.
    """
    CREATE TABLE idx_composite (
        rid INTEGER NOT NULL, pid INTEGER NOT NULL,
        k1_a TEXT, k1_b TEXT, k1_n REAL, k1_lo TEXT, k1_hi TEXT,
        k2_a TEXT, k2_b TEXT, k2_n REAL, k2_lo TEXT, k2_hi TEXT,
        k3_a TEXT, k3_b TEXT, k3_n REAL, k3_lo TEXT, k3_hi TEXT
    );
    CREATE INDEX idx_composite_value ON idx_composite (pid, k1_b, k1_a);
    CREATE INDEX idx_composite_rid ON idx_composite (rid, pid);
    """,
    # 3 -> 4: a Range is one number row from value (low) to high.
    """
    ALTER TABLE idx_number ADD COLUMN high REAL;
    """,
    # 4 -> 5: the value indexes carry rid, so a search that starts from one reads the index
    # alone (and intersections of two never touch the tables).
    """
    DROP INDEX idx_string_value;
    CREATE INDEX idx_string_value ON idx_string (pid, norm, rid);
    DROP INDEX idx_token_value;
    CREATE INDEX idx_token_value ON idx_token (pid, code, system, rid);
    DROP INDEX idx_reference_target;
    CREATE INDEX idx_reference_target ON idx_reference (pid, id, type, rid);
    DROP INDEX idx_date_low;
    CREATE INDEX idx_date_low ON idx_date (pid, low, high, rid);
    DROP INDEX idx_number_value;
    CREATE INDEX idx_number_value ON idx_number (pid, value, rid);
    DROP INDEX idx_uri_value;
    CREATE INDEX idx_uri_value ON idx_uri (pid, uri, rid);
    """,
)

INDEX_TABLES = (
    "idx_string",
    "idx_token",
    "idx_reference",
    "idx_date",
    "idx_number",
    "idx_uri",
    "idx_composite",
)

SCHEMA_VERSION = len(MIGRATIONS)
