"""The MLLP listener over a real socket: framing edge cases (split frames, two messages in one
read, noise between frames), an ACK per message in order, sent only once the message is stored:
AA stored, AE not importable (with the reason), AR refused."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from fhir_server.interactions.context import Context
from mappings.legacy.codes import APPOINTMENT_ID
from mappings.legacy.generator import generate_population
from mappings.legacy.hl7v2 import write as hl7
from mappings.legacy.mllp import MAX_FRAME, Frame, FrameDecoder, Listener, frame

from .support import by_identifier, import_eligibility, make_runner, resources

VT, FS, CR = b"\x0b", b"\x1c", b"\r"


def test_a_frame_split_over_many_reads_is_one_frame() -> None:
    decoder = FrameDecoder()
    data = frame("MSH|^~\\&|A\rPID|1")
    frames: list[Frame] = []
    for i in range(len(data)):
        frames += decoder.feed(data[i : i + 1])
    assert frames == [Frame(b"MSH|^~\\&|A\rPID|1")]


def test_two_frames_in_one_read_and_noise_between_them() -> None:
    decoder = FrameDecoder()
    data = b"noise\r\n" + frame("ONE") + b"\r\n  junk" + frame("TWO") + b"trailing"
    assert decoder.feed(data) == [Frame(b"ONE"), Frame(b"TWO")]
    assert decoder.skipped == len(b"noise\n") + len(b"\n  junk") + len(b"trailing")


def test_a_frame_restarted_before_its_end_drops_the_unfinished_one() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(VT + b"HALF" + VT + b"WHOLE" + FS + CR) == [Frame(b"WHOLE")]


def test_fs_without_cr_ends_a_frame_and_a_frame_may_end_in_the_next_read() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(VT + b"A" + FS + VT + b"B") == [Frame(b"A")]
    assert decoder.feed(b"C" + FS) == [Frame(b"BC")]
    assert decoder.feed(CR + frame("D")) == [Frame(b"D")]


def test_an_oversized_frame_is_reported_not_kept() -> None:
    decoder = FrameDecoder(max_frame=10)
    [big] = decoder.feed(VT + b"x" * 25 + FS + CR)
    assert big.error == "longer than 10 bytes" and len(big.data) <= 256
    assert decoder.feed(frame("ok")) == [Frame(b"ok")]
    assert MAX_FRAME >= 1024 * 1024


async def _acks(reader: asyncio.StreamReader, count: int) -> list[list[str]]:
    decoder, out = FrameDecoder(), list[list[str]]()
    while len(out) < count:
        data = await asyncio.wait_for(reader.read(65536), 10)
        assert data, "the listener closed the connection"
        out += [f.data.decode().split("\r") for f in decoder.feed(data)]
    return out


def _msa(ack: list[str]) -> list[str]:
    return next(s for s in ack if s.startswith("MSA|")).split("|")


@pytest.fixture
def run(tmp_path: Path) -> Any:
    return make_runner(f"sqlite:///{tmp_path}/mllp.db")


def test_messages_over_a_socket_are_acknowledged_once_stored(run: Any) -> None:
    population = generate_population(2, seed=3)
    people = {m.person.dod_id: m.person for m in population.people}
    _, booked, _ = population.siu[0]
    person = people[booked.dod_id]
    siu = hl7.siu("S12", booked, person, control="C1")
    stranger = dataclasses.replace(person, dod_id="9999999999")
    unknown = hl7.siu(
        "S12", dataclasses.replace(booked, appointment_id="X9"), stranger, control="C2"
    )
    adt = population.adt[0] if population.adt else None
    update = hl7.adt(adt, people[adt.dod_id], control="C3") if adt else siu.replace("C1", "C3")
    oru = "MSH|^~\\&|LAB|0123|MHS|MHS|20261001||ORU^R01|C4|P|2.5.1\rPID|1"

    async def work(ctx: Context) -> tuple[list[list[str]], list[str], Any]:
        await import_eligibility(ctx, 2, 3)
        listener = Listener(ctx)
        port = await listener.start("127.0.0.1", 0)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            data = frame(siu)
            for part in (data[:5], data[5:40], data[40:]):  # one frame over three writes
                writer.write(part)
                await writer.drain()
                await asyncio.sleep(0.01)
            [first] = await _acks(reader, 1)
            # The AA came: the appointment is stored already.
            stored = by_identifier(await resources(ctx, "Appointment"), APPOINTMENT_ID)
            seen_at_ack = sorted(stored)
            # Two messages in one write, noise, a message type not taken, a frame of garbage.
            writer.write(frame(update) + frame(unknown) + b"\r\nnoise\r\n" + frame(oru))
            writer.write(frame("this is not HL7"))
            await writer.drain()
            rest = await _acks(reader, 4)
            writer.close()
            await writer.wait_closed()
        finally:
            await listener.close()
        return [first, *rest], seen_at_ack, listener.stats

    acks, seen_at_ack, stats = run(work)
    assert seen_at_ack == [booked.appointment_id]
    assert [_msa(a)[1:3] for a in acks] == [
        ["AA", "C1"],
        ["AA", "C3"],
        ["AE", "C2"],
        ["AR", "C4"],
        ["AR", ""],
    ]
    assert _msa(acks[2])[3].startswith("no patient with DoD ID 9999999999")
    assert acks[2][2].startswith("ERR||PID^1^3|204^Unknown key identifier")
    assert _msa(acks[3])[3].startswith("not imported; supported:")
    assert acks[0][0].split("|")[8] == "ACK^S12^ACK"
    assert stats.skipped_bytes == len(b"\nnoise\n")  # CRs between frames are not noise


def test_concurrent_senders_are_stored_together_and_answered_in_order(run: Any) -> None:
    population = generate_population(3, seed=8)
    people = {m.person.dod_id: m.person for m in population.people}
    messages = [
        hl7.siu(event, facts, people[facts.dod_id], control=f"K{i}")
        for i, (event, facts, _) in enumerate(population.siu)
    ]
    assert len(messages) >= 4

    async def work(ctx: Context) -> tuple[list[list[list[str]]], Any, int]:
        await import_eligibility(ctx, 3, 8)
        listener = Listener(ctx)
        port = await listener.start("127.0.0.1", 0)

        async def sender(share: list[str]) -> list[list[str]]:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"".join(frame(m) for m in share))  # pipelined
            await writer.drain()
            acks = await _acks(reader, len(share))
            writer.close()
            await writer.wait_closed()
            return acks

        try:
            shares = [messages[i::4] for i in range(4)]
            results = await asyncio.gather(*(sender(s) for s in shares))
        finally:
            await listener.close()
        return list(results), listener.stats, len(await resources(ctx, "Appointment"))

    results, stats, stored = run(work)
    for share, acks in zip([messages[i::4] for i in range(4)], results, strict=True):
        controls = [m.split("\r")[0].split("|")[9] for m in share]
        assert [_msa(a)[1:3] for a in acks] == [["AA", c] for c in controls]
    assert stats.accepted == len(messages)
    assert stats.batches < len(messages)  # group commit: several messages a transaction
    assert stored == len({f.appointment_id for _, f, _ in population.siu})
