"""Prompt text -> vector for the replay: in batches, on every core, a chunk ahead of the replay."""

from __future__ import annotations

import itertools
import multiprocessing
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

import numpy as np

from dreamcache.prompts import embedding_text
from dreamcache.replay.stream import StreamItem
from dreamcache.settings import Settings

EMBED_BATCH = 64
CHUNK = 2048  # requests read, embedded and replayed together
VECTOR_CACHE = 100_000  # vectors of recent prompt texts kept for repeats (~1.6 KB each)

_worker_embed: Callable[[Sequence[str]], np.ndarray] | None = None
Job = tuple[list[str], list[Future[np.ndarray] | np.ndarray], dict[str, np.ndarray]]  # missing, parts, known


def _start_worker(settings: Settings) -> None:
    global _worker_embed
    from dreamcache.embedding import open_embedder

    _worker_embed = open_embedder(settings.model_copy(update={"embedder_threads": 1})).embed


def _embed_in_worker(texts: Sequence[str]) -> np.ndarray:
    assert _worker_embed is not None
    return _embed_batches(texts, _worker_embed)


def _embed_batches(texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
    parts = [np.asarray(embed(texts[i : i + EMBED_BATCH]), dtype=np.float32) for i in range(0, len(texts), EMBED_BATCH)]
    return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


class VectorSource:
    """Prompt text -> vector: a bounded LRU of recent texts, the rest embedded in batches of similar length, in
    `workers` processes (one ONNX thread each) or with `embed` in this process."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray] | None, settings: Settings, *,
                 workers: int = 1, cache_size: int = VECTOR_CACHE) -> None:
        self._embed = embed
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._inflight: set[str] = set()
        self._previous: dict[str, np.ndarray] = {}  # the last collected job's new vectors (the next one may need them)
        self.embedded = 0
        self._pool: ProcessPoolExecutor | None = None
        self.workers = workers if embed is None else 1
        if embed is None:
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(settings,))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit(self, texts: Sequence[str]) -> Job:
        """Start embedding the texts not known yet (sorted by length: little padding). The vectors of the known
        ones are taken now: the previous chunk's new texts may push them out of the cache before `collect`."""
        known = {t: self._cache[t] for t in texts if t in self._cache}
        missing = sorted({t for t in texts if t not in known and t not in self._inflight},
                         key=lambda text: (len(text), text))
        self._inflight.update(missing)
        if self._pool is None:
            assert self._embed is not None
            return missing, [_embed_batches(missing, self._embed)], known
        # Interleaved slices: every worker gets short and long texts alike, each slice still sorted.
        slices = [missing[i :: self.workers] for i in range(self.workers)]
        return [t for part in slices for t in part], [self._pool.submit(_embed_in_worker, part)
                                                      for part in slices if part], known

    def collect(self, job: Job, texts: Sequence[str]) -> list[np.ndarray]:
        """The vectors of `texts` once the job that `submit` started is done."""
        missing, parts, known = job
        arrays = [part if isinstance(part, np.ndarray) else part.result() for part in parts]
        vectors = np.concatenate([a for a in arrays if a.size]) if missing else np.empty((0, 0), np.float32)
        fresh = dict(zip(missing, vectors, strict=True))
        for text, vector in fresh.items():
            self._remember(text, vector)
        self._inflight.difference_update(missing)
        self.embedded += len(missing)
        out = []
        for text in texts:
            vector = known.get(text)
            if vector is None:
                vector = fresh.get(text)
            if vector is None:  # embedded by the previous job (in flight at submit)
                vector = self._previous[text]
            out.append(vector)
        self._previous = fresh
        return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        self._cache[text] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def embedded_chunks(items: Iterable[StreamItem], source: VectorSource, chunk_size: int = CHUNK
                    ) -> Iterator[tuple[list[StreamItem], list[np.ndarray]]]:
    """The stream in chunks with their vectors; the next chunk is embedded while the caller replays this one."""
    pending: tuple[list[StreamItem], list[str], Any] | None = None
    iterator = iter(items)
    while True:
        chunk = list(itertools.islice(iterator, chunk_size))
        if chunk:
            texts = [embedding_text(item.prompt) for item in chunk]
            started = (chunk, texts, source.submit(texts))
        if pending is not None:
            yield pending[0], source.collect(pending[2], pending[1])
        if not chunk:
            return
        pending = started
