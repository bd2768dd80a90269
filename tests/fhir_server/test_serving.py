"""How the server meets the network: what one turn of the event loop writes to a connection
goes out as one send, and every byte of every response still arrives, in order."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.serving import _Coalescing, uvicorn_options
from fhir_server.testing import running_server


class Recording(asyncio.Transport):
    """A transport that remembers each write it is given (the socket's side)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.closed, "written after close"
        self.sent.append(bytes(data))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed


def run(check: Any) -> None:
    asyncio.run(check())


def test_writes_in_one_turn_of_the_loop_are_sent_as_one() -> None:
    async def check() -> None:
        socket_side = Recording()
        transport = _Coalescing(socket_side, asyncio.get_running_loop())
        transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
        transport.write(b"{}")
        assert socket_side.sent == []
        await asyncio.sleep(0)
        assert socket_side.sent == [b"HTTP/1.1 200 OK\r\n\r\n{}"]

    run(check)


def test_writes_past_the_hold_limit_go_at_once() -> None:
    async def check() -> None:
        socket_side = Recording()
        transport = _Coalescing(socket_side, asyncio.get_running_loop())
        transport.write(b"head")
        transport.write(b"x" * _Coalescing.HOLD_BYTES)
        assert socket_side.sent == [b"head" + b"x" * _Coalescing.HOLD_BYTES]
        transport.write(b"tail")
        await asyncio.sleep(0)
        assert socket_side.sent[1:] == [b"tail"]

    run(check)


def test_closing_sends_what_is_held_first() -> None:
    async def check() -> None:
        socket_side = Recording()
        transport = _Coalescing(socket_side, asyncio.get_running_loop())
        transport.write(b"last response")
        transport.close()
        assert socket_side.sent == [b"last response"]
        assert socket_side.closed
        await asyncio.sleep(0)  # the turn's end finds nothing more to send
        assert socket_side.sent == [b"last response"]

    run(check)


def test_nothing_is_written_once_the_client_has_gone() -> None:
    async def check() -> None:
        socket_side = Recording()
        transport = _Coalescing(socket_side, asyncio.get_running_loop())
        transport.write(b"answer")
        socket_side.close()  # the connection is lost before the turn ends
        await asyncio.sleep(0)
        assert socket_side.sent == []

    run(check)


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("serving")
    settings = Settings(database_url=f"sqlite:///{folder}/serving.db", insecure_no_auth=True)
    with running_server(settings) as url:
        yield url


def read_responses(sock: socket.socket, count: int) -> list[tuple[bytes, bytes]]:
    """``count`` responses (head, body) read off ``sock`` by their Content-Length."""
    data, out = b"", []
    sock.settimeout(10)
    while len(out) < count:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end]
            length = next(
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            )
            end = head_end + 4 + length
            if len(data) >= end:
                out.append((head, data[head_end + 4 : end]))
                data = data[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection early"
        data += chunk
    return out


def test_pipelined_requests_are_answered_in_order(base_url: str) -> None:
    ids = []
    for family in ("First", "Second", "Third"):
        patient = {"resourceType": "Patient", "name": [{"family": family}]}
        ids.append(httpx.post(f"{base_url}/Patient", json=patient).json()["id"])
    url = httpx.URL(base_url)
    assert url.host and url.port
    with socket.create_connection((url.host, url.port)) as sock:
        sock.sendall(
            b"".join(f"GET /fhir/Patient/{id} HTTP/1.1\r\nHost: x\r\n\r\n".encode() for id in ids)
        )
        answers = read_responses(sock, 3)
    assert [json.loads(body)["id"] for _, body in answers] == ids
    assert all(head.startswith(b"HTTP/1.1 200 ") for head, _ in answers)


def test_a_response_larger_than_the_hold_limit_arrives_whole(base_url: str) -> None:
    text = "x" * (3 * _Coalescing.HOLD_BYTES)
    patient = {
        "resourceType": "Patient",
        "text": {
            "status": "generated",
            "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{text}</div>',
        },
    }
    created = httpx.post(f"{base_url}/Patient", json=patient)
    assert created.status_code == 201, created.text
    read = httpx.get(f"{base_url}/Patient/{created.json()['id']}")
    assert read.status_code == 200
    assert read.json()["text"] == patient["text"]


def test_a_response_that_closes_the_connection_is_sent_whole_first(base_url: str) -> None:
    url = httpx.URL(base_url)
    assert url.host and url.port
    with socket.create_connection((url.host, url.port)) as sock:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        [(head, body)] = read_responses(sock, 1)
        assert head.startswith(b"HTTP/1.1 200 ")
        assert json.loads(body)["resourceType"] == "CapabilityStatement"
        assert sock.recv(1) == b""  # and then the connection is closed


@pytest.mark.parametrize(("level", "logged"), [("debug", True), ("info", True), ("warning", False)])
def test_uvicorn_formats_access_log_lines_only_at_levels_that_print_them(
    level: str, logged: bool
) -> None:
    assert uvicorn_options(Settings(log_level=level))["access_log"] is logged
