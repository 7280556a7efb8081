"""The Redis connection every shared piece uses: one asyncio client, key names under one prefix, and whether
Redis answers now (`healthy`, kept by a background ping so a request never waits to find out)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import redis.asyncio as aioredis
import redis.exceptions
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)

# What a call to an unreachable, restarting or overloaded Redis raises.
REDIS_ERRORS: tuple[type[BaseException], ...] = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                                                  redis.exceptions.BusyLoadingError, OSError)


class RedisUnavailable(Exception):
    """Redis did not answer: the shared queue cannot take work now."""


class RedisLink:
    """The client (`redis`), key names (`key`) and health (`healthy`, `error`) of one process's Redis use."""

    def __init__(self, url: str, prefix: str, *, socket_timeout_s: float = 5.0) -> None:
        self.url = url
        self.prefix = prefix
        # decode_responses: every reply is a str (redis-py's annotations say bytes | str), hence Any.
        self.redis: Any = aioredis.Redis.from_url(
            url, decode_responses=True, socket_timeout=socket_timeout_s, socket_connect_timeout=2.0,
            health_check_interval=10,
            # A pooled connection that died with a Redis restart fails once on its next use: retried once on a
            # fresh connection, so the first command after the restart does not fail too.
            retry=Retry(NoBackoff(), 1), retry_on_error=[redis.exceptions.ConnectionError],
        )
        self.healthy = False
        self.error: str | None = "not checked yet"
        self._pinger: asyncio.Task[None] | None = None
        self._on_change: list[Any] = []

    def key(self, *parts: str) -> str:
        """`<prefix>:<part>:<part>...`: every key this deployment owns."""
        return ":".join((self.prefix, *parts))

    def on_change(self, callback: Any) -> None:
        """Call `callback(healthy: bool)` whenever Redis goes away or comes back."""
        self._on_change.append(callback)

    async def start(self) -> None:
        await self.check()
        if not self.healthy:
            log.warning("Redis at %s does not answer (%s): hits are served, misses answer 503 until it does",
                        _safe(self.url), self.error)
        self._pinger = asyncio.create_task(self._ping_forever(), name="redis-ping")

    async def close(self) -> None:
        if self._pinger is not None:
            self._pinger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pinger
        with contextlib.suppress(Exception):
            await self.redis.aclose()

    async def check(self) -> bool:
        """Ping Redis now; updates `healthy`."""
        try:
            await asyncio.wait_for(self.redis.ping(), 2.0)
        except REDIS_ERRORS as exc:  # wait_for's TimeoutError is an OSError
            self._set(False, f"{type(exc).__name__}: {exc}".strip())
        else:
            self._set(True, None)
        return self.healthy

    def failed(self, exc: BaseException) -> None:
        """A call failed with a Redis error: mark it unhealthy until the next ping answers."""
        self._set(False, f"{type(exc).__name__}: {exc}".strip())

    def _set(self, healthy: bool, error: str | None) -> None:
        changed = healthy != self.healthy
        self.healthy, self.error = healthy, error
        if not changed:
            return
        if healthy:
            log.warning("Redis at %s answers again", _safe(self.url))
        else:
            log.error("Redis at %s is unreachable: %s", _safe(self.url), error)
        for callback in self._on_change:
            with contextlib.suppress(Exception):
                callback(healthy)

    async def _ping_forever(self) -> None:
        while self._pinger is not None and not self._pinger.cancelling():
            await asyncio.sleep(1.0)
            await self.check()


def _safe(url: str) -> str:
    """The URL without a password (`redis://:secret@host` -> `redis://***@host`)."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.split("@", 1)[1]
    return f"{scheme}{sep}{rest}"
