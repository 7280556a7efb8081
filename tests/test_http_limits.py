"""HTTP limits through a real uvicorn server: body size (413), body and header timeouts, connection cap."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from apphelpers import LiveServer, live_server, tiny_settings
from dreamcache.serving import uvicorn_config


@pytest.fixture(scope="module", params=["httptools", "h11"])
def server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[LiveServer]:
    """The same guards on both HTTP parsers (httptools is the default)."""
    settings = tiny_settings(tmp_path_factory.mktemp("limits"), max_body_bytes=4096, body_timeout_s=1.0,
                             body_total_timeout_s=2.0, header_timeout_s=1.0, http_parser=request.param)
    with live_server(settings) as running:
        yield running


def json_error(answer: bytes) -> tuple[str, str | None]:
    """(type, field) of the JSON error body of a raw HTTP answer, in the service's compact error shape."""
    body = answer.split(b"\r\n\r\n", 1)[1]
    assert body.startswith(b'{"error":{"type":'), body  # byte for byte as the routes write it
    error = json.loads(body)["error"]
    assert set(error) == {"type", "message", "field"} and error["message"]
    return error["type"], error["field"]


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


def test_a_declared_body_over_the_limit_is_413_before_it_is_read(server: LiveServer) -> None:
    answer = raw(server, b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 300000000\r\n\r\n{")
    assert answer.startswith(b"HTTP/1.1 413")
    assert json_error(answer) == ("body_too_large", "body")


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
    assert answer.startswith(b"HTTP/1.1 408") and json_error(answer) == ("body_timeout", "body")


def test_headers_that_never_end_close_the_connection(server: LiveServer) -> None:
    started = time.monotonic()
    answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: 1")
    assert answer == b"" and time.monotonic() - started < 5  # closed after the 1 s header timeout
    assert httpx.get(f"{server.url}/healthz").status_code == 200  # the server itself is fine


def test_headers_over_16_kib_are_431_in_the_error_shape(server: LiveServer) -> None:
    answer = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"X-Big: " + b"y" * 20_000 + b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 431") and json_error(answer) == ("headers_too_large", "headers")
    small = b"X-Small: " + b"y" * 1000
    fine = raw(server, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + small + b"\r\nConnection: close\r\n\r\n")
    assert fine.startswith(b"HTTP/1.1 200")


def test_an_unfinished_header_line_is_cut_off_at_16_kib(server: LiveServer) -> None:
    """A header line that never ends, pushed in 64 KiB pieces: refused once 16 KiB arrived, not at the deadline."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Grow: ")
        sent = 0
        try:
            while sent < 8 * 2**20:  # the old server took all of it until the header deadline
                sock.sendall(b"a" * 65536)
                sent += 65536
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (ConnectionResetError, TimeoutError):
            pass
    assert answer.startswith(b"HTTP/1.1 431"), (sent, answer[:200])
    assert json_error(answer) == ("headers_too_large", "headers")
    assert sent < 8 * 2**20


def test_a_malformed_request_is_400_in_the_error_shape(server: LiveServer) -> None:
    answer = raw(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400") and json_error(answer) == ("bad_request", None)


def test_a_body_trickled_a_byte_at_a_time_is_cut_off(server: LiveServer) -> None:
    """Each byte within the per-piece timeout (1 s), the whole body past the total one (2 s): 408."""
    host, port = server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /generate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: 100\r\n\r\n")
        answer = b""
        for _ in range(20):  # 20 x 0.3 s: far past the 2 s bound if nothing cuts it off
            try:
                sock.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                break
            time.sleep(0.3)
            sock.setblocking(False)
            try:
                answer += sock.recv(65536)
            except BlockingIOError:
                pass
            finally:
                sock.setblocking(True)
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408") and json_error(answer) == ("body_timeout", "body")
    assert b"in all" in answer


def test_forwarded_headers_are_believed_only_from_configured_proxies(tmp_path: Path) -> None:
    """uvicorn believes X-Forwarded-For from 127.0.0.1 by default, so one local client could pick a new address
    (and rate-limit bucket) per request: only DREAMCACHE_FORWARDED_ALLOW_IPS are believed."""
    seen: list[Any] = []

    async def echo(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"])

    scope = {"type": "http", "client": ("127.0.0.1", 5000), "scheme": "http", "headers": [
        (b"x-forwarded-for", b"203.0.113.9")]}
    for allowed, expected in (([], "127.0.0.1"), (["127.0.0.1"], "203.0.113.9")):
        config = uvicorn_config(echo, tiny_settings(tmp_path, forwarded_allow_ips=allowed))
        config.load()
        asyncio.run(config.loaded_app(dict(scope), None, None))
        assert seen.pop()[0] == expected, allowed


def test_connections_beyond_the_cap_get_503(tmp_path_factory: pytest.TempPathFactory) -> None:
    settings = tiny_settings(tmp_path_factory.mktemp("cap"), max_connections=2, header_timeout_s=30.0)
    with live_server(settings) as running:
        host, port = running.url.removeprefix("http://").split(":")
        held = [socket.create_connection((host, int(port))) for _ in range(2)]
        try:
            time.sleep(0.2)
            over = httpx.get(f"{running.url}/healthz")
            assert over.status_code == 503 and over.json()["error"]["type"] == "over_capacity"
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.2)
        assert httpx.get(f"{running.url}/healthz").status_code == 200
