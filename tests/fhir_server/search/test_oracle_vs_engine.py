"""The oracle: for every search parameter of every type in a mixed data set, the engine's
results equal a brute-force evaluation (fhir_server.search.matcher) of the same criterion.

The data set is the official R4 examples and some Synthea patients from ../shared/data; the
queries are made from the values actually stored, with every prefix and modifier.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_server.errors import FhirError
from fhir_server.interactions.bundle import transaction
from fhir_server.interactions.context import Context, Preconditions
from fhir_server.interactions.update import update
from fhir_server.search.matcher import Matcher, ids
from fhir_server.search.parse import parse_search
from fhir_server.search.registry import indexed_params
from fhir_server.storage.records import (
    CompositeRow,
    DateRow,
    NumberRow,
    ReferenceRow,
    StringRow,
    TokenRow,
    UriRow,
)
from fhir_server.storage.sqlite import SqliteStore
from smart_auth.context import AccessContext

SHARED = Path(__file__).resolve().parents[3].parent / "shared" / "data"
BASE = "http://oracle.test/fhir"
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")


class World:
    def __init__(self, path: Path) -> None:
        self.runner = asyncio.Runner()
        self.store = SqliteStore(str(path))
        self.run(self.store.open())
        self.ctx = Context(store=self.store, access=AccessContext.open_server(), base_url=BASE)

    def run(self, coro: Any) -> Any:
        return self.runner.run(coro)

    def close(self) -> None:
        self.run(self.store.close())
        self.runner.close()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, Matcher]]:
    if not SHARED.exists():
        pytest.skip("shared data not available")
    world = World(tmp_path_factory.mktemp("oracle") / "oracle.db")
    for path in sorted((SHARED / "fhir-r4-examples").glob("*.json")):
        resource = orjson.loads(path.read_bytes())
        if resource["resourceType"] == "Bundle" or "id" not in resource:
            continue
        world.run(
            update(
                world.ctx,
                type=resource["resourceType"],
                id=resource["id"],
                resource=resource,
                pre=Preconditions(),
            )
        )
    for path in sorted((SHARED / "synthea-r4").glob("*_*.json"))[:4]:
        world.run(
            transaction(
                world.ctx, bundle=orjson.loads(path.read_bytes()), prefer=None, strict=False
            )
        )
    stored: dict[tuple[str, str], Any] = {}
    after = None
    while batch := world.run(world.store.scan(after=after, limit=1000)):
        for version in batch:
            stored[(version.type, version.id)] = orjson.loads(version.body)
        after = batch[-1].seq
    yield world, Matcher(stored, base_url=BASE)
    world.close()


def _date_values(row: DateRow, rng: random.Random) -> list[str]:
    moment = row.low if row.low > "0001" else row.high
    candidates = [moment[:4], moment[:7], moment[:10], moment[:19] + "Z"]
    return [rng.choice(PREFIXES) + c for c in candidates]


def _component_value(row: Any, rng: random.Random) -> str | None:
    """A search value that the component row matches (or, with a prefix, may not)."""
    if isinstance(row, TokenRow) and row.code is not None:
        code = row.code.replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")
        return f"{row.system}|{code}" if row.system else code
    if isinstance(row, NumberRow):
        text = repr(row.value) if row.value != int(row.value) else str(int(row.value))
        prefix = rng.choice(PREFIXES)
        return f"{prefix}{text}|{row.system}|{row.code}" if row.system else f"{prefix}{text}"
    if isinstance(row, DateRow) and row.low > "0001":
        return rng.choice(PREFIXES) + row.low[:10]
    if isinstance(row, StringRow):
        return row.norm[:3].replace(",", "\\,").replace("$", "\\$") or None
    if isinstance(row, ReferenceRow) and row.type and row.id:
        return f"{row.type}/{row.id}"
    return None


def _queries(
    code: str, kind: str, rows: list[Any], rng: random.Random
) -> Iterator[tuple[str, str]]:
    yield f"{code}:missing", rng.choice(["true", "false"])
    for row in rng.sample(rows, min(3, len(rows))):
        if isinstance(row, StringRow) and kind == "string":
            yield code, row.norm[: rng.randint(1, max(1, len(row.norm)))].replace(",", "\\,")
            yield f"{code}:exact", row.exact.replace(",", "\\,")
            middle = row.norm[len(row.norm) // 3 : len(row.norm) // 3 + 3]
            if middle.strip():
                yield f"{code}:contains", middle.replace(",", "\\,")
        elif isinstance(row, StringRow):  # token :text
            yield f"{code}:text", row.norm.split(" ")[0].replace(",", "\\,")
        elif isinstance(row, TokenRow) and row.code is not None:
            escaped = row.code.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|")
            if row.param.endswith(":of-type"):
                continue
            if row.system:
                system = row.system.replace(",", "\\,").replace("|", "\\|")
                yield code, f"{system}|{escaped}"
                yield code, f"{system}|"
                yield f"{code}:not", f"{system}|{escaped}"
            else:
                yield code, f"|{escaped}"
            yield code, escaped
        elif isinstance(row, ReferenceRow):
            if row.type and row.id:
                yield code, f"{row.type}/{row.id}"
                yield code, f"{BASE}/{row.type}/{row.id}"
            elif row.url:
                yield code, row.url.replace(",", "\\,")
        elif isinstance(row, DateRow):
            for value in _date_values(row, rng):
                yield code, value
        elif isinstance(row, NumberRow):
            text = repr(row.value) if row.value != int(row.value) else str(int(row.value))
            for prefix in rng.sample(PREFIXES, 3):
                if kind == "quantity" and row.system and row.code:
                    yield code, f"{prefix}{text}|{row.system}|{row.code}"
                else:
                    yield code, f"{prefix}{text}"
        elif isinstance(row, CompositeRow):
            values = [_component_value(part, rng) for part in row.parts]
            if all(values):
                yield code, "$".join(v for v in values if v)
        elif isinstance(row, UriRow):
            yield code, row.uri.replace(",", "\\,")
            yield f"{code}:below", row.uri.rsplit("/", 1)[0]
            yield f"{code}:above", row.uri + "/child"


def test_every_parameter_matches_the_brute_force_oracle(world: tuple[World, Matcher]) -> None:
    engine, oracle = world
    rng = random.Random(20261122)
    types = sorted({key[0] for key in oracle.resources})
    checked, mismatches = 0, []
    for type in types:
        rows_of: dict[str, list[Any]] = {}
        for key, grouped in oracle.rows.items():
            if key[0] == type:
                for param, rows in grouped.items():
                    rows_of.setdefault(param, []).extend(rows)
        for param in indexed_params(type):
            rows = rows_of.get(param.key, []) + rows_of.get(f"{param.key}:text", [])
            for name, value in _queries(param.code, param.kind, rows, rng):
                query = [(name, value)]
                try:
                    plan = parse_search(
                        [type],
                        query,
                        base_url=BASE,
                        strict=True,
                        default_count=100_000,
                        max_count=100_000,
                    ).plan
                except FhirError:
                    continue
                page = engine.run(engine.store.search(plan))
                found = sorted(f"{v.type}/{v.id}" for v in page.versions)
                expected = ids(oracle.search(plan))
                checked += 1
                if found != expected:
                    mismatches.append(
                        f"{type}?{name}={value}: engine {len(found)}, oracle {len(expected)}"
                    )
    assert checked > 1000
    report = "\n".join(mismatches[:30])
    assert not mismatches, f"{len(mismatches)} of {checked} queries differ:\n{report}"
