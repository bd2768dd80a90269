"""Limits: what one request may ask of the server is bounded by settings; over a limit the
answer is a clear OperationOutcome, and slow clients are cut off instead of holding a worker.

The server here runs with small limits so that each one is easy to cross.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fhir_server.config import Settings
from fhir_server.testing import running_server

FHIR = {"content-type": "application/fhir+json", "accept": "application/fhir+json"}
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder: Path = tmp_path_factory.mktemp("limits")
    settings = Settings(
        database_url=f"sqlite:///{folder}/limits.db",
        insecure_no_auth=True,
        max_body_bytes=64 * 1024,
        max_bundle_entries=5,
        max_search_params=6,
        max_chain_depth=2,
        max_included=3,
        request_timeout=TIMEOUT,
    )
    with running_server(settings) as url:
        yield url


@pytest.fixture
def client(base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url + "/", headers=FHIR, timeout=30.0) as http:
        yield http


def outcome(answer: httpx.Response, status: int, code: str) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert (issue["severity"], issue["code"]) == ("error", code)
    return str(issue["diagnostics"])


def patient(id: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": id, "name": [{"family": "Limit"}]}


def transaction(entries: int, prefix: str) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": patient(f"{prefix}-{i}"),
                "request": {"method": "PUT", "url": f"Patient/{prefix}-{i}"},
            }
            for i in range(entries)
        ],
    }


def test_a_bundle_within_the_entry_limit_is_processed(client: httpx.Client) -> None:
    assert client.post("", json=transaction(5, "within")).status_code == 200


def test_a_bundle_over_the_entry_limit_is_413_and_stores_nothing(client: httpx.Client) -> None:
    said = outcome(client.post("", json=transaction(6, "over")), 413, "too-costly")
    assert "6 entries" in said and "max_bundle_entries" in said
    assert client.get("Patient/over-0").status_code == 404


def test_a_batch_over_the_entry_limit_is_413(client: httpx.Client) -> None:
    batch = {**transaction(6, "batch"), "type": "batch"}
    outcome(client.post("", json=batch), 413, "too-costly")
    assert client.get("Patient/batch-0").status_code == 404


def test_a_body_over_the_size_limit_is_413(client: httpx.Client) -> None:
    big = {**patient("big"), "text": {"status": "generated", "div": "x" * 70_000}}
    outcome(client.put("Patient/big", json=big), 413, "too-costly")


def test_a_search_over_the_parameter_limit_is_400_too_costly(client: httpx.Client) -> None:
    answer = client.get("Patient", params={"name": "a,b,c,d", "gender": "male,female,other"})
    assert "max_search_params" in outcome(answer, 400, "too-costly")


def test_a_search_within_the_parameter_limit_is_answered(client: httpx.Client) -> None:
    answer = client.get("Patient", params={"name": "a,b,c", "gender": "male,female"})
    assert answer.status_code == 200, answer.text


def test_a_chain_within_the_depth_limit_is_answered(client: httpx.Client) -> None:
    answer = client.get("Observation", params={"subject:Patient.organization.name": "x"})
    assert answer.status_code == 200, answer.text


def test_a_chain_over_the_depth_limit_is_400_too_costly(client: httpx.Client) -> None:
    query = {"subject:Patient.organization.partof.name": "x"}
    assert "max_chain_depth" in outcome(client.get("Observation", params=query), 400, "too-costly")


def test_nested_has_over_the_depth_limit_is_400_too_costly(client: httpx.Client) -> None:
    name = "_has:Observation:subject:_has:Provenance:target:_has:AuditEvent:entity:type"
    outcome(client.get("Patient", params={name: "x"}), 400, "too-costly")


def test_includes_over_the_fan_out_limit_are_400_too_costly(client: httpx.Client) -> None:
    assert client.put("Patient/fan", json=patient("fan")).status_code == 201
    for i in range(4):
        observation = {
            "resourceType": "Observation",
            "id": f"fan-{i}",
            "status": "final",
            "code": {"text": "fan-out"},
            "subject": {"reference": "Patient/fan"},
        }
        assert client.put(f"Observation/fan-{i}", json=observation).status_code == 201
    within = client.get("Patient", params={"_id": "fan", "_revinclude": "Observation:subject"})
    assert within.status_code == 400  # four would be included; three are allowed
    assert "max_included" in outcome(within, 400, "too-costly")
    client.delete("Observation/fan-3")
    allowed = client.get("Patient", params={"_id": "fan", "_revinclude": "Observation:subject"})
    assert allowed.status_code == 200
    assert len(allowed.json()["entry"]) == 4  # the Patient and its three Observations


def _address(base_url: str) -> tuple[str, int]:
    url = httpx.URL(base_url)
    assert url.host and url.port
    return url.host, url.port


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes ``sock`` (EOF or reset) within ``seconds``."""
    sock.settimeout(seconds)
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_a_client_that_never_finishes_its_headers_is_cut_off(base_url: str) -> None:
    host, port = _address(base_url)
    with socket.create_connection((host, port)) as sock:
        sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\nHost: x\r\n")  # no blank line, ever
        started = time.monotonic()
        assert _closed_within(sock, TIMEOUT * 5)
        assert time.monotonic() - started < TIMEOUT * 5


def test_a_connection_that_sends_nothing_is_cut_off(base_url: str) -> None:
    host, port = _address(base_url)
    with socket.create_connection((host, port)) as sock:
        assert _closed_within(sock, TIMEOUT * 5)


def test_slow_clients_do_not_keep_others_waiting(base_url: str) -> None:
    host, port = _address(base_url)
    slow = [socket.create_connection((host, port)) for _ in range(50)]
    try:
        for sock in slow:
            sock.sendall(b"GET /fhir/metadata HTTP/1.1\r\n")
        answer = httpx.get(f"{base_url}/metadata", timeout=TIMEOUT * 2)
        assert answer.status_code == 200
    finally:
        for sock in slow:
            sock.close()


def test_a_body_that_arrives_too_slowly_is_408(base_url: str) -> None:
    host, port = _address(base_url)
    body = b'{"resourceType": "Patient", "id": "slow"}'
    head = (
        b"PUT /fhir/Patient/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/fhir+json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
    )
    with socket.create_connection((host, port)) as sock:
        sock.sendall(head + body[:10])  # the rest never comes
        sock.settimeout(TIMEOUT * 5)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b'"OperationOutcome"' in answer and b'"timeout"' in answer
    assert httpx.get(f"{base_url}/Patient/slow").status_code == 404


def test_a_client_sending_requests_one_after_another_is_not_cut_off(base_url: str) -> None:
    with httpx.Client(base_url=base_url + "/") as http:
        for _ in range(3):
            assert http.get("metadata").status_code == 200
            time.sleep(TIMEOUT * 0.6)  # each request starts well within its own time
