"""Schema migrations: an old database opens in place under the current build, whole.

``fhir_server.storage.schema.MIGRATIONS[n]`` takes schema version ``n`` to ``n + 1``
(``PRAGMA user_version``); each step runs as one transaction with its version bump. A
database built with version 1 only and filled the version-1 way opens with the current
build, upgrades to ``SCHEMA_VERSION`` and serves its data (searches too, once the server has
re-indexed it); a failing step leaves the database exactly as the step found it; a database
newer than the build is refused with a clear message and left untouched.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from click.testing import CliRunner

from fhir_server.config import Settings
from fhir_server.maintenance_cli import check
from fhir_server.storage.records import StorageError
from fhir_server.storage.schema import MIGRATIONS, SCHEMA_VERSION
from fhir_server.storage.sqlite import SqliteStore
from fhir_server.testing import running_server

if TYPE_CHECKING:
    from conftest import ServerProcess

DOD_ID = "http://fhir.mhs-fhir.example/sid/dod-id"
WHEN = "2020-05-01T12:00:00.000Z"


def build(path: Path, version: int) -> sqlite3.Connection:
    """A database at schema ``version``: just the first ``version`` migrations applied."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for step in range(version):
        conn.executescript(f"BEGIN; {MIGRATIONS[step]}; PRAGMA user_version = {step + 1}; COMMIT;")
    return conn


def patient(id: str, version: int, family: str, dod_id: str) -> bytes:
    return json.dumps(
        {
            "resourceType": "Patient",
            "id": id,
            "meta": {"versionId": str(version), "lastUpdated": WHEN},
            "identifier": [{"system": DOD_ID, "value": dod_id}],
            "name": [{"family": family}],
        },
        separators=(",", ":"),
    ).encode()


def fill_the_v1_way(conn: sqlite3.Connection) -> None:
    """Resources, every version and token rows, as version 1 kept them: Patient/a at
    version 2, Patient/b at version 1, Patient/c deleted (version 2)."""
    rows = [
        (1, "Patient", "a", [("POST", patient("a", 1, "Old", "1111111111")),
                             ("PUT", patient("a", 2, "Anders", "1111111111"))]),
        (2, "Patient", "b", [("POST", patient("b", 1, "Baker", "2222222222"))]),
        (3, "Patient", "c", [("POST", patient("c", 1, "Cole", "3333333333")),
                             ("DELETE", None)]),
    ]  # fmt: skip
    conn.execute("BEGIN")
    for rid, type, id, versions in rows:
        deleted = int(versions[-1][1] is None)
        conn.execute(
            "INSERT INTO resources (rid, type, id, version, last_updated, deleted)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (rid, type, id, len(versions), WHEN, deleted),
        )
        for number, (method, body) in enumerate(versions, start=1):
            conn.execute(
                "INSERT INTO versions (rid, version, last_updated, method, body)"
                " VALUES (?, ?, ?, ?, ?)",
                (rid, number, WHEN, method, body),
            )
        if not deleted:
            value = json.loads(versions[-1][1] or b"{}")["identifier"][0]["value"]
            conn.execute(
                "INSERT INTO token_index (rid, param, system, code) VALUES (?, ?, ?, ?)",
                (rid, "identifier", DOD_ID, value),
            )
    conn.execute("COMMIT")


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    conn.close()
    return found


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    return names


def test_a_version_1_database_upgrades_in_place_and_serves_its_data(tmp_path: Path) -> None:
    db = tmp_path / "v1.db"
    conn = build(db, 1)
    fill_the_v1_way(conn)
    conn.close()
    assert user_version(db) == 1

    settings = Settings(database_url=f"sqlite:///{db}", insecure_no_auth=True)
    with (
        running_server(settings) as base,
        httpx.Client(base_url=base + "/", timeout=30) as http,
    ):
        a = http.get("Patient/a")
        assert a.status_code == 200
        assert a.headers["etag"] == 'W/"2"'
        assert a.json()["name"][0]["family"] == "Anders"
        assert http.get("Patient/a/_history/1").json()["name"][0]["family"] == "Old"
        assert http.get("Patient/c").status_code == 410
        history = http.get("Patient/a/_history").json()
        assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
        # The index is rebuilt from the stored resources: searches find the old data.
        found = http.get("Patient", params={"identifier": f"{DOD_ID}|2222222222"}).json()
        assert [e["resource"]["id"] for e in found["entry"]] == ["b"]
        assert http.get("Patient", params={"family": "anders"}).json()["total"] == 1
        # And it takes new writes on top of the old ones.
        body = {"resourceType": "Patient", "id": "a", "name": [{"family": "Again"}]}
        assert http.put("Patient/a", json=body).headers["etag"] == 'W/"3"'

    assert user_version(db) == SCHEMA_VERSION
    assert "token_index" not in tables(db)
    result = CliRunner().invoke(check, ["--database-url", f"sqlite:///{db}", "--quiet"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("start", range(1, SCHEMA_VERSION))
def test_every_older_version_upgrades_to_the_current_one(tmp_path: Path, start: int) -> None:
    db = tmp_path / f"v{start}.db"
    conn = build(db, start)
    conn.execute(
        "INSERT INTO resources (rid, type, id, version, last_updated, deleted)"
        " VALUES (1, 'Patient', 'p', 1, ?, 0)",
        (WHEN,),
    )
    conn.execute(
        "INSERT INTO versions (rid, version, last_updated, method, body) VALUES (1, 1, ?, ?, ?)",
        (WHEN, "POST", patient("p", 1, "Park", "4444444444")),
    )
    conn.close()

    async def read() -> int | None:
        store = SqliteStore(str(db))
        await store.open()
        try:
            found = await store.read("Patient", "p")
            return None if found is None else found.version
        finally:
            await store.close()

    assert asyncio.run(read()) == 1
    assert user_version(db) == SCHEMA_VERSION


def test_a_failing_step_leaves_the_database_as_that_step_found_it(tmp_path: Path) -> None:
    db = tmp_path / "blocked.db"
    conn = build(db, 1)
    fill_the_v1_way(conn)
    # Step 1 -> 2 drops token_index and creates params, meta, ... idx_uri: make its last
    # table creation fail, after the drop and the first creations already ran.
    conn.execute("CREATE TABLE idx_uri (squatter TEXT)")
    conn.close()

    async def open_it() -> None:
        store = SqliteStore(str(db))
        await store.open()
        await store.close()

    with pytest.raises(StorageError, match=r"1 -> 2 failed .*idx_uri already exists") as failed:
        asyncio.run(open_it())
    assert "left at version 1" in str(failed.value)
    assert user_version(db) == 1
    names = tables(db)
    assert "token_index" in names  # the drop was undone
    assert "params" not in names and "idx_string" not in names  # the creations too
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM token_index").fetchone()[0] == 2
        assert conn.execute("SELECT count(*) FROM versions").fetchone()[0] == 5
        conn.execute("DROP TABLE idx_uri")
    conn.close()

    asyncio.run(open_it())  # with the obstacle gone, the same upgrade goes through
    assert user_version(db) == SCHEMA_VERSION


def test_a_database_from_a_newer_build_is_refused_with_a_clear_message(
    tmp_path: Path, server_process: Callable[[Path], ServerProcess]
) -> None:
    db = tmp_path / "newer.db"
    conn = build(db, SCHEMA_VERSION)
    fill_the_v1_way_now = patient("n", 1, "Newer", "5555555555")
    conn.execute(
        "INSERT INTO resources (rid, type, id, version, last_updated, deleted)"
        " VALUES (1, 'Patient', 'n', 1, ?, 0)",
        (WHEN,),
    )
    conn.execute(
        "INSERT INTO versions (rid, version, last_updated, method, body) VALUES (1, 1, ?, ?, ?)",
        (WHEN, "POST", fill_the_v1_way_now),
    )
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    before = db.read_bytes()

    server = server_process(db)
    server.spawn()
    assert server.process is not None
    code = server.process.wait(timeout=60)
    output = server.output()
    server.stop_for_good()
    assert code != 0
    message = (
        f"database schema version {SCHEMA_VERSION + 1} is newer than this build supports"
        f" ({SCHEMA_VERSION}); upgrade mhs-fhir"
    )
    assert message in output
    assert user_version(db) == SCHEMA_VERSION + 1
    assert db.read_bytes() == before  # not one byte changed

    result = CliRunner().invoke(check, ["--database-url", f"sqlite:///{db}", "--quiet"])
    assert result.exit_code == 1
    assert f"supports up to {SCHEMA_VERSION}" in result.output
