"""The webhook sink against a real local HTTP receiver: signed JSON, retries with backoff,
a bounded queue that never blocks, a clean close, and events from real writes."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from fhir_server.interactions.context import Context, Preconditions
from fhir_server.interactions.create import create
from fhir_server.storage import open_store
from fhir_server.workflows import events
from fhir_server.workflows.webhook import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    WebhookSink,
    sign,
    start_webhook,
    verify,
)
from smart_auth.context import AccessContext

SECRET = "s3cret-shared-with-the-receiver"
FAST: dict[str, Any] = {"backoff": 0.02, "max_backoff": 0.1, "timeout": 5.0, "drain_timeout": 5.0}


def make_sink(url: str, **options: Any) -> WebhookSink:
    """A sink with short backoffs (tests), ``options`` overriding."""
    return WebhookSink(url, SECRET, **{**FAST, **options})


@dataclass
class Received:
    headers: dict[str, str]  # lower-case names: HTTP header names are case-insensitive
    body: bytes

    def header(self, name: str) -> str:
        return self.headers[name.lower()]


@dataclass
class Receiver:
    """A tiny HTTP server in a thread; answers each POST with the next scripted status."""

    url: str
    received: list[Received] = field(default_factory=list)
    script: list[int] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)
    headers: dict[str, str] = field(default_factory=dict)

    def wait_for(self, count: int, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.received) < count:
            assert time.monotonic() < deadline, f"{len(self.received)} of {count} arrived"
            time.sleep(0.01)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(url="")
    state.gate.set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.gate.wait(10)
            state.received.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            status = state.script.pop(0) if state.script else 200
            self.send_response(status)
            for name, value in state.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/mhs"
    try:
        yield state
    finally:
        state.gate.set()
        server.shutdown()
        server.server_close()


def check_signed(received: Received) -> dict[str, Any]:
    """What a receiver does: verify, with an independent HMAC, then parse."""
    timestamp = received.header(TIMESTAMP_HEADER)
    expected = hmac.new(
        SECRET.encode(), timestamp.encode() + b"." + received.body, hashlib.sha256
    ).hexdigest()
    assert received.header(SIGNATURE_HEADER) == f"sha256={expected}"
    assert abs(int(timestamp) - time.time()) < 60
    assert verify(
        SECRET, received.body, timestamp=timestamp, signature=received.header(SIGNATURE_HEADER)
    )
    assert received.header("Content-Type") == "application/json"
    document: dict[str, Any] = orjson.loads(received.body)
    return document


def test_an_event_arrives_as_signed_json(receiver: Receiver) -> None:
    async def main() -> WebhookSink:
        sink = make_sink(receiver.url)
        await sink.start()
        await sink.send("appointment.booked", {"appointment": "Appointment/a1", "slots": 1})
        await sink.close()
        return sink

    sink = asyncio.run(main())
    assert (sink.delivered, sink.failed, sink.dropped) == (1, 0, 0)
    (got,) = receiver.received
    document = check_signed(got)
    assert document["event"] == "appointment.booked"
    assert document["payload"] == {"appointment": "Appointment/a1", "slots": 1}
    assert document["id"] == got.header(DELIVERY_HEADER)
    assert got.header(EVENT_HEADER) == "appointment.booked"
    assert "secret" not in repr(sink)


def test_a_receiver_that_fails_twice_gets_it_the_third_time(receiver: Receiver) -> None:
    receiver.script = [500, 503]

    async def main() -> WebhookSink:
        sink = make_sink(receiver.url)
        await sink.start()
        await sink.send("appointment.cancelled", {"appointment": "Appointment/a2"})
        await sink.close()
        return sink

    started = time.monotonic()
    sink = asyncio.run(main())
    assert (sink.delivered, sink.failed) == (1, 0)
    assert len(receiver.received) == 3
    bodies = {r.body for r in receiver.received}
    assert len(bodies) == 1  # the same delivery each time, signed afresh
    assert len({r.header(DELIVERY_HEADER) for r in receiver.received}) == 1
    for attempt in receiver.received:
        check_signed(attempt)
    assert time.monotonic() - started >= 0.01 + 0.02  # it backed off between attempts


def test_retries_are_bounded_and_client_errors_are_not_retried(receiver: Receiver) -> None:
    receiver.script = [500, 500, 500, 422]

    async def main() -> WebhookSink:
        sink = make_sink(receiver.url, max_attempts=3)
        await sink.start()
        await sink.send("first", {})
        await sink.send("second", {})
        await sink.close()
        return sink

    sink = asyncio.run(main())
    assert (sink.delivered, sink.failed) == (0, 2)
    events_seen = [r.header(EVENT_HEADER) for r in receiver.received]
    assert events_seen == ["first", "first", "first", "second"]


def test_retry_after_is_honoured_within_the_cap(receiver: Receiver) -> None:
    receiver.script = [429]
    receiver.headers = {"Retry-After": "0"}

    async def main() -> WebhookSink:
        sink = WebhookSink(receiver.url, SECRET, backoff=30.0, max_backoff=60.0)
        await sink.start()
        await sink.send("throttled", {})
        await sink.close()
        return sink

    started = time.monotonic()
    assert asyncio.run(main()).delivered == 1
    assert time.monotonic() - started < 5  # not the 15-30 s backoff
    assert len(receiver.received) == 2


def test_a_full_queue_drops_with_a_log_line_and_never_blocks(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.gate.clear()  # the receiver hangs until released

    async def main() -> tuple[WebhookSink, float]:
        sink = make_sink(receiver.url, queue_size=3)
        await sink.start()
        await sink.send("e0", {})
        await asyncio.sleep(0.2)  # e0 is now in flight, stuck at the receiver
        started = time.perf_counter()
        for n in range(1, 501):
            await sink.send(f"e{n}", {"n": n})
        elapsed = time.perf_counter() - started
        receiver.gate.set()
        await sink.close()
        return sink, elapsed

    with caplog.at_level(logging.WARNING, logger="mhs_fhir.webhook"):
        sink, elapsed = asyncio.run(main())
    assert elapsed < 0.5  # 500 sends while the receiver hangs: nothing waits for it
    assert sink.dropped == 497
    assert sink.delivered == 4
    assert [r.header(EVENT_HEADER) for r in receiver.received] == ["e0", "e1", "e2", "e3"]
    assert "dropped event e4" in caplog.text and "queue is full (3 waiting)" in caplog.text


def test_close_with_an_unreachable_receiver_is_prompt_and_clean(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def main() -> tuple[WebhookSink, float]:
        # Nothing listens on port 9 of the loopback (discard): every attempt is refused.
        sink = WebhookSink(
            "http://127.0.0.1:9/", SECRET, backoff=5.0, max_backoff=5.0, drain_timeout=0.3
        )
        await sink.start()
        for n in range(5):
            await sink.send(f"e{n}", {})
        started = time.monotonic()
        await sink.close()
        await sink.send("late", {})
        assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
        return sink, time.monotonic() - started

    with caplog.at_level(logging.WARNING, logger="mhs_fhir.webhook"):
        sink, elapsed = asyncio.run(main())
    assert elapsed < 3
    assert sink.dropped == 6  # 5 undelivered at close, 1 sent after it
    assert "the server is stopping" in caplog.text and "the sink is closed" in caplog.text


def test_signatures_fail_on_any_change() -> None:
    body = b'{"event":"x"}'
    now = int(time.time())
    signature = sign(SECRET, str(now), body)
    assert verify(SECRET, body, timestamp=str(now), signature=signature)
    assert not verify(SECRET, body + b" ", timestamp=str(now), signature=signature)
    assert not verify("other", body, timestamp=str(now), signature=signature)
    assert not verify(SECRET, body, timestamp=str(now + 1), signature=signature)
    old = str(now - 3600)
    assert not verify(SECRET, body, timestamp=old, signature=sign(SECRET, old, body))


def test_configuration_errors_are_plain() -> None:
    with pytest.raises(ValueError, match="shared secret"):
        WebhookSink("https://example.org/hook", "")
    with pytest.raises(ValueError, match="http"):
        WebhookSink("ftp://example.org/hook", SECRET)
    assert asyncio.run(start_webhook("", "")) is None


def test_a_booking_written_through_the_interactions_reaches_the_webhook(
    receiver: Receiver, tmp_path: Path
) -> None:
    async def main() -> WebhookSink:
        store = open_store(f"sqlite:///{tmp_path}/hook.db")
        await store.open()
        sink = await start_webhook(receiver.url, SECRET, **FAST)
        assert sink is not None
        try:
            ctx = Context(
                store=store,
                access=AccessContext.open_server(),  # an API caller: workflows apply
                base_url="http://127.0.0.1:8080/fhir",
            )
            slot = {
                "resourceType": "Slot",
                "schedule": {"reference": "Schedule/s"},
                "status": "free",
                "start": "2027-01-04T13:00:00Z",
                "end": "2027-01-04T13:30:00Z",
            }
            await create(ctx, type="Slot", resource=slot, pre=Preconditions(), id="slot-1")
            appointment = {
                "resourceType": "Appointment",
                "status": "booked",
                "start": "2027-01-04T13:00:00Z",
                "end": "2027-01-04T13:30:00Z",
                "slot": [{"reference": "Slot/slot-1"}],
                "participant": [{"actor": {"display": "Somebody"}, "status": "accepted"}],
            }
            await create(ctx, type="Appointment", resource=appointment, pre=Preconditions(), id="a")
        finally:
            await sink.close()
            await store.close()
        assert sink not in events._sinks  # closing left the events seam
        return sink

    sink = asyncio.run(main())
    assert sink.delivered == 1
    document = check_signed(receiver.received[0])
    assert document["event"] == "appointment.booked"
    assert document["payload"] == {"appointment": "Appointment/a", "slots": 1}
