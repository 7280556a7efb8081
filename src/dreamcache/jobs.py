"""Generation jobs: their state, progress subscribers, and single-flight of identical misses."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import StrEnum

from dreamcache.backend import GenerationRequest
from dreamcache.generation.spec import BatchShape, PromptItem, start_step
from dreamcache.index import Entry


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def terminal(self) -> bool:
        return self in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


@dataclass
class JobError:
    type: str
    message: str


@dataclass(frozen=True)
class CachedPicture:
    """A picture of the answer that was in the cache: its entry, cosine and how it matched (`exact`/`verified`)."""

    entry: Entry
    similarity: float
    match: str | None = None


@dataclass(frozen=True)
class GenerationResult:
    """What a finished generation produced: its entries (in the order of the task's items), GPU seconds spent."""

    entries: list[Entry]
    seconds: float


@dataclass
class GenerationTask:
    """Everything the write-back needs to know about the images one request generates (one per item,
    generated together: one batch when they fit in one)."""

    shape: BatchShape
    items: list[PromptItem]
    vector: list[float]
    compat_key: str
    exact_keys: list[str]  # per item
    flight_key: str
    namespace: str = ""
    viewer: str | None = None  # hash of the requesting client, if it named itself
    text_key: str = ""
    resume_key: str = ""  # what a later near-miss must share to reuse this job's checkpoints
    reuse: Reuse | None = None  # the near-miss plan: `item.resume` holds the checkpoint itself
    client: str = ""  # who asked: the GPU queue takes jobs round-robin across clients
    cached: list[CachedPicture] = field(default_factory=list)  # pictures of the answer that were cached already

    @property
    def start_step(self) -> int:
        """The first denoising step any of the items runs (a resumed item starts at its checkpoint)."""
        return min((start_step(item) for item in self.items), default=0)

    def request(self, request_id: str) -> GenerationRequest:
        """What the generation backend is asked for."""
        return GenerationRequest(request_id, self.shape, list(self.items), self.client)


@dataclass(frozen=True)
class Reuse:
    """A near-miss starts from another entry's checkpoint: which one, how many steps it skips, how similar."""

    source: str
    skipped_steps: int
    similarity: float


@dataclass(eq=False)
class Job:
    """One miss on its way through the GPU queue (compared and hashed by identity: one job is one object)."""

    task: GenerationTask
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: JobStatus = JobStatus.QUEUED
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    step: int = 0
    total_steps: int = 0
    result: GenerationResult | None = None
    error: JobError | None = None
    done: asyncio.Event = field(default_factory=asyncio.Event)
    on_failure: Callable[[str], None] | None = None  # told the error type of a failure (metrics)
    # Every request waiting on this job has a ticket (the first is the job's own id); a waiter that cancels
    # detaches its ticket, and the job itself is canceled only when no ticket is left.
    waiters: set[str] = field(default_factory=set)
    detached: set[str] = field(default_factory=set)
    _subscribers: set[asyncio.Queue[str]] = field(default_factory=set)

    def subscribe(self) -> asyncio.Queue[str]:
        """Queue receiving the kind of every change (`status` or `progress`) until the job ends."""
        queue: asyncio.Queue[str] = asyncio.Queue()
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._subscribers.discard(queue)

    def _publish(self, kind: str) -> None:
        for queue in self._subscribers:
            queue.put_nowait(kind)

    def mark_running(self, total_steps: int | None = None) -> None:
        self.status = JobStatus.RUNNING
        self.started_at = time.time()
        self.total_steps = total_steps if total_steps is not None else self.task.shape.steps
        self._publish("status")

    def progress(self, step: int, total: int) -> None:
        if self.status.terminal:  # the worker's next step report can arrive after a cancel: the job stays as it ended
            return
        self.step, self.total_steps = step, total
        self._publish("progress")

    def succeed(self, result: GenerationResult) -> None:
        self._finish(JobStatus.SUCCEEDED)
        self.result = result
        self._publish("status")

    def fail(self, error_type: str, message: str) -> None:
        self.error = JobError(error_type, message)
        self._finish(JobStatus.FAILED)
        self._publish("status")
        if self.on_failure is not None:
            self.on_failure(error_type)

    def cancel(self) -> None:
        self._finish(JobStatus.CANCELED)
        self._publish("status")

    def _finish(self, status: JobStatus) -> None:
        self.status = status
        self.finished_at = time.time()
        self.done.set()
        if status is not JobStatus.SUCCEEDED:  # a success still needs them for its write-back, then releases
            self.release()

    def release(self) -> None:
        """Drop what only the generation needed (the prompt vector, a checkpoint): a finished job is small."""
        self.task.vector = []
        self.task.items = [replace(item, resume=None) if item.resume is not None else item for item in self.task.items]

    async def wait(self, timeout: float) -> bool:
        """Wait until the job ends or `timeout` passes; True if it ended."""
        if self.status.terminal:
            return True
        try:
            await asyncio.wait_for(asyncio.shield(self.done.wait()), timeout)
        except TimeoutError:
            return False
        return True


CANCELED_TTL_S = 60.0  # a canceled job is kept only long enough for its client to see it canceled


class JobTable:
    """In-memory jobs of this replica, with a map of in-flight generations for single-flight.

    Bounded: past `max_jobs`, the oldest finished jobs are dropped first (unfinished jobs are
    bounded by the queue). Finished jobs stay queryable for `ttl_s`, canceled ones a minute.
    """

    def __init__(self, ttl_s: float, max_jobs: int = 10_000) -> None:
        self._ttl_s = ttl_s
        self._max_jobs = max_jobs
        self._jobs: dict[str, Job] = {}
        self._tickets: dict[str, str] = {}  # joiner's ticket -> job id
        self._in_flight: dict[str, Job] = {}

    def get(self, ticket: str) -> Job | None:
        """The job a ticket (a job id, or a joiner's ticket) waits on."""
        job = self._jobs.get(ticket)
        if job is None:
            primary = self._tickets.get(ticket)
            job = self._jobs.get(primary) if primary is not None else None
        return job

    def join(self, job: Job) -> str:
        """A new ticket for one more request waiting on the job (single-flight)."""
        ticket = uuid.uuid4().hex
        self._tickets[ticket] = job.id
        job.waiters.add(ticket)
        return ticket

    def detach(self, job: Job, ticket: str) -> bool:
        """Stop one waiter waiting; True while others still wait (then the job goes on for them)."""
        job.waiters.discard(ticket)
        job.detached.add(ticket)
        job._publish("status")  # that waiter's event stream ends now
        return bool(job.waiters)

    def in_flight(self, flight_key: str) -> Job | None:
        """The unfinished job generating exactly this request, if any."""
        job = self._in_flight.get(flight_key)
        return job if job is not None and not job.status.terminal else None

    def add(self, job: Job) -> None:
        self._jobs[job.id] = job
        job.waiters.add(job.id)
        self._in_flight[job.task.flight_key] = job
        if len(self._jobs) > self._max_jobs:
            finished = sorted((j for j in self._jobs.values() if j.finished_at is not None),
                              key=lambda j: j.finished_at or 0.0)
            for old in finished[: len(self._jobs) - self._max_jobs]:
                del self._jobs[old.id]
            self._tickets = {ticket: job_id for ticket, job_id in self._tickets.items() if job_id in self._jobs}

    def settle(self, job: Job) -> None:
        """Forget the job as in-flight once it ended (it stays queryable until the TTL)."""
        if self._in_flight.get(job.task.flight_key) is job:
            del self._in_flight[job.task.flight_key]

    def sweep(self, now: float | None = None) -> int:
        """Drop finished jobs older than the TTL; returns how many were dropped."""
        now = time.time() if now is None else now
        old = [
            job_id
            for job_id, job in self._jobs.items()
            if job.finished_at is not None
            and now - job.finished_at > (CANCELED_TTL_S if job.status is JobStatus.CANCELED else self._ttl_s)
        ]
        for job_id in old:
            del self._jobs[job_id]
        if old:
            self._tickets = {ticket: job_id for ticket, job_id in self._tickets.items() if job_id in self._jobs}
        for key in [key for key, job in self._in_flight.items() if job.status.terminal]:
            del self._in_flight[key]
        return len(old)

    def __len__(self) -> int:
        return len(self._jobs)

    # -- what the service awaits: the same table here; with Redis (`cluster.jobs.SharedJobs`), every replica's --

    shared = False

    async def fetch(self, ticket: str) -> Job | None:
        """The job a ticket waits on, wherever it was submitted."""
        return self.get(ticket)

    async def fetch_in_flight(self, flight_key: str) -> Job | None:
        """The unfinished job generating exactly this request, wherever it was submitted."""
        return self.in_flight(flight_key)

    async def new_ticket(self, job: Job) -> str:
        """A ticket for one more request waiting on the job."""
        return self.join(job)

    async def release_ticket(self, job: Job, ticket: str) -> bool:
        """Stop one waiter waiting; True while others still wait."""
        return self.detach(job, ticket)
