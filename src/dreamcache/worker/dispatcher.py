"""The parent side of the GPU worker (`GpuWorker`), in the web process: the in-process implementation of
`backend.GenerationBackend`.

It keeps the bounded queue of generations (called jobs here), groups the images of compatible jobs
(same width, height, steps, guidance) into batches of at most `max_batch_size` images, sends one batch
at a time to the worker process (`process.worker_main`), stores each job's finished pictures off the
GPU's critical path (`PictureSink`) and reports everything on the job's `EventStream`. A job of several
images (`n`) is one block in a batch; one larger than a batch runs in consecutive batches. If the worker
process dies, the jobs of its batch fail with a clear error (`Failed(worker_crashed)`) and a new process
is started.
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
from collections import deque
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any

from dreamcache.backend import (
    ClientQueueFull,
    EventStream,
    FailureReason,
    GenerationRequest,
    Queued,
    QueueFull,
    WorkerUnavailable,
)
from dreamcache.generation.spec import COMPILE_FELL_BACK, COMPILE_OFF, GeneratedImage
from dreamcache.settings import Settings
from dreamcache.worker.process import (
    BatchDone,
    BatchFailed,
    CancelBatch,
    CompileChanged,
    LoadFailed,
    Ready,
    RunBatch,
    Step,
    worker_main,
)
from dreamcache.worker.submission import Job, PictureSink, State

log = logging.getLogger(__name__)


def _round_robin(compatible: list[Job], first: Job, limit: int) -> list[Job]:
    """Up to `limit` jobs starting with `first`, then one job per client per round, oldest first."""
    # (A job of several images takes several of the batch's places; `_take_batch` counts them.)
    by_client: dict[str, deque[Job]] = {}
    for job in compatible:
        if job is not first:
            by_client.setdefault(job.client, deque()).append(job)
    order = list(by_client)
    if first.client in order:  # the leading client's other jobs come last in each round
        order.remove(first.client)
        order.append(first.client)
    batch = [first]
    while len(batch) < limit and any(by_client.values()):
        for client in order:
            if by_client[client] and len(batch) < limit:
                batch.append(by_client[client].popleft())
    return batch


Slot = tuple[Job, int]  # one image of a batch: the job and the index of its item


@dataclass
class _Progress:
    """A job's images on their way: how many were sent to the worker, the ones back, GPU seconds spent."""

    total: int
    sent: int = 0
    results: dict[int, GeneratedImage] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def unsent(self) -> int:
        return self.total - self.sent


class GpuWorker:
    """Bounded queue in front of one worker process, with micro-batching of compatible jobs."""

    def __init__(self, settings: Settings, store_pictures: PictureSink, fingerprint: str) -> None:
        self._settings = settings
        self._fingerprint = fingerprint
        self._store_pictures = store_pictures
        self._jobs: dict[str, Job] = {}  # unfinished jobs by request id
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
        self._compile: str | None = None  # the worker's torch.compile status (Ready.compile, then CompileChanged)
        self._load_error: str | None = None
        self._batch_id = 0
        self._last_client: str | None = None  # whose job led the last batch (round-robin)
        self._running: dict[int, list[Slot]] = {}
        self._progress: dict[str, _Progress] = {}  # by job id, for jobs not finished
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
        unfinished = [job for slots in self._running.values() for job, _ in slots] + list(self._pending)
        self._pending.clear()
        if self._dispatcher is not None:
            self._dispatcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._dispatcher
        self._jobs.clear()
        for job in unfinished:
            if not job.status.terminal:
                job.fail(FailureReason.SHUTDOWN, "the service is shutting down")
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        await asyncio.to_thread(self._terminate)

    def _spawn(self) -> None:
        self._ready.clear()
        self._ready_info = None
        self._compile = None
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
        self._release_queues()

    def _release_queues(self) -> None:
        """Close the queues of a worker process that has ended and drop them: their semaphores are unlinked now,
        not reported as leaked by Python's resource tracker when a signal ends the server before its exit hooks."""
        for channel in (self._tasks, self._controls, self._events):
            if channel is not None:
                with contextlib.suppress(Exception):
                    channel.close()
                    channel.join_thread()  # the feeder thread holds the queue's semaphore and lock until it ends
        self._tasks = self._controls = self._events = None

    def _read_events(self, events: Any, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                message = events.get(timeout=0.2)
            except queue_mod.Empty:
                continue
            except (EOFError, OSError, ValueError):  # ValueError: the queue was closed
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
            self._compile = message.compile
            self._load_error = None
            self._ready.set()
            self._wakeup.set()
            log.info("GPU worker ready on %s in %.1fs (fingerprint %s)", message.device, message.load_seconds,
                     message.fingerprint)
        elif isinstance(message, LoadFailed):
            self._load_error = message.message
            log.error("GPU worker could not load the pipeline: %s", message.message)
            for job in list(self._pending):
                self._jobs.pop(job.id, None)
                job.fail(FailureReason.GENERATOR_UNAVAILABLE,
                         f"the image generator could not be loaded: {message.message}")
            self._pending.clear()
        elif isinstance(message, CompileChanged):
            self._compile = message.compile
            log.warning("GPU worker: compile %s", message.compile)
        elif isinstance(message, Step):
            for job in _jobs_of(self._running.get(message.batch_id, [])):
                start = job.request.start_step  # a resumed job counts the steps it actually runs
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
    def compile_status(self) -> str | None:
        """`ok` or `fell back to eager: <reason>` when the worker was asked to compile; None if not (or not ready)."""
        return None if self._compile == COMPILE_OFF else self._compile

    @property
    def compile_fell_back(self) -> bool:
        """Whether the worker asked for compiled forwards and runs eagerly instead (a metric, /readyz)."""
        return self._compile is not None and self._compile.startswith(COMPILE_FELL_BACK)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def depth(self) -> int:
        """Images waiting for the GPU."""
        return sum(self._unsent(job) for job in self._pending)

    @property
    def mean_image_seconds(self) -> float:
        return self.generation_seconds_total / self.images_generated if self.images_generated else 0.0

    @property
    def mean_step_seconds(self) -> float:
        """GPU seconds per denoising step of one image, measured on what ran since start (0 before that)."""
        return self.generation_seconds_total / self.image_steps if self.image_steps else 0.0

    def position(self, request_id: str) -> int | None:
        """0-based place of a queued job in the line, None once it left the queue."""
        job = self._jobs.get(request_id)
        try:
            return self._pending.index(job) if job is not None else None
        except ValueError:
            return None

    def _unsent(self, job: Job) -> int:
        progress = self._progress.get(job.id)
        return progress.unsent if progress is not None else len(job.items)

    # -- queue --

    def submit(self, request: GenerationRequest) -> EventStream:
        """Put a generation in line; QueueFull when the line is full, WorkerUnavailable if no model loads."""
        if self._load_error is not None:
            raise WorkerUnavailable(self._load_error)
        size = len(request.items)
        if self.depth + size > max(self._settings.queue_size, size):
            raise QueueFull()
        queued = sum(self._unsent(other) for other in self._pending if other.client == request.client)
        if queued and queued + size > self._settings.max_queued_per_client:
            raise ClientQueueFull(queued)
        job = Job(request, EventStream(request.id))
        job.stream.put(Queued(len(self._pending)))
        self._pending.append(job)
        self._jobs[request.id] = job
        self._progress[job.id] = _Progress(size)
        self._wakeup.set()
        return job.stream

    def cancel(self, request_id: str) -> bool:
        """Cancel a generation queued or running (its images not started never run); False if it is neither."""
        job = self._jobs.get(request_id)
        if job is None:
            return False
        return self.cancel_queued(job) or self.cancel_running(job)

    def cancel_queued(self, job: Job) -> bool:
        """Cancel a job still waiting in line, none of its images started; False if it already left the queue."""
        if job not in self._pending or job.status is not State.QUEUED:
            return False
        self._pending.remove(job)
        self._progress.pop(job.id, None)
        self._jobs.pop(job.id, None)
        job.cancel()
        return True

    def cancel_running(self, job: Job) -> bool:
        """Cancel a running job: it ends canceled now (its images not started never run), and once every job of
        a batch is canceled the worker stops that batch at its next denoising step (free for the next one).
        False if it is not running."""
        batches = [batch_id for batch_id, slots in self._running.items() if job in _jobs_of(slots)]
        # A job of several batches is "running" between them too: some images done, the rest still in line.
        waiting_between = job in self._pending and job.status is State.RUNNING
        if not batches and not waiting_between:
            return False
        job.cancel()
        self._progress.pop(job.id, None)
        self._jobs.pop(job.id, None)
        if job in self._pending:
            self._pending.remove(job)
        for batch_id in batches:
            if all(other.status is State.CANCELED for other in _jobs_of(self._running[batch_id])):
                with contextlib.suppress(Exception):
                    self._controls.put(CancelBatch(batch_id))
        return True

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

    async def _take_batch(self) -> list[Slot]:
        """The next client's oldest job plus compatible ones, waiting up to batch_wait_ms for company.

        Fair across clients: the first job is the oldest of the client after the one served last,
        and compatible jobs fill the batch one per client per round, so a client that floods the
        queue gets its turn like everyone else instead of every slot.
        """
        first = self._next_first()
        deadline = time.monotonic() + self._settings.batch_wait_ms / 1000
        limit = self._settings.max_batch_size
        while limit > 1 and time.monotonic() < deadline:
            if sum(self._unsent(job) for job in self._pending if job.shape == first.shape) >= limit:
                break
            await asyncio.sleep(min(0.002, max(0.0, deadline - time.monotonic())))
        if first not in self._pending:  # canceled while we waited for company
            return []
        compatible = [job for job in self._pending if job.shape == first.shape and not job.status.terminal]
        slots: list[Slot] = []
        for job in _round_robin(compatible, first, limit):
            progress = self._progress[job.id]
            take = min(progress.unsent, limit - len(slots))
            slots += [(job, index) for index in range(progress.sent, progress.sent + take)]
            progress.sent += take
            if not progress.unsent:
                self._pending.remove(job)
        self._last_client = first.client
        return slots

    def _next_first(self) -> Job:
        """The oldest job of the first client, in order of first appearance, after the last one served."""
        clients = list(dict.fromkeys(job.client for job in self._pending))
        if self._last_client in clients and len(clients) > 1:
            turn = clients.index(self._last_client) + 1
            clients = clients[turn:] + clients[:turn]
        return next(job for job in self._pending if job.client == clients[0])

    async def _run(self, slots: list[Slot]) -> None:
        assert self._loop is not None
        self._batch_id += 1
        batch_id = self._batch_id
        future: asyncio.Future[BatchDone | BatchFailed] = self._loop.create_future()
        self._results[batch_id] = future
        self._running[batch_id] = slots
        jobs = _jobs_of(slots)
        for job in jobs:
            if job.status is State.QUEUED:
                job.mark_running(job.shape.steps - job.request.start_step)
        self._tasks.put(RunBatch(batch_id, jobs[0].shape, [job.items[index] for job, index in slots]))
        try:
            outcome = await self._watch(future)
        finally:
            del self._results[batch_id]
            del self._running[batch_id]
        if outcome is None:
            for job in jobs:
                self._fail(job, FailureReason.WORKER_CRASHED, "the GPU worker process crashed while generating "
                           "this image; it is being restarted, please retry")
            self._restart()
            return
        if isinstance(outcome, BatchFailed):
            for job in jobs:
                self._fail(job, outcome.error_type, outcome.message)
            return
        self.batches_run += 1
        self.batch_sizes.append(len(slots))
        self.images_generated += len(slots)
        self.generation_seconds_total += outcome.seconds
        steps = sum(result.steps_run for result in outcome.results)
        self.image_steps += steps
        for (job, index), result in zip(slots, outcome.results, strict=True):
            progress = self._progress.get(job.id)
            if progress is None or job.status is State.CANCELED:
                self._progress.pop(job.id, None)
                continue  # canceled while its batch ran on for others: nobody wants its pictures
            progress.results[index] = result
            progress.seconds += (
                outcome.seconds * result.steps_run / steps if steps else outcome.seconds / len(slots)
            )
            if len(progress.results) == progress.total:
                del self._progress[job.id]
                images = [progress.results[i] for i in range(progress.total)]
                task = asyncio.create_task(self._finish(job, images, progress.seconds))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

    async def _finish(self, job: Job, images: list[GeneratedImage], seconds: float) -> None:
        """Store a finished job's pictures (off the GPU's critical path), then report them done."""
        self._jobs.pop(job.id, None)
        try:
            pictures = await asyncio.to_thread(self._store_pictures, job.id, images)
        except Exception as exc:
            log.exception("storing the pictures of job %s failed", job.id)
            job.fail(FailureReason.STORE_FAILED, f"the generated image could not be stored ({type(exc).__name__})")
            return
        if job.status is not State.CANCELED:
            job.succeed(pictures, seconds)

    def _fail(self, job: Job, error_type: str, message: str) -> None:
        """Fail a job of a failed batch (canceled jobs stay canceled); its images not started never run."""
        self._progress.pop(job.id, None)
        self._jobs.pop(job.id, None)
        if job in self._pending:
            self._pending.remove(job)
        if not job.status.terminal:
            job.fail(error_type, message)

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
        if self._reader is not None:
            self._reader.join(timeout=1)  # it reads the old events queue until it sees the stop
        self._release_queues()
        self._spawn()


def _jobs_of(slots: list[Slot]) -> list[Job]:
    """The jobs of a batch, each once, in batch order."""
    return list(dict.fromkeys(job for job, _ in slots))
