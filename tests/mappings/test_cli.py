"""`mhs-fhir generate eligibility` and `mhs-fhir import eligibility` end to end."""

from __future__ import annotations

import csv
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from fhir_server.cli import main
from mappings.eligibility.writers import fixed_line
from smart_auth.passwords import hash_password
from smart_auth.records import User, digest
from smart_auth.service import open_auth_store
from smart_auth.testing import issue_token

from .eligibility.test_mapping import CHILD

X12_SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "data" / "x12-271"


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_a_generated_extract_imports_and_importing_it_again_changes_nothing(
    tmp_path: Path,
) -> None:
    extract, db = tmp_path / "extract.txt", f"sqlite:///{tmp_path}/cli.db"
    code, output = invoke(
        "generate", "eligibility", "--families", "20", "--out", str(extract), "--seed", "3"
    )
    assert code == 0, output
    code, first = invoke("import", "eligibility", str(extract), "--database-url", db, "-q")
    assert code == 0, first
    assert "created" in first and "rejected 0" in first
    code, second = invoke("import", "eligibility", str(extract), "--database-url", db, "-q")
    assert code == 0, second
    assert "created 0, updated 0," in second


def test_a_csv_extract_imports_like_the_fixed_width_one(tmp_path: Path) -> None:
    extract = tmp_path / "extract.csv"
    invoke("generate", "eligibility", "--families", "5", "--format", "csv", "--out", str(extract))
    code, output = invoke(
        "import", "eligibility", str(extract), "--database-url", f"sqlite:///{tmp_path}/c.db", "-q"
    )
    assert code == 0, output
    assert "rejected 0" in output


def test_bad_records_are_written_to_the_rejects_file_and_set_the_exit_status(
    tmp_path: Path,
) -> None:
    extract, rejects = tmp_path / "extract.txt", tmp_path / "rejects.csv"
    invoke("generate", "eligibility", "--families", "3", "--out", str(extract))
    lines = extract.read_text().splitlines()
    broken = lines[1][:21] + "12345X7890" + lines[1][31:]  # a bad DoD ID on line 2
    extract.write_text("\n".join([lines[0], broken, *lines[2:]]) + "\n")
    code, output = invoke(
        "import",
        "eligibility",
        str(extract),
        "--rejects",
        str(rejects),
        "--database-url",
        f"sqlite:///{tmp_path}/r.db",
        "-q",
    )
    assert code == 1
    assert "rejected 1" in output
    rows = list(csv.DictReader(rejects.open()))
    assert rows == [
        {"line": "2", "field": "dod_id", "value": "12345X7890", "reason": "must be 10 digits"}
    ]


def test_a_dry_run_stores_nothing(tmp_path: Path) -> None:
    extract, db = tmp_path / "extract.txt", f"sqlite:///{tmp_path}/d.db"
    invoke("generate", "eligibility", "--families", "3", "--out", str(extract))
    code, output = invoke("import", "eligibility", str(extract), "--dry-run", "--database-url", db)
    assert code == 0, output
    assert output.strip().splitlines()[-1].startswith("dry run: created")
    code, again = invoke("import", "eligibility", str(extract), "--database-url", db, "-q")
    assert "created 0" not in again  # nothing was stored by the dry run


def test_an_x12_271_with_aaa_rejections_reports_them_with_their_codes(tmp_path: Path) -> None:
    sample = X12_SAMPLES / "tigershark-4010-271-example.txt"
    if not sample.exists():
        pytest.skip("shared X12 samples not available")
    code, output = invoke(
        "import",
        "eligibility",
        str(sample),
        "--format",
        "x12-271",
        "--database-url",
        f"sqlite:///{tmp_path}/x.db",
        "-q",
    )
    assert code == 1
    assert "AAA='72'" in output
    assert "rejected 4" in output


def test_a_terminated_sponsor_link_ends_the_sponsors_live_tokens(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/t.db"
    store = open_auth_store(db)
    store.open()
    store.put_user(
        User(
            username="sponsor",
            password_hash=hash_password("Sponsor-Passw0rd!"),
            name="Sponsor",
            dod_id=CHILD["sponsor_dod_id"],
            created=time.time(),
        )
    )
    store.close()
    token = issue_token(db, scope="user/*.rs", username="sponsor")
    extract = tmp_path / "terminate.txt"
    ended = {**CHILD, "record_action": "T", "eligibility_end": "20261101"}
    extract.write_text(fixed_line(ended) + "\n")

    code, output = invoke("import", "eligibility", str(extract), "--database-url", db, "-q")

    assert code == 0, output
    store = open_auth_store(db)
    store.open()
    stored = store.get_token(digest(token))
    store.close()
    assert stored is not None and stored.revoked
