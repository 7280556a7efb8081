"""A lease on Redis: one process at a time holds a name (`SET key owner NX PX ttl`) until it lets go or stops
renewing it. Only the owner may renew or release it (compare-and-set in a Lua script), so a holder whose
lease expired never removes its successor's.

Not consensus: a holder frozen past its TTL may still be working when another takes over. The work guarded
here (retention, the vanished-image sweep) is idempotent, so an overlap costs a repeated pass, never data.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from typing import Any

from dreamcache.cluster.connection import REDIS_ERRORS, RedisLink

log = logging.getLogger(__name__)

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""


class Lease:
    """The lease `name` under the link's prefix, held by this process's `owner` id when `acquire` says so."""

    def __init__(self, link: RedisLink, name: str, ttl_s: float) -> None:
        self.link = link
        self.key = link.key("lease", name)
        self.ttl_s = ttl_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._release: Any = link.redis.register_script(_RELEASE)
        self._extend: Any = link.redis.register_script(_EXTEND)

    async def acquire(self) -> bool:
        """Take the lease for `ttl_s` if nobody holds it (Redis errors propagate)."""
        return bool(await self.link.redis.set(self.key, self.owner, nx=True, px=_ms(self.ttl_s)))

    async def extend(self, ttl_s: float | None = None) -> bool:
        """Keep the lease `ttl_s` (default: the lease's TTL) from now, if this process still holds it."""
        return bool(await self._extend(keys=[self.key], args=[self.owner, _ms(self.ttl_s if ttl_s is None else ttl_s)]))

    async def release(self) -> bool:
        """Let go, if this process still holds the lease (never someone else's)."""
        return bool(await self._release(keys=[self.key], args=[self.owner]))

    async def keep(self) -> None:
        """Renew the lease every third of its TTL until cancelled, or until it is lost (work that may outlast one
        TTL runs beside this task)."""
        while True:
            await asyncio.sleep(self.ttl_s / 3)
            try:
                if not await self.extend():
                    log.warning("lease %s was lost while held (Redis restarted, or this process froze)", self.key)
                    return
            except REDIS_ERRORS as exc:
                log.warning("renewing lease %s failed: %s", self.key, exc)

    async def holder(self) -> str | None:
        """Who holds the lease now (None: nobody)."""
        value = await self.link.redis.get(self.key)
        return None if value is None else str(value)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
