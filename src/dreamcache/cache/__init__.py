"""The cache service, by responsibility: `service` (the front: limits, hit or miss), `lookup` (the hit
path), `misses` (planning and following a generation), `writeback` (image, checkpoints, vector,
suggestion), `autocomplete` (suggestions per namespace) and `waiters` (stopping, adopting, related)."""

from dreamcache.cache.misses import Pending, RateLimited
from dreamcache.cache.service import CacheMiss, CacheService, Hit

__all__ = ["CacheMiss", "CacheService", "Hit", "Pending", "RateLimited"]
