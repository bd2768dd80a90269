"""The server as a real operating-system process, to be killed, stopped and restarted.

``mhs-fhir serve`` runs in its own process group (``python -m fhir_server.cli serve``), so
SIGKILL and SIGTERM reach it exactly as an operator's or a supervisor's would.
``MHS_FHIR_LONG_TESTS=1`` makes the reliability suite run its long versions.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import pytest

LONG = os.environ.get("MHS_FHIR_LONG_TESTS") == "1"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ServerProcess:
    """One database, one port; started, killed and restarted as often as a test wants."""

    def __init__(self, db: Path, log: Path, port: int | None = None) -> None:
        self.db = db
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}/fhir"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self._log_file: IO[bytes] | None = None

    @property
    def database_url(self) -> str:
        return f"sqlite:///{self.db}"

    def spawn(self) -> None:
        """Start the process; do not wait for it to serve."""
        assert self.process is None, "already running"
        command = cli_command(
            "serve",
            "--insecure-no-auth",
            "--port",
            str(self.port),
            "--database-url",
            self.database_url,
            "--log-level",
            "warning",
        )
        self._log_file = self.log.open("ab")
        self.process = subprocess.Popen(
            command,
            env=cli_env(),
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the server exited ({self.process.returncode}):\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.base}/metadata", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"the server did not start:\n{self.output()}")
            time.sleep(0.05)

    def start(self) -> None:
        self.spawn()
        self.wait_ready()

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.killpg(self.process.pid, signum)

    def kill(self) -> None:
        """SIGKILL: no shutdown of any kind, as in a power cut of the process."""
        self.signal(signal.SIGKILL)
        self._reap(10)

    def terminate(self, timeout: float = 45.0) -> int:
        """SIGTERM and wait for the graceful shutdown; the exit status."""
        self.signal(signal.SIGTERM)
        return self._reap(timeout)

    def _reap(self, timeout: float) -> int:
        assert self.process is not None
        code = self.process.wait(timeout=timeout)
        self.process = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        return code

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def stop_for_good(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
            self._reap(10)


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "fhir_server.cli", *args]


def cli_env() -> dict[str, str]:
    """This environment without settings of ours: each command gets them as options."""
    return {k: v for k, v in os.environ.items() if not k.startswith("MHS_FHIR_")}


class ImportProcess:
    """``mhs-fhir import eligibility`` of one extract into a server's database, run next to
    it as an operator's nightly feed would, and killed with it."""

    def __init__(self, server: ServerProcess, extract: Path, log: Path) -> None:
        self.server = server
        self.extract = extract
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def command(self) -> list[str]:
        return cli_command(
            "import",
            "eligibility",
            str(self.extract),
            "--database-url",
            self.server.database_url,
            "--base-url",
            self.server.base,
            "--quiet",
        )

    def keep_running(self) -> None:
        """Start it again if it is not running (it finished, or was killed)."""
        if self.process is not None and self.process.poll() is None:
            return
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                env=cli_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.runs += 1

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)
        self.process = None

    def run_to_the_end(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(), env=cli_env(), capture_output=True, text=True, timeout=300
        )


@pytest.fixture
def importer(tmp_path: Path) -> Iterator[Callable[[ServerProcess], ImportProcess]]:
    """An eligibility import next to a server (a generated extract of 40 families)."""
    extract = tmp_path / "eligibility.txt"
    made: list[ImportProcess] = []

    def make(server: ServerProcess) -> ImportProcess:
        if not extract.exists():
            generate = ["generate", "eligibility", "--families", "40", "--out", str(extract)]
            subprocess.run(cli_command(*generate), env=cli_env(), check=True, timeout=120)
        made.append(ImportProcess(server, extract, tmp_path / f"import-{len(made)}.log"))
        return made[-1]

    yield make
    for running in made:
        running.kill()


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[[Path], ServerProcess]]:
    """Make servers on databases of this test; every one is killed at the end."""
    made: list[ServerProcess] = []

    def make(db: Path) -> ServerProcess:
        server = ServerProcess(db, tmp_path / f"server-{len(made)}.log")
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop_for_good()


# -- clients that remember what they were told ------------------------------------------------

FHIR_JSON = "application/fhir+json"
TX_SYSTEM = "urn:mhs-fhir-test:transaction"
Key = tuple[str, str]


def etag_version(etag: str | None) -> int:
    assert etag is not None and etag.startswith('W/"'), etag
    return int(etag[3:-1])


def location_key(location: str) -> tuple[str, str, int]:
    """(type, id, version) of a ``.../Type/id/_history/n`` location."""
    parts = location.rstrip("/").split("/")
    assert parts[-2] == "_history", location
    return parts[-4], parts[-3], int(parts[-1])


class Ledger:
    """Every write a client saw acknowledged (2xx with ETag / Location), and every
    transaction it sent, acknowledged or not."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.acked: dict[Key, tuple[int, bool]] = {}  # highest version, whether a deletion
        self.transactions: dict[str, bool] = {}  # key -> acknowledged
        self.unexpected: list[str] = []
        self.acks = 0
        self.errors = 0

    def ack(self, type: str, id: str, version: int, *, deleted: bool = False) -> None:
        with self.lock:
            self.acks += 1
            if version > self.acked.get((type, id), (0, False))[0]:
                self.acked[(type, id)] = (version, deleted)

    def snapshot(self) -> dict[Key, tuple[int, bool]]:
        with self.lock:
            return dict(self.acked)

    def odd(self, what: str) -> None:
        with self.lock:
            self.unexpected.append(what)


def transaction_bundle(key: str) -> dict[str, Any]:
    """Three writes that must be stored together or not at all: a PUT of a Patient, a POST
    of an Observation (urn:uuid fullUrl) and a PUT of an Observation, all tagged ``key``."""
    ident = [{"system": TX_SYSTEM, "value": key}]
    subject = {"reference": f"Patient/tx-{key}"}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "id": f"tx-{key}", "identifier": ident},
                "request": {"method": "PUT", "url": f"Patient/tx-{key}"},
            },
            {
                "fullUrl": f"urn:uuid:{uuid.uuid4()}",
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "posted"},
                    "identifier": [{"system": TX_SYSTEM, "value": f"{key}-post"}],
                    "subject": subject,
                },
                "request": {"method": "POST", "url": "Observation"},
            },
            {
                "resource": {
                    "resourceType": "Observation",
                    "id": f"txo-{key}",
                    "status": "final",
                    "code": {"text": "put"},
                    "identifier": ident,
                    "subject": subject,
                },
                "request": {"method": "PUT", "url": f"Observation/txo-{key}"},
            },
        ],
    }


class Workload:
    """Client threads creating, updating (PUT with If-Match), deleting and sending small
    transactions as fast as the server answers; connection failures (a killed server) are
    waited out, every acknowledgement goes to the ledger."""

    def __init__(self, base: str, ledger: Ledger, *, threads: int = 4, seed: int = 0) -> None:
        self.base = base
        self.ledger = ledger
        self.seed = seed
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=self._run, args=(n,), daemon=True, name=f"client-{n}")
            for n in range(threads)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=60)
            assert not thread.is_alive(), f"{thread.name} did not stop"

    def _run(self, n: int) -> None:
        rng = random.Random(self.seed * 100 + n)
        own: dict[str, int] = {}  # Patient id -> version this client last knew
        with httpx.Client(
            base_url=self.base + "/",
            headers={"accept": FHIR_JSON, "content-type": FHIR_JSON},
            timeout=20.0,
        ) as client:
            while not self.stopping.is_set():
                try:
                    self._step(client, rng, own)
                except httpx.TransportError:
                    with self.ledger.lock:
                        self.ledger.errors += 1
                    time.sleep(0.02)

    def _step(self, client: httpx.Client, rng: random.Random, own: dict[str, int]) -> None:
        roll = rng.random()
        if roll < 0.35 or not own:
            self._create(client, own)
        elif roll < 0.72:
            self._update(client, rng, own)
        elif roll < 0.77:
            self._delete(client, rng, own)
        else:
            self._transaction(client)

    def _create(self, client: httpx.Client, own: dict[str, int]) -> None:
        body = {"resourceType": "Patient", "name": [{"family": "Crash", "given": ["v1"]}]}
        response = client.post("Patient", json=body)
        if response.status_code != 201:
            self.ledger.odd(f"create -> {response.status_code} {response.text[:300]}")
            return
        type, id, version = location_key(response.headers["location"])
        assert etag_version(response.headers.get("etag")) == version
        self.ledger.ack(type, id, version)
        own[id] = version

    def _update(self, client: httpx.Client, rng: random.Random, own: dict[str, int]) -> None:
        id = rng.choice(list(own))
        known = own[id]
        body = {
            "resourceType": "Patient",
            "id": id,
            "name": [{"family": "Crash", "given": [f"v{known + 1}"]}],
        }
        response = client.put(f"Patient/{id}", json=body, headers={"if-match": f'W/"{known}"'})
        if response.status_code == 200:
            version = etag_version(response.headers.get("etag"))
            self.ledger.ack("Patient", id, version)
            own[id] = version
        elif response.status_code == 412:  # an earlier update went through unacknowledged
            current = client.get(f"Patient/{id}")
            if current.status_code == 200:
                own[id] = etag_version(current.headers.get("etag"))
            else:
                self.ledger.odd(f"read after 412 -> {current.status_code} {current.text[:300]}")
                del own[id]
        else:
            self.ledger.odd(f"update -> {response.status_code} {response.text[:300]}")

    def _delete(self, client: httpx.Client, rng: random.Random, own: dict[str, int]) -> None:
        id = rng.choice(list(own))
        del own[id]  # acknowledged or not, this client leaves it alone from now on
        response = client.delete(f"Patient/{id}")
        if response.status_code in (200, 204):
            self.ledger.ack("Patient", id, etag_version(response.headers.get("etag")), deleted=True)
        else:
            self.ledger.odd(f"delete -> {response.status_code} {response.text[:300]}")

    def _transaction(self, client: httpx.Client) -> None:
        key = uuid.uuid4().hex
        with self.ledger.lock:
            self.ledger.transactions[key] = False
        response = client.post("", json=transaction_bundle(key))
        if response.status_code != 200:
            self.ledger.odd(f"transaction -> {response.status_code} {response.text[:300]}")
            return
        entries = response.json()["entry"]
        for entry in entries:
            type, id, version = location_key(entry["response"]["location"])
            self.ledger.ack(type, id, version)
        with self.ledger.lock:
            self.ledger.transactions[key] = len(entries) == 3


@pytest.fixture
def workload() -> Iterator[Callable[..., Workload]]:
    """Make workloads (``workload(base, ledger, threads=4, seed=0)``); all stop at the end."""
    made: list[Workload] = []

    def make(base: str, ledger: Ledger, **kwargs: Any) -> Workload:
        made.append(Workload(base, ledger, **kwargs))
        return made[-1]

    yield make
    for each in made:
        each.stopping.set()


class Verify:
    """What a test asks of a database file once the server is gone."""

    @staticmethod
    def missing_writes(db: Path, acked: dict[Key, tuple[int, bool]]) -> list[str]:
        """Acknowledged writes the database does not hold (at that version or a later one)."""
        out: list[str] = []
        conn = sqlite3.connect(db)
        try:
            for (type, id), (version, deleted) in sorted(acked.items()):
                row = conn.execute(
                    "SELECT version, deleted FROM resources WHERE type = ? AND id = ?", (type, id)
                ).fetchone()
                if row is None:
                    out.append(f"{type}/{id}: acknowledged version {version}, not stored")
                elif row[0] < version:
                    out.append(f"{type}/{id}: acknowledged version {version}, stored {row[0]}")
                elif row[0] == version and bool(row[1]) != deleted:
                    out.append(
                        f"{type}/{id}: version {version} deleted={bool(row[1])}, acked {deleted}"
                    )
        finally:
            conn.close()
        return out

    @staticmethod
    def torn_transactions(db: Path, transactions: dict[str, bool]) -> list[str]:
        """Transactions stored in part, or acknowledged and not stored whole."""
        out: list[str] = []
        conn = sqlite3.connect(db)
        try:
            for key, acknowledged in sorted(transactions.items()):
                present = 0
                for type, id in (("Patient", f"tx-{key}"), ("Observation", f"txo-{key}")):
                    present += conn.execute(
                        "SELECT count(*) FROM resources WHERE type = ? AND id = ?", (type, id)
                    ).fetchone()[0]
                present += conn.execute(
                    "SELECT count(DISTINCT t.rid) FROM idx_token t"
                    " JOIN resources r ON r.rid = t.rid"
                    " WHERE t.system = ? AND t.code = ? AND r.type = 'Observation'",
                    (TX_SYSTEM, f"{key}-post"),
                ).fetchone()[0]
                if present not in (0, 3) or (acknowledged and present != 3):
                    out.append(f"transaction {key} (acknowledged: {acknowledged}): {present} of 3")
        finally:
            conn.close()
        return out

    @staticmethod
    def integrity(db: Path) -> list[str]:
        conn = sqlite3.connect(db)
        try:
            rows = [row[0] for row in conn.execute("PRAGMA integrity_check").fetchall()]
        finally:
            conn.close()
        return [] if rows == ["ok"] else rows


@pytest.fixture
def verify() -> Verify:
    return Verify()


@pytest.fixture
def ledger() -> Ledger:
    return Ledger()


@pytest.fixture
def long_tests() -> bool:
    """``MHS_FHIR_LONG_TESTS=1``: the long versions (many more kills)."""
    return LONG
