"""A real Redis for tests: Debian's `redis-server` on a free 127.0.0.1 port in a temporary directory.

    with redis_server(tmp_path) as server:
        settings = tiny_settings(tmp_path, redis_url=server.url)
        server.stop(); server.start()  # Redis going away and coming back (same port, same directory)

`make test` installs redis-server (root + apt-get, like chromium); where it cannot be installed the tests that
need it skip with that reason. With `aof=True` the server writes an append-only file (fsync every write), so a
restart keeps what was written; without it a restart loses everything (no RDB snapshots either).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
MISSING_REASON = "redis-server is not installed (`make redis-deps` installs Debian's as root)"


def have_redis() -> bool:
    return Path(REDIS_SERVER).is_file()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One redis-server process; `stop()` and `start()` again keep its port and directory."""

    def __init__(self, directory: Path, *, aof: bool = False) -> None:
        self.directory = directory
        self.aof = aof
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        args = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.directory),
                "--save", "", "--daemonize", "no", "--logfile", str(self.directory / "redis.log"),
                "--protected-mode", "no"]
        if self.aof:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"redis-server exited with {self.process.returncode}: {log}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"redis-server on port {self.port} did not answer within 10 s")

    def stop(self, *, kill: bool = False) -> None:
        """Stop it (SIGTERM: with AOF on, what was written is on disk; `kill`: SIGKILL, nothing more)."""
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None


@contextmanager
def redis_server(directory: Path, *, aof: bool = False) -> Iterator[RedisServer]:
    """A started redis-server (skips the test where none is installed); stopped at the end."""
    if not have_redis():
        pytest.skip(MISSING_REASON)
    server = RedisServer(directory, aof=aof)
    server.start()
    try:
        yield server
    finally:
        server.stop()
