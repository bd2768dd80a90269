"""A signed webhook: every domain event POSTed as JSON to one configured URL.

The sink plugs into :mod:`fhir_server.workflows.events` (``MHS_FHIR_WEBHOOK_URL`` and
``MHS_FHIR_WEBHOOK_SECRET``; see docs/scheduling.md) and never slows the request that caused
the event: :meth:`WebhookSink.send` only puts the event on a bounded queue (when the queue is
full the event is dropped with a log line), and one background asyncio task delivers the
queue in order.

What the receiver gets
----------------------
``POST <url>`` with ``Content-Type: application/json`` and the body
``{"id": "<delivery id>", "event": "appointment.booked", "occurred": "<instant>",
"payload": {...}}`` (payloads hold ids and references, never resource content), and the
headers

- ``X-MHS-Event``: the event name; ``X-MHS-Delivery``: the delivery id (the same on every
  attempt: a receiver deduplicates on it);
- ``X-MHS-Timestamp``: Unix time in seconds of this attempt;
- ``X-MHS-Signature``: ``sha256=<hex>``, the HMAC-SHA256 with the shared secret of
  ``<timestamp>.<raw body>`` (the timestamp header's value, a dot, the body bytes as
  received). Signing the timestamp with the body lets a receiver refuse replays: check the
  signature with a constant-time comparison, then that the timestamp is recent (5 minutes).
  :func:`verify` does both.

Retries: a delivery is tried up to ``max_attempts`` times (default 6) when the receiver
cannot be reached, times out, or answers 408, 425, 429 or 5xx, waiting ``backoff * 2**n``
seconds (capped at ``max_backoff``; a ``Retry-After`` up to that cap wins) with jitter between
attempts; other answers (2xx: delivered; 3xx and other 4xx: refused) end it. Redirects are
not followed.

Delivery is at least once while the process runs, and best effort: events queued when the
process stops are delivered during :meth:`WebhookSink.close` for up to ``drain_timeout``
seconds, then dropped (with a log line).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import Message
from typing import Any
from urllib.parse import urlsplit

import orjson

from fhir_server.clock import now_instant
from fhir_server.ids import new_id
from fhir_server.workflows.events import add_sink, remove_sink

log = logging.getLogger("mhs_fhir.webhook")

SIGNATURE_HEADER = "X-MHS-Signature"
TIMESTAMP_HEADER = "X-MHS-Timestamp"
EVENT_HEADER = "X-MHS-Event"
DELIVERY_HEADER = "X-MHS-Delivery"
TOLERANCE_SECONDS = 300
_RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-MHS-Signature`` value: ``sha256=`` and the hex HMAC-SHA256 of
    ``<timestamp>.<body>`` keyed with ``secret``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    body: bytes,
    *,
    timestamp: str,
    signature: str,
    tolerance: float = TOLERANCE_SECONDS,
    now: float | None = None,
) -> bool:
    """What a receiver checks: the signature matches (constant time) and the timestamp is
    within ``tolerance`` seconds of ``now``."""
    if not hmac.compare_digest(sign(secret, timestamp, body), signature):
        return False
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    return abs((time.time() if now is None else now) - sent) <= tolerance


@dataclass(frozen=True, slots=True)
class _Delivery:
    id: str
    event: str
    body: bytes


class _Refused(Exception):
    """The receiver answered for good (3xx, 4xx other than the retried ones)."""


class _Retry(Exception):
    def __init__(self, reason: str, *, after: float | None = None) -> None:
        super().__init__(reason)
        self.after = after


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook POST is not replayed elsewhere: a 3xx is the receiver's answer."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _retry_after(headers: Message | None) -> float | None:
    value = headers.get("Retry-After") if headers is not None else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None  # an HTTP-date: use the backoff


class WebhookSink:
    """An events sink POSTing each event, signed, to ``url`` from a background task.

    ``start()`` (or the first ``send``) starts the task on the running loop; ``close()``
    delivers what is queued for up to ``drain_timeout`` seconds, then stops. Counters
    (``delivered``, ``failed``, ``dropped``) are for tests and metrics.
    """

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        queue_size: int = 1000,
        max_attempts: int = 6,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
        drain_timeout: float = 5.0,
    ) -> None:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).netloc:
            raise ValueError(f"the webhook URL must be an http(s) URL, not {url!r}")
        if not secret:
            raise ValueError("a webhook needs a shared secret to sign its events")
        if queue_size < 1 or max_attempts < 1:
            raise ValueError("queue_size and max_attempts must be at least 1")
        self.url = url
        self._secret = secret
        self.queue_size = queue_size
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.drain_timeout = drain_timeout
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._queue: asyncio.Queue[_Delivery] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def __repr__(self) -> str:  # never the secret
        return f"WebhookSink({self.url!r})"

    async def start(self) -> None:
        """Start the delivery task on the running loop (once)."""
        if self._task is not None:
            return
        if self._closed:
            raise RuntimeError("the webhook sink is closed")
        self._loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self.queue_size)
        self._task = self._loop.create_task(self._run(), name="mhs-webhook")

    async def send(self, name: str, payload: dict[str, Any]) -> None:
        """Queue the event and return at once (drop it, with a log line, when full)."""
        delivery_id = new_id()
        body = orjson.dumps(
            {"id": delivery_id, "event": name, "occurred": now_instant(), "payload": payload}
        )
        delivery = _Delivery(delivery_id, name, body)
        if self._closed:
            self._drop(delivery, "the sink is closed")
            return
        if self._task is None:
            await self.start()
        loop = asyncio.get_running_loop()
        if loop is self._loop:
            self._enqueue(delivery)
            return
        # Published from another event loop (another thread): hand over to the sink's.
        try:
            assert self._loop is not None
            self._loop.call_soon_threadsafe(self._enqueue, delivery)
        except RuntimeError:
            self._drop(delivery, "the sink's event loop is closed")

    def _enqueue(self, delivery: _Delivery) -> None:
        assert self._queue is not None
        try:
            self._queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self._drop(delivery, f"the queue is full ({self.queue_size} waiting)")

    def _drop(self, delivery: _Delivery, why: str) -> None:
        self.dropped += 1
        log.warning(
            "webhook: dropped event %s (delivery %s): %s; %d dropped so far",
            delivery.event,
            delivery.id,
            why,
            self.dropped,
        )

    async def close(self) -> None:
        """Stop taking events, deliver the queued ones for up to ``drain_timeout`` seconds,
        drop the rest, stop the task and leave the events sinks."""
        remove_sink(self)
        if self._closed:
            return
        self._closed = True
        task, queue = self._task, self._queue
        if task is None or queue is None:
            return
        drained = asyncio.ensure_future(queue.join())
        await asyncio.wait(
            {drained, task}, timeout=self.drain_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        drained.cancel()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await drained
        with contextlib.suppress(asyncio.CancelledError):
            await task
        while not queue.empty():
            self._drop(queue.get_nowait(), "the server is stopping")

    async def _run(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            delivery = await queue.get()
            try:
                await self._deliver(delivery)
            except asyncio.CancelledError:
                self._drop(delivery, "the server is stopping")
                raise
            except Exception:  # a bug here must not stop later deliveries
                self.failed += 1
                log.exception("webhook: delivery %s failed", delivery.id)
            finally:
                queue.task_done()

    async def _deliver(self, delivery: _Delivery) -> None:
        for attempt in range(1, self.max_attempts + 1):
            try:
                status = await asyncio.to_thread(self._post, delivery)
            except _Refused as refused:
                self.failed += 1
                log.warning(
                    "webhook: %s refused event %s (delivery %s): %s; not retried",
                    self.url,
                    delivery.event,
                    delivery.id,
                    refused,
                )
                return
            except _Retry as retry:
                if attempt == self.max_attempts:
                    self.failed += 1
                    log.error(
                        "webhook: gave up on event %s (delivery %s) after %d attempts: %s",
                        delivery.event,
                        delivery.id,
                        attempt,
                        retry,
                    )
                    return
                delay = self._delay(attempt, retry.after)
                log.info(
                    "webhook: attempt %d of delivery %s failed (%s); retrying in %.2f s",
                    attempt,
                    delivery.id,
                    retry,
                    delay,
                )
                await asyncio.sleep(delay)
            else:
                self.delivered += 1
                log.debug("webhook: delivered %s (%s) with %d", delivery.id, delivery.event, status)
                return

    def _delay(self, attempt: int, after: float | None) -> float:
        """Exponential backoff with jitter (half fixed, half random), or Retry-After."""
        if after is not None and after <= self.max_backoff:
            return after
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    def _post(self, delivery: _Delivery) -> int:
        """One attempt (in a worker thread): the status, or _Retry / _Refused."""
        timestamp = str(int(time.time()))
        headers: Mapping[str, str] = {
            "Content-Type": "application/json",
            "User-Agent": "mhs-fhir-webhook/1",
            EVENT_HEADER: delivery.event,
            DELIVERY_HEADER: delivery.id,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: sign(self._secret, timestamp, delivery.body),
        }
        request = urllib.request.Request(
            self.url, data=delivery.body, headers=dict(headers), method="POST"
        )
        try:
            with _opener.open(request, timeout=self.timeout) as response:
                response.read()
                status: int = response.status
                return status
        except urllib.error.HTTPError as error:
            with contextlib.suppress(OSError):
                error.read()
            error.close()
            if error.code in _RETRY_STATUSES:
                raise _Retry(f"HTTP {error.code}", after=_retry_after(error.headers)) from None
            raise _Refused(f"HTTP {error.code}") from None
        except (urllib.error.URLError, OSError, ValueError) as error:
            reason = getattr(error, "reason", error)
            raise _Retry(f"{type(error).__name__}: {reason}") from None


async def start_webhook(url: str, secret: str, **options: Any) -> WebhookSink | None:
    """Start a webhook sink for ``url`` and add it to the events sinks; None when ``url`` is
    empty (no webhook configured). ValueError for a bad URL or a missing secret."""
    if not url:
        return None
    sink = WebhookSink(url, secret, **options)
    await sink.start()
    add_sink(sink)
    log.info("webhook: events go to %s", url)
    return sink
