"""The cache service's front: one request in, a hit or a pending generation out.

It applies the client's rate limit, asks `lookup` for cached pictures, and hands what is missing to
`misses`. Answers are shaped by `api.views`: nothing here builds JSON.
"""

from __future__ import annotations

from dataclasses import dataclass

from dreamcache.backend import GenerationBackend
from dreamcache.cache.autocomplete import Suggestions
from dreamcache.cache.lookup import Lookup
from dreamcache.cache.misses import MissPlanner, Pending, RateLimited
from dreamcache.cache.writeback import WriteBack
from dreamcache.decision import Decider
from dreamcache.embedding import BatchingEmbedder
from dreamcache.index import Index, Match
from dreamcache.jobs import JobTable
from dreamcache.limits import LimiterFactory, local_limiter
from dreamcache.metrics import Metrics
from dreamcache.resolution import CacheRequest, RequestKeys
from dreamcache.settings import Settings
from dreamcache.storage import ImageStore


@dataclass
class Hit:
    matches: list[Match]
    kinds: list[str]  # per match: `exact` (same text, tags in any order, or the exact seed) or `verified`
    timings: dict[str, float]


class CacheMiss(Exception):
    """`cache: only` and nothing compatible is stored."""


class CacheService:
    """Looks prompts up, queues misses on the generation backend and writes generated pictures back."""

    def __init__(
        self,
        settings: Settings,
        embedder: BatchingEmbedder,
        index: Index,
        store: ImageStore,
        jobs: JobTable,
        metrics: Metrics,
        backend: GenerationBackend,
        fingerprint: str,
        *,
        limiters: LimiterFactory = local_limiter,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.metrics = metrics
        self.fingerprint = fingerprint
        decider = Decider(settings, index)
        self.suggestions = Suggestions(settings, index, embedder, fingerprint)
        self.lookup = Lookup(embedder, index, decider, self.suggestions, metrics)
        self.writeback = WriteBack(settings, index, self.suggestions, fingerprint)
        self.misses = MissPlanner(settings, decider, store, jobs, backend, self.writeback, metrics,
                                  generation_limits=limiters("generations", settings.generation_rate_per_s,
                                                             settings.generation_burst))
        self.request_limits = limiters("requests", settings.request_rate_per_s, settings.request_burst)

    async def handle(self, request: CacheRequest) -> Hit | Pending:
        """Answer from the cache when a compatible entry is close enough, else queue (or join) a generation."""
        # Filling the cache (an admin's, or anyone's on an open service) must not use up the users' buckets.
        if not request.warm_up and (wait := await self.request_limits.take(request.client)):
            raise RateLimited("request", wait)
        keys = RequestKeys.of(request, self.fingerprint)
        timings: dict[str, float] = {}
        found = await self.lookup.find(request, keys.compat, timings)
        matches, kinds = found.matches, found.kinds
        if request.mode != "refresh":
            if not matches and request.mode == "only":
                raise CacheMiss()
            # `only` never generates: the cached pictures there are, even when fewer than n.
            if matches and (len(matches) >= request.n or request.mode == "only"):
                await self.lookup.served(request, matches)
                if not request.warm_up:
                    self.metrics.record_hit(request.shape.steps, request.namespace, request.api)
                return Hit(matches, kinds, timings)
        pending = await self.misses.enqueue(request, keys, found.vector, timings, matches, kinds)
        if matches:  # the cached part of the answer: the client sees these now, the rest when generated
            await self.lookup.served(request, matches)
            if not request.warm_up:
                self.metrics.record_cached_pictures(len(matches), request.shape.steps, request.namespace)
        return pending

    async def drain(self) -> None:
        """Wait for followed generations to end, write the pending hit counts, stop autocomplete's lookups."""
        await self.misses.drain()
        await self.lookup.drain()
        await self.suggestions.close()


__all__ = ["CacheMiss", "CacheService", "Hit", "Pending", "RateLimited"]
