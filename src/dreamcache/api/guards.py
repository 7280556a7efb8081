"""Request guards in front of every route: a body size limit (413) and a body read timeout (408).

An ASGI middleware, so it sees the body as it arrives: a declared `Content-Length` over the limit is
refused before a byte is read, and a chunked body is counted while it streams, so a 300 MB upload
is never held in memory. A client that stops sending mid-body gets a 408 after `body_timeout_s`,
and one that trickles it a byte at a time a 408 after `body_total_timeout_s`, instead of holding a
task forever. Both answers use the service's error shape.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]


def error_json(type_: str, message: str, field: str | None) -> bytes:
    """The service's error body, byte for byte as the routes write it (compact JSON, UTF-8)."""
    body = {"error": {"type": type_, "message": message, "field": field}}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


async def _send_error(send: Any, status: int, type_: str, message: str) -> None:
    body = error_json(type_, message, "body")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def _json_like(scope: Scope) -> bool:
    """Whether the app will read the body as JSON: a JSON content type, or none given."""
    content_type = next((v for k, v in scope.get("headers", []) if k == b"content-type"), b"")
    return not content_type or b"json" in content_type.lower()


def _utf8_json_text(body: bytes) -> bool:
    """Whether a body can be UTF-8 JSON text. json.loads would detect UTF-16 and UTF-32 on its own (their NUL
    bytes are valid UTF-8): the JSON text of this API is UTF-8 only (RFC 8259)."""
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body[:4]:
        return False
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class BodyGuard:
    """ASGI middleware: 413 past `max_body_bytes`; 408 when a body chunk takes over `body_timeout_s` or the whole
    body over `body_total_timeout_s` (a body trickled a byte at a time never waits long for each piece)."""

    def __init__(
        self, app: Any, max_body_bytes: int, body_timeout_s: float, body_total_timeout_s: float = 30.0
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_timeout_s = body_timeout_s
        self.body_total_timeout_s = body_total_timeout_s

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
        # Read the whole body here, bounded by the limit and the timeouts, then hand it to the app in one piece
        # (raising inside the app's own read would reach the client as a 400 from the body parser).
        body = bytearray()
        more = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.body_total_timeout_s
        while more:
            left = deadline - loop.time()
            try:
                message: Message = await asyncio.wait_for(receive(), max(0.0, min(self.body_timeout_s, left)))
            except TimeoutError:
                if left <= self.body_timeout_s:
                    why = f"not received within {self.body_total_timeout_s:g} s in all"
                else:
                    why = f"no piece received for {self.body_timeout_s:g} s"
                await _send_error(send, 408, "body_timeout", f"body: {why}; send it whole, then wait")
                return
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > limit:
                await _send_error(send, 413, "body_too_large", f"body: at most {limit} bytes are accepted")
                return
        if body and _json_like(scope) and not _utf8_json_text(bytes(body)):
            await _send_error(send, 422, "invalid_request",
                              "body: must be JSON text in UTF-8 (this looks like UTF-16 or UTF-32, or is not UTF-8)")
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return dict(await receive())  # after the body: disconnect notices (SSE)

        await self.app(scope, replay, send)
