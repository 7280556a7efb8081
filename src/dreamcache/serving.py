"""How uvicorn serves the app: uvloop and httptools, connection cap, keep-alive, and guards on request headers.

uvicorn times out idle keep-alive connections but not a client that opens a connection and sends
its headers a byte at a time (slowloris): the guarded protocols close a connection whose request
headers are not complete within `header_timeout_s`, and refuse request headers over 16 KiB.
`GuardedHttpToolsProtocol` (httptools, the C parser: the default) and `GuardedH11Protocol` (pure
Python, `DREAMCACHE_HTTP_PARSER=h11`) do the same. The head limit counts bytes as they arrive, so an
unfinished header line that never ends is cut off at 16 KiB too (431), not only complete lines.
Bodies are guarded by `api.guards.BodyGuard`.

What this layer answers itself (431 head too large, 400 malformed request, 503 over the connection
cap) uses the service's one error shape, `{"error": {"type", "message", "field"}}`, as the routes do.

Forwarded headers (`X-Forwarded-For`, `X-Forwarded-Proto`) are believed only from the addresses in
`DREAMCACHE_FORWARDED_ALLOW_IPS` (empty by default: nobody, so a client cannot pick its own address
and with it its rate-limit bucket).
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

from dreamcache.api.guards import error_json
from dreamcache.settings import Settings

MAX_HEADER_BYTES = 16 * 1024  # request line + headers
_REASONS = {400: b"Bad Request", 431: b"Request Header Fields Too Large", 503: b"Service Unavailable"}


def raw_error(status: int, type_: str, message: str, field: str | None = None) -> bytes:
    """A whole HTTP/1.1 error response in the service's error shape, for the protocol layer to write and close."""
    body = error_json(type_, message, field)
    return (b"HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n"
            % (status, _REASONS[status], len(body))) + body


_HEAD_TOO_LARGE = raw_error(431, "headers_too_large",
                            f"headers: the request line and headers are limited to {MAX_HEADER_BYTES} bytes", "headers")
_BAD_REQUEST = raw_error(400, "bad_request", "the request is not valid HTTP/1.1")


async def _over_capacity(scope: Any, receive: Any, send: Any) -> None:
    """What a request beyond `max_connections` gets (uvicorn's own answer is plain text)."""
    body = error_json("over_capacity", "the service is serving as many connections as it may; retry shortly", None)
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), (b"retry-after", b"1")]})
    await send({"type": "http.response.body", "body": body})


class HeadCounter:
    """Bytes of the request head so far, counted as they arrive, whether or not a line has ended."""

    def __init__(self) -> None:
        self.reading = True
        self._count = 0
        self._tail = b""  # the last bytes seen, so a terminator split between two reads is found

    def admit(self, data: bytes) -> bool:
        """False when `data` takes the head past MAX_HEADER_BYTES without the head ending within the limit."""
        if not self.reading:
            return True
        budget = MAX_HEADER_BYTES - self._count
        if len(data) > budget:
            window = self._tail + data[:budget]
            if b"\r\n\r\n" not in window and b"\n\n" not in window:
                return False
        self._count += len(data)  # past the head's end this counts body bytes too, until `done` resets it
        self._tail = (self._tail + data[-3:])[-3:]
        return True

    def done(self) -> None:
        """The parser has the whole head: what follows is body."""
        self.reading, self._count, self._tail = False, 0, b""

    def next_request(self) -> None:
        """The request's body is complete: what follows is the next request's head."""
        self.reading, self._count, self._tail = True, 0, b""


class _CapacityMixin:
    """Answers over-capacity requests in the error shape: uvicorn's own check is switched off per connection and
    done here, with the same rule (connections or request tasks at `limit_concurrency`)."""

    connections: set[Any]
    tasks: set[Any]
    limit_concurrency: int | None
    app: Any

    def _take_cap(self) -> None:
        self._cap, self.limit_concurrency = self.limit_concurrency, None

    def _app_for_next_request(self) -> Any:
        if self._cap is not None and (len(self.connections) >= self._cap or len(self.tasks) >= self._cap):
            return _over_capacity
        return self.app


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


class GuardedH11Protocol(_CapacityMixin, H11Protocol):
    """uvicorn's h11 protocol, plus: request headers within `header_timeout_s` and `MAX_HEADER_BYTES`."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._take_cap()
        self._deadline = HeaderDeadline(self.loop, transport, self.header_timeout_s,
                                        lambda: self.conn.their_state is h11.IDLE)
        self._deadline.arm()

    def data_received(self, data: bytes) -> None:
        if self.conn.their_state is h11.IDLE:
            # h11 limits only a head still incomplete (and answers 400): count the whole head here, as it arrives.
            head = bytes(self.conn.trailing_data[0]) + data
            end = head.find(b"\r\n\r\n")
            if end > MAX_HEADER_BYTES or (end == -1 and len(head) > MAX_HEADER_BYTES):
                self.transport.write(_HEAD_TOO_LARGE)
                self.transport.close()
                return
        super().data_received(data)

    def handle_events(self) -> None:
        app = self.app
        self.app = self._app_for_next_request()  # what a request parsed now is handed to
        try:
            super().handle_events()
        finally:
            self.app = app
        if self.conn.their_state is not h11.IDLE:
            self._deadline.disarm()

    def send_400_response(self, msg: str) -> None:
        self.transport.write(_BAD_REQUEST)
        self.transport.close()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._deadline.arm()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._deadline.disarm()
        super().connection_lost(exc)


class GuardedHttpToolsProtocol(_CapacityMixin, HttpToolsProtocol):
    """uvicorn's httptools protocol, plus: request headers within `header_timeout_s` and `MAX_HEADER_BYTES`."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._take_cap()
        self._deadline = HeaderDeadline(self.loop, transport, self.header_timeout_s, lambda: True)
        self._header_bytes = 0
        self._head = HeadCounter()
        self._head_too_large = False
        self._deadline.arm()

    def data_received(self, data: bytes) -> None:
        # httptools hands over a header only once its line ends, and buffers an unfinished one without bound.
        if not self._head.admit(data):
            self._refuse_head()
            return
        super().data_received(data)

    def _refuse_head(self) -> None:
        if not self.transport.is_closing():
            self.transport.write(_HEAD_TOO_LARGE)
            self.transport.close()

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > MAX_HEADER_BYTES:
            # Raised inside the parser's callback: uvicorn then calls send_400_response, which answers 431.
            self._head_too_large = True
            raise httptools.HttpParserError(f"request line and headers over {MAX_HEADER_BYTES} bytes")

    def send_400_response(self, msg: str) -> None:
        if self._head_too_large:
            self._refuse_head()
            return
        self.transport.write(_BAD_REQUEST)
        self.transport.close()

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
        self._head.done()
        app = self.app
        self.app = self._app_for_next_request()
        try:
            super().on_headers_complete()
        finally:
            self.app = app

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._head.next_request()

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
        # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: only configured proxies here.
        "proxy_headers": bool(settings.forwarded_allow_ips),
        "forwarded_allow_ips": list(settings.forwarded_allow_ips) or None,
        "log_level": "info",
    }
    values.update(overrides)
    return uvicorn.Config(app, **values)
