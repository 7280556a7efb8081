"""Semantic suggestions, computed off the keystroke path.

A keystroke never waits for the embedder or for Qdrant. It reads what is already known:

- the stored neighbours of a prompt (its stored vector's nearest entries), keyed by prompt;
- the neighbours of the typed text's finished words (`a red fox sle` -> `a red fox`), keyed by
  that text: the text is embedded once it ends a word, and the partial word after it reuses the
  result of the last finished words that has one.

What is missing is queued and computed by one background task, one lookup at a time (embedding
and the vector search run in a thread), so the keystrokes keep the cores. The queue is bounded
(the newest requests are kept: the oldest are the texts users have typed past). Answers depend
only on what has been computed, never on a race with a timer: the same typed text and the same
state give the same suggestions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from dreamcache.index import Index

log = logging.getLogger(__name__)

NEIGHBOURS = 24
QUEUE_MAX = 256  # pending lookups kept; older ones are dropped (users typed past them)
KNOWN_MAX = 50_000  # remembered results (prompts and typed texts), least recently used dropped
Embed = Callable[[str], Awaitable[Any]]
Neighbours = list[tuple[str, float]]  # (prompt_norm, cosine), best first


class SemanticCache:
    """Neighbours of stored prompts and of typed texts: read at once, computed in the background."""

    def __init__(self, index: Index | None, embed: Embed | None) -> None:
        self.index = index
        self.embed = embed
        self._known: OrderedDict[tuple[str, str], Neighbours] = OrderedDict()
        self._queue: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._wake: asyncio.Event | None = None
        self._worker: asyncio.Task[None] | None = None
        self._busy: tuple[str, str] | None = None

    def known(self, kind: str, key: str) -> Neighbours | None:
        """The neighbours computed for a prompt (`kind` "entry", key its entry id) or a typed text ("text")."""
        found = self._known.get((kind, key))
        if found is not None:
            self._known.move_to_end((kind, key))
        return found

    def want(self, kind: str, key: str) -> None:
        """Queue the lookup unless it is known, queued or running (no-op without an index)."""
        job = (kind, key)
        if self.index is None or (kind == "text" and self.embed is None):
            return
        if job in self._known or job in self._queue or job == self._busy:
            return
        self._queue[job] = None
        while len(self._queue) > QUEUE_MAX:
            self._queue.popitem(last=False)
        self._start()

    def forget(self) -> None:
        """Drop every result (the prompts they name may be gone)."""
        self._known.clear()

    async def idle(self) -> None:
        """Wait until every queued lookup has finished (tests, benchmarks)."""
        while self._queue or self._busy is not None:
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Cancel the background task (shutdown)."""
        worker, self._worker = self._worker, None
        self._queue.clear()
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    def _start(self) -> None:
        if self._wake is None:
            self._wake = asyncio.Event()
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        assert self._wake is not None
        while True:
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            job, _ = self._queue.popitem(last=True)  # newest first: what users type now
            self._busy = job
            try:
                found = await self._lookup(*job)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # an unreachable index or embedder must not stop autocomplete
                log.warning("autocomplete: semantic lookup %s failed: %s", job, exc)
                found = []
            finally:
                self._busy = None
            self._known[job] = found
            while len(self._known) > KNOWN_MAX:
                self._known.popitem(last=False)

    async def _lookup(self, kind: str, key: str) -> Neighbours:
        assert self.index is not None
        if kind == "entry":
            return await asyncio.to_thread(self._of_entry, key)
        assert self.embed is not None
        vector = np.asarray(await self.embed(key), dtype=np.float32).tolist()
        return await asyncio.to_thread(self._nearest, vector)

    def _of_entry(self, entry_id: str) -> Neighbours:
        assert self.index is not None
        vector = self.index.vector(entry_id)
        return self._nearest(vector) if vector is not None else []

    def _nearest(self, vector: list[float]) -> Neighbours:
        assert self.index is not None
        found: dict[str, float] = {}
        for match in self.index.nearest(vector, limit=NEIGHBOURS):
            found.setdefault(match.entry.prompt_norm, float(match.score))
        return list(found.items())
