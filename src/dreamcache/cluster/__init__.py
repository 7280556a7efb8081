"""Many replicas and GPU workers sharing one queue, job table, single flight and limits on Redis.

Only used when `DREAMCACHE_REDIS_URL` is set; without it every piece keeps its in-process form. The package:
`connection` (the client, key names, health), and one module per shared piece.
"""

from dreamcache.cluster.connection import RedisLink, RedisUnavailable

__all__ = ["RedisLink", "RedisUnavailable"]
