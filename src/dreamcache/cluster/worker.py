"""A GPU worker on the shared queue (`QueueWorker`): takes batches of compatible jobs from Redis, runs them on a
local `worker.GpuWorker` (the pipeline in its child process), stores the pictures, and reports every change.

- **Taking work**: whenever the local GPU has room for less than a batch, one script takes the next batch
  (`SharedQueue.take`: fair across clients, compatible shapes together).
- **Holding it**: every taken entry is renewed (`XCLAIM ... JUSTID`, idle time back to 0) every
  `visibility_timeout / 4`; a worker killed, frozen or cut off stops renewing, and after the visibility timeout
  any live worker claims the entry (`XAUTOCLAIM`) and runs the job again. The pictures of a job always get the
  same keys (`PictureWriter.store_all`), so a job run twice stores one picture, and its write-back happens once.
- **Giving up**: a job delivered more than `max_deliveries` times (it killed that many workers) fails with
  `worker_crashed`.
- **Stopping** (SIGTERM, `stop()`): takes no more work, hands back the jobs not started (claimable at once,
  their delivery count unchanged) and finishes the running batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict

from dreamcache.backend import (
    Canceled,
    Done,
    Failed,
    FailureReason,
    GenerationRequest,
    Progress,
    Started,
    WorkerUnavailable,
)
from dreamcache.cache.writeback import PictureWriter
from dreamcache.cluster import codec
from dreamcache.cluster.connection import REDIS_ERRORS, RedisLink
from dreamcache.cluster.jobs import replica_name
from dreamcache.cluster.queue import GROUP, LIVE, SharedQueue, Taken
from dreamcache.generation.checkpoint import Checkpoint, checkpoint_key
from dreamcache.generation.spec import PromptItem
from dreamcache.jobs import GenerationTask
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage import ImageStore
from dreamcache.worker import GpuWorker

log = logging.getLogger(__name__)

_IDLE_POLL_S = 0.5  # how often an idle worker looks for work without being woken (a submit wakes it at once)


class QueueWorker:
    """One GPU's share of the shared queue."""

    def __init__(self, settings: Settings, link: RedisLink, store: ImageStore, fingerprint: str,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.link = link
        self.store = store
        self.queue = SharedQueue(link)
        self.name = f"worker-{replica_name()}"
        self.gpu = GpuWorker(settings, PictureWriter(store, metrics or Metrics()).store_all, fingerprint)
        self.held: dict[str, Taken] = {}  # job id -> its queue entry, while this worker has it
        self._flights: dict[str, str] = {}
        self._handed_back: set[str] = set()
        self._taking = True
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._reports: set[asyncio.Task[None]] = set()
        self._work = asyncio.Event()  # set by every `queued` event: an idle worker takes at once
        self.visibility_ms = int(settings.redis_visibility_timeout_s * 1000)

    # -- lifecycle --

    async def start(self) -> None:
        await self.gpu.start()
        self._tasks = [asyncio.create_task(coro, name=name) for coro, name in (
            (self._take_forever(), "worker-take"), (self._renew_forever(), "worker-renew"),
            (self._reclaim_forever(), "worker-reclaim"), (self._cancels_forever(), "worker-cancels"))]
        log.info("GPU worker %s takes jobs from the shared queue at %s", self.name, self.link.url.split("@")[-1])

    async def stop(self, finish_s: float = 60.0) -> None:
        """Take no more work, hand back what has not started, finish the running batch, stop the GPU."""
        self._taking = False
        for task in self._tasks:
            if task.get_name() in ("worker-take", "worker-reclaim"):
                task.cancel()
        await self._hand_back_queued()
        deadline = time.monotonic() + finish_s
        while self._reports and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        self._stopping = True  # redis-py may turn a cancellation into a connection error: the loops end anyway
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._hand_back_queued()  # whatever is left (the batch outran finish_s) goes back too
        await self.gpu.stop()

    @property
    def ready(self) -> bool:
        return self.gpu.ready

    # -- taking jobs --

    async def _take_forever(self) -> None:
        while self._taking:
            room = self.settings.max_batch_size - self.gpu.depth
            if not self._taking or not self.gpu.ready or not self.link.healthy or room <= 0:
                await asyncio.sleep(0.05)
                continue
            self._work.clear()  # before looking: a job queued from now on wakes the wait below
            try:
                taken = await self.queue.take(self.name, room)
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
                await asyncio.sleep(0.5)
                continue
            except Exception:
                log.exception("taking a batch from the shared queue failed")
                await asyncio.sleep(0.5)
                continue
            if not taken:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._work.wait(), _IDLE_POLL_S)
                continue
            for one in taken:
                await self._run(one)

    async def _run(self, taken: Taken) -> None:
        """Start one taken job on the local GPU and report its events."""
        record = await self.link.redis.hgetall(self.queue.job(taken.job_id))
        if record.get("status") not in LIVE or "task" not in record:
            await self.queue.ack(taken)  # canceled (or expired) meanwhile
            return
        task = codec.load_task(record["task"])
        items = await asyncio.to_thread(self._items, task)
        request = GenerationRequest(taken.job_id, task.shape, items, task.client)
        self.held[taken.job_id] = taken
        self._flights[taken.job_id] = task.flight_key
        try:
            stream = self.gpu.submit(request)
        except WorkerUnavailable as exc:
            await self._fail(taken, FailureReason.GENERATOR_UNAVAILABLE, f"the image generator could not be loaded: "
                             f"{exc}")
            return
        report = asyncio.create_task(self._report(taken, stream), name=f"report-{taken.job_id}")
        self._reports.add(report)
        report.add_done_callback(self._reports.discard)

    def _items(self, task: GenerationTask) -> list[PromptItem]:
        """The job's items; a near-miss's first item with its checkpoint, read from the store (else from noise)."""
        items = list(task.items)
        if task.reuse is not None and items:
            key = checkpoint_key(task.reuse.source, task.reuse.skipped_steps)
            try:
                checkpoint = Checkpoint.from_bytes(self.store.get(key))
                items[0] = PromptItem(items[0].prompt, items[0].negative_prompt, items[0].seed, checkpoint)
            except Exception as exc:  # gone since the replica checked it: a full run is still the right picture
                log.warning("checkpoint %s unusable on this worker (%s): generating from noise", key, exc)
        return items

    async def _report(self, taken: Taken, stream: object) -> None:
        job_id = taken.job_id
        try:
            async for event in stream:  # type: ignore[attr-defined]
                if job_id in self._handed_back:
                    return
                if isinstance(event, Started):
                    await self.queue.update(job_id, "started", {"total": event.total_steps}, status="running",
                                            started=time.time(), total=event.total_steps)
                elif isinstance(event, Progress):
                    await self.queue.update(job_id, "progress", {"step": event.step, "total": event.total},
                                            step=event.step, total=event.total)
                elif isinstance(event, Done):
                    await self.queue.generated(taken, codec.dump_pictures(event.pictures), event.seconds)
                elif isinstance(event, Failed):
                    await self._fail(taken, event.reason, event.message)
                elif isinstance(event, Canceled):
                    await self.queue.ack(taken)
        except REDIS_ERRORS as exc:
            # The picture may be stored; the entry stays unacknowledged and is run again (same keys) elsewhere.
            self.link.failed(exc)
            log.error("lost Redis while reporting job %s: it will be delivered again", job_id)
        finally:
            self.held.pop(job_id, None)
            self._flights.pop(job_id, None)
            self._handed_back.discard(job_id)

    async def _fail(self, taken: Taken, reason: str, message: str) -> None:
        flight = self._flights.get(taken.job_id, "")
        await self.queue.finish(taken.job_id, flight, "failed", {"type": reason, "message": message},
                                self.settings.job_ttl_s, status="failed", finished=time.time(), error_type=reason,
                                error_message=message)
        await self.queue.ack(taken)

    # -- holding them, and taking over the jobs of dead workers --

    async def _renew_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(max(0.25, self.visibility_ms / 4000))
            by_stream: dict[str, list[str]] = defaultdict(list)
            for job_id, taken in list(self.held.items()):
                if job_id not in self._handed_back:
                    by_stream[taken.stream].append(taken.entry)
            try:
                for stream, entries in by_stream.items():
                    await self.link.redis.xclaim(stream, GROUP, self.name, 0, entries, justid=True)
            except REDIS_ERRORS as exc:
                self.link.failed(exc)

    async def _reclaim_forever(self) -> None:
        while self._taking:
            await asyncio.sleep(max(0.5, self.visibility_ms / 4000))
            if not self._taking or not self.gpu.ready or not self.link.healthy:
                continue
            try:
                await self._reclaim()
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
            except Exception:
                log.exception("claiming the jobs of dead workers failed")

    async def _reclaim(self) -> None:
        for stream in await self.link.redis.hkeys(self.queue.smeta):
            _, messages, _ = await self.link.redis.xautoclaim(stream, GROUP, self.name, self.visibility_ms, "0-0",
                                                              count=16)
            for entry, fields in messages:
                if not fields:
                    continue
                taken = Taken(stream, entry, fields.get("job", ""))
                if taken.job_id in self.held:
                    continue  # ours, only renewed late
                pending = await self.link.redis.xpending_range(stream, GROUP, min=entry, max=entry, count=1)
                deliveries = int(pending[0]["times_delivered"]) if pending else 1
                if deliveries > self.settings.redis_max_deliveries:
                    log.error("job %s was delivered %d times and its workers died each time: failing it",
                              taken.job_id, deliveries - 1)
                    record = await self.link.redis.hget(self.queue.job(taken.job_id), "task")
                    self._flights[taken.job_id] = codec.load_task(record).flight_key if record else ""
                    await self._fail(taken, FailureReason.WORKER_CRASHED,
                                     f"the GPU workers running this job died {deliveries - 1} times; it is not tried "
                                     f"again")
                    self._flights.pop(taken.job_id, None)
                    continue
                log.warning("job %s: its worker stopped answering; running it here (delivery %d)", taken.job_id,
                            deliveries)
                await self._run(taken)

    async def _hand_back_queued(self) -> None:
        """Give the jobs this worker holds but has not started back to the queue, claimable at once."""
        for job_id, taken in list(self.held.items()):
            if job_id in self._handed_back or self.gpu.position(job_id) is None:
                continue  # running (or done): it finishes here
            self._handed_back.add(job_id)
            self.gpu.cancel(job_id)
            try:
                pending = await self.link.redis.xpending_range(taken.stream, GROUP, min=taken.entry,
                                                               max=taken.entry, count=1)
                count = int(pending[0]["times_delivered"]) if pending else 1
                await self.link.redis.xclaim(taken.stream, GROUP, self.name, 0, [taken.entry], justid=True,
                                             idle=self.visibility_ms + 1000, retrycount=max(0, count - 1))
            except REDIS_ERRORS as exc:
                self.link.failed(exc)  # it comes back anyway after the visibility timeout
            log.info("job %s handed back to the shared queue", job_id)

    # -- new jobs and cancellations, from any replica --

    async def _cancels_forever(self) -> None:
        await self.queue.follow_events(self._on_event, lambda: self._stopping)

    def _on_event(self, fields: dict[str, str]) -> None:
        if fields.get("kind") == "queued":
            self._work.set()
        elif fields.get("kind") == "canceled" and fields.get("job") in self.held:
            self.gpu.cancel(fields["job"])
