"""Token-bucket rate limits per client: one bucket for requests (every lookup, so every hit) and one for
generations (every miss that reaches the GPU), so a client that floods misses cannot also starve lookups.

A client is its API key, or its address when the service is open. Here buckets live in memory per replica,
in an LRU bounded by `max_clients` (a forgotten client starts again with a full bucket); with Redis
(`cluster.limits`) every replica takes from one shared bucket per client, and falls back to these while Redis
does not answer. Callers hold a `Limiter` and `await limiter.take(client)`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol


class Limiter(Protocol):
    """One kind of rate limit (requests, generations) for every client."""

    async def take(self, client: str) -> int:
        """Take a token for the client: 0 when allowed, else whole seconds to wait (at least 1)."""
        ...


# (name, rate per second, burst) -> the limiter: in memory here, on Redis with `cluster.limits.SharedLimits`.
LimiterFactory = Callable[[str, float, float], Limiter]


class TokenBucket:
    """`burst` tokens, refilled at `rate` per second."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.updated = burst, now

    def take(self, now: float) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there will be."""
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per client; a rate of 0 means no limit."""

    def __init__(
        self, rate: float, burst: float, max_clients: int = 100_000, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.max_clients = rate, max(1.0, burst), max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    async def take(self, client: str) -> int:
        """Take a token for the client: 0 when allowed, else whole seconds to wait (at least 1)."""
        return self.retry_after(client)

    def retry_after(self, client: str) -> int:
        """Take a token for the client: 0 when allowed, else whole seconds to wait (at least 1)."""
        if self.rate <= 0:
            return 0
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(client)
            if bucket is None:
                bucket = self._buckets[client] = TokenBucket(self.rate, self.burst, now)
                if len(self._buckets) > self.max_clients:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(client)
            wait = bucket.take(now)
        return 0 if wait == 0.0 else max(1, math.ceil(wait))


def local_limiter(name: str, rate: float, burst: float) -> RateLimiter:
    """The in-memory limiter of one replica (`name` only matters to shared limiters)."""
    return RateLimiter(rate, burst)
