"""The Python load generator of ``bench/crud.py``, used when ``wrk`` is not installed.

It runs in its own process (so it does not share a GIL with the server under test): N workers,
each sending its next request as soon as the previous one is answered, for a duration or until
a number of responses, over N keep-alive connections in all. It prints one line
``LOADGEN_RESULT {json}`` with the same fields as ``bench/crud.lua``.

By default each worker has its own ``httpx.AsyncClient`` limited to one connection
(``--pool per-worker``) rather than all sharing one client whose pool allows N connections
(``--pool shared``): httpcore 1.0's pool checks every connection on each request
(``is_idle``, ``has_expired``, anyio ``extra_attributes``), which on the 2-core bench machine
cost 7.5 ms of client CPU per request at 32 connections, against 1.6 ms with worker-owned
clients. Even so a Python client spends several times the CPU of ``wrk`` per request; on a
2-core machine it competes with the server, so its figures are lower bounds (``crud.py``
prints the client's CPU next to the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import ssl
import time
from pathlib import Path

import httpx

try:
    import uvloop
except ImportError:  # pragma: no cover - uvloop is a dependency of the server
    uvloop = None  # type: ignore[assignment]

HEADERS = {"Accept": "application/fhir+json", "Content-Type": "application/fhir+json"}


def percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list (0 for an empty one)."""
    if not ordered:
        return 0.0
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]


def make_clients(base_url: str, connections: int, shared: bool) -> list[httpx.AsyncClient]:
    """One client with ``connections`` connections, or ``connections`` clients with one each."""
    # One SSL context for all: building one per client costs ~60 ms (CA bundle), even for http.
    context = ssl.create_default_context()
    per_client = connections if shared else 1
    limits = httpx.Limits(max_connections=per_client, max_keepalive_connections=per_client)
    return [
        httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30.0, verify=context)
        for _ in range(1 if shared else connections)
    ]


async def run(
    clients: list[httpx.AsyncClient],
    mode: str,
    *,
    ids: list[str],
    body: bytes,
    connections: int,
    seconds: float,
    limit: int,
    pause: float,
) -> dict[str, float]:
    latencies: list[float] = []
    errors = status_errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker(seed: int, client: httpx.AsyncClient) -> None:
        nonlocal errors, status_errors, issued
        rng = random.Random(seed)
        while time.perf_counter() < deadline and (limit <= 0 or issued < limit):
            issued += 1
            start = time.perf_counter()
            try:
                if mode == "read":
                    url = f"/Patient/{ids[rng.randrange(len(ids))]}"
                    response = await client.get(url, headers=HEADERS)
                else:
                    response = await client.post("/Patient", content=body, headers=HEADERS)
            except httpx.HTTPError:
                errors += 1
                continue
            latencies.append(time.perf_counter() - start)
            if response.status_code > 399:
                status_errors += 1
            if pause > 0:
                await asyncio.sleep(pause)

    started = time.perf_counter()
    await asyncio.gather(*(worker(k, clients[k % len(clients)]) for k in range(connections)))
    elapsed = time.perf_counter() - started
    for client in clients:
        await client.aclose()

    latencies.sort()
    mean = sum(latencies) / len(latencies) if latencies else 0.0
    return {
        "requests": len(latencies),
        "duration_us": elapsed * 1e6,
        "errors": errors,
        "status_errors": status_errors,
        "p50_us": percentile(latencies, 50.0) * 1e6,
        "p99_us": percentile(latencies, 99.0) * 1e6,
        "mean_us": mean * 1e6,
        "max_us": (latencies[-1] if latencies else 0.0) * 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("base_url", help="FHIR base URL, e.g. http://127.0.0.1:8080/fhir")
    parser.add_argument("mode", choices=["read", "create"])
    parser.add_argument("file", type=Path, help="read: ids, one a line; create: the body")
    parser.add_argument("--connections", type=int, default=32, help="workers = connections")
    parser.add_argument("--seconds", type=float, default=10.0, help="upper bound on the run")
    parser.add_argument("--limit", type=int, default=0, help="stop after N responses (0: none)")
    parser.add_argument(
        "--pause-ms", type=float, default=0.0, help="each worker's pause after a response"
    )
    parser.add_argument(
        "--pool",
        choices=["per-worker", "shared"],
        default="per-worker",
        help="one client per worker (1 connection each) or one client for all",
    )
    args = parser.parse_args()
    clients = make_clients(args.base_url, args.connections, shared=args.pool == "shared")
    coro = run(
        clients,
        args.mode,
        ids=args.file.read_text().split() if args.mode == "read" else [],
        body=args.file.read_bytes() if args.mode == "create" else b"",
        connections=args.connections,
        seconds=args.seconds,
        limit=args.limit,
        pause=args.pause_ms / 1000.0,
    )
    result = uvloop.run(coro) if uvloop is not None else asyncio.run(coro)
    print("LOADGEN_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
