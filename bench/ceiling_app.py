"""The "ceiling" for ``bench/crud.py``: the least an HTTP + SQLite FHIR read/create can cost.

A bare Starlette app (no FastAPI, no validation, no negotiation, no indexing) that keeps
Patients the way mhs-fhir does, so that ``server / ceiling`` measures what the server's own
layers cost on top of the same ASGI server, event loop and database:

* one SQLite file opened with the server's pragmas (WAL, ``synchronous=FULL``, its page cache
  and mmap sizes from ``fhir_server.storage.sqlite``) and one table
  ``(type, id) PRIMARY KEY -> version, last_updated, body``;
* ``GET /fhir/Patient/{id}``: a primary-key lookup on the event-loop thread with a sync
  ``sqlite3`` connection (as ``SqliteStore.read`` does); answers the stored bytes as
  ``application/fhir+json``;
* ``POST /fhir/Patient``: ``orjson`` parse, new uuid4 id, ``meta.versionId``/``lastUpdated``,
  ``orjson`` dump, then the INSERT is handed to one writer thread that owns the only writing
  connection; the request answers 201 with the body once the commit is durable;
* ``CEILING_BASE_URL`` (default ``http://127.0.0.1/fhir``) prefixes the Location header;
* the writer commits either each job on its own (``CEILING_COMMIT=single``) or every job waiting
  in its queue in one transaction (``CEILING_COMMIT=group``, the default: what the server's
  writer does, so that neither side gets fsync batching the other lacks).

It is served the way ``mhs-fhir serve`` serves the server: one uvicorn worker on uvloop with
the server's HTTP protocol and options (``fhir_server.serving.uvicorn_options``: httptools,
the header deadline, a connection's writes of one event-loop turn sent as one), so that
the two differ only in the app. Run it the way ``crud.py`` does::

    CEILING_DB=/tmp/c.db python bench/ceiling_app.py --port 8081
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import queue
import sqlite3
import sys
import threading
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import orjson
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

if __name__ == "__main__":  # run as a script: this worktree's code comes first
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fhir_server.config import Settings
from fhir_server.serving import configure, uvicorn_options
from fhir_server.storage.sqlite import MMAP_BYTES, PAGE_CACHE_BYTES

FHIR_JSON = "application/fhir+json"
GROUP_COMMIT_MAX = 128
SCHEMA = """
CREATE TABLE IF NOT EXISTS resources (
    type         TEXT    NOT NULL,
    id           TEXT    NOT NULL,
    version      INTEGER NOT NULL,
    last_updated TEXT    NOT NULL,
    body         BLOB    NOT NULL,
    PRIMARY KEY (type, id)
)
"""
INSERT = "INSERT INTO resources (type, id, version, last_updated, body) VALUES (?, ?, ?, ?, ?)"
SELECT = "SELECT body FROM resources WHERE type = ? AND id = ?"
NOT_FOUND = orjson.dumps(
    {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": "not known"}],
    }
)

Row = tuple[str, str, int, str, bytes]


def connect(path: str) -> sqlite3.Connection:
    """A connection with the same pragmas as ``fhir_server.storage.sqlite._connect``."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute(f"PRAGMA cache_size = -{PAGE_CACHE_BYTES // 1024}")
    conn.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    return conn


class Job:
    __slots__ = ("future", "row")

    def __init__(self, row: Row) -> None:
        self.row = row
        self.future: concurrent.futures.Future[None] = concurrent.futures.Future()


class Writer(threading.Thread):
    """Owns the only writing connection; commits per job or per batch of waiting jobs."""

    def __init__(self, path: str, *, group: bool) -> None:
        super().__init__(name="ceiling-writer", daemon=True)
        self.path = path
        self.group = group
        self.jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()

    def run(self) -> None:
        conn = connect(self.path)
        try:
            while True:
                first = self.jobs.get()
                if first is None:
                    return
                batch = [first]
                stop = False
                while self.group and len(batch) < GROUP_COMMIT_MAX:
                    try:
                        nxt = self.jobs.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        stop = True
                        break
                    batch.append(nxt)
                self.commit(conn, batch)
                if stop:
                    return
        finally:
            conn.close()

    @staticmethod
    def commit(conn: sqlite3.Connection, batch: list[Job]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                conn.execute(INSERT, job.row)
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                job.future.set_exception(exc)
            return
        for job in batch:
            job.future.set_result(None)


def now_instant() -> str:
    moment = datetime.now(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def create_app() -> Starlette:
    """The ceiling app on the database named by ``CEILING_DB``."""
    path = os.environ["CEILING_DB"]
    group = os.environ.get("CEILING_COMMIT", "group") == "group"
    base_url = os.environ.get("CEILING_BASE_URL", "http://127.0.0.1/fhir").rstrip("/")
    setup = connect(path)
    setup.execute(SCHEMA)
    setup.close()
    reader = connect(path)
    writer = Writer(path, group=group)

    async def metadata(request: Request) -> Response:
        return Response(b'{"resourceType":"CapabilityStatement"}', media_type=FHIR_JSON)

    async def read(request: Request) -> Response:
        row = reader.execute(SELECT, ("Patient", request.path_params["id"])).fetchone()
        if row is None:
            return Response(NOT_FOUND, status_code=404, media_type=FHIR_JSON)
        return Response(row[0], media_type=FHIR_JSON)

    async def create(request: Request) -> Response:
        resource = orjson.loads(await request.body())
        new_id = str(uuid.uuid4())
        last_updated = now_instant()
        meta = dict(resource.get("meta") or {})
        meta["versionId"] = "1"
        meta["lastUpdated"] = last_updated
        document = {"resourceType": "Patient", "id": new_id, "meta": meta}
        for key, value in resource.items():
            if key not in document:
                document[key] = value
        body = orjson.dumps(document)
        job = Job(("Patient", new_id, 1, last_updated, body))
        writer.jobs.put(job)
        await asyncio.wrap_future(job.future)
        location = f"{base_url}/Patient/{new_id}/_history/1"
        return Response(body, status_code=201, media_type=FHIR_JSON, headers={"Location": location})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            writer.jobs.put(None)
            await asyncio.to_thread(writer.join)
            reader.close()

    return Starlette(
        routes=[
            Route("/fhir/metadata", metadata, methods=["GET"]),
            Route("/fhir/Patient", create, methods=["POST"]),
            Route("/fhir/Patient/{id}", read, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="the ceiling app of bench/crud.py")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    settings = Settings(log_level="warning")
    configure(settings)
    uvicorn.run(
        create_app(),
        host=args.host,
        port=args.port,
        loop="uvloop",
        log_level="warning",
        **uvicorn_options(settings),
    )


if __name__ == "__main__":
    main()
