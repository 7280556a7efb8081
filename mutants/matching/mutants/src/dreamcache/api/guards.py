"""Request guards in front of every route: a body size limit (413) and a body read timeout (408).

An ASGI middleware, so it sees the body as it arrives: a declared `Content-Length` over the limit is
refused before a byte is read, and a chunked body is counted while it streams, so a 300 MB upload
is never held in memory. A client that stops sending mid-body gets a 408 after `body_timeout_s`
instead of holding a task forever. Both answers use the service's error shape.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


async def _send_error(send: Any, status: int, type_: str, message: str) -> None:
    body = json.dumps({"error": {"type": type_, "message": message, "field": "body"}}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


class BodyGuard:
    """ASGI middleware: 413 past `max_body_bytes`, 408 when a body chunk takes over `body_timeout_s`."""

    def __init__(self, app: Any, max_body_bytes: int, body_timeout_s: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_body_bytes
        declared = next((v for k, v in scope.get("headers", []) if k == b"content-length"), None)
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _send_error(send, 413, "body_too_large",
                              f"body: at most {limit} bytes are accepted, the request declares {int(declared)}")
            return
        # Read the whole body here, bounded by the limit and the timeout, then hand it to the app in one piece
        # (raising inside the app's own read would reach the client as a 400 from the body parser).
        body = bytearray()
        more = True
        while more:
            try:
                message: Message = await asyncio.wait_for(receive(), self.body_timeout_s)
            except TimeoutError:
                await _send_error(send, 408, "body_timeout",
                                  f"body: not received within {self.body_timeout_s:g} s; send it whole, then wait")
                return
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > limit:
                await _send_error(send, 413, "body_too_large", f"body: at most {limit} bytes are accepted")
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return dict(await receive())  # after the body: disconnect notices (SSE)

        await self.app(scope, replay, send)
