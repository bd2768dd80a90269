"""The MLLP listener: HL7 v2 messages over TCP (MLLP framing: ``<VT> message <FS><CR>``),
each answered with an ACK only once what it says is stored.

- :class:`FrameDecoder` cuts a byte stream into frames, whatever the reads: a frame split over
  several reads, several frames in one read, bytes outside any frame (skipped), a frame
  restarted by a new ``<VT>`` before its end (the unfinished one is dropped), a frame longer
  than the limit (answered ``AR``), ``<FS>`` without the ``<CR>``.
- :class:`Listener` reads each connection's frames in order and hands them to one writer task,
  which imports whatever is waiting, from every connection, as one batch (group commit: one
  transaction for many messages) and then resolves each message's ACK: ``AA`` stored (or
  nothing to change), ``AE`` read but not importable (no such patient, a bad field), ``AR``
  refused (not HL7, a message type or event not taken). A connection's ACKs go out in the
  order of its messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import tzinfo

from fhir_server.interactions.context import Context
from mappings.imports import BATCH_RECORDS, Reject
from mappings.legacy.hl7v2.ack import ack
from mappings.legacy.hl7v2.read import REFUSED_FIELDS, read_message
from mappings.legacy.loader import batches, load_batch
from mappings.legacy.records import Facts

log = logging.getLogger("mhs_fhir.mllp")

START = 0x0B
END = 0x1C
CR = 0x0D
MAX_FRAME = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Frame:
    data: bytes
    error: str | None = None


class FrameDecoder:
    """MLLP framing, sans I/O: :meth:`feed` bytes as they come, get the complete frames."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()
        self._inside = False
        self._oversize = False
        self.skipped = 0
        """Bytes seen outside any frame (noise between frames, unfinished frames)."""

    def feed(self, data: bytes) -> list[Frame]:
        frames: list[Frame] = []
        position = 0
        while position < len(data):
            if not self._inside:
                start = data.find(START, position)
                if start < 0:
                    self.skipped += len(data) - position - data.count(CR, position)
                    break
                self.skipped += start - position - data.count(CR, position, start)
                self._inside, self._oversize = True, False
                self._buffer.clear()
                position = start + 1
                continue
            end = data.find(END, position)
            restart = data.find(START, position)
            if restart >= 0 and (end < 0 or restart < end):
                self.skipped += len(self._buffer) + restart - position + 1
                self._buffer.clear()
                self._oversize = False
                position = restart + 1
                continue
            chunk = data[position : end if end >= 0 else len(data)]
            if not self._oversize:
                if len(self._buffer) + len(chunk) > self.max_frame:
                    self._oversize = True
                    head = bytes(self._buffer[:256]) + chunk[: max(0, 256 - len(self._buffer))]
                    self._buffer = bytearray(head)
                else:
                    self._buffer.extend(chunk)
            if end < 0:
                break
            if self._oversize:
                frames.append(Frame(bytes(self._buffer), f"longer than {self.max_frame} bytes"))
            else:
                frames.append(Frame(bytes(self._buffer)))
            self._buffer.clear()
            self._inside = False
            position = end + 1
            if position < len(data) and data[position] == CR:
                position += 1
        return frames


def frame(message: str) -> bytes:
    """``message`` framed for MLLP (segments should end with CR)."""
    return b"\x0b" + message.encode("utf-8") + b"\x1c\x0d"


def decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


@dataclass(slots=True)
class _Pending:
    text: str
    done: asyncio.Future[str]
    error: str | None = None


@dataclass(slots=True)
class Stats:
    accepted: int = 0
    errors: int = 0
    refused: int = 0
    batches: int = 0
    skipped_bytes: int = 0
    by_code: dict[str, int] = field(default_factory=dict)


class Listener:
    """The MLLP server over one store context (see the module docstring)."""

    def __init__(
        self,
        ctx: Context,
        *,
        zone: tzinfo | None = None,
        batch_records: int = BATCH_RECORDS,
        source: str = "mllp",
    ) -> None:
        self.ctx = ctx
        self.zone = zone
        self.batch_records = batch_records
        self.source = source
        self.stats = Stats()
        self._queue: asyncio.Queue[_Pending] = asyncio.Queue()
        self._sequence = 0
        self._server: asyncio.Server | None = None
        self._writer_task: asyncio.Task[None] | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> int:
        """Listen on ``host:port`` (port 0: any free one); the port."""
        self._writer_task = asyncio.create_task(self._write_loop())
        self._server = await asyncio.start_server(self._connection, host, port)
        sockets = self._server.sockets
        return int(sockets[0].getsockname()[1]) if sockets else port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._connections):
            task.cancel()
        if self._writer_task is not None:
            self._writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._writer_task

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        decoder = FrameDecoder()
        acks: asyncio.Queue[asyncio.Future[str] | None] = asyncio.Queue()
        sender = asyncio.create_task(self._send_acks(acks, writer))
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for item in decoder.feed(data):
                    pending = _Pending(
                        decode(item.data), asyncio.get_running_loop().create_future(), item.error
                    )
                    await acks.put(pending.done)
                    await self._queue.put(pending)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self.stats.skipped_bytes += decoder.skipped
            await acks.put(None)
            with contextlib.suppress(Exception):
                await sender
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
            if task is not None:
                self._connections.discard(task)

    async def _send_acks(
        self, acks: asyncio.Queue[asyncio.Future[str] | None], writer: asyncio.StreamWriter
    ) -> None:
        while True:
            done = await acks.get()
            if done is None:
                return
            answer = await done
            writer.write(frame(answer))
            await writer.drain()

    async def _write_loop(self) -> None:
        while True:
            group = [await self._queue.get()]
            while len(group) < self.batch_records and not self._queue.empty():
                group.append(self._queue.get_nowait())
            try:
                await self.process(group)
            except Exception as error:  # the batch could not be stored: say so to each sender
                log.exception("could not store an MLLP batch")
                for pending in group:
                    if not pending.done.done():
                        pending.done.set_result(
                            ack(pending.text, "AE", reason=f"not stored: {error}")
                        )

    async def process(self, group: Sequence[_Pending]) -> None:
        """Read, import (one transaction per batch) and answer ``group``."""
        lines: dict[int, _Pending] = {}
        facts: list[Facts | Reject] = []
        for pending in group:
            self._sequence += 1
            lines[self._sequence] = pending
            if pending.error is not None:
                facts.append(Reject(self._sequence, "(message)", "", pending.error))
                continue
            facts.extend(read_message(pending.text, line=self._sequence, zone=self.zone))
        rejects: list[Reject] = []
        for batch in batches(facts, lambda: self.batch_records, rejects):
            result = await load_batch(self.ctx, batch, source=self.source, hl7=True)
            rejects.extend(result.rejects)
        self.stats.batches += 1
        first: dict[int, Reject] = {}
        for reject in rejects:
            first.setdefault(reject.line, reject)
        for line, pending in lines.items():
            problem = first.get(line)
            if problem is None:
                code, answer = "AA", ack(pending.text, "AA")
                self.stats.accepted += 1
            else:
                code = "AR" if problem.field in REFUSED_FIELDS else "AE"
                answer = ack(pending.text, code, field=problem.field, reason=problem.reason)
                if code == "AR":
                    self.stats.refused += 1
                else:
                    self.stats.errors += 1
            self.stats.by_code[code] = self.stats.by_code.get(code, 0) + 1
            pending.done.set_result(answer)


async def serve(
    ctx: Context,
    *,
    host: str,
    port: int,
    zone: tzinfo | None = None,
    ready: Callable[[int], Awaitable[None] | None] | None = None,
) -> None:
    """Run a listener until cancelled."""
    listener = Listener(ctx, zone=zone)
    bound = await listener.start(host, port)
    if ready is not None:
        result = ready(bound)
        if result is not None:
            await result
    try:
        await asyncio.Event().wait()
    finally:
        await listener.close()
