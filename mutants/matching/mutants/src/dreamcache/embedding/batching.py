"""The async front of the embedder: an LRU of prompt -> vector, then micro-batches of concurrent callers."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from dreamcache.embedding.base import Embedder, check_texts

logger = logging.getLogger(__name__)


class VectorCache:
    """An LRU of (vector space, embedded text) -> vector: a repeated prompt skips the embedder.

    Keyed by the embedder's vector-space name and the exact text it embedded (the caller normalises
    first), so another model, or a text that normalises differently, is never answered from it.
    Vectors are stored read-only and handed out as they are.
    """

    def __init__(self, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError(f"max_entries must be >= 0, got {max_entries}")
        self.max_entries = max_entries
        self.hits = 0
        self.misses = 0
        self._vectors: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, space: str, text: str) -> np.ndarray | None:
        if not self.max_entries:
            return None
        with self._lock:
            vector = self._vectors.get((space, text))
            if vector is None:
                self.misses += 1
                return None
            self._vectors.move_to_end((space, text))
            self.hits += 1
            return vector

    def put(self, space: str, text: str, vector: np.ndarray) -> None:
        if not self.max_entries:
            return
        vector = np.array(vector, dtype=np.float32)  # a private copy: callers cannot change what is cached
        vector.flags.writeable = False
        with self._lock:
            self._vectors[(space, text)] = vector
            self._vectors.move_to_end((space, text))
            while len(self._vectors) > self.max_entries:
                self._vectors.popitem(last=False)

    def __len__(self) -> int:
        return len(self._vectors)


class EmbedderStopped(RuntimeError):
    """The batching embedder is not running (never started, or stopped)."""


class BatchingEmbedder:
    """Async micro-batching front: concurrent callers' texts are embedded together in one worker thread."""

    def __init__(
        self, embedder: Embedder, *, max_batch: int, max_wait_ms: float, cache: VectorCache | None = None
    ) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.embedder = embedder
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.batches_run = 0
        self.texts_embedded = 0
        self.cache = cache if cache is not None else VectorCache(0)
        self._queue: asyncio.Queue[tuple[str, asyncio.Future[np.ndarray]]] | None = None
        self._task: asyncio.Task[None] | None = None
        self._in_flight: list[tuple[str, asyncio.Future[np.ndarray]]] = []

    @property
    def name(self) -> str:
        """Name of the underlying vector space."""
        return self.embedder.name

    @property
    def dimension(self) -> int:
        """Vector dimension of the underlying embedder."""
        return self.embedder.dimension

    @property
    def running(self) -> bool:
        """Whether the batching task is alive."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start the background batching task on the running event loop."""
        if self.running:
            return
        self._queue = asyncio.Queue()
        self._task = asyncio.create_task(self._run(), name="dreamcache-embed-batcher")

    async def stop(self) -> None:
        """Cancel the batching task and fail every pending caller with EmbedderStopped."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
            except Exception:
                logger.exception("embedding batcher crashed")
        self._fail_pending(EmbedderStopped("embedder stopped"))

    def _fail_pending(self, error: BaseException) -> None:
        """Fail the collected batch and everything still queued."""
        pending, self._in_flight = self._in_flight, []
        if self._queue is not None:
            while not self._queue.empty():
                pending.append(self._queue.get_nowait())
        for _, future in pending:
            if not future.done():
                future.set_exception(error)

    async def embed(self, text: str) -> np.ndarray:
        """Embed one text, batched with whatever other callers are waiting; returns a (dimension,) vector."""
        return (await self.embed_many([text]))[0]

    async def embed_many(self, texts: Sequence[str]) -> np.ndarray:
        """Embed several texts (from the LRU when seen before, else through the batcher); an (n, dimension) array."""
        items = check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        if not self.running or self._queue is None:
            raise EmbedderStopped("embedder is not running; call start() first")
        space = self.embedder.name
        found = [self.cache.get(space, text) for text in items]
        missing = [text for text, vector in zip(items, found, strict=True) if vector is None]
        if missing:
            fresh = iter(await self._through_batcher(missing))
            for i, vector in enumerate(found):
                if vector is None:
                    found[i] = vector = next(fresh)
                    self.cache.put(space, items[i], vector)
        return np.stack([vector for vector in found if vector is not None])

    async def _through_batcher(self, items: list[str]) -> list[np.ndarray]:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[np.ndarray]] = []
        for text in items:
            future: asyncio.Future[np.ndarray] = loop.create_future()
            self._queue.put_nowait((text, future))
            futures.append(future)
        try:
            return list(await asyncio.gather(*futures))
        finally:
            for future in futures:  # on caller cancellation, tell the batcher to skip the rest
                future.cancel()

    async def _collect(self) -> list[tuple[str, asyncio.Future[np.ndarray]]]:
        """Wait for one text, then gather more until max_batch or the max_wait deadline."""
        assert self._queue is not None
        # Collected items live in self._in_flight so that stop() can fail them if cancelled mid-way.
        self._in_flight = []
        batch = self._in_flight
        batch.append(await self._queue.get())
        deadline = time.monotonic() + self.max_wait_s
        while len(batch) < self.max_batch:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _run(self) -> None:
        """Batching loop: collect, embed in a thread, resolve each caller's future."""
        try:
            await self._serve()
        finally:  # cancelled or crashed: nobody may wait forever
            self._fail_pending(EmbedderStopped("embedder stopped"))

    async def _serve(self) -> None:
        """Serve batches until cancelled."""
        while True:
            batch = await self._collect()
            live = [(text, future) for text, future in batch if not future.done()]
            if not live:
                continue
            unique = list(dict.fromkeys(text for text, _ in live))  # same text twice is embedded once
            try:
                vectors = await asyncio.to_thread(self.embedder.embed, unique)
            except Exception as exc:  # the callers get the embedder's error; the loop keeps serving
                for _, future in live:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches_run += 1
            self.texts_embedded += len(unique)
            row = {text: i for i, text in enumerate(unique)}
            for text, future in live:
                if not future.done():
                    future.set_result(vectors[row[text]].copy())
