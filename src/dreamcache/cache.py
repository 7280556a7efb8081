"""The cache service: answers hits, queues misses (resumed from a checkpoint when `decision` finds one) for the
GPU worker, and writes generated images, their checkpoints and vectors back."""

from __future__ import annotations

import asyncio
import gc
import logging
import secrets
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from dreamcache import matching, prompts
from dreamcache.decision import (
    CacheRequest,
    Decider,
    compat_key,
    embedding_text,
    exact_key,
    flight_key,
    request_seeds,
    resume_key,
    reused_exact_key,
)
from dreamcache.embedding import BatchingEmbedder
from dreamcache.generation.checkpoint import CONTENT_TYPE as CHECKPOINT_CONTENT_TYPE
from dreamcache.generation.checkpoint import SCHEDULER_CLASSES, Checkpoint, CheckpointError, checkpoint_key
from dreamcache.generation.spec import BatchShape, GeneratedImage, PromptItem
from dreamcache.index import Entry, Index, Match
from dreamcache.jobs import GenerationTask, Job, JobTable, Reuse
from dreamcache.keys import KeyStore
from dreamcache.limits import RateLimiter
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage import ImageNotFound, ImageStore
from dreamcache.suggest import Suggestion, SuggestionIndex
from dreamcache.times import rfc3339
from dreamcache.worker import GpuWorker

log = logging.getLogger(__name__)

_URL_WINDOW_S = 600
HIT_FLUSH_S = 2.0  # hit counters are written to the index at most this often (batched per entry)
_VAE_SCALE = 8  # latents are 1/8 of the image's side in every SD v1.x/v2.x VAE


@dataclass
class Hit:
    matches: list[Match]
    kinds: list[str]  # per match: `exact` (same text, tags in any order, or the exact seed) or `verified`
    timings: dict[str, float]


@dataclass
class Pending:
    job: Job
    joined: bool
    timings: dict[str, float]
    ticket: str = ""  # what this request's client polls and cancels (/jobs/{ticket}); the job id for its creator


class CacheMiss(Exception):
    """`cache: only` and nothing compatible is stored."""


class RateLimited(Exception):
    """The client used up its bucket (`what`: requests or generations); retry after `retry_after` seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"{what} rate limit reached; retry in {retry_after} s")
        self.what, self.retry_after = what, retry_after


class CacheService:
    """Looks prompts up, queues misses for the GPU worker and writes generated images back."""

    def __init__(
        self,
        settings: Settings,
        embedder: BatchingEmbedder,
        index: Index,
        store: ImageStore,
        jobs: JobTable,
        metrics: Metrics,
        fingerprint: str,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.index = index
        self.decider = Decider(settings, index)
        self.store = store
        self.jobs = jobs
        self.metrics = metrics
        self.fingerprint = fingerprint
        self.worker: GpuWorker | None = None
        self.keys: KeyStore | None = None  # set by the app: signs local image URLs once keys exist
        self.request_limits = RateLimiter(settings.request_rate_per_s, settings.request_burst)
        self.generation_limits = RateLimiter(settings.generation_rate_per_s, settings.generation_burst)
        self._background: set[asyncio.Task[Any]] = set()
        self._hits: Counter[str] = Counter()  # hits not yet written to the index, by entry id
        self._hits_flush: asyncio.TimerHandle | None = None
        # One autocomplete index per namespace: a tenant never sees another tenant's prompts.
        self._suggestions: dict[str, SuggestionIndex] = {}

    def attach(self, worker: GpuWorker) -> None:
        self.worker = worker

    def image_url(self, key: str) -> str:
        """Where a client fetches an image: the store's URL, signed for the local store when keys exist
        (a browser's <img> cannot send a key). The expiry is rounded up to 10 minutes, so a URL stays
        the same, and cacheable, for a while."""
        url = self.store.url(key)
        if self.keys is None or self.store.name != "local" or not self.keys.enabled:
            return url
        expires = (int(time.time()) // _URL_WINDOW_S + 1) * _URL_WINDOW_S + self.settings.image_url_expiry_s
        return f"{url}?exp={expires}&sig={self.keys.sign(key, expires)}"

    # -- the request path --

    async def handle(self, request: CacheRequest) -> Hit | Pending:
        """Answer from the cache when a compatible entry is close enough, else queue (or join) a generation."""
        # Filling the cache (an admin's, or anyone's on an open service) must not use up the users' buckets.
        if not request.warm_up and (wait := self.request_limits.retry_after(request.client)):
            raise RateLimited("request", wait)
        started = time.perf_counter()
        # Embedding the normalised text makes retyped prompts (case, punctuation, spacing) exact hits.
        vector = await self.embedder.embed(embedding_text(request.prompt))
        embedded = time.perf_counter()
        compat = compat_key(self.fingerprint, request.shape, request.negative_prompt, request.namespace)
        timings = {"embed_ms": (embedded - started) * 1000}
        matches: list[Match] = []
        kinds: list[str] = []
        if request.mode != "refresh":
            # A prompt asked again is settled by a keyword lookup, here; anything else searches in a thread.
            settled, same_text = self.decider.quick_lookup(request, compat, vector)
            if settled is None:
                settled = await asyncio.to_thread(self.decider.lookup, request, compat, vector, same_text)
            matches, kinds = settled
            timings["lookup_ms"] = (time.perf_counter() - embedded) * 1000
            self.metrics.lookup_seconds.observe(time.perf_counter() - started)
            if not matches and request.mode == "only":
                raise CacheMiss()
            # `only` never generates: the cached pictures there are, even when fewer than n.
            if matches and (len(matches) >= request.n or request.mode == "only"):
                await self._served(request, matches)
                if not request.warm_up:
                    self.metrics.record_hit(request.shape.steps)
                return Hit(matches, kinds, timings)
        pending = await self._enqueue(request, compat, vector, timings, matches, kinds)
        if matches:  # the cached part of the answer: the client sees these now, the rest when generated
            await self._served(request, matches)
            if not request.warm_up:
                self.metrics.record_cached_pictures(len(matches), request.shape.steps)
        return pending

    async def _served(self, request: CacheRequest, matches: list[Match]) -> None:
        """Book cached pictures as shown to the request's client and as hits of their entries and prompts."""
        if request.viewer is not None:
            # Before answering: the same client's next request must already skip these pictures.
            await asyncio.to_thread(self._mark_shown, [m.entry.id for m in matches], request.viewer)
        for match in matches:
            self.suggestions_for(request.namespace).record_hit(match.entry.prompt_norm)
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
            self._in_background(asyncio.to_thread(self._record_hits, counts))

    def _record_hits(self, counts: Counter[str]) -> None:
        for entry_id, count in counts.items():
            self.index.record_hit(entry_id, count)

    async def _enqueue(
        self, request: CacheRequest, compat: str, vector: np.ndarray, timings: dict[str, float],
        cached: list[Match], kinds: list[str],
    ) -> Pending:
        """Queue (or join) the generation of the pictures the cache lacks: n minus the cached ones."""
        assert self.worker is not None
        if request.seed is not None:  # the seeds no cached picture has, in order
            have = {m.entry.seed for m in cached}
            seeds = [seed for seed in request_seeds(request) if seed not in have]
        else:
            seeds = [secrets.randbelow(2**31) for _ in range(request.n - len(cached))]
        # Requests sharing a flight key share one generation: the cached part is in the key, so the
        # joiner's answer (cached + generated) is the one it would have got itself.
        flight = flight_key(compat, request.prompt, request.shape, request.seed, len(seeds),
                            tuple(m.entry.id for m in cached))
        running = self.jobs.in_flight(flight)
        if running is not None:
            self.metrics.joined.inc()
            if not request.warm_up:
                self.metrics.misses.inc()
            return Pending(running, True, timings, self.jobs.join(running))
        if not request.warm_up and (wait := self.generation_limits.retry_after(request.client)):  # joins cost no GPU
            raise RateLimited("generation", wait)
        planned = time.perf_counter()
        plan = await self._plan_reuse(request, compat, vector)
        if self.decider.reuse_allowed(request):
            timings["reuse_ms"] = (time.perf_counter() - planned) * 1000
        prompt, negative = prompts.clean(request.prompt), prompts.clean(request.negative_prompt)
        items = [PromptItem(prompt, negative, seed) for seed in seeds]
        exact = [exact_key(compat, request.prompt, request.shape, seed) for seed in seeds]
        reuse: Reuse | None = None
        if plan is not None:
            # The first picture continues the source's noise: its seed says where the picture came from. A
            # reused picture is not the picture of (prompt, seed): it never answers an exact-seed request.
            checkpoint, reuse, seed = plan
            items[0] = PromptItem(prompt, negative, seed, checkpoint)
            exact[0] = reused_exact_key(compat, request.prompt, request.shape, reuse.source)
        cached_out = [self.image_out(m.entry, m.score, kind) for m, kind in zip(cached, kinds, strict=True)]
        task = GenerationTask(
            shape=request.shape,
            items=items,
            vector=vector.tolist(),
            compat_key=compat,
            exact_keys=exact,
            flight_key=flight,
            namespace=request.namespace,
            viewer=request.viewer,
            text_key=matching.text_key(request.prompt),
            resume_key=resume_key(compat, request.shape),
            reuse=reuse,
            client=request.client,
            cached=[{**image, "source": "cache"} for image in cached_out],
        )
        job = Job(task, on_failure=self.metrics.job_failed)
        try:
            self.worker.submit(job)
        except Exception:
            self.metrics.rejected.inc()
            raise
        self.jobs.add(job)
        if not request.warm_up:
            self.metrics.misses.inc()
        return Pending(job, False, timings, job.id)

    # -- near-miss reuse --

    async def _plan_reuse(
        self, request: CacheRequest, compat: str, vector: np.ndarray
    ) -> tuple[Checkpoint, Reuse, int] | None:
        """The checkpoint a near-miss starts from (with the plan and the source's seed), or None for a full run."""
        if not self.decider.reuse_allowed(request):
            return None
        options = await asyncio.to_thread(self.decider.reuse_options, request, compat, vector)
        for option in options:
            entry = option.match.entry
            checkpoint = await asyncio.to_thread(self._load_checkpoint, entry, option.step, request.shape)
            if checkpoint is not None:
                return checkpoint, Reuse(entry.id, option.step, round(float(option.match.score), 6)), entry.seed
        return None

    def _load_checkpoint(self, entry: Entry, step: int, shape: BatchShape) -> Checkpoint | None:
        """The entry's checkpoint at `step`, checked against the request; None (and a warning) if unusable."""
        key = checkpoint_key(entry.id, step)
        try:
            checkpoint = Checkpoint.from_bytes(self.store.get(key))
            expected = SCHEDULER_CLASSES[self.settings.scheduler]
            latent = (shape.height // _VAE_SCALE, shape.width // _VAE_SCALE)
            if checkpoint.step != step or checkpoint.steps != shape.steps or checkpoint.scheduler != expected:
                raise CheckpointError(f"checkpoint {key} is for step {checkpoint.step} of {checkpoint.steps} with "
                                      f"{checkpoint.scheduler}, wanted step {step} of {shape.steps} with {expected}")
            if tuple(checkpoint.latents.shape[1:]) != latent:
                raise CheckpointError(f"checkpoint {key} has latents {checkpoint.latents.shape}, wanted (C, *{latent})")
        except ImageNotFound:
            log.warning("checkpoint %s of entry %s is missing from the store: generating from scratch", key, entry.id)
            self.metrics.reuse_unavailable.inc()
            return None
        except Exception as exc:  # a broken or unreachable checkpoint must never fail the request
            log.warning("checkpoint %s of entry %s is unusable (%s): generating from scratch", key, entry.id, exc)
            self.metrics.reuse_unavailable.inc()
            return None
        return checkpoint

    # -- the write-back --

    async def write_back(self, job: Job, results: list[GeneratedImage], seconds: float) -> None:
        """Store each image, then its checkpoints, then index its vector; then tell the waiting clients."""
        try:
            entries = []
            for index, result in enumerate(results):
                entry = await self._store_one(job, index, result)
                if entry is None:
                    return  # the job failed: nothing to answer with
                entries.append(entry)
            self.metrics.generation_seconds.observe(seconds / max(1, len(results)))
            if job.task.reuse is not None:
                self.metrics.record_reuse(job.task.reuse.skipped_steps)
            job.succeed(self.generated_response(job, entries, seconds))
        finally:
            job.release()
            self.jobs.settle(job)

    async def _store_one(self, job: Job, index: int, result: GeneratedImage) -> Entry | None:
        """One generated picture into the store and the index: its entry, or None after failing the job."""
        task = job.task
        item = task.items[index]
        entry_id = str(uuid.uuid4())
        key = f"{entry_id}.png"
        try:
            png = result.png or await asyncio.to_thread(result.encoded)
            await asyncio.to_thread(self.store.put, key, png)
        except Exception as exc:
            log.exception("storing image of job %s failed", job.id)
            job.fail("store_failed", f"the generated image could not be stored ({type(exc).__name__})")
            return None
        stored_steps, checkpoint_bytes = await asyncio.to_thread(self._store_checkpoints, entry_id, result)
        reuse = task.reuse if index == 0 else None  # only the first picture of a job may resume a checkpoint
        entry = Entry(
            id=entry_id,
            prompt=item.prompt,
            negative_prompt=item.negative_prompt,
            width=task.shape.width,
            height=task.shape.height,
            steps=task.shape.steps,
            guidance_scale=float(task.shape.guidance_scale),
            seed=item.seed,
            model=self.settings.model,
            fingerprint=self.fingerprint,
            image_key=key,
            created_at=time.time(),
            compat_key=task.compat_key,
            exact_key=task.exact_keys[index],
            prompt_norm=prompts.normalize(item.prompt),
            namespace=task.namespace,
            text_key=task.text_key,
            checkpoints=stored_steps,
            resume_key=task.resume_key if stored_steps else "",
            reused_from=reuse.source if reuse is not None else "",
            skipped_steps=reuse.skipped_steps if reuse is not None else 0,
            stored_bytes=len(png) + checkpoint_bytes,
        )
        try:
            await asyncio.to_thread(self.index.upsert, entry, task.vector)
        except Exception:
            # The picture exists and the client gets it; only the cache missed this one (an orphan image).
            log.exception("indexing image %s of job %s failed", key, job.id)
        else:
            self.suggestions_for(entry.namespace).add(entry)
            if task.viewer is not None:
                await asyncio.to_thread(self.index.mark_shown, entry.id, task.viewer)
        return entry

    def _store_checkpoints(self, entry_id: str, result: GeneratedImage) -> tuple[tuple[int, ...], int]:
        """Store what can be stored (steps and bytes); a checkpoint that fails only makes the entry less reusable."""
        stored: list[int] = []
        size = 0
        for checkpoint in result.checkpoints:
            data = checkpoint.to_bytes()
            try:
                self.store.put(checkpoint_key(entry_id, checkpoint.step), data, CHECKPOINT_CONTENT_TYPE)
            except Exception:
                log.exception("storing checkpoint at step %d of entry %s failed", checkpoint.step, entry_id)
                continue
            self.metrics.checkpoint_bytes.observe(len(data))
            stored.append(checkpoint.step)
            size += len(data)
        return tuple(stored), size

    # -- response bodies --

    def image_out(
        self, entry: Entry, similarity: float | None, match: str | None = None, reuse: Reuse | None = None
    ) -> dict[str, Any]:
        return {
            "id": entry.id,
            "match": match,
            "reuse": (
                {"from": reuse.source, "skipped_steps": reuse.skipped_steps, "similarity": reuse.similarity}
                if reuse is not None else None
            ),
            "url": self.image_url(entry.image_key),
            "prompt": entry.prompt,
            "negative_prompt": entry.negative_prompt,
            "similarity": round(float(similarity), 6) if similarity is not None else None,
            "width": entry.width,
            "height": entry.height,
            "num_inference_steps": entry.steps,
            "guidance_scale": entry.guidance_scale,
            "seed": entry.seed,
            "created_at": rfc3339(entry.created_at),
        }

    def hit_response(self, hit: Hit, total_ms: float) -> dict[str, Any]:
        return {
            "source": "cache",
            "images": [{**self.image_out(m.entry, m.score, kind), "source": "cache"}
                       for m, kind in zip(hit.matches, hit.kinds, strict=True)],
            "job_id": None,
            "timings": {**hit.timings, "total_ms": total_ms},
        }

    def generated_response(self, job: Job, entries: list[Entry], seconds: float) -> dict[str, Any]:
        """The answer of a generation: the pictures that were cached first, then the generated ones."""
        queue_ms = ((job.started_at or job.created_at) - job.created_at) * 1000
        generated = [
            {**self.image_out(entry, None, reuse=job.task.reuse if i == 0 else None), "source": "generated"}
            for i, entry in enumerate(entries)
        ]
        return {
            "source": "generated",
            "images": job.task.cached + generated,
            "job_id": job.id,
            "timings": {
                "queue_ms": queue_ms,
                "generate_ms": seconds * 1000,
                "total_ms": (time.time() - job.created_at) * 1000,
            },
        }

    # -- autocomplete --

    def suggestions_for(self, namespace: str) -> SuggestionIndex:
        """The autocomplete index of one namespace (created empty on first use)."""
        found = self._suggestions.get(namespace)
        if found is None:
            found = self._suggestions[namespace] = SuggestionIndex(self.index, self._embed_typed)
        return found

    @property
    def suggestions(self) -> SuggestionIndex:
        """The shared pool's autocomplete index."""
        return self.suggestions_for("")

    async def load_suggestions(self) -> None:
        """Fill the autocomplete indexes from the vector index (start-up, before serving)."""
        count, seconds = await asyncio.to_thread(self._load_suggestions)
        # Hundreds of thousands of long-lived objects: keep them out of the cyclic GC's full
        # collections, each of which would walk them all while holding the event loop.
        gc.freeze()
        prompts_loaded = sum(len(s) for s in self._suggestions.values())
        log.info("autocomplete: %d entries (%d prompts, %d namespaces) loaded in %.2fs", count, prompts_loaded,
                 len(self._suggestions), seconds)

    def _load_suggestions(self) -> tuple[int, float]:
        started = time.perf_counter()
        by_namespace: dict[str, list[Entry]] = {}
        for entry in self.index.scroll_all():
            by_namespace.setdefault(entry.namespace, []).append(entry)
        count = sum(self.suggestions_for(ns).load(entries) for ns, entries in by_namespace.items())
        return count, time.perf_counter() - started

    async def _embed_typed(self, text: str) -> np.ndarray:
        return await self.embedder.embed(embedding_text(text))

    async def recommend(
        self, text: str, limit: int, width: int, height: int, namespace: str = ""
    ) -> list[dict[str, Any]]:
        """Past prompts for a partial prompt, ranked; instant when an image exists for this size and model."""
        shape = BatchShape(width, height, self.settings.default_steps, float(self.settings.default_guidance))
        compat = compat_key(self.fingerprint, shape, "", namespace)
        suggestions = await self.suggestions_for(namespace).suggest(text, compat=compat, limit=limit)
        return [self.suggestion_out(s) for s in suggestions]

    def suggestion_out(self, suggestion: Suggestion) -> dict[str, Any]:
        return {
            "prompt": suggestion.prompt,
            "score": suggestion.score,
            "hits": suggestion.hits,
            "match": suggestion.match,
            "instant": suggestion.instant,
            "thumbnail_url": self.image_url(suggestion.image_key) if suggestion.image_key else None,
        }

    def _in_background(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def drain(self) -> None:
        """Write the pending hit counts and wait for background bookkeeping to finish."""
        if self._hits_flush is not None:
            self._hits_flush.cancel()
        self._flush_hits()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
