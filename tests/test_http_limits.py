"""HTTP limits through a real uvicorn server: body size (413), body and header timeouts, connection cap."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from apphelpers import LiveServer, live_server, tiny_settings

POLL_LIMIT_S = 30.0  # a bound that turns a hang into a failure, far above any real wait


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The same guards on both HTTP parsers (httptools is the default)."""
    settings = tiny_settings(tmp_path_factory.mktemp("limits"), max_body_bytes=4096, body_timeout_s=1.0,
                             header_timeout_s=1.0, http_parser=request.param)
    with live_server(settings) as running:
        yield running


def raw(server: LiveServer, payload: bytes, wait_s: float = 0.0) -> bytes:
    """Send bytes on a fresh connection, optionally wait, and return what the server answered before closing."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(payload)
        if wait_s:
            time.sleep(wait_s)
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def healthz_until(server: LiveServer, status: int) -> int:
    """Poll GET /healthz until it answers `status` (bounded: a hang becomes a failure); the last status seen."""
    deadline = time.monotonic() + POLL_LIMIT_S
    while True:
        seen = httpx.get(f"{server.url}/healthz").status_code
        if seen == status or time.monotonic() > deadline:
            return seen
        time.sleep(0.02)


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(server: LiveServer) -> None:
    answer = raw(server, b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 300000000\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 413")
    assert b'"type": "body_too_large"' in answer and b'"field": "body"' in answer


def test_a_streamed_body_over_the_limit_is_413(server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"prompt": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    response = httpx.post(f"{server.url}/generate", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["error"]["type"] == "body_too_large"
    small = httpx.post(f"{server.url}/generate", json={"prompt": "a cat", "cache": "only"})
    assert small.status_code in (200, 404)  # under the limit: served as usual


def test_a_body_that_stops_arriving_is_408(server: LiveServer) -> None:
    answer = raw(server, b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100\r\n\r\n{\"prompt\": ", wait_s=0.1)
    assert answer.startswith(b"HTTP/1.1 408") and b'"type": "body_timeout"' in answer


def test_headers_that_never_end_close_the_connection(server: LiveServer) -> None:
    host, port = server.url.removeprefix("http://").split(":")
    # The client waits far longer than the 1 s header timeout: the server, not the client, must end it.
    with socket.create_connection((host, int(port)), timeout=POLL_LIMIT_S) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
        try:
            answer = sock.recv(65536)
        except ConnectionResetError:
            answer = b""
    assert answer == b""  # closed by the server, unanswered (a client timeout raises instead)
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # the server itself is fine


def test_headers_over_16_kib_are_refused(server: LiveServer) -> None:
    answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"y" * 20_000 + b"\r\n\r\n")
    assert answer.startswith((b"HTTP/1.1 400", b"HTTP/1.1 431"))  # refused, never served
    assert b"ok" not in answer
    small = b"X-Small: " + b"y" * 1000
    fine = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + small + b"\r\nConnection: close\r\n\r\n")
    assert fine.startswith(b"HTTP/1.1 200")


def test_connections_beyond_the_cap_get_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = tiny_settings(tmp_path_factory.mktemp("cap"), max_connections=2, header_timeout_s=30.0)
    with live_server(settings) as running:
        host, port = running.url.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port))) for _ in range(2)]
        try:
            assert healthz_until(running, 503) == 503  # once the server has accepted both held connections
        finally:
            for sock in held:
                sock.close()
        assert healthz_until(running, 200) == 200  # once it has seen them close
