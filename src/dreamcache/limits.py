"""Token-bucket rate limits per client: one bucket for requests (every lookup, so every hit) and one for
generations (every miss that reaches the GPU), so a client that floods misses cannot also starve lookups.

A client is its API key, or its address when the service is open. Buckets live in memory per replica,
in an LRU bounded by `max_clients` (a forgotten client starts again with a full bucket).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


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
