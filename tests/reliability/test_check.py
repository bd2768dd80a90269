"""``mhs-fhir check``: a sound database passes; each kind of damage is found and named.

The database is written by a real server (creates, updates, deletes, a transaction, the demo
data set, composites, an absolute reference under the base URL); each test damages a copy
in one way, the way a bug, a crash or a disk would, and expects exit status 1 and a message
that says what and where.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from fhir_server.config import Settings
from fhir_server.demo import demo_bundle
from fhir_server.maintenance_cli import check
from fhir_server.storage.maintenance import check_database
from fhir_server.storage.schema import SCHEMA_VERSION
from fhir_server.testing import running_server
from smart_auth.sqlite_store import audit_path

BP = {
    "resourceType": "Observation",
    "id": "bp",
    "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
    "effectiveDateTime": "2026-03-01T10:00:00Z",
    "component": [
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {
                "value": 120,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
        {
            "code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
            "valueQuantity": {
                "value": 80.5,
                "unit": "mmHg",
                "system": "http://unitsofmeasure.org",
                "code": "mm[Hg]",
            },
        },
    ],
}


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database a real server wrote, closed cleanly."""
    folder = tmp_path_factory.mktemp("pristine")
    settings = Settings(database_url=f"sqlite:///{folder}/mhs-fhir.db", insecure_no_auth=True)
    with (
        running_server(settings) as base,
        httpx.Client(base_url=base + "/", timeout=30) as http,
    ):
        assert http.post("", json=demo_bundle()).status_code == 200
        assert http.put("Observation/bp", json=BP).status_code == 201
        reading = {
            **BP,
            "id": "bp-abs",
            "subject": {"reference": f"{base}/Patient/demo-sponsor"},
        }
        assert http.put("Observation/bp-abs", json=reading).status_code == 201
        patient = {"resourceType": "Patient", "id": "versions", "name": [{"family": "One"}]}
        assert http.put("Patient/versions", json=patient).status_code == 201
        for family in ("Two", "Three"):
            patient["name"] = [{"family": family}]
            assert http.put("Patient/versions", json=patient).status_code == 200
        gone = {"resourceType": "Patient", "id": "gone", "name": [{"family": "Gone"}]}
        assert http.put("Patient/gone", json=gone).status_code == 201
        assert http.delete("Patient/gone").status_code in (200, 204)
    return folder / "mhs-fhir.db"


@pytest.fixture
def db(pristine: Path, tmp_path: Path) -> Path:
    """A private copy of the pristine database (and its audit trail)."""
    copy = tmp_path / "mhs-fhir.db"
    shutil.copyfile(pristine, copy)
    shutil.copyfile(audit_path(str(pristine)), audit_path(str(copy)))
    return copy


@pytest.fixture
def sql(db: Path) -> Iterator[Callable[[str], None]]:
    conn = sqlite3.connect(db, isolation_level=None)

    def run(statement: str) -> None:
        conn.executescript(statement)

    yield run
    conn.close()


def run_check(db: Path, *extra: str) -> Result:
    return CliRunner().invoke(check, ["--database-url", f"sqlite:///{db}", "--quiet", *extra])


def rid(db: Path, type: str, id: str) -> int:
    with sqlite3.connect(db) as conn:
        found: int = conn.execute(
            "SELECT rid FROM resources WHERE type = ? AND id = ?", (type, id)
        ).fetchone()[0]
    conn.close()
    return found


def test_a_database_the_server_wrote_passes(db: Path) -> None:
    result = run_check(db)
    assert result.exit_code == 0, result.output
    assert "check passed" in result.output
    report = check_database(str(db))
    assert report.ok, report.problems
    assert report.resources >= 18 and report.deleted == 1
    assert report.versions == report.resources + report.deleted + 3  # 2 updates + 1 delete
    assert report.index_rows > 100
    assert report.audit_records is not None and report.audit_records > 0
    assert report.schema_version == SCHEMA_VERSION


def test_a_current_version_without_its_history_row(db: Path, sql: Callable[[str], None]) -> None:
    sql(f"DELETE FROM versions WHERE rid = {rid(db, 'Patient', 'versions')} AND version = 3")
    result = run_check(db)
    assert result.exit_code == 1
    assert "Patient/versions: current version 3 has no history row" in result.output


def test_a_gap_in_the_history(db: Path, sql: Callable[[str], None]) -> None:
    sql(f"DELETE FROM versions WHERE rid = {rid(db, 'Patient', 'versions')} AND version = 2")
    result = run_check(db)
    assert result.exit_code == 1
    assert "Patient/versions: history holds 2 versions (1..3), want 1..3" in result.output


def test_index_rows_left_from_an_older_version(db: Path, sql: Callable[[str], None]) -> None:
    # Version 3 is "Three"; a row of version 2 ("two") is still there.
    sql(
        "INSERT INTO idx_string SELECT rid, pid, 'two', 'Two' FROM idx_string"
        f" WHERE rid = {rid(db, 'Patient', 'versions')} AND exact = 'Three'"
    )
    result = run_check(db)
    assert result.exit_code == 1
    assert "Patient/versions: version 3: index rows disagree with the resource" in result.output
    assert "unexpected" in result.output and "'Two'" in result.output


def test_a_missing_index_row(db: Path, sql: Callable[[str], None]) -> None:
    sql(f"DELETE FROM idx_composite WHERE rid = {rid(db, 'Observation', 'bp')}")
    result = run_check(db)
    assert result.exit_code == 1
    assert "Observation/bp: version 1: index rows disagree" in result.output
    assert "missing" in result.output and "idx_composite" in result.output


def test_index_rows_of_a_deleted_resource(db: Path, sql: Callable[[str], None]) -> None:
    gone = rid(db, "Patient", "gone")
    sql(f"INSERT INTO idx_token (rid, pid, system, code) VALUES ({gone}, 1, 's', 'c')")
    result = run_check(db)
    assert result.exit_code == 1
    assert "Patient/gone: version 2: index rows disagree" in result.output


def test_index_and_history_rows_of_no_resource(db: Path, sql: Callable[[str], None]) -> None:
    sql(
        "PRAGMA foreign_keys = OFF;"
        "INSERT INTO idx_uri (rid, pid, uri) VALUES (999999, 1, 'urn:x');"
        "INSERT INTO versions (rid, version, last_updated, method, body)"
        " VALUES (999998, 1, '2026-01-01', 'POST', x'7b7d');"
    )
    result = run_check(db)
    assert result.exit_code == 1
    assert "index rid 999999: 1 index rows of no resource" in result.output
    assert "versions rid 999998: 1 history rows of no resource" in result.output
    assert "foreign_key_check" in result.output


def test_a_body_that_is_not_the_version_it_claims(db: Path, sql: Callable[[str], None]) -> None:
    sql(
        'UPDATE versions SET body = CAST(replace(CAST(body AS TEXT), \'"versionId":"3"\','
        f' \'"versionId":"9"\') AS BLOB) WHERE rid = {rid(db, "Patient", "versions")}'
        " AND version = 3"
    )
    sql(f"UPDATE versions SET body = x'7b6e6f74' WHERE rid = {rid(db, 'Observation', 'bp')}")
    result = run_check(db)
    assert result.exit_code == 1
    assert "Patient/versions: the stored body says meta.versionId '9'" in result.output
    assert "Observation/bp: the stored body is not valid JSON" in result.output


def test_a_deleted_flag_that_disagrees_with_the_version(
    db: Path, sql: Callable[[str], None]
) -> None:
    sql(f"UPDATE resources SET deleted = 1 WHERE rid = {rid(db, 'Patient', 'versions')}")
    result = run_check(db)
    assert result.exit_code == 1
    assert "Patient/versions: version 3 is inconsistent: deleted flag 1" in result.output


def test_an_index_built_by_another_extraction(db: Path, sql: Callable[[str], None]) -> None:
    sql("UPDATE meta SET value = 'r4-core-0' WHERE key = 'index_version'")
    result = run_check(db)
    assert result.exit_code == 1
    assert "search index: built by extraction r4-core-0" in result.output
    assert "mhs-fhir reindex" in result.output


def test_a_schema_from_another_build(db: Path, sql: Callable[[str], None]) -> None:
    sql(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    result = run_check(db)
    assert result.exit_code == 1
    assert f"schema: version {SCHEMA_VERSION + 1}; this build supports up to" in result.output


def test_many_problems_are_counted_and_the_first_ones_listed(
    db: Path, sql: Callable[[str], None]
) -> None:
    sql("DELETE FROM idx_token")
    result = run_check(db, "--max-problems", "3")
    assert result.exit_code == 1
    assert result.output.count("problem: ") == 3
    assert "more problems" in result.output


def test_damaged_pages_are_reported_not_crashed_on(db: Path) -> None:
    with sqlite3.connect(db) as conn:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        root = conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'idx_token_value'"
        ).fetchone()[0]
    conn.close()
    with db.open("r+b") as file:
        file.seek((root - 1) * page_size + 8)
        file.write(b"\xa5" * 200)
    result = run_check(db)
    assert result.exit_code == 1, result.output
    assert "problem: integrity_check:" in result.output
    assert "Traceback" not in result.output


def test_a_damaged_audit_trail(db: Path) -> None:
    trail = Path(audit_path(str(db)))
    data = bytearray(trail.read_bytes())
    data[4096 + 8 : 4096 + 400] = b"\x5a" * 392  # the second page: the audit table's rows
    trail.write_bytes(bytes(data))
    result = run_check(db)
    assert result.exit_code == 1, result.output
    assert "audit trail" in result.output


def test_a_missing_database_is_an_error_not_a_new_file(tmp_path: Path) -> None:
    result = run_check(tmp_path / "nothing.db")
    assert result.exit_code == 1
    assert "no database at" in result.output
    assert not (tmp_path / "nothing.db").exists()
