"""Every official FHIR R4 example round-trips: update-as-create at its own id
(https://hl7.org/fhir/R4/http.html#update), then read returns the same content plus meta.

Only ``meta.versionId`` and ``meta.lastUpdated`` are the server's; every other element,
other meta elements included, must come back exactly as sent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server

FHIR_JSON = "application/fhir+json"
EXAMPLES_DIR = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "fhir-r4-examples"
EXAMPLES = sorted(p.name for p in EXAMPLES_DIR.glob("*.json")) if EXAMPLES_DIR.is_dir() else []
MISSING = pytest.param(
    "missing", marks=pytest.mark.skip(reason=f"shared data not available: {EXAMPLES_DIR}")
)


@pytest.fixture(scope="module")
def examples_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    """One server (and one database) for every example of this module."""
    tmp = tmp_path_factory.mktemp("examples")
    settings = Settings(database_url=f"sqlite:///{tmp}/examples.db", insecure_no_auth=True)
    with (
        running_server(settings) as base_url,
        httpx.Client(base_url=base_url + "/", headers={"accept": FHIR_JSON}, timeout=30.0) as http,
    ):
        yield http


def without_server_meta(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource without meta.versionId and meta.lastUpdated (and meta, if then empty)."""
    out = dict(resource)
    meta = {k: v for k, v in out.pop("meta", {}).items() if k not in ("versionId", "lastUpdated")}
    if meta:
        out["meta"] = meta
    return out


@pytest.mark.parametrize("name", EXAMPLES or [MISSING])
def test_official_example_round_trips_through_update_as_create_and_read(
    examples_client: httpx.Client, name: str
) -> None:
    example = json.loads((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    url = f"{example['resourceType']}/{example['id']}"

    written = examples_client.put(url, json=example, headers={"content-type": FHIR_JSON})
    assert written.status_code == 201, written.text
    assert written.headers["etag"] == 'W/"1"'
    assert written.headers["location"].endswith(f"/{url}/_history/1")

    read = examples_client.get(url)
    assert read.status_code == 200
    stored = read.json()
    assert stored["meta"]["versionId"] == "1"
    assert stored["meta"]["lastUpdated"] != example.get("meta", {}).get("lastUpdated")
    assert without_server_meta(stored) == without_server_meta(example)
