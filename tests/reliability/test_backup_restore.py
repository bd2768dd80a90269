"""Backup and restore: an online backup of a busy database round-trips whole.

``mhs-fhir backup`` copies the database while the server keeps serving writes; the copy holds
every write acknowledged before the backup started, never part of a transaction, and passes
``mhs-fhir check``. ``mhs-fhir restore`` puts it back, but never over a database in use, and
over an existing one only with ``--force`` (keeping the audit trail it replaces).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest
from click.testing import CliRunner, Result

from fhir_server.maintenance_cli import backup, check, restore
from fhir_server.storage.maintenance import database_in_use
from fhir_server.storage.schema import SCHEMA_VERSION
from smart_auth.sqlite_store import audit_path

if TYPE_CHECKING:
    from conftest import Ledger, ServerProcess, Verify, Workload


def url(db: Path) -> str:
    return f"sqlite:///{db}"


def invoke(command: object, *args: str) -> Result:
    return CliRunner().invoke(command, list(args))  # type: ignore[arg-type]


def seed(base: str, count: int, ledger: Ledger) -> None:
    """``count`` Patients in transactions, so the database is worth a backup."""
    with httpx.Client(timeout=60) as http:
        for start in range(0, count, 250):
            entries = [
                {
                    "resource": {
                        "resourceType": "Patient",
                        "id": f"seed-{n}",
                        "name": [{"family": f"Seed{n}", "given": ["Backup", "Test"]}],
                        "birthDate": "1980-01-01",
                    },
                    "request": {"method": "PUT", "url": f"Patient/seed-{n}"},
                }
                for n in range(start, min(start + 250, count))
            ]
            bundle = {"resourceType": "Bundle", "type": "transaction", "entry": entries}
            response = http.post(base, json=bundle)
            assert response.status_code == 200, response.text
            for entry in response.json()["entry"]:
                type, id, _, version = entry["response"]["location"].split("/")[-4:]
                ledger.ack(type, id, int(version))


def test_a_busy_database_round_trips_through_backup_and_restore(
    tmp_path: Path,
    server_process: Callable[[Path], ServerProcess],
    workload: Callable[..., Workload],
    ledger: Ledger,
    verify: Verify,
) -> None:
    live = tmp_path / "live.db"
    server = server_process(live)
    server.start()
    seed(server.base, 1000, ledger)
    clients = workload(server.base, ledger, threads=4, seed=11)
    clients.start()
    time.sleep(1.0)

    before = ledger.snapshot()  # everything acknowledged before the backup starts
    transactions_before = dict(ledger.transactions)
    acks_at_start = ledger.acks
    started = time.monotonic()
    out = tmp_path / "backups" / "mhs.bak"
    made = invoke(backup, "--database-url", url(live), "--out", str(out))
    took = time.monotonic() - started
    acks_during = ledger.acks - acks_at_start
    assert made.exit_code == 0, made.output
    assert acks_during >= 1, "no write was acknowledged while the backup ran"
    assert out.is_file() and Path(f"{out}.audit").is_file(), made.output

    # A backup file is never overwritten by accident.
    again = invoke(backup, "--database-url", url(live), "--out", str(out))
    assert again.exit_code != 0 and "--force" in again.output

    # While the server runs: the database is in use, a restore refuses to touch it, and a
    # check reads one consistent snapshot and passes.
    assert database_in_use(str(live))
    refused = invoke(restore, str(out), "--database-url", url(live), "--force")
    assert refused.exit_code != 0 and "in use" in refused.output, refused.output
    checked = invoke(check, "--database-url", url(live), "--quiet")
    assert checked.exit_code == 0, checked.output

    acks_after_backup = ledger.acks
    deadline = time.monotonic() + 10
    while ledger.acks < acks_after_backup + 20 and time.monotonic() < deadline:
        time.sleep(0.05)
    clients.stop()
    assert not ledger.unexpected, ledger.unexpected[:5]  # the server kept serving throughout
    assert ledger.acks >= acks_after_backup + 20, "writes stopped after the backup"
    assert server.terminate() in (0, -signal.SIGTERM), server.output()
    assert not database_in_use(str(live))  # the server let go of it
    print(f"backup took {took:.3f}s; {acks_during} writes acknowledged meanwhile")

    # Restore into a new place: no --force needed; then everything checks out.
    target = tmp_path / "restored" / "mhs-fhir.db"
    restored = invoke(restore, str(out), "--database-url", url(target))
    assert restored.exit_code == 0, restored.output
    assert Path(audit_path(str(target))).is_file()
    checked = invoke(check, "--database-url", url(target), "--quiet")
    assert checked.exit_code == 0, checked.output
    assert "check passed" in checked.output
    assert verify.integrity(target) == []
    assert verify.missing_writes(target, before) == []
    assert len(before) >= 1000
    everything = {key: transactions_before.get(key, False) for key in ledger.transactions}
    assert verify.torn_transactions(target, everything) == []

    # Over an existing database only with --force; the audit trail it replaces is kept.
    refused = invoke(restore, str(out), "--database-url", url(target))
    assert refused.exit_code != 0 and "--force" in refused.output
    forced = invoke(restore, str(out), "--database-url", url(target), "--force")
    assert forced.exit_code == 0, forced.output
    assert "kept in" in forced.output
    assert list(target.parent.glob("mhs-fhir.audit.db.before-restore-*"))

    # And a server serves the restored copy.
    again_server = server_process(target)
    again_server.start()
    with httpx.Client(base_url=again_server.base + "/", timeout=20) as http:
        response = http.get("Patient/seed-999")
        assert response.status_code == 200
        (type, id), (version, deleted) = max(before.items(), key=lambda kv: kv[1][0])
        response = http.get(f"{type}/{id}/_history/{version}")
        assert response.status_code == (410 if deleted else 200)
        if not deleted:
            assert json.loads(response.content)["meta"]["versionId"] == str(version)
    assert again_server.terminate() in (0, -signal.SIGTERM)


def make_database(path: Path, version: int = SCHEMA_VERSION) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE resources (rid INTEGER PRIMARY KEY, deleted INTEGER)")
        conn.execute("CREATE TABLE versions (seq INTEGER PRIMARY KEY)")
        conn.execute(f"PRAGMA user_version = {version}")
    conn.close()


def test_backup_needs_an_existing_database_and_a_sqlite_url(tmp_path: Path) -> None:
    missing = invoke(backup, "--database-url", url(tmp_path / "none.db"), "--out", "x.bak")
    assert missing.exit_code != 0 and "no database" in missing.output
    assert not (tmp_path / "none.db").exists()  # not created by asking
    mongo = invoke(backup, "--database-url", "mongodb://db/mhs", "--out", "x.bak")
    assert mongo.exit_code != 0 and "docs/operations.md" in mongo.output


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("newer", "newer than this build"),
        ("garbage", "not a readable SQLite database"),
        ("empty", "not an mhs-fhir database"),
    ],
)
def test_restore_refuses_what_it_cannot_safely_put_in_place(
    tmp_path: Path, content: str, message: str
) -> None:
    source = tmp_path / "source.bak"
    if content == "newer":
        make_database(source, SCHEMA_VERSION + 1)
    elif content == "garbage":
        source.write_bytes(b"this is not a database" * 100)
    else:
        sqlite3.connect(source).close()
    target = tmp_path / "target.db"
    result = invoke(restore, str(source), "--database-url", url(target))
    assert result.exit_code != 0
    assert message in result.output
    assert not target.exists()
