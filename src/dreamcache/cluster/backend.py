"""What a web replica on the shared queue reports as its generation backend (`SharedBackend`): the shared queue's
depth and positions, Redis's health, and the figures of its own GPU worker if it runs one (`worker=local`).

Submitting and canceling go through `SharedJobs` (the job record and the queue entry are written by one script),
so `submit` and `cancel` here are never called by the service.
"""

from __future__ import annotations

from dreamcache.backend import EventStream, GenerationRequest
from dreamcache.cluster.connection import RedisLink
from dreamcache.cluster.jobs import SharedJobs
from dreamcache.cluster.worker import QueueWorker


class SharedBackend:
    """The shared queue seen from one replica, with this replica's own worker when it has one."""

    def __init__(self, link: RedisLink, jobs: SharedJobs, worker: QueueWorker | None) -> None:
        self.link = link
        self.jobs = jobs
        self.worker = worker

    async def start(self) -> None:
        await self.jobs.start()
        if self.worker is not None:
            await self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        await self.jobs.stop()

    def submit(self, request: GenerationRequest) -> EventStream:
        raise NotImplementedError("with Redis, jobs are submitted through SharedJobs.submit")

    def cancel(self, request_id: str) -> bool:
        raise NotImplementedError("with Redis, jobs are canceled through SharedJobs.cancel")

    def position(self, request_id: str) -> int | None:
        return self.jobs.position(request_id)

    @property
    def ready(self) -> bool:
        """This replica's own worker (if any) has its model loaded (Redis's health is `/readyz`'s `redis` check)."""
        return self.worker is None or self.worker.ready

    @property
    def load_error(self) -> str | None:
        return self.worker.gpu.load_error if self.worker is not None else None

    @property
    def compile_status(self) -> str | None:
        return self.worker.gpu.compile_status if self.worker is not None else None

    # -- what the metrics read --

    @property
    def depth(self) -> int:
        """Pictures waiting in the shared queue (all replicas'; refreshed every second)."""
        return self.jobs.depth

    @property
    def mean_step_seconds(self) -> float:
        return self.worker.gpu.mean_step_seconds if self.worker is not None else 0.0

    @property
    def compile_fell_back(self) -> bool:
        return self.worker.gpu.compile_fell_back if self.worker is not None else False

    @property
    def batches_run(self) -> int:
        return self.worker.gpu.batches_run if self.worker is not None else 0

    @property
    def images_generated(self) -> int:
        return self.worker.gpu.images_generated if self.worker is not None else 0

    @property
    def restarts(self) -> int:
        return self.worker.gpu.restarts if self.worker is not None else 0
