"""`mhs-fhir ig docs`: a readable page per profile and extension, and an index."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from fhir_server.cli import main
from ig import conformance_resources


def test_ig_docs_writes_an_index_and_a_page_per_structure_definition(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["ig", "docs", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    definitions = [r for r in conformance_resources() if r["resourceType"] == "StructureDefinition"]
    index = (tmp_path / "index.html").read_text()
    for definition in definitions:
        assert f"href='{definition['id']}.html'" in index
        assert (tmp_path / f"{definition['id']}.html").exists()


def test_a_profile_page_lists_cardinality_type_binding_and_rules(tmp_path: Path) -> None:
    CliRunner().invoke(main, ["ig", "docs", "--out", str(tmp_path)])
    patient = (tmp_path / "mhs-patient.html").read_text()
    assert "<code>Patient.identifier:dodId</code></td><td>1..1</td>" in patient
    assert "Extension(beneficiary-category)" in patient  # a type
    assert "is 10 digits" in patient  # an invariant, in words
    coverage = (tmp_path / "mhs-coverage.html").read_text()
    assert "required: tricare-plan" in coverage  # a required binding
