"""Crash safety: a real server process killed at random moments under concurrent writes.

What a client saw acknowledged (2xx with ETag / Location) must survive SIGKILL at that
version or a later one; nothing half-written may ever be visible (a current version without
its history row, index rows of another version, a transaction in part); the file passes
``mhs-fhir check`` and SQLite's integrity check. SIGTERM is a graceful shutdown: a request in
flight when it arrives still gets its answer.

The CI version kills 4 times in about 30 s; ``MHS_FHIR_LONG_TESTS=1`` kills 50 times.
``MHS_FHIR_TEST_SEED`` replays the random moments of a failed run (its seed is in the message).
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
from click.testing import CliRunner

from fhir_server.maintenance_cli import check

if TYPE_CHECKING:
    from conftest import ImportProcess, ServerProcess, Verify, Workload
    from conftest import Ledger as LedgerType


def run_check(db: Path) -> str:
    result = CliRunner().invoke(check, ["--database-url", f"sqlite:///{db}", "--quiet"])
    assert result.exit_code == 0, result.output
    return result.output


def test_acknowledged_writes_survive_sigkill_and_nothing_half_written_shows(
    tmp_path: Path,
    server_process: Callable[[Path], ServerProcess],
    workload: Callable[..., Workload],
    importer: Callable[[ServerProcess], ImportProcess],
    ledger: LedgerType,
    long_tests: bool,
    verify: Verify,
) -> None:
    kills = 50 if long_tests else 4
    seed = int(os.environ.get("MHS_FHIR_TEST_SEED") or random.randrange(2**32))
    rng = random.Random(seed)
    context = f"(seed {seed}; replay with MHS_FHIR_TEST_SEED={seed})"
    db = tmp_path / "crash.db"
    server = server_process(db)
    clients = workload(server.base, ledger, threads=4, seed=seed)
    feed = importer(server)
    server.start()
    clients.start()
    moments: list[str] = []
    for n in range(kills):
        if server.process is None:
            server.spawn()
        feed.keep_running()
        if n and rng.random() < 0.25:  # some kills land while it starts (migrate, reindex)
            pause = rng.uniform(0.0, 2.5)
            time.sleep(pause)
            moments.append(f"{pause:.2f}s after spawn")
        else:
            server.wait_ready()
            pause = rng.uniform(0.3, 3.0)
            time.sleep(pause)
            moments.append(f"{pause:.2f}s after ready")
        server.kill()
        feed.kill()  # a power cut takes the import down too
    server.start()
    acks_before = ledger.acks
    deadline = time.monotonic() + 10
    while ledger.acks < acks_before + 20 and time.monotonic() < deadline:
        time.sleep(0.05)  # the clients found the server again
    clients.stop()
    context += f"; kills at {', '.join(moments)}"
    print(  # shown when the test fails, and with -s
        f"{ledger.acks} writes acknowledged, {len(ledger.transactions)} transactions sent"
        f" ({sum(ledger.transactions.values())} acknowledged), {ledger.errors} requests cut off"
        f" {context}"
    )

    assert not ledger.unexpected, f"unexpected answers {context}: {ledger.unexpected[:5]}"
    assert ledger.acks >= 100, f"too little traffic to prove anything {context}"
    assert ledger.errors >= 1, f"no request ever failed: were the kills real? {context}"
    assert any(ledger.transactions.values()), f"no transaction acknowledged {context}"
    assert ledger.acks > acks_before, f"no write acknowledged after the last restart {context}"

    # What the restarted server serves: every acknowledged version is readable as it was.
    acked = ledger.snapshot()
    sample = random.Random(seed).sample(sorted(acked), min(300, len(acked)))
    with httpx.Client(base_url=server.base + "/", timeout=20) as http:
        for type, id in sample:
            version, deleted = acked[(type, id)]
            response = http.get(f"{type}/{id}/_history/{version}")
            want = 410 if deleted else 200
            assert response.status_code == want, f"{type}/{id}/_history/{version} {context}"
            if not deleted:
                assert json.loads(response.content)["meta"]["versionId"] == str(version)
    assert server.terminate() in (0, -signal.SIGTERM), server.output()

    # The import, killed mid-file as often as the server, resumes: run again, it ends
    # without a rejected record, and once more it finds everything already there.
    resumed = feed.run_to_the_end()
    assert resumed.returncode == 0, f"{resumed.stdout}{resumed.stderr} {context}"
    again = feed.run_to_the_end()
    assert again.returncode == 0, f"{again.stdout}{again.stderr} {context}"
    assert "created 0, updated 0," in again.stdout + again.stderr, f"{again.stdout} {context}"
    assert feed.runs >= 2, f"the import hardly ran next to the server {context}"

    assert verify.missing_writes(db, acked) == [], context
    assert verify.torn_transactions(db, ledger.transactions) == [], context
    assert verify.integrity(db) == [], context
    assert "check passed" in run_check(db), context


def test_sigterm_lets_the_request_in_flight_finish_and_then_stops(
    tmp_path: Path,
    server_process: Callable[[Path], ServerProcess],
    workload: Callable[..., Workload],
    ledger: LedgerType,
    verify: Verify,
) -> None:
    db = tmp_path / "graceful.db"
    server = server_process(db)
    server.start()
    clients = workload(server.base, ledger, threads=2, seed=7)
    clients.start()
    time.sleep(0.5)

    # A transaction of 40 writes whose body arrives in two halves: SIGTERM comes between.
    body = json.dumps(
        {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {
                    "resource": {"resourceType": "Patient", "id": f"inflight-{n}"},
                    "request": {"method": "PUT", "url": f"Patient/inflight-{n}"},
                }
                for n in range(40)
            ],
        }
    ).encode()
    head_sent, go_on = threading.Event(), threading.Event()

    def halves() -> Iterator[bytes]:
        yield body[: len(body) // 2]
        head_sent.set()
        go_on.wait(20)
        yield body[len(body) // 2 :]

    answer: dict[str, httpx.Response | BaseException] = {}

    def send() -> None:
        try:
            with httpx.Client(timeout=30) as http:
                answer["response"] = http.post(
                    server.base,
                    content=halves(),
                    headers={"content-type": "application/fhir+json"},
                )
        except BaseException as exc:
            answer["response"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    assert head_sent.wait(20)
    time.sleep(0.3)  # the server has the request line and headers: it is in flight
    server.signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while True:  # shutdown has begun once new connections are refused
        try:
            httpx.get(f"{server.base}/metadata", timeout=1)
        except httpx.TransportError:
            break
        assert time.monotonic() < deadline, "the server kept accepting connections"
        time.sleep(0.05)
    go_on.set()
    sender.join(30)
    clients.stop()
    assert server.process is not None
    code = server.process.wait(timeout=45)
    server.stop_for_good()

    response = answer["response"]
    assert isinstance(response, httpx.Response), f"no answer: {response!r}"
    assert response.status_code == 200, response.text
    statuses = [e["response"]["status"] for e in response.json()["entry"]]
    assert statuses == ["201 Created"] * 40
    assert code in (0, -signal.SIGTERM), server.output()
    assert "Traceback" not in server.output()
    assert verify.missing_writes(db, ledger.snapshot()) == []
    stored = {("Patient", f"inflight-{n}"): (1, False) for n in range(40)}
    assert verify.missing_writes(db, stored) == []
    assert verify.integrity(db) == []
    assert "check passed" in run_check(db)
