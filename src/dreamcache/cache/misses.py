"""Planning a miss: the seeds to generate, single flight (join an identical generation in flight), the
near-miss checkpoint to resume from, and the submission to the generation backend, whose events are then
followed until the pictures are written back."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from dreamcache import prompts
from dreamcache.backend import Canceled, Done, Failed, GenerationBackend, Progress, Started, StoredPicture
from dreamcache.cache.writeback import WriteBack
from dreamcache.cluster.jobs import SharedJobs
from dreamcache.decision import Decider
from dreamcache.generation.checkpoint import SCHEDULER_CLASSES, Checkpoint, check_fits, checkpoint_key
from dreamcache.generation.spec import BatchShape, PromptItem
from dreamcache.index import Entry, Match
from dreamcache.jobs import CachedPicture, GenerationResult, GenerationTask, Job, JobTable, Reuse
from dreamcache.limits import Limiter, RateLimiter
from dreamcache.metrics import Metrics
from dreamcache.resolution import CacheRequest, RequestKeys, effective_scheduler, request_seeds
from dreamcache.settings import Settings
from dreamcache.storage import ImageNotFound, ImageStore

log = logging.getLogger(__name__)


@dataclass
class Pending:
    job: Job
    joined: bool
    timings: dict[str, float]
    ticket: str = ""  # what this request's client polls and cancels (/jobs/{ticket}); the job id for its creator


class RateLimited(Exception):
    """The client used up its bucket (`what`: requests or generations); retry after `retry_after` seconds."""

    def __init__(self, what: str, retry_after: int) -> None:
        super().__init__(f"{what} rate limit reached; retry in {retry_after} s")
        self.what, self.retry_after = what, retry_after


class MissPlanner:
    """Queues (or joins) the generation of the pictures the cache lacks, and follows it to its end."""

    def __init__(
        self, settings: Settings, decider: Decider, store: ImageStore, jobs: JobTable, backend: GenerationBackend,
        writeback: WriteBack, metrics: Metrics, *, generation_limits: Limiter | None = None,
    ) -> None:
        self.settings = settings
        self.decider = decider
        self.store = store
        self.jobs = jobs
        self.backend = backend
        self.writeback = writeback
        self.metrics = metrics
        self.generation_limits: Limiter = generation_limits or RateLimiter(settings.generation_rate_per_s,
                                                                           settings.generation_burst)
        self._followers: set[asyncio.Task[Any]] = set()

    async def enqueue(
        self, request: CacheRequest, keys: RequestKeys, vector: np.ndarray, timings: dict[str, float],
        cached: list[Match], kinds: list[str],
    ) -> Pending:
        """Queue (or join) the generation of the pictures the cache lacks: n minus the cached ones."""
        if request.seed is not None:  # the seeds no cached picture has, in order
            have = {m.entry.seed for m in cached}
            seeds = [seed for seed in request_seeds(request) if seed not in have]
        else:
            seeds = [secrets.randbelow(2**31) for _ in range(request.n - len(cached))]
        # Requests sharing a flight key share one generation: the cached part is in the key, so the
        # joiner's answer (cached + generated) is the one it would have got itself.
        flight = keys.flight(request.seed, len(seeds), tuple(m.entry.id for m in cached))
        running = await self.jobs.fetch_in_flight(flight)
        if running is not None:
            return await self._joined(running, request, timings)
        if not request.warm_up and (wait := await self.generation_limits.take(request.client)):  # joins cost no GPU
            raise RateLimited("generation", wait)
        planned = time.perf_counter()
        plan = await self._plan_reuse(request, keys.compat, vector)
        if self.decider.reuse_allowed(request):
            timings["reuse_ms"] = (time.perf_counter() - planned) * 1000
        prompt, negative = prompts.clean(request.prompt), prompts.clean(request.negative_prompt)
        items = [PromptItem(prompt, negative, seed) for seed in seeds]
        exact = [keys.exact(seed) for seed in seeds]
        reuse: Reuse | None = None
        if plan is not None:
            # The first picture continues the source's noise: its seed says where the picture came from. A
            # reused picture is not the picture of (prompt, seed): it never answers an exact-seed request.
            checkpoint, reuse, seed = plan
            items[0] = PromptItem(prompt, negative, seed, checkpoint)
            exact[0] = keys.reused_exact(reuse.source)
        task = GenerationTask(
            shape=request.shape,
            items=items,
            vector=vector.tolist(),
            compat_key=keys.compat,
            exact_keys=exact,
            flight_key=flight,
            namespace=request.namespace,
            viewer=request.viewer,
            text_key=keys.text,
            resume_key=keys.resume,
            reuse=reuse,
            client=request.client,
            cached=[CachedPicture(m.entry, m.score, kind) for m, kind in zip(cached, kinds, strict=True)],
        )
        job = Job(task, on_failure=self.metrics.job_failed)
        if isinstance(self.jobs, SharedJobs):
            try:
                queued, joined = await self.jobs.submit(job)
            except Exception:
                self.metrics.rejected.inc()
                raise
            if joined:  # an identical generation was queued by another replica a moment ago
                return await self._joined(queued, request, timings)
            if not request.warm_up:
                self.metrics.record_miss(request.namespace, request.api)
            return Pending(job, False, timings, job.id)
        try:
            events = self.backend.submit(task.request(job.id))
        except Exception:
            self.metrics.rejected.inc()
            raise
        self.jobs.add(job)
        follower = asyncio.create_task(self._follow(job, events), name=f"job-{job.id}")
        self._followers.add(follower)
        follower.add_done_callback(self._followers.discard)
        if not request.warm_up:
            self.metrics.record_miss(request.namespace, request.api)
        return Pending(job, False, timings, job.id)

    async def _joined(self, running: Job, request: CacheRequest, timings: dict[str, float]) -> Pending:
        """This request waits on an identical generation already queued (single flight)."""
        self.metrics.joined.inc()
        if not request.warm_up:
            self.metrics.record_miss(request.namespace, request.api)
        return Pending(running, True, timings, await self.jobs.new_ticket(running))

    async def index_generated(self, job_id: str, task: GenerationTask, pictures: tuple[StoredPicture, ...],
                              seconds: float) -> list[Entry]:
        """Write a finished generation's pictures back (the index, autocomplete) and count them."""
        entries = await self.writeback.index_pictures(job_id, task, pictures)
        self.metrics.generation_seconds.observe(seconds / max(1, len(entries)))
        self.metrics.record_generated(len(entries), task.namespace)
        if task.reuse is not None:
            self.metrics.record_reuse(task.reuse.skipped_steps, task.namespace)
        return entries

    async def _follow(self, job: Job, events: Any) -> None:
        """Apply the backend's events to the job; write the pictures back when they are done."""
        try:
            async for event in events:
                if job.status.terminal:
                    continue  # canceled here already: the backend's last word changes nothing
                if isinstance(event, Started):
                    job.mark_running(event.total_steps)
                elif isinstance(event, Progress):
                    job.progress(event.step, event.total)
                elif isinstance(event, Failed):
                    job.fail(event.reason, event.message)
                elif isinstance(event, Canceled):
                    job.cancel()
                elif isinstance(event, Done):
                    entries = await self.index_generated(job.id, job.task, event.pictures, event.seconds)
                    job.succeed(GenerationResult(entries, event.seconds))
        finally:
            job.release()
            self.jobs.settle(job)

    async def stop_generation(self, job: Job) -> bool:
        """Cancel the job's generation (nobody waits for it any more); True if it was queued or running."""
        if isinstance(self.jobs, SharedJobs):
            canceled = await self.jobs.cancel(job)
            if canceled:
                self.metrics.record_cancel(job.task.namespace)
            return canceled
        canceled = self.backend.cancel(job.id)
        if canceled:
            job.cancel()
            self.metrics.record_cancel(job.task.namespace)
        self.jobs.settle(job)
        return canceled

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
            check_fits(checkpoint, steps=shape.steps, width=shape.width, height=shape.height,
                       scheduler=SCHEDULER_CLASSES[effective_scheduler(shape, self.settings)], step=step)
        except ImageNotFound:
            log.warning("checkpoint %s of entry %s is missing from the store: generating from scratch", key, entry.id)
            self.metrics.reuse_unavailable.inc()
            return None
        except Exception as exc:  # a broken or unreachable checkpoint must never fail the request
            log.warning("checkpoint %s of entry %s is unusable (%s): generating from scratch", key, entry.id, exc)
            self.metrics.reuse_unavailable.inc()
            return None
        return checkpoint

    async def drain(self) -> None:
        """Wait for the generations being followed to end (the backend ends every one when it stops)."""
        if self._followers:
            await asyncio.gather(*self._followers, return_exceptions=True)
