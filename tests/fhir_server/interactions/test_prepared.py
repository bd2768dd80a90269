"""A resource checked and indexed ahead of its write (``common.prepare``, what an import does
before its transaction): the write uses that work only for exactly the resource prepared, and
checks anything else itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from fhir_server.errors import Unprocessable
from fhir_server.interactions.common import prepare
from fhir_server.interactions.context import Context, Preconditions, Prepared
from fhir_server.interactions.search import search
from fhir_server.interactions.update import update
from fhir_server.storage.sqlite import SqliteStore
from fhir_server.validation import first_class_profiles
from smart_auth.context import AccessContext

BASE = "http://127.0.0.1:8080/fhir"
DOD = "http://fhir.mhs-fhir.example/sid/dod-id"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[Context]:
    store = SqliteStore(str(tmp_path / "prepared.db"))
    await store.open()
    yield Context(store=store, access=AccessContext.internal("test import"), base_url=BASE)
    await store.close()


def patient(id: str, **fields: Any) -> dict[str, Any]:
    identifier = [{"system": DOD, "value": "1234567890"}]
    return {"resourceType": "Patient", "id": id, "identifier": identifier, **fields}


async def put(ctx: Context, resource: dict[str, Any]) -> None:
    await update(ctx, type="Patient", id=resource["id"], resource=resource, pre=Preconditions())


async def found_by_dod_id(ctx: Context) -> list[str]:
    outcome = await search(
        ctx, types=["Patient"], params=[("identifier", f"{DOD}|1234567890")], strict=True, path=""
    )
    assert outcome.body is not None
    return [e["fullUrl"].rsplit("/", 1)[-1] for e in outcome.body.get("entry", [])]


@pytest.mark.anyio
async def test_a_prepared_resource_is_stored_with_the_rows_it_was_prepared_with(
    ctx: Context,
) -> None:
    resource = patient("p1", birthDate="1980-03-04")
    ready = prepare(ctx, "Patient", "p1", resource)
    await put(replace(ctx, prepared={("Patient", "p1"): ready}), resource)
    assert await found_by_dod_id(ctx) == ["p1"]


@pytest.mark.anyio
async def test_the_write_takes_the_prepared_rows_instead_of_indexing_again(ctx: Context) -> None:
    resource = patient("p1")
    without_rows = Prepared(resource, None, ())
    await put(replace(ctx, prepared={("Patient", "p1"): without_rows}), resource)
    assert await found_by_dod_id(ctx) == []


@pytest.mark.anyio
async def test_a_resource_changed_after_it_was_prepared_is_checked_again(ctx: Context) -> None:
    ready = prepare(ctx, "Patient", "p1", patient("p1", birthDate="1980-03-04"))
    changed = patient("p1", birthDate="the fourth of March")
    with pytest.raises(Unprocessable) as refused:
        await put(replace(ctx, prepared={("Patient", "p1"): ready}), changed)
    assert "Patient.birthDate" in refused.value.issues[0].expression
    assert await found_by_dod_id(ctx) == []


@pytest.mark.anyio
async def test_prepared_work_is_not_used_for_another_resource(ctx: Context) -> None:
    without_rows = Prepared(patient("p1"), None, ())
    await put(replace(ctx, prepared={("Patient", "p1"): without_rows}), patient("p2"))
    assert await found_by_dod_id(ctx) == ["p2"]


@pytest.mark.anyio
async def test_prepared_work_is_not_used_under_another_required_profile(ctx: Context) -> None:
    resource = patient("p1")
    prepared_without_profile = Prepared(resource, None, ())
    profiled = replace(
        ctx,
        prepared={("Patient", "p1"): prepared_without_profile},
        required_profiles=first_class_profiles(),  # MHSPatient: a name, a birth date...
    )
    with pytest.raises(Unprocessable):
        await put(profiled, resource)


@pytest.mark.anyio
async def test_prepare_refuses_what_the_write_would_naming_the_element(ctx: Context) -> None:
    with pytest.raises(Unprocessable) as refused:
        prepare(ctx, "Patient", "p1", patient("p1", gender="sometimes"))
    assert "Patient.gender" in refused.value.issues[0].expression
