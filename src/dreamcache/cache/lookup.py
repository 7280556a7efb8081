"""The hit path: embed the prompt, let `decision` find the entries that answer it, and book them as served."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from dreamcache import prompts
from dreamcache.cache.autocomplete import Suggestions
from dreamcache.decision import Decider
from dreamcache.embedding import BatchingEmbedder
from dreamcache.index import Index, Match
from dreamcache.metrics import Metrics
from dreamcache.resolution import CacheRequest

HIT_FLUSH_S = 2.0  # hit counters are written to the index at most this often (batched per entry)


@dataclass
class Found:
    """What the lookup found for a request: its vector, the accepted matches and how each matched."""

    vector: np.ndarray
    matches: list[Match]
    kinds: list[str]  # per match: `exact` (same text, tags in any order, or the exact seed) or `verified`


class Lookup:
    """Finds a request's cached pictures and books the ones served (shown-to marks, hit counts, suggestions)."""

    def __init__(self, embedder: BatchingEmbedder, index: Index, decider: Decider, suggestions: Suggestions,
                 metrics: Metrics) -> None:
        self.embedder = embedder
        self.index = index
        self.decider = decider
        self.suggestions = suggestions
        self.metrics = metrics
        self._background: set[asyncio.Task[Any]] = set()
        self._hits: Counter[str] = Counter()  # hits not yet written to the index, by entry id
        self._hits_flush: asyncio.TimerHandle | None = None

    async def find(self, request: CacheRequest, compat: str, timings: dict[str, float]) -> Found:
        """The request's vector and, unless it refreshes, the entries that answer it (timings filled in)."""
        started = time.perf_counter()
        # Embedding the normalised text makes retyped prompts (case, punctuation, spacing) exact hits.
        vector = await self.embedder.embed(prompts.embedding_text(request.prompt))
        embedded = time.perf_counter()
        timings["embed_ms"] = (embedded - started) * 1000
        if request.mode == "refresh":
            return Found(vector, [], [])
        # A prompt asked again is settled by a keyword lookup, here; anything else searches in a thread.
        settled, same_text = self.decider.quick_lookup(request, compat, vector)
        if settled is None:
            settled = await asyncio.to_thread(self.decider.lookup, request, compat, vector, same_text)
        matches, kinds = settled
        timings["lookup_ms"] = (time.perf_counter() - embedded) * 1000
        self.metrics.lookup_seconds.observe(time.perf_counter() - started)
        return Found(vector, matches, kinds)

    async def served(self, request: CacheRequest, matches: list[Match]) -> None:
        """Book cached pictures as shown to the request's client and as hits of their entries and prompts."""
        if request.viewer is not None:
            # Before answering: the same client's next request must already skip these pictures.
            await asyncio.to_thread(self._mark_shown, [m.entry.id for m in matches], request.viewer)
        for match in matches:
            self.suggestions.of(request.namespace).record_hit(match.entry.prompt_norm)
            self._hits[match.entry.id] += 1
        if self._hits_flush is None:  # one write per entry per flush, off the request path
            self._hits_flush = asyncio.get_running_loop().call_later(HIT_FLUSH_S, self._flush_hits)

    def _mark_shown(self, entry_ids: list[str], viewer: str) -> None:
        for entry_id in entry_ids:
            self.index.mark_shown(entry_id, viewer)

    def _flush_hits(self) -> None:
        self._hits_flush = None
        counts, self._hits = self._hits, Counter()
        if counts:
            task = asyncio.ensure_future(asyncio.to_thread(self._record_hits, counts))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    def _record_hits(self, counts: Counter[str]) -> None:
        for entry_id, count in counts.items():
            self.index.record_hit(entry_id, count)

    async def drain(self) -> None:
        """Write the pending hit counts and wait for them."""
        if self._hits_flush is not None:
            self._hits_flush.cancel()
        self._flush_hits()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
