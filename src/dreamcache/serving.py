"""How uvicorn serves the app: connection cap, keep-alive, and a timeout for slow request headers.

uvicorn times out idle keep-alive connections but not a client that opens a connection and sends
its headers a byte at a time (slowloris): `GuardedH11Protocol` closes a connection whose request
headers are not complete within `header_timeout_s`. Bodies are guarded by `api.guards.BodyGuard`.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from dreamcache.settings import Settings


class GuardedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol, plus: request headers must arrive within `header_timeout_s`."""

    header_timeout_s = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._header_timer: asyncio.TimerHandle | None = None
        self._arm_header_timer()

    def _arm_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._headers_overdue)

    def _headers_overdue(self) -> None:
        self._header_timer = None
        if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
            self.transport.close()  # no complete request line and headers in time

    def handle_events(self) -> None:
        super().handle_events()
        if self._header_timer is not None and self.conn.their_state is not h11.IDLE:
            self._header_timer.cancel()  # a request's headers arrived
            self._header_timer = None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        self._arm_header_timer()  # the next request on this connection gets the same deadline

    def connection_lost(self, exc: Exception | None) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None
        super().connection_lost(exc)


def uvicorn_config(app: Any, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn config `dreamcache serve` (and the live-server tests) run with."""
    protocol = type("GuardedH11", (GuardedH11Protocol,), {"header_timeout_s": settings.header_timeout_s})
    values: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": protocol,
        "limit_concurrency": settings.max_connections,  # beyond it uvicorn answers 503
        "timeout_keep_alive": settings.keep_alive_s,
        "h11_max_incomplete_event_size": 16 * 1024,  # request line + headers
        "log_level": "info",
    }
    values.update(overrides)
    return uvicorn.Config(app, **values)
