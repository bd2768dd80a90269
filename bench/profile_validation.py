"""What checking an MHS profile costs a create, in one run (issue 10's target: under 30%).

Measures, in-process on a fresh SQLite file, with the IG's example sponsor Patient:

1. the whole create of the Patient through ``interactions.create.create`` (validation,
   stamping, indexing, the durable commit), claiming MHSPatient in ``meta.profile``;
2. the same create without the claim;
3. the profile check alone (``ProfileRegistry.issues``), and the base validation alone.

It prints means per operation (interleaved in rounds, so noise hits each alike) and the ratio
profile check / profiled create, with PASS/FAIL against 30%. Exit status 0 either way.

    PYTHONPATH=. .venv/bin/python bench/profile_validation.py [--creates N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from fhir_server.indexing.reindex import ensure_index  # noqa: E402
from fhir_server.interactions.context import Context, Preconditions  # noqa: E402
from fhir_server.interactions.create import create  # noqa: E402
from fhir_server.resource_json import stamped  # noqa: E402
from fhir_server.storage import open_store  # noqa: E402
from fhir_server.validation import profile_registry, validate_resource, warm_up  # noqa: E402
from ig import examples  # noqa: E402
from smart_auth.context import AccessContext  # noqa: E402

MHS_PATIENT = "http://fhir.mhs-fhir.example/StructureDefinition/mhs-patient"
BASE = "http://127.0.0.1:8080/fhir"


def example_patient() -> dict[str, Any]:
    [patient] = [e for e in examples() if e.get("id") == "example-sponsor"]
    return {k: v for k, v in patient.items() if k not in ("id", "text")}


async def measure(creates: int) -> dict[str, list[float]]:
    profiled = example_patient()
    profiled["meta"] = {"profile": [MHS_PATIENT]}
    plain = {k: v for k, v in profiled.items() if k != "meta"}
    document = stamped(profiled, id="x", version=1, last_updated="2026-11-29T00:00:00.000Z")
    registry = profile_registry()
    times: dict[str, list[float]] = {k: [] for k in ("profiled", "plain", "profile", "base")}
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/bench.db")
        await store.open()
        try:
            await ensure_index(store, base_url=BASE)
            ctx = Context(store=store, access=AccessContext.internal("bench"), base_url=BASE)
            for _ in range(creates):
                for name, resource in (("profiled", profiled), ("plain", plain)):
                    start = time.perf_counter()
                    await create(ctx, type="Patient", resource=resource, pre=Preconditions())
                    times[name].append(time.perf_counter() - start)
                start = time.perf_counter()
                issues = registry.issues(document, MHS_PATIENT)
                times["profile"].append(time.perf_counter() - start)
                assert not issues, issues
                start = time.perf_counter()
                validate_resource({k: v for k, v in document.items() if k != "meta"})
                times["base"].append(time.perf_counter() - start)
        finally:
            await store.close()
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--creates", type=int, default=400, help="creates of each kind")
    args = parser.parse_args(argv)
    warm_up()
    times = asyncio.run(measure(args.creates))
    mean = {k: statistics.fmean(v) * 1e6 for k, v in times.items()}
    print(f"profile validation cost, {args.creates} rounds (mean µs per operation)")
    for name, label in (
        ("profiled", "create claiming MHSPatient"),
        ("plain", "create without a claim"),
        ("profile", "MHSPatient check alone"),
        ("base", "base validation alone"),
    ):
        print(f"  {label:30} {mean[name]:9.1f}")
    share = mean["profile"] / mean["profiled"]
    difference = (mean["profiled"] - mean["plain"]) / mean["profiled"]
    print(f"  profile check / profiled create  {share:.1%}")
    print(
        f"  (profiled - plain) / profiled   {difference:.1%}  (information: the two creates"
        " differ by more than the check when the commit's fsync varies)"
    )
    print(f"  {'PASS' if share < 0.30 else 'FAIL'}  the profile check costs under 30% of a create")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
