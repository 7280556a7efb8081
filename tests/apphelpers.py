"""Start the real app (tiny model, real worker process, embedded index) for end-to-end tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient

from dreamcache import cli
from dreamcache.app import create_app
from dreamcache.serving import uvicorn_config
from dreamcache.settings import Settings

READY_TIMEOUT_S = 120.0


def tiny_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Small, fast defaults: 64x64 images, 4 steps."""
    values: dict[str, Any] = {
        "model": "tiny",
        "data_dir": data_dir,
        "default_width": 64,
        "default_height": 64,
        "default_steps": 4,
        "batch_wait_ms": 5.0,
        "default_wait_s": 60.0,
    }
    values.update(overrides)
    return Settings(**values)


def wait_ready(client: Any, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Poll /readyz until 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if client.get("/readyz").status_code == 200:
            return
        time.sleep(0.1)
    raise AssertionError(f"not ready after {timeout_s} s: {client.get('/readyz').json()}")


@contextmanager
def running_app(
    settings: Settings, *, ready: bool = True, raise_server_exceptions: bool = True
) -> Iterator[TestClient]:
    """The app with its lifespan running (worker process included); with raise_server_exceptions=False an unhandled
    error is answered as a client sees it (500) instead of raised in the test."""
    with TestClient(create_app(settings), raise_server_exceptions=raise_server_exceptions) as client:
        if ready:
            wait_ready(client)
        yield client


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    app: FastAPI


@contextmanager
def live_server(settings: Settings) -> Iterator[LiveServer]:
    """The app behind a real uvicorn server on a loopback port."""
    port = free_port()
    app = create_app(settings)
    server = uvicorn.Server(uvicorn_config(app, settings, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    try:
        cli.wait_ready(base, READY_TIMEOUT_S)
        yield LiveServer(base, app)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
