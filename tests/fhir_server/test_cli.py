"""The mhs-fhir command line: help, load (NDJSON, Bundles, bad records), serve."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fhir_server.cli import main
from fhir_server.search.plan import SearchPlan
from fhir_server.storage.sqlite import SqliteStore

SYNTHEA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "synthea-r4"


def stored(db: Path, type: str) -> int:
    async def count() -> int:
        store = SqliteStore(str(db))
        await store.open()
        try:
            return await store.count(SearchPlan(types=(type,)))
        finally:
            await store.close()

    return asyncio.run(count())


def versions(db: Path, type: str, id: str) -> int:
    async def read() -> int:
        store = SqliteStore(str(db))
        await store.open()
        try:
            found = await store.read(type, id)
            return 0 if found is None else found.version
        finally:
            await store.close()

    return asyncio.run(read())


def patient(id: str | None = None, **extra: object) -> dict[str, object]:
    out: dict[str, object] = {"resourceType": "Patient", "name": [{"family": "Doe"}], **extra}
    if id is not None:
        out["id"] = id
    return out


def test_help_explains_every_command_and_the_database_setting() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    assert "serve" in result.output and "load" in result.output
    load_help = CliRunner().invoke(main, ["load", "--help"])
    assert "MHS_FHIR_DATABASE_URL" in load_help.output
    assert "NDJSON" in load_help.output
    serve_help = CliRunner().invoke(main, ["serve", "--help"])
    for option in ("--host", "--port", "--database-url", "--base-url", "--workers"):
        assert option in serve_help.output


def test_load_reports_each_bad_ndjson_line_and_stores_the_rest(tmp_path: Path) -> None:
    lines = [
        json.dumps(patient("p1")),
        "{not json",
        json.dumps(patient("p2", birthDate="not-a-date")),
        json.dumps(patient("p3")),
        json.dumps({"no": "resourceType"}),
    ]
    source = tmp_path / "patients.ndjson"
    source.write_text("\n".join(lines) + "\n")
    db = tmp_path / "load.db"
    result = CliRunner().invoke(
        main, ["load", str(source), "--database-url", f"sqlite:///{db}", "--quiet"]
    )
    assert result.exit_code == 1
    assert f"{source}:2: malformed JSON" in result.output
    assert f"{source}:3:" in result.output and "birthDate" in result.output
    assert f"{source}:5:" in result.output
    assert "stored 2 resources" in result.output
    assert stored(db, "Patient") == 2


def test_loading_a_resource_with_an_id_twice_makes_a_second_version(tmp_path: Path) -> None:
    source = tmp_path / "one.json"
    source.write_text(json.dumps(patient("same")))
    db = tmp_path / "twice.db"
    for _ in range(2):
        result = CliRunner().invoke(
            main, ["load", str(source), "--database-url", f"sqlite:///{db}", "-q"]
        )
        assert result.exit_code == 0, result.output
    assert versions(db, "Patient", "same") == 2


def test_load_processes_a_transaction_bundle_as_one_transaction(tmp_path: Path) -> None:
    if not SYNTHEA.exists():
        pytest.skip("shared Synthea data not available")
    source = min(SYNTHEA.glob("*_*.json"), key=lambda p: p.stat().st_size)
    bundle = json.loads(source.read_text())
    db = tmp_path / "synthea.db"
    result = CliRunner().invoke(
        main, ["load", str(source), "--database-url", f"sqlite:///{db}", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert f"stored {len(bundle['entry'])} resources" in result.output
    assert stored(db, "Patient") == 1


def test_load_stores_each_entry_of_a_collection_bundle(tmp_path: Path) -> None:
    source = tmp_path / "collection.json"
    source.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": patient("c1")}, {"resource": patient("c2")}],
            }
        )
    )
    db = tmp_path / "collection.db"
    result = CliRunner().invoke(
        main, ["load", str(source), "--database-url", f"sqlite:///{db}", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert stored(db, "Patient") == 2


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_serve_with_demo_data_requires_tokens_tells_how_to_log_in_and_stops_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    env = {**os.environ, "MHS_FHIR_DATABASE_URL": f"sqlite:///{tmp_path}/serve.db"}
    command = [sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port), "--demo"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{base}/Patient/demo-sponsor", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        metadata = httpx.get(f"{base}/metadata").json()
        assert metadata["implementation"]["url"] == base
        assert metadata["rest"][0]["security"]["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    # uvicorn re-raises the SIGTERM it handled once shutdown is complete.
    assert process.returncode in (0, -15), output
    assert "Application shutdown complete" in output
    assert "Traceback" not in output
    assert "demo SMART app: client_id mhs-demo-app" in output


def test_serve_insecure_no_auth_serves_without_tokens_and_warns(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "MHS_FHIR_DATABASE_URL": f"sqlite:///{tmp_path}/open.db"}
    command = [sys.executable, "-m", "fhir_server.cli", "serve", "--port", str(port), "--demo"]
    command.append("--insecure-no-auth")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"{base}/Patient/demo-sponsor", timeout=2)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        assert response.status_code == 200
        assert response.json()["identifier"][0]["value"] == "1234567890"
        metadata = httpx.get(f"{base}/metadata").json()
        assert "--insecure-no-auth" in metadata["implementation"]["description"]
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "AUTHORIZATION IS OFF" in output
