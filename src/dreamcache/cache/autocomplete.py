"""Autocomplete: one suggestion index per namespace (a tenant never sees another tenant's prompts)."""

from __future__ import annotations

import asyncio
import gc
import logging
import time

import numpy as np

from dreamcache import prompts
from dreamcache.embedding import BatchingEmbedder
from dreamcache.generation.spec import BatchShape
from dreamcache.index import Entry, Index
from dreamcache.resolution import compat_key
from dreamcache.settings import Settings
from dreamcache.suggest import Suggestion, SuggestionIndex

log = logging.getLogger(__name__)


class Suggestions:
    """The autocomplete indexes of every namespace, filled from the vector index and kept up to date."""

    def __init__(self, settings: Settings, index: Index, embedder: BatchingEmbedder, fingerprint: str) -> None:
        self.settings = settings
        self.index = index
        self.embedder = embedder
        self.fingerprint = fingerprint
        self._by_namespace: dict[str, SuggestionIndex] = {}

    def of(self, namespace: str) -> SuggestionIndex:
        """The autocomplete index of one namespace (created empty on first use)."""
        found = self._by_namespace.get(namespace)
        if found is None:
            found = self._by_namespace[namespace] = SuggestionIndex(self.index, self._embed_typed)
        return found

    async def load(self) -> None:
        """Fill the autocomplete indexes from the vector index (start-up, before serving)."""
        count, seconds = await asyncio.to_thread(self._load)
        # Hundreds of thousands of long-lived objects: keep them out of the cyclic GC's full
        # collections, each of which would walk them all while holding the event loop.
        gc.freeze()
        prompts_loaded = sum(len(s) for s in self._by_namespace.values())
        log.info("autocomplete: %d entries (%d prompts, %d namespaces) loaded in %.2fs", count, prompts_loaded,
                 len(self._by_namespace), seconds)

    def _load(self) -> tuple[int, float]:
        started = time.perf_counter()
        by_namespace: dict[str, list[Entry]] = {}
        for entry in self.index.scroll_all():
            by_namespace.setdefault(entry.namespace, []).append(entry)
        count = sum(self.of(ns).load(entries) for ns, entries in by_namespace.items())
        return count, time.perf_counter() - started

    async def close(self) -> None:
        """Stop the background neighbour lookups of every namespace's index."""
        for suggestions in self._by_namespace.values():
            await suggestions.close()

    async def _embed_typed(self, text: str) -> np.ndarray:
        return await self.embedder.embed(prompts.embedding_text(text))

    async def recommend(self, text: str, limit: int, width: int, height: int, namespace: str = "") -> list[Suggestion]:
        """Past prompts for a partial prompt, ranked; instant when an image exists for this size and model."""
        shape = BatchShape(width, height, self.settings.default_steps, float(self.settings.default_guidance))
        compat = compat_key(self.fingerprint, shape, "", namespace)
        return await self.of(namespace).suggest(text, compat=compat, limit=limit)
