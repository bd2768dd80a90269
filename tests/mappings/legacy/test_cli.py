"""The legacy commands end to end (registered here the way ``fhir_server/cli.py`` registers
them): generate a population, import every file, import again (nothing changes), rejects
file and exit status, dry run."""

from __future__ import annotations

import csv
from pathlib import Path

import click
from click.testing import CliRunner

from mappings.cli import import_eligibility
from mappings.legacy.cli import generate_legacy, legacy_import_commands, mllp
from mappings.legacy.generator import FILES


def _main() -> click.Group:
    main = click.Group("mhs-fhir")
    imports = click.Group("import")
    imports.add_command(import_eligibility)
    for command in legacy_import_commands:
        imports.add_command(command)
    generate = click.Group("generate")
    generate.add_command(generate_legacy)
    main.add_command(imports)
    main.add_command(generate)
    main.add_command(mllp)
    return main


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(_main(), list(args))
    return result.exit_code, result.output


LEGACY = (
    ("tol-appointments", "tol-appointments"),
    ("tol-messages", "tol-messages"),
    ("tol-prescriptions", "tol-prescriptions"),
    ("hl7v2", "hl7-scheduling"),
    ("hl7v2", "hl7-pharmacy"),
    ("hl7v2", "hl7-adt"),
)


def test_the_commands_are_named_as_documented() -> None:
    assert [c.name for c in legacy_import_commands] == [
        "tol-appointments",
        "tol-messages",
        "tol-prescriptions",
        "hl7v2",
    ]
    assert (generate_legacy.name, mllp.name) == ("legacy", "mllp")


def test_a_generated_population_imports_and_importing_it_again_changes_nothing(
    tmp_path: Path,
) -> None:
    out, db = tmp_path / "population", f"sqlite:///{tmp_path}/cli.db"
    code, output = invoke("generate", "legacy", "--families", "6", "--out", str(out))
    assert code == 0, output
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES.values())
    code, output = invoke(
        "import", "eligibility", str(out / FILES["eligibility"]), "--database-url", db, "-q"
    )
    assert code == 0, output
    for command, key in LEGACY:
        code, output = invoke("import", command, str(out / FILES[key]), "--database-url", db, "-q")
        assert code == 0, output
        assert "rejected 0" in output
    for command, key in LEGACY:
        code, output = invoke("import", command, str(out / FILES[key]), "--database-url", db, "-q")
        assert code == 0, output
        assert "created 0, updated 0," in output


def test_rejects_go_to_the_rejects_file_and_set_the_exit_status(tmp_path: Path) -> None:
    out, db = tmp_path / "population", f"sqlite:///{tmp_path}/r.db"
    invoke("generate", "legacy", "--families", "2", "--out", str(out), "--seed", "5")
    rejects = tmp_path / "rejects.csv"
    # The patients are not imported: every appointment is rejected, none is stored.
    code, output = invoke(
        "import",
        "tol-appointments",
        str(out / FILES["tol-appointments"]),
        "--rejects",
        str(rejects),
        "--database-url",
        db,
        "-q",
    )
    assert code == 1
    rows = list(csv.DictReader(rejects.open()))
    assert rows and all(r["field"] == "dod_id" for r in rows)
    assert rows[0]["reason"].startswith("no patient with DoD ID")
    assert "created 0" in output


def test_a_dry_run_stores_nothing(tmp_path: Path) -> None:
    out, db = tmp_path / "population", f"sqlite:///{tmp_path}/d.db"
    invoke("generate", "legacy", "--families", "3", "--out", str(out))
    invoke("import", "eligibility", str(out / FILES["eligibility"]), "--database-url", db, "-q")
    path = str(out / FILES["hl7-scheduling"])
    code, output = invoke("import", "hl7v2", path, "--dry-run", "--database-url", db, "-q")
    assert code == 0, output
    assert output.strip().splitlines()[-1].startswith("dry run: created")
    code, again = invoke("import", "hl7v2", path, "--database-url", db, "-q")
    assert "created 0," not in again


def test_a_bad_time_zone_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "feed.hl7"
    out.write_text("")
    code, output = invoke("import", "hl7v2", str(out), "--timezone", "Mars/Olympus")
    assert code == 2 and "unknown time zone" in output
