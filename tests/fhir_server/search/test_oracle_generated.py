"""The oracle on generated data: hypothesis makes Patients and Observations with awkward
values (accents, punctuation, dates of every precision and zone, Periods with open ends,
decimals, Ranges), and every query made from them gives the engine's and the brute-force
matcher's answer alike."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fhir_server.interactions.context import Context, Preconditions
from fhir_server.interactions.update import update
from fhir_server.search.matcher import Matcher, ids
from fhir_server.search.parse import parse_search
from fhir_server.storage.sqlite import SqliteStore
from smart_auth.context import AccessContext

BASE = "http://generated.test/fhir"
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
NAMES = ("José", "Zoë", "O'Brien", "Smith", "Smíth", "van der Berg", "Ñúñez", "smithers", "Lee")

years = st.integers(1900, 2030).map(str)
months = st.tuples(years, st.integers(1, 12)).map(lambda t: f"{t[0]}-{t[1]:02d}")
days = st.tuples(months, st.integers(1, 28)).map(lambda t: f"{t[0]}-{t[1]:02d}")
zones = st.sampled_from(["Z", "+01:00", "-05:00", "+14:00"])
times = st.tuples(days, st.integers(0, 23), st.integers(0, 59), zones).map(
    lambda t: f"{t[0]}T{t[1]:02d}:{t[2]:02d}:00{t[3]}"
)
dates = st.one_of(years, months, days)
date_times = st.one_of(years, months, days, times)
decimals = st.decimals(min_value=-1000, max_value=1000, places=2, allow_nan=False)


@st.composite
def patients(draw: st.DrawFn, index: int) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "id": f"p{index}",
        "name": [{"family": draw(st.sampled_from(NAMES)), "given": [draw(st.sampled_from(NAMES))]}],
        "gender": draw(st.sampled_from(["male", "female", "other", "unknown"])),
        "birthDate": draw(dates),
        "identifier": [
            {"system": "urn:mrn", "value": draw(st.sampled_from(["1", "2", "a,b", "x|y"]))}
        ],
    }


@st.composite
def observations(draw: st.DrawFn, index: int) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Observation",
        "id": f"o{index}",
        "status": "final",
        "code": {
            "coding": [
                {"system": "http://loinc.org", "code": draw(st.sampled_from(["1-1", "2-2"]))}
            ]
        },
        "subject": {"reference": f"Patient/p{draw(st.integers(0, 4))}"},
    }
    when = draw(st.sampled_from(["dateTime", "Period", "none"]))
    if when == "dateTime":
        resource["effectiveDateTime"] = draw(date_times)
    elif when == "Period":
        period = {}
        if draw(st.booleans()):
            period["start"] = draw(date_times)
        if draw(st.booleans()) or not period:
            period["end"] = draw(date_times)
        if "start" in period and "end" in period and period["start"] > period["end"]:
            period["start"], period["end"] = period["end"], period["start"]
        resource["effectivePeriod"] = period
    value = draw(decimals)
    if draw(st.booleans()):
        resource["valueQuantity"] = {
            "value": value,
            "system": "http://unitsofmeasure.org",
            "code": "mg",
            "unit": "mg",
        }
    return resource


def queries(resources: list[dict[str, Any]], draw: st.DrawFn) -> list[tuple[str, str, str]]:
    out = []
    for r in resources:
        if r["resourceType"] == "Patient":
            family = r["name"][0]["family"]
            out += [
                ("Patient", "name", family[:2].replace(",", "\\,")),
                ("Patient", "family:exact", family),
                ("Patient", "name:contains", family[1:3] or family),
                ("Patient", "birthdate", draw(st.sampled_from(PREFIXES)) + r["birthDate"]),
                (
                    "Patient",
                    "identifier",
                    "urn:mrn|"
                    + r["identifier"][0]["value"].replace(",", "\\,").replace("|", "\\|"),
                ),
                ("Patient", "gender:not", r["gender"]),
            ]
        else:
            out += [
                ("Observation", "date", draw(st.sampled_from(PREFIXES)) + draw(date_times)),
                (
                    "Observation",
                    "value-quantity",
                    draw(st.sampled_from(PREFIXES)) + str(draw(decimals)),
                ),
                (
                    "Observation",
                    "subject:Patient.name",
                    draw(st.sampled_from(NAMES))[:3].replace(",", "\\,"),
                ),
                (
                    "Observation",
                    "code-value-quantity",
                    f"http://loinc.org|1-1${draw(st.sampled_from(PREFIXES))}{draw(decimals)}|http://unitsofmeasure.org|mg",
                ),
                ("Observation", "date:missing", draw(st.sampled_from(["true", "false"]))),
            ]
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_engine_equals_oracle_on_generated_resources(data: st.DataObject) -> None:
    resources = [data.draw(patients(i)) for i in range(5)]
    resources += [data.draw(observations(i)) for i in range(8)]
    asked = queries(resources, data.draw)

    async def scenario() -> list[str]:
        with tempfile.TemporaryDirectory() as tmp:
            store = SqliteStore(str(Path(tmp) / "generated.db"))
            await store.open()
            try:
                ctx = Context(store=store, access=AccessContext.open_server(), base_url=BASE)
                stored = {}
                for resource in resources:
                    outcome = await update(
                        ctx,
                        type=resource["resourceType"],
                        id=resource["id"],
                        resource=resource,
                        pre=Preconditions(),
                    )
                    assert outcome.version is not None and outcome.version.body is not None
                    stored[(outcome.version.type, outcome.version.id)] = orjson.loads(
                        outcome.version.body
                    )
                oracle = Matcher(stored, base_url=BASE)
                wrong = []
                for type, name, value in asked:
                    plan = parse_search(
                        [type],
                        [(name, value)],
                        base_url=BASE,
                        strict=True,
                        default_count=1000,
                        max_count=1000,
                    ).plan
                    found = sorted(f"{v.type}/{v.id}" for v in (await store.search(plan)).versions)
                    expected = ids(oracle.search(plan))
                    if found != expected:
                        wrong.append(f"{type}?{name}={value}: engine {found}, oracle {expected}")
                return wrong
            finally:
                await store.close()

    wrong = asyncio.run(scenario())
    assert not wrong, "\n".join(wrong[:10])
