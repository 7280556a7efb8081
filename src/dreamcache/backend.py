"""The one boundary between the cache service and the GPU: submit a generation, read its events, cancel it.

In the spirit of vLLM's `EngineClient` and text-generation-inference's `Backend`: the service hands over a
`GenerationRequest` (pictures of one shape, batch-able with other requests of that shape) and gets back an
`EventStream` of typed events: `Queued`, `Started`, `Progress`, then exactly one of `Done` (the pictures,
already in the image store: keys, never bytes), `Failed` (a typed `FailureReason`) or `Canceled`. Nothing
above this module sees processes, queues or batches; every event is a plain frozen dataclass of strings and
numbers, so a backend whose workers run on other machines can carry them as they are.

Implementations: `worker.GpuWorker` (a spawned worker process and its dispatcher in this process); with Redis,
`cluster.backend.SharedBackend` (the shared queue; GPU workers on any machine take the jobs).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from dreamcache.generation.spec import BatchShape, PromptItem, start_step
from dreamcache.metrics import WorkerStats


class QueueFull(Exception):
    """The GPU queue holds `queue_size` pictures already."""


class ClientQueueFull(QueueFull):
    """This client already has `max_queued_per_client` pictures waiting."""

    def __init__(self, queued: int) -> None:
        super().__init__(f"{queued} jobs of this client are waiting")
        self.queued = queued


class QueueUnavailable(Exception):
    """The shared queue (Redis) does not answer: a miss cannot be queued now; hits still are served."""


class WorkerUnavailable(Exception):
    """The pipeline could not be loaded; generation is impossible until the settings are fixed."""


class FailureReason(StrEnum):
    """Why a generation failed (the error type clients see)."""

    WORKER_CRASHED = "worker_crashed"
    GENERATOR_UNAVAILABLE = "generator_unavailable"
    SHUTDOWN = "shutdown"
    STORE_FAILED = "store_failed"
    OUT_OF_MEMORY = "out_of_memory"
    GENERATION_FAILED = "generation_failed"


@dataclass(frozen=True)
class GenerationRequest:
    """Pictures to generate together: one shape, one item per picture (a checkpoint to resume, if any)."""

    id: str
    shape: BatchShape
    items: list[PromptItem]
    client: str = ""  # whose request: the queue takes requests round-robin across clients

    @property
    def start_step(self) -> int:
        """The first denoising step any of the items runs (a resumed item starts at its checkpoint)."""
        return min((start_step(item) for item in self.items), default=0)


@dataclass(frozen=True)
class StoredPicture:
    """One generated picture, in the store: its entry id, the image key, the checkpoint steps kept."""

    entry_id: str
    image_key: str
    checkpoints: tuple[int, ...] = ()
    stored_bytes: int = 0  # image and checkpoints


@dataclass(frozen=True)
class Queued:
    position: int  # 0-based place in the line when submitted


@dataclass(frozen=True)
class Started:
    total_steps: int  # denoising steps this generation runs (a resumed one runs fewer)


@dataclass(frozen=True)
class Progress:
    step: int
    total: int


@dataclass(frozen=True)
class Done:
    pictures: tuple[StoredPicture, ...]  # in the order of the request's items
    seconds: float  # GPU seconds spent on them


@dataclass(frozen=True)
class Failed:
    reason: str  # a FailureReason value (or an error type the worker reported)
    message: str


@dataclass(frozen=True)
class Canceled:
    pass


Event = Queued | Started | Progress | Done | Failed | Canceled
TERMINAL = (Done, Failed, Canceled)


@dataclass(eq=False)
class EventStream:
    """The events of one submitted generation, in order; iteration ends after the terminal one."""

    request_id: str
    _queue: asyncio.Queue[Event] = field(default_factory=asyncio.Queue)
    _ended: bool = False

    def put(self, event: Event) -> None:
        """(The backend's side.) Once a terminal event is in, later events are dropped."""
        if self._ended:
            return
        self._ended = isinstance(event, TERMINAL)
        self._queue.put_nowait(event)

    @property
    def ended(self) -> bool:
        return self._ended

    async def __aiter__(self) -> AsyncIterator[Event]:
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, TERMINAL):
                return


class GenerationBackend(WorkerStats, Protocol):
    """What the service needs from whatever runs the generations."""

    async def start(self) -> None: ...

    async def stop(self) -> None:
        """End every unfinished generation (`Failed(shutdown)`) and release the workers."""

    def submit(self, request: GenerationRequest) -> EventStream:
        """Put a generation in line; raises QueueFull / ClientQueueFull / WorkerUnavailable."""

    def cancel(self, request_id: str) -> bool:
        """Cancel a generation queued or running (between denoising steps); False once it left the worker."""

    def position(self, request_id: str) -> int | None:
        """0-based place of a queued generation in the line; None once it left the queue."""

    @property
    def ready(self) -> bool: ...

    @property
    def load_error(self) -> str | None: ...

    @property
    def compile_status(self) -> str | None: ...

    # and what metrics read (`metrics.WorkerStats`): depth, mean_step_seconds, compile_fell_back, batches_run,
    # images_generated, restarts
