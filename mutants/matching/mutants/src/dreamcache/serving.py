"""How uvicorn serves the app: uvloop and httptools, connection cap, keep-alive, and guards on request headers.

uvicorn times out idle keep-alive connections but not a client that opens a connection and sends
its headers a byte at a time (slowloris): the guarded protocols close a connection whose request
headers are not complete within `header_timeout_s`, and refuse request headers over 16 KiB.
`GuardedHttpToolsProtocol` (httptools, the C parser: the default) and `GuardedH11Protocol` (pure
Python, `DREAMCACHE_HTTP_PARSER=h11`) do the same. Bodies are guarded by `api.guards.BodyGuard`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import h11
import httptools
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dreamcache.settings import Settings

MAX_HEADER_BYTES = 16 * 1024  # request line + headers


class HeaderDeadline:
    """Closes a connection whose request line and headers are not complete within `timeout_s` of being armed."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, transport: asyncio.Transport, timeout_s: float,
        waiting: Callable[[], bool],
    ) -> None:
        self._loop, self._transport, self._timeout_s, self._waiting = loop, transport, timeout_s, waiting
        self._timer: asyncio.TimerHandle | None = None

    def arm(self) -> None:
        """Start (or restart) the deadline: a new connection, or the next request on a kept-alive one."""
        self.disarm()
        if not self._transport.is_closing():
            self._timer = self._loop.call_later(self._timeout_s, self._overdue)

    def disarm(self) -> None:
        """A request's headers arrived (or the connection is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _overdue(self) -> None:
        self._timer = None
        if self._waiting() and not self._transport.is_closing():
            self._transport.close()  # no complete request line and headers in time


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus: request headers within `header_timeout_s` and `MAX_HEADER_BYTES`."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = HeaderDeadline(self.loop, transport, self.header_timeout_s,
                                        lambda: self.conn.their_state is h11.IDLE)
        self._deadline.arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            # h11 limits only a head still incomplete: a 20 KiB head sent at once would pass. Count it here.
            head = bytes(self.conn.trailing_data[0]) + data
            end = head.find(b"\r\n\r\n")
            if end > MAX_HEADER_BYTES or (end == -1 and len(head) > MAX_HEADER_BYTES):
                self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\nconnection: close\r\n"
                                     b"content-length: 0\r\n\r\n")
                self.transport.close()
                return
        super().data_received(data)

    def handle_events(self) -> None:
        super().handle_events()
        if self.conn.their_state is not h11.IDLE:
            self._deadline.disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.disarm()
        super().connection_lost(exc)


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, plus: request headers within `header_timeout_s` and `MAX_HEADER_BYTES`."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = HeaderDeadline(self.loop, transport, self.header_timeout_s, lambda: True)
        self._header_bytes = 0
        self._deadline.arm()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            # Raised inside the parser's callback: uvicorn answers 400 and closes, as h11 does for its limit.
            raise httptools.HttpParserError(f"request line and headers over {MAX_HEADER_BYTES} bytes")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._deadline.disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.disarm()
        super().connection_lost(exc)


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn config `dreamcache serve` (and the live-server tests) run with."""
    guarded = GuardedHttpToolsProtocol if settings.http_parser == "httptools" else GuardedH11Protocol
    protocol = type(f"Guarded{settings.http_parser}", (guarded,), {"header_timeout_s": settings.header_timeout_s})
    values: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": protocol,
        "loop": settings.event_loop,
        "limit_concurrency": settings.max_connections,  # beyond it uvicorn answers 503
        "timeout_keep_alive": settings.keep_alive_s,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES,
        "log_level": "info",
    }
    values.update(overrides)
    return uvicorn.Config(app, **values)
