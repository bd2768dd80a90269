"""Paging links (search and history) belong to the token that made them: another token, or a
link with its binding removed or altered, gets 403 and no data."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server
from smart_auth.testing import issue_token

FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('paging')}/paging.db"
    mine = issue_token(database_url, scope="system/*.cruds")
    theirs = issue_token(database_url, scope="system/*.cruds")
    with running_server(Settings(database_url=database_url)) as base:
        with httpx.Client(headers={"authorization": f"Bearer {mine}"}) as http:
            for n in range(3):
                body = {"resourceType": "Patient", "name": [{"family": f"Paging{n}"}]}
                created = http.post(
                    f"{base}/Patient", json=body, headers={"content-type": FHIR_JSON}
                )
                assert created.status_code == 201, created.text
        yield base, mine, theirs


def _next(bundle: dict[str, object]) -> str:
    links = bundle["link"]
    assert isinstance(links, list)
    [url] = [link["url"] for link in links if link["relation"] == "next"]
    return str(url)


def _get(url: str, token: str) -> httpx.Response:
    return httpx.get(url, headers={"authorization": f"Bearer {token}", "accept": FHIR_JSON})


def test_the_token_that_made_a_search_link_can_follow_it(server: tuple[str, str, str]) -> None:
    base, mine, _ = server
    first = _get(f"{base}/Patient?_count=1", mine).json()
    assert _get(_next(first), mine).status_code == 200


def test_another_token_following_a_search_link_gets_403(server: tuple[str, str, str]) -> None:
    base, mine, theirs = server
    first = _get(f"{base}/Patient?_count=1", mine).json()
    followed = _get(_next(first), theirs)
    assert followed.status_code == 403
    assert followed.json()["resourceType"] == "OperationOutcome"


def test_a_search_link_with_its_binding_stripped_gets_403(server: tuple[str, str, str]) -> None:
    base, mine, _ = server
    url = _next(_get(f"{base}/Patient?_count=1", mine).json())
    stripped = url.split(".")[0] if url.count(".") == 1 else url.rsplit(".", 1)[0]
    assert _get(stripped, mine).status_code == 403


def test_another_token_following_a_history_link_gets_403(server: tuple[str, str, str]) -> None:
    base, mine, theirs = server
    first = _get(f"{base}/Patient/_history?_count=1", mine).json()
    assert _get(_next(first), mine).status_code == 200
    assert _get(_next(first), theirs).status_code == 403
