"""The single GPU worker: a child process running the pipeline, and the bounded queue feeding it.

The parent side (`GpuWorker`) lives in the web process: it keeps the queue of jobs, groups
compatible jobs (same width, height, steps, guidance) into batches, sends one batch at a time to
the child and hands finished images to a callback that runs off the GPU's critical path. The child
(`worker_main`) loads the pipeline once and talks back through small event messages. If the child
dies, the jobs of its batch fail with a clear error and a new child is started.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing as mp
import os
import queue as queue_mod
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from multiprocessing.process import BaseProcess
from typing import Any

from dreamcache.generation.spec import BatchShape, GeneratedImage, PromptItem, capture_steps, start_step
from dreamcache.jobs import Job, JobStatus
from dreamcache.settings import Settings

log = logging.getLogger(__name__)


# --- messages between the processes -----------------------------------------------------------


@dataclass
class RunBatch:
    batch_id: int
    shape: BatchShape
    items: list[PromptItem]


@dataclass
class CancelBatch:
    """Parent -> child: every job of this batch was canceled; stop at the next denoising step."""

    batch_id: int


class BatchCanceled(Exception):
    """Raised inside the denoising loop when the running batch was canceled."""


@dataclass
class Ready:
    fingerprint: str
    device: str
    load_seconds: float


@dataclass
class LoadFailed:
    message: str


@dataclass
class Step:
    batch_id: int
    step: int
    total: int


@dataclass
class BatchDone:
    batch_id: int
    results: list[GeneratedImage]
    seconds: float


@dataclass
class BatchFailed:
    batch_id: int
    error_type: str
    message: str


# --- the child process ------------------------------------------------------------------------


PARENT_CHECK_S = 1.0


def _exit_with_parent(parent_pid: int) -> None:
    """End this process when its parent is gone (a `kill -9` of the server must not leave the GPU held).

    The worker holds its own ends of the pipes, so it would never see end-of-file: it watches its
    parent id instead (re-parenting changes it).
    """
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(3)


def _check_canceled(controls: Any, batch_id: int) -> None:
    """Raise BatchCanceled if the parent canceled this batch (cancels of earlier batches are dropped)."""
    while True:
        try:
            message = controls.get_nowait()
        except queue_mod.Empty:
            return
        if isinstance(message, CancelBatch) and message.batch_id == batch_id:
            raise BatchCanceled()


def worker_main(
    settings: Settings, tasks: Any, events: Any, parent_pid: int | None = None, controls: Any = None
) -> None:
    """Entry point of the worker process: load the pipeline, then run batches until told to stop."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    if parent_pid is not None:
        threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    started = time.perf_counter()
    try:
        from dreamcache.generation.pipeline import load_generator

        generator = load_generator(settings)
    except Exception as exc:  # a bad model id or path must reach the operator, not hang readiness
        log.exception("pipeline failed to load")
        events.put(LoadFailed(f"{type(exc).__name__}: {exc}"))
        return
    events.put(Ready(generator.fingerprint, generator.device, time.perf_counter() - started))
    while True:
        task = tasks.get()
        if task is None:
            return
        began = time.perf_counter()

        def on_step(step: int, total: int, batch_id: int = task.batch_id) -> None:
            events.put(Step(batch_id, step, total))
            if controls is not None:
                _check_canceled(controls, batch_id)

        capture = capture_steps(settings, generator.device, task.shape.steps)
        try:
            try:
                results = generator.run(task.shape, task.items, on_step, capture)
            except BatchCanceled:
                raise
            except Exception:
                if not any(item.resume is not None for item in task.items):
                    raise
                # A checkpoint that does not fit must never fail the batch: run every item from noise.
                log.warning("batch %s failed with resumed items; running it from scratch: %s", task.batch_id,
                            traceback.format_exc())
                _free_accelerator_memory()
                items = [replace(item, resume=None) for item in task.items]
                results = generator.run(task.shape, items, on_step, capture)
        except BatchCanceled:
            log.info("batch %s canceled by its clients", task.batch_id)
            events.put(BatchFailed(task.batch_id, "canceled", "canceled by every client waiting for it"))
            continue
        except Exception as exc:
            log.error("batch %s failed: %s", task.batch_id, traceback.format_exc())
            events.put(BatchFailed(task.batch_id, _error_type(exc), f"{type(exc).__name__}: {exc}"))
            _free_accelerator_memory()
            continue
        events.put(BatchDone(task.batch_id, results, time.perf_counter() - began))


def _error_type(exc: BaseException) -> str:
    name = type(exc).__name__
    return "out_of_memory" if "OutOfMemory" in name or "out of memory" in str(exc) else "generation_failed"


def _free_accelerator_memory() -> None:
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


# --- the parent side --------------------------------------------------------------------------


def _round_robin(compatible: list[Job], first: Job, limit: int) -> list[Job]:
    """Up to `limit` jobs starting with `first`, then one job per client per round, oldest first."""
    by_client: dict[str, deque[Job]] = {}
    for job in compatible:
        if job is not first:
            by_client.setdefault(job.task.client, deque()).append(job)
    order = list(by_client)
    if first.task.client in order:  # the leading client's other jobs come last in each round
        order.remove(first.task.client)
        order.append(first.task.client)
    batch = [first]
    while len(batch) < limit and any(by_client.values()):
        for client in order:
            if by_client[client] and len(batch) < limit:
                batch.append(by_client[client].popleft())
    return batch


class QueueFull(Exception):
    """The GPU queue holds `queue_size` jobs already."""


class ClientQueueFull(QueueFull):
    """This client already has `max_queued_per_client` jobs waiting."""

    def __init__(self, queued: int) -> None:
        super().__init__(f"{queued} jobs of this client are waiting")
        self.queued = queued


class WorkerUnavailable(Exception):
    """The pipeline could not be loaded; generation is impossible until the settings are fixed."""


# (job, its image and checkpoints, GPU seconds spent on it: the batch's time split by denoising steps run)
ResultHandler = Callable[[Job, GeneratedImage, float], Coroutine[Any, Any, None]]


class GpuWorker:
    """Bounded queue in front of one worker process, with micro-batching of compatible jobs."""

    def __init__(self, settings: Settings, on_result: ResultHandler, fingerprint: str) -> None:
        self._settings = settings
        self._fingerprint = fingerprint
        self._on_result = on_result
        self._pending: deque[Job] = deque()
        self._wakeup = asyncio.Event()
        self._ctx = mp.get_context("spawn")
        self._process: BaseProcess | None = None
        self._tasks: Any = None
        self._events: Any = None
        self._controls: Any = None
        self._reader: threading.Thread | None = None
        self._reader_stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._dispatcher: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._ready = asyncio.Event()
        self._ready_info: Ready | None = None
        self._load_error: str | None = None
        self._batch_id = 0
        self._last_client: str | None = None  # whose job led the last batch (round-robin)
        self._running: dict[int, list[Job]] = {}
        self._results: dict[int, asyncio.Future[BatchDone | BatchFailed]] = {}
        self.restarts = 0
        self.batches_run = 0
        self.batch_sizes: deque[int] = deque(maxlen=1000)
        self.generation_seconds_total = 0.0
        self.images_generated = 0
        self.image_steps = 0  # denoising steps run, summed over images (a resumed image runs fewer)

    # -- lifecycle --

    async def start(self) -> None:
        """Spawn the worker process (the model loads in the background)."""
        self._loop = asyncio.get_running_loop()
        self._spawn()
        self._dispatcher = asyncio.create_task(self._dispatch_forever(), name="gpu-dispatcher")

    async def stop(self) -> None:
        """Stop dispatching, fail what is left, and end the worker process."""
        # Taken before cancelling: the dispatcher forgets its running batch as it unwinds.
        unfinished = [job for jobs in self._running.values() for job in jobs] + list(self._pending)
        self._pending.clear()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        for job in unfinished:
            if not job.status.terminal:
                job.fail("shutdown", "the service is shutting down")
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.to_thread(self._terminate)

    def _spawn(self) -> None:
        self._ready.clear()
        self._ready_info = None
        self._tasks = self._ctx.Queue()
        self._events = self._ctx.Queue()
        self._controls = self._ctx.Queue()
        self._process = self._ctx.Process(
            target=worker_main, args=(self._settings, self._tasks, self._events, os.getpid(), self._controls),
            name="dreamcache-gpu", daemon=True,
        )
        self._process.start()
        self._reader_stop = threading.Event()
        self._reader = threading.Thread(
            target=self._read_events, args=(self._events, self._reader_stop), name="gpu-events", daemon=True
        )
        self._reader.start()
        log.info("GPU worker process started (pid %s)", self._process.pid)

    def _terminate(self) -> None:
        process, tasks = self._process, self._tasks
        if process is not None and process.is_alive():
            with contextlib.suppress(Exception):
                tasks.put(None)
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        self._reader_stop.set()
        if self._reader is not None:
            self._reader.join(timeout=2)

    def _read_events(self, events: Any, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                message = events.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError):
                return
            assert self._loop is not None
            with contextlib.suppress(RuntimeError):  # loop closed during shutdown
                self._loop.call_soon_threadsafe(self._handle_event, message)

    def _handle_event(self, message: object) -> None:
        if isinstance(message, Ready) and message.fingerprint != self._fingerprint:
            # The web process computed another recipe: its lookups and the worker's images would disagree.
            self._handle_event(LoadFailed(f"pipeline fingerprint {message.fingerprint} on {message.device} differs "
                                          f"from the service's {self._fingerprint}"))
        elif isinstance(message, Ready):
            self._ready_info = message
            self._load_error = None
            self._ready.set()
            self._wakeup.set()
            log.info("GPU worker ready on %s in %.1fs (fingerprint %s)", message.device, message.load_seconds,
                     message.fingerprint)
        elif isinstance(message, LoadFailed):
            self._load_error = message.message
            log.error("GPU worker could not load the pipeline: %s", message.message)
            for job in list(self._pending):
                job.fail("generator_unavailable", f"the image generator could not be loaded: {message.message}")
            self._pending.clear()
        elif isinstance(message, Step):
            for job in self._running.get(message.batch_id, []):
                start = start_step(job.task.item)  # a resumed job counts the steps it actually runs
                job.progress(max(0, message.step - start), message.total - start)
        elif isinstance(message, BatchDone | BatchFailed):
            future = self._results.get(message.batch_id)
            if future is not None and not future.done():
                future.set_result(message)

    # -- state --

    @property
    def ready(self) -> bool:
        return self._ready.is_set() and self._process is not None and self._process.is_alive()

    @property
    def load_error(self) -> str | None:
        return self._load_error

    @property
    def info(self) -> Ready | None:
        return self._ready_info

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def depth(self) -> int:
        return len(self._pending)

    @property
    def mean_image_seconds(self) -> float:
        return self.generation_seconds_total / self.images_generated if self.images_generated else 0.0

    @property
    def mean_step_seconds(self) -> float:
        """GPU seconds per denoising step of one image, measured on what ran since start (0 before that)."""
        return self.generation_seconds_total / self.image_steps if self.image_steps else 0.0

    def position(self, job: Job) -> int | None:
        """0-based place of a queued job in the line, None once it left the queue."""
        try:
            return self._pending.index(job)
        except ValueError:
            return None

    # -- queue --

    def submit(self, job: Job) -> None:
        """Put a job in line; QueueFull when the line is full, WorkerUnavailable if no model loads."""
        if self._load_error is not None:
            raise WorkerUnavailable(self._load_error)
        if len(self._pending) >= self._settings.queue_size:
            raise QueueFull()
        queued = sum(1 for other in self._pending if other.task.client == job.task.client)
        if queued >= self._settings.max_queued_per_client:
            raise ClientQueueFull(queued)
        self._pending.append(job)
        self._wakeup.set()

    def cancel(self, job: Job) -> bool:
        """Cancel a job still waiting in line; False if it already left the queue."""
        try:
            self._pending.remove(job)
        except ValueError:
            return False
        job.cancel()
        return True

    def cancel_running(self, job: Job) -> bool:
        """Cancel a running job: it ends canceled now, and once every job of its batch is canceled the worker
        stops the batch at its next denoising step (free for the next one). False if it is not running."""
        for batch_id, batch in self._running.items():
            if job in batch:
                job.cancel()
                if all(other.status is JobStatus.CANCELED for other in batch):
                    with contextlib.suppress(Exception):
                        self._controls.put(CancelBatch(batch_id))
                return True
        return False

    async def _dispatch_forever(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), 1.0)
            self._wakeup.clear()
            self._check_process()
            while self._pending and self.ready:
                batch = await self._take_batch()
                if batch:
                    await self._run(batch)

    def _check_process(self) -> None:
        """Restart a worker that died while idle; a worker that died while loading is a load failure."""
        if self._process is None or self._process.is_alive() or self._load_error is not None:
            return
        if self._ready.is_set():
            self._restart()
        else:
            self._handle_event(LoadFailed(f"the worker process exited while loading (exit code "
                                          f"{self._process.exitcode})"))

    async def _take_batch(self) -> list[Job]:
        """The next client's oldest job plus compatible ones, waiting up to batch_wait_ms for company.

        Fair across clients: the first job is the oldest of the client after the one served last,
        and compatible jobs fill the batch one per client per round, so a client that floods the
        queue gets its turn like everyone else instead of every slot.
        """
        first = self._next_first()
        deadline = time.monotonic() + self._settings.batch_wait_ms / 1000
        limit = self._settings.max_batch_size
        while limit > 1 and time.monotonic() < deadline:
            if sum(1 for job in self._pending if job.task.shape == first.task.shape) >= limit:
                break
            await asyncio.sleep(min(0.002, max(0.0, deadline - time.monotonic())))
        if first not in self._pending:  # canceled while we waited for company
            return []
        batch = _round_robin([job for job in self._pending if job.task.shape == first.task.shape], first, limit)
        for job in batch:
            self._pending.remove(job)
        self._last_client = first.task.client
        return [job for job in batch if job.status is JobStatus.QUEUED]

    def _next_first(self) -> Job:
        """The oldest job of the first client, in order of first appearance, after the last one served."""
        clients = list(dict.fromkeys(job.task.client for job in self._pending))
        if self._last_client in clients and len(clients) > 1:
            turn = clients.index(self._last_client) + 1
            clients = clients[turn:] + clients[:turn]
        return next(job for job in self._pending if job.task.client == clients[0])

    async def _run(self, batch: list[Job]) -> None:
        assert self._loop is not None
        self._batch_id += 1
        batch_id = self._batch_id
        future: asyncio.Future[BatchDone | BatchFailed] = self._loop.create_future()
        self._results[batch_id] = future
        self._running[batch_id] = batch
        for job in batch:
            job.mark_running(job.task.shape.steps - start_step(job.task.item))
        self._tasks.put(RunBatch(batch_id, batch[0].task.shape, [job.task.item for job in batch]))
        try:
            outcome = await self._watch(future)
        finally:
            del self._results[batch_id]
            del self._running[batch_id]
        if outcome is None:
            for job in batch:
                job.fail("worker_crashed", "the GPU worker process crashed while generating this image; "
                         "it is being restarted, please retry")
            self._restart()
            return
        if isinstance(outcome, BatchFailed):
            for job in batch:
                if not job.status.terminal:  # canceled jobs stay canceled
                    job.fail(outcome.error_type, outcome.message)
            return
        self.batches_run += 1
        self.batch_sizes.append(len(batch))
        self.images_generated += len(batch)
        self.generation_seconds_total += outcome.seconds
        steps = sum(result.steps_run for result in outcome.results)
        self.image_steps += steps
        for job, result in zip(batch, outcome.results, strict=True):
            if job.status is JobStatus.CANCELED:
                continue  # canceled while its batch ran on for others: nobody wants its picture
            seconds = outcome.seconds * result.steps_run / steps if steps else outcome.seconds / len(batch)
            task = asyncio.create_task(self._on_result(job, result, seconds))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _watch(self, future: asyncio.Future[BatchDone | BatchFailed]) -> BatchDone | BatchFailed | None:
        """The batch's outcome, or None if the worker process died before answering."""
        while True:
            done, _ = await asyncio.wait({future}, timeout=0.25)
            if done:
                return future.result()
            if self._process is None or not self._process.is_alive():
                # A last message may still be in the pipe: give the reader a moment.
                done, _ = await asyncio.wait({future}, timeout=0.5)
                return future.result() if done else None

    def _restart(self) -> None:
        self.restarts += 1
        log.error("GPU worker process died (exit code %s); restarting it",
                  self._process.exitcode if self._process else None)
        self._reader_stop.set()
        if self._process is not None:
            self._process.join(timeout=1)
        self._spawn()
