"""Rate limits shared by every replica: one token bucket per client and kind in Redis, checked by one Lua script.

Tolerance across replicas: while Redis answers, the bucket is exact: every replica takes from the same bucket,
each check is one script (read, refill, take, write) that Redis runs atomically, and the time comes from Redis
(`TIME` inside the script), so the replicas' clocks do not matter. A client gets at most `burst + rate * t`
tokens in `t` seconds over all replicas together.

While Redis does not answer (an error, a timeout, or the link's ping says it is down) each replica falls back to
its own in-memory buckets (`limits.RateLimiter`, full for every client when the outage begins): a client spread
over N replicas may then get up to N times its rate (and N bursts). A check never fails a request because of
Redis: hits keep being served. The fallback is logged once per outage (and its end), shown by the gauge
`dreamcache_limits_degraded` and counted by `dreamcache_limits_degraded_checks_total`. When Redis answers again the
shared buckets are used at once, without a restart (they start full where Redis lost them).

A bucket's key expires once it would be full again (`(burst - tokens) / rate` seconds of idleness): a client
that stopped calling costs Redis nothing, and a missing key is the same as a full bucket.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import Any

from dreamcache.cluster.connection import REDIS_ERRORS, RedisLink
from dreamcache.limits import RateLimiter
from dreamcache.metrics import Metrics

log = logging.getLogger(__name__)

# The most one check waits for Redis before it answers from the replica's own bucket (a slow Redis must not
# slow every hit down to the client's socket timeout).
CHECK_TIMEOUT_S = 0.5

# KEYS[1]: the bucket (a hash: tokens, updated in microseconds of Redis time). ARGV: rate per second, burst.
# Returns the seconds to wait as a string (0 when a token was taken): Lua numbers come back as integers.
_TAKE = """
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'updated')
local tokens = tonumber(state[1])
local updated = tonumber(state[2])
if tokens == nil or updated == nil then
  tokens = burst
  updated = now
end
tokens = math.min(burst, tokens + math.max(0, now - updated) * rate / 1000000)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'updated', string.format('%.0f', now))
redis.call('PEXPIRE', KEYS[1], math.ceil((burst - tokens) / rate * 1000) + 1000)
return string.format('%.17g', wait)
"""


class SharedLimits:
    """Makes the shared limiters of one process and keeps their common state: whether they fell back."""

    def __init__(self, link: RedisLink, metrics: Metrics) -> None:
        self.link = link
        self.metrics = metrics
        self.degraded = False
        self._take: Any = link.redis.register_script(_TAKE)

    def limiter(self, name: str, rate: float, burst: float) -> SharedRateLimiter:
        """The limiter of one kind (`requests`, `generations`): a `limits.LimiterFactory`."""
        return SharedRateLimiter(self, name, rate, burst)

    async def take(self, key: str, rate: float, burst: float) -> float | None:
        """Seconds to wait (0.0: a token was taken) from the shared bucket; None when Redis did not answer."""
        if not self.link.healthy:
            self._fell_back(self.link.error or "Redis does not answer")
            return None
        try:
            answer = await asyncio.wait_for(self._take(keys=[key], args=[repr(rate), repr(burst)]), CHECK_TIMEOUT_S)
        except REDIS_ERRORS as exc:  # wait_for's TimeoutError is an OSError: in REDIS_ERRORS
            self.link.failed(exc)
            self._fell_back(f"{type(exc).__name__}: {exc}".strip())
            return None
        if self.degraded:
            self.degraded = False
            self.metrics.limits_degraded.set(0)
            log.warning("rate limits: Redis answers again, every replica shares one bucket per client again")
        return float(answer)

    def _fell_back(self, reason: str) -> None:
        self.metrics.degraded_limit_checks.inc()
        if not self.degraded:
            self.degraded = True
            self.metrics.limits_degraded.set(1)
            log.warning("rate limits: Redis does not answer (%s); each replica uses its own buckets until it does, "
                        "so a client may get up to one rate per replica", reason)


class SharedRateLimiter:
    """One kind of limit on Redis (a `limits.Limiter`); the replica's own `RateLimiter` while Redis is away."""

    def __init__(self, shared: SharedLimits, name: str, rate: float, burst: float) -> None:
        self.shared = shared
        self.name = name
        self.rate, self.burst = rate, max(1.0, burst)
        self.local = RateLimiter(rate, burst)

    async def take(self, client: str) -> int:
        """Take a token for the client: 0 when allowed, else whole seconds to wait (at least 1)."""
        if self.rate <= 0:
            return 0
        wait = await self.shared.take(self.shared.link.key("limits", self.name, client), self.rate, self.burst)
        if wait is None:
            return self.local.retry_after(client)
        return 0 if wait == 0.0 else max(1, math.ceil(wait))
