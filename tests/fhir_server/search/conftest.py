"""A module-scoped FHIR server for the search tests, and a small client (``fhir``) over it.

Each test module gets its own server on a fresh SQLite file, loads its hand-built resources
once (PUT with fixed ids), and asserts exact id sets over real HTTP.
Spec: https://hl7.org/fhir/R4/search.html
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server

FHIR_JSON = "application/fhir+json"
FORM = "application/x-www-form-urlencoded"
Params = Mapping[str, str] | Sequence[tuple[str, str]] | None


class Fhir:
    """What the search tests need from the server, over HTTP."""

    def __init__(self, base: str, http: httpx.Client) -> None:
        self.base = base
        self.http = http

    # -- reading bundles -----------------------------------------------------------------

    @staticmethod
    def entries(bundle: dict[str, Any], mode: str | None = None) -> list[dict[str, Any]]:
        """The entries of a Bundle, optionally only those of one ``search.mode``."""
        return [e for e in bundle.get("entry", []) if mode is None or e["search"]["mode"] == mode]

    @staticmethod
    def match_ids(bundle: dict[str, Any]) -> set[str]:
        """Ids of the ``match`` entries, asserting none is there twice."""
        found = [e["resource"]["id"] for e in Fhir.entries(bundle, "match")]
        assert len(found) == len(set(found)), f"duplicate matches: {found}"
        return set(found)

    @staticmethod
    def diagnostics(outcome: dict[str, Any]) -> str:
        return " ".join(issue.get("diagnostics", "") for issue in outcome["issue"])

    @staticmethod
    def link(bundle: dict[str, Any], relation: str) -> str | None:
        for item in bundle.get("link", []):
            if item["relation"] == relation:
                url: str = item["url"]
                return url
        return None

    # -- writing -----------------------------------------------------------------------

    def put(self, *resources: dict[str, Any]) -> list[dict[str, Any]]:
        """PUT each resource at its fixed id; the stored resources."""
        stored = []
        for resource in resources:
            response = self.http.put(
                f"{resource['resourceType']}/{resource['id']}",
                json=resource,
                headers={"content-type": FHIR_JSON},
            )
            assert response.status_code in (200, 201), response.text
            stored.append(response.json())
        return stored

    # -- searching ---------------------------------------------------------------------

    def get(
        self, path: str, params: Params = None, headers: Mapping[str, str] | None = None
    ) -> httpx.Response:
        return self.http.get(path, params=params, headers=headers)

    def search(
        self, path: str, params: Params = None, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The searchset Bundle of ``GET path?params`` (asserting 200)."""
        response = self.get(path, params, headers)
        assert response.status_code == 200, response.text
        bundle: dict[str, Any] = response.json()
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "searchset"
        return bundle

    def post_search(
        self,
        path: str,
        form: Sequence[tuple[str, str]],
        params: Params = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """The searchset Bundle of ``POST path`` with a form-encoded body (asserting 200)."""
        response = self.http.post(
            path,
            params=params,
            content=urlencode(list(form)),
            headers={"content-type": FORM, **(headers or {})},
        )
        assert response.status_code == 200, response.text
        bundle: dict[str, Any] = response.json()
        assert bundle["resourceType"] == "Bundle"
        assert bundle["type"] == "searchset"
        return bundle

    def ids(
        self, path: str, params: Params = None, headers: Mapping[str, str] | None = None
    ) -> set[str]:
        """Ids of the matches (``search.mode = match``) of a search."""
        return self.match_ids(self.search(path, params, headers))

    def error(
        self, path: str, params: Params = None, headers: Mapping[str, str] | None = None
    ) -> dict[str, Any]:
        """The OperationOutcome of a search that must fail with 400."""
        response = self.get(path, params, headers)
        assert response.status_code == 400, response.text
        outcome: dict[str, Any] = response.json()
        assert outcome["resourceType"] == "OperationOutcome"
        assert any(issue["severity"] in ("error", "fatal") for issue in outcome["issue"])
        return outcome


@pytest.fixture(scope="module")
def fhir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fhir]:
    """A fresh server (and database) for one test module."""
    path = tmp_path_factory.mktemp("search") / "search.db"
    settings = Settings(
        database_url=f"sqlite:///{path}", max_body_bytes=1024 * 1024, insecure_no_auth=True
    )
    with (
        running_server(settings) as base,
        httpx.Client(base_url=base + "/", headers={"accept": FHIR_JSON}, timeout=30.0) as http,
    ):
        yield Fhir(base, http)
