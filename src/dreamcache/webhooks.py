"""Webhooks, as Replicate and the Standard Webhooks convention have them: `webhook` and
`webhook_events_filter` (`start`, `progress`, `completed`) on POST /generate.

Each delivery is a POST of `{"type": "job.<event>", "timestamp": ..., "data": <the job view>}` with
the Standard Webhooks headers `webhook-id`, `webhook-timestamp` and `webhook-signature`
(`v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>" with the secret>`; the secret is
`DREAMCACHE_WEBHOOK_SECRET`, `whsec_<base64>`). Deliveries run as background tasks on their own
HTTP client, retried with exponential backoff, so they never hold up the worker or the event loop;
progress is sent at most once a second.

No server-side request forgery: a destination must be http(s), on a host the allowlist permits
(`DREAMCACHE_WEBHOOK_ALLOWED_HOSTS`, when set), and resolve only to public addresses unless its
host is explicitly allowed. An IPv6 address that carries an IPv4 one (IPv4-compatible, IPv4-mapped,
NAT64, 6to4, Teredo) is judged by that IPv4 address too; site-local and multicast are never public.
This is checked when the request arrives, and again when each delivery attempt connects: the
delivery client resolves the host itself, checks every address and connects to a checked one, so
a DNS answer that changes in between cannot send a delivery to a private address.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from dreamcache.jobs import Job, JobStatus
from dreamcache.settings import Settings

log = logging.getLogger(__name__)

EVENTS = ("start", "progress", "completed")
PROGRESS_EVERY_S = 1.0
BACKOFF_S = (1.0, 2.0, 4.0, 8.0, 16.0)


class WebhookRefused(ValueError):
    """The destination may not be called (the message says why)."""


class WebhookUrlInvalid(ValueError):
    """The destination is not a well-formed http(s) URL (the message says why)."""


def secret_bytes(secret: str) -> bytes:
    """The key of a `whsec_<base64>` secret (Standard Webhooks)."""
    return base64.b64decode(secret.removeprefix("whsec_"))


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one delivery."""
    digest = hmac.new(secret_bytes(secret), f"{message_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    return any(host == a.lower() or (a.startswith(".") and host.endswith(a.lower())) for a in allowed)


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: local use, never a public destination
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (IPv4-mapped, IPv4-compatible, NAT64, 6to4, Teredo)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    value = int(address)
    if value >> 32 == 0 and value > 1:  # ::a.b.c.d (IPv4-compatible; :: and ::1 are not)
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if address in _NAT64:
        found.append(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)  # (server, client)
    return found


def is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a webhook may go to this address without an allowlist entry: globally routable, not
    multicast or site-local, and (for IPv6) no private IPv4 address embedded in it."""
    if not address.is_global or address.is_multicast:
        return False
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local or address in _NAT64_LOCAL:
            return False
        return all(v4.is_global and not v4.is_multicast for v4 in _embedded_ipv4(address))
    return True


def _check_host_syntax(host: str) -> None:
    """A host name's labels are 1-63 letters, digits or hyphens (IP literals pass as they are)."""
    try:
        ipaddress.ip_address(host)
        return
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if not all(_LABEL.match(label) for label in name.encode("idna").decode("ascii").split(".")):
        raise ValueError(f"host {host!r} is not a valid host name (labels of 1-63 letters, digits or '-')")


def _parse(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of a webhook URL, or WebhookUrlInvalid saying what is wrong with it."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
        if host:
            _check_host_syntax(host)
    except ValueError as exc:  # a bad port, bracket or IDNA label (UnicodeError is a ValueError too)
        raise WebhookUrlInvalid(f"is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise WebhookUrlInvalid("must be an http:// or https:// URL with a host")
    return parts.scheme, host, port or (443 if parts.scheme == "https" else 80)


def resolve_destination(host: str, port: int, settings: Settings) -> list[str]:
    """The addresses a delivery to `host` may connect to; WebhookRefused when any of them is not allowed."""
    allowed = settings.webhook_allowed_hosts
    if allowed and not _host_allowed(host, allowed):
        raise WebhookRefused(f"host {host!r} is not in this service's webhook allowlist")
    explicitly_allowed = bool(allowed) and _host_allowed(host, allowed)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookRefused(f"host {host!r} does not resolve") from None
    addresses = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not explicitly_allowed and not is_public(address):
            raise WebhookRefused(f"host {host!r} resolves to a non-public address ({address}): loopback, "
                                 "link-local, site-local, private and addresses embedding them need "
                                 "DREAMCACHE_WEBHOOK_ALLOWED_HOSTS")
        addresses.append(str(address))
    return list(dict.fromkeys(addresses))


def check_destination(url: str, settings: Settings) -> None:
    """Raise WebhookUrlInvalid for a malformed URL, WebhookRefused unless `url` is a webhook destination this
    service may call (resolves the host)."""
    _scheme, host, port = _parse(url)
    if not settings.webhook_secret:
        raise WebhookRefused("webhooks are disabled on this service (DREAMCACHE_WEBHOOK_SECRET is not set)")
    resolve_destination(host, port, settings)


class _CheckedBackend(httpcore.AsyncNetworkBackend):
    """Connects only to addresses `resolve_destination` allows, resolved at connect time (no DNS rebinding)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options: Any = None) -> httpcore.AsyncNetworkStream:
        addresses = await asyncio.to_thread(resolve_destination, host, port, self._settings)
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(address, port, timeout=timeout, local_address=local_address,
                                                     socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        raise last if last is not None else httpcore.ConnectError(f"no address for {host!r}")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def delivery_client(settings: Settings) -> httpx.AsyncClient:
    """The HTTP client deliveries go through: every connection it opens is checked against the SSRF rules."""
    transport = httpx.AsyncHTTPTransport()
    # httpx takes no network backend: its pool is rebuilt with ours (TLS still verifies the URL's host name).
    transport._pool = httpcore.AsyncConnectionPool(ssl_context=httpx.create_ssl_context(),
                                                   network_backend=_CheckedBackend(settings))
    return httpx.AsyncClient(transport=transport, timeout=settings.webhook_timeout_s, follow_redirects=False)


class WebhookSender:
    """Follows jobs and delivers their events; owns one HTTP client and the delivery tasks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client = delivery_client(settings)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.delivered = 0
        self.failed = 0

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def follow(self, job: Job, url: str, events: Sequence[str], view: Callable[[], dict[str, Any]]) -> None:
        """Send the job's chosen events to `url` as they happen (in the background)."""
        self._spawn(self._follow(job, url, set(events), view))

    def completed_now(self, url: str, events: Sequence[str], data: dict[str, Any]) -> None:
        """An answer that needed no job (a cache hit): its `completed` event, if asked for."""
        if "completed" in events:
            self._spawn(self._deliver(url, "completed", data))

    async def _follow(self, job: Job, url: str, events: set[str], view: Callable[[], dict[str, Any]]) -> None:
        changes = job.subscribe()
        started = job.status is not JobStatus.QUEUED
        last_progress = 0.0
        try:
            if started and "start" in events:
                self._spawn(self._deliver(url, "start", view()))
            while not job.status.terminal:
                kind = await changes.get()
                if not started and job.status is not JobStatus.QUEUED:
                    started = True
                    if "start" in events:
                        self._spawn(self._deliver(url, "start", view()))
                if kind == "progress" and "progress" in events and time.monotonic() - last_progress >= PROGRESS_EVERY_S:
                    last_progress = time.monotonic()
                    self._spawn(self._deliver(url, "progress", view()))
            if "completed" in events:
                await self._deliver(url, "completed", view())
        finally:
            job.unsubscribe(changes)

    async def _deliver(self, url: str, event: str, data: dict[str, Any]) -> bool:
        """POST one event, retried with backoff; True once a 2xx came back."""
        message_id = f"msg_{uuid.uuid4().hex}"
        attempts = min(self.settings.webhook_max_attempts, len(BACKOFF_S) + 1)
        for attempt in range(attempts):
            timestamp = int(time.time())
            body = json.dumps({"type": f"job.{event}", "timestamp": timestamp, "data": data}).encode()
            headers = {"content-type": "application/json", "webhook-id": message_id,
                       "webhook-timestamp": str(timestamp),
                       "webhook-signature": sign(self.settings.webhook_secret or "", message_id, timestamp, body)}
            try:
                await asyncio.to_thread(check_destination, url, self.settings)  # DNS may have changed
                response = await self._client.post(url, content=body, headers=headers)
                if 200 <= response.status_code < 300:
                    self.delivered += 1
                    return True
                log.info("webhook %s to %s: %d (attempt %d)", event, url, response.status_code, attempt + 1)
            except (WebhookRefused, WebhookUrlInvalid) as exc:
                log.warning("webhook %s to %s refused: %s", event, url, exc)
                break
            except httpx.HTTPError as exc:
                log.info("webhook %s to %s failed: %s (attempt %d)", event, url, type(exc).__name__, attempt + 1)
            if attempt + 1 < attempts:
                await asyncio.sleep(BACKOFF_S[attempt] * self.settings.webhook_backoff_scale)
        self.failed += 1
        log.warning("webhook %s to %s not delivered after %d attempt(s)", event, url, attempts)
        return False

    async def close(self) -> None:
        """Let deliveries in flight finish for a moment, then stop."""
        if self._tasks:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*self._tasks, return_exceptions=True), 5.0)
            for task in self._tasks:
                task.cancel()
        await self._client.aclose()
