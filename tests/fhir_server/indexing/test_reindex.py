"""Reindexing: index rows rebuilt from stored resources, on demand and at start-up."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from fhir_server.cli import main
from fhir_server.config import Settings
from fhir_server.indexing import INDEX_VERSION
from fhir_server.indexing.reindex import META_KEY
from fhir_server.storage.schema import INDEX_TABLES
from fhir_server.storage.sqlite import SqliteStore
from fhir_server.testing import running_server

PATIENT = {
    "resourceType": "Patient",
    "id": "r1",
    "name": [{"family": "Reindexed"}],
    "birthDate": "1980-05-05",
}


def wipe_index(db: Path, *, version: str | None) -> None:
    with sqlite3.connect(db) as conn:
        for table in INDEX_TABLES:
            conn.execute(f"DELETE FROM {table}")
        conn.execute("DELETE FROM meta WHERE key = ?", (META_KEY,))
        if version is not None:
            conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (META_KEY, version))


def found(client: httpx.Client, query: str) -> list[str]:
    bundle = client.get(f"Patient?{query}").json()
    return [e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_the_server_reindexes_at_start_up_when_the_index_version_differs(
    settings: Settings, tmp_path: Path
) -> None:
    db = Path(settings.database_url.removeprefix("sqlite:///"))
    with running_server(settings) as base, httpx.Client(base_url=base + "/") as client:
        assert client.put("Patient/r1", json=PATIENT).status_code == 201
        assert found(client, "family=reindexed") == ["r1"]
    wipe_index(db, version="an older extraction")
    with running_server(settings) as base, httpx.Client(base_url=base + "/") as client:
        assert found(client, "family=reindexed") == ["r1"]
        assert found(client, "birthdate=1980") == ["r1"]


def test_mhs_fhir_reindex_rebuilds_every_index_row(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    source = tmp_path / "p.json"
    source.write_text(__import__("json").dumps(PATIENT))
    url = f"sqlite:///{db}"
    assert (
        CliRunner().invoke(main, ["load", str(source), "--database-url", url, "-q"]).exit_code == 0
    )
    wipe_index(db, version=None)
    result = CliRunner().invoke(main, ["reindex", "--database-url", url, "-q"])
    assert result.exit_code == 0, result.output
    assert "reindexed 1 resources" in result.output
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT count(*) FROM idx_string").fetchone()[0]
        version = conn.execute("SELECT value FROM meta WHERE key = ?", (META_KEY,)).fetchone()[0]
    assert rows > 0
    assert version == INDEX_VERSION


def test_reindex_leaves_a_resource_changed_meanwhile_to_its_own_rows(tmp_path: Path) -> None:
    from fhir_server.storage import Write
    from fhir_server.storage.records import StringRow

    async def scenario() -> list[str]:
        store = SqliteStore(str(tmp_path / "race.db"))
        await store.open()
        try:

            def write(version: int, family: str) -> Write:
                return Write(
                    type="Patient",
                    id="p",
                    version=version,
                    expected_version=version - 1 or None,
                    last_updated="2026-01-01T00:00:00.000Z",
                    method="PUT",
                    body=b"{}",
                    index=(StringRow("Patient.family", family, family),),
                )

            await store.write([write(1, "old")])
            await store.write([write(2, "new")])
            stale = ("Patient", "p", 1, (StringRow("Patient.family", "old", "old"),))
            await store.replace_index([stale])
            with sqlite3.connect(store.path) as conn:
                return [r[0] for r in conn.execute("SELECT norm FROM idx_string")]
        finally:
            await store.close()

    assert asyncio.run(scenario()) == ["new"]


def test_a_new_base_url_is_recorded_without_reindexing(tmp_path: Path) -> None:
    from fhir_server.indexing.reindex import BASE_KEY, ensure_index
    from fhir_server.storage import Write
    from fhir_server.storage.records import StringRow

    async def scenario() -> tuple[str | None, int]:
        store = SqliteStore(str(tmp_path / "base.db"))
        await store.open()
        try:
            await ensure_index(store, base_url="http://a.example/fhir")
            row = StringRow("Patient.family", "kept", "kept")
            await store.write(
                [
                    Write(
                        type="Patient",
                        id="p",
                        version=1,
                        expected_version=None,
                        last_updated="2026-01-01T00:00:00.000Z",
                        method="POST",
                        body=b'{"resourceType":"Patient","id":"p"}',
                        index=(row,),
                    )
                ]
            )
            await ensure_index(store, base_url="http://b.example/fhir/")
            with sqlite3.connect(store.path) as conn:  # a reindex would have dropped the row
                rows = conn.execute("SELECT count(*) FROM idx_string").fetchone()[0]
            return await store.get_meta(BASE_KEY), rows
        finally:
            await store.close()

    assert asyncio.run(scenario()) == ("http://b.example/fhir", 1)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path}/reindex.db", insecure_no_auth=True)
