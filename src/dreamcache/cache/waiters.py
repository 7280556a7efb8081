"""What a request waiting on a generation may do: stop waiting, adopt a related picture instead, and see
the stored pictures near its prompt meanwhile."""

from __future__ import annotations

import asyncio

from dreamcache.cache.misses import MissPlanner
from dreamcache.index import Entry, Index, Match
from dreamcache.jobs import Job, JobStatus, JobTable
from dreamcache.metrics import Metrics

RELATED_LIMIT = 9  # pictures shown next to a generation in progress
RELATED_MIN_SCORE = 0.3  # related, not answers: far below the hit threshold


class NotCancelable(Exception):
    """The job already ended (the message says how)."""


class NoSuchPicture(LookupError):
    """No related picture with that id for this job."""


class Waiters:
    """Stopping one waiter (the generation too once nobody waits), adoption and related pictures."""

    def __init__(self, jobs: JobTable, misses: MissPlanner, index: Index, metrics: Metrics) -> None:
        self.jobs = jobs
        self.misses = misses
        self.index = index
        self.metrics = metrics

    async def cancel(self, job: Job, ticket: str) -> None:
        """Stop the waiter `ticket` waiting (idempotent); NotCancelable once its job finished otherwise."""
        if ticket in job.detached or job.status is JobStatus.CANCELED:
            return  # canceled already
        if job.status.terminal:
            raise NotCancelable(f"job {ticket} already {job.status.value}")
        await self._stop_waiting(job, ticket)

    async def _stop_waiting(self, job: Job, ticket: str) -> bool:
        """Detach one waiter; cancel the generation when nobody else waits. True if the generation was canceled."""
        if await self.jobs.release_ticket(job, ticket):
            return False  # others joined this generation: it goes on for them
        return await self.misses.stop_generation(job)

    async def adopt(self, job: Job, ticket: str, image_id: str) -> Entry:
        """Use a related picture instead: this waiter stops waiting, the steps saved count as GPU time saved."""
        entry = await asyncio.to_thread(self.index.get, image_id)
        if entry is None or entry.compat_key != job.task.compat_key:
            raise NoSuchPicture(f"no related picture with id {image_id!r}")
        if job.status is JobStatus.SUCCEEDED and ticket not in job.detached:
            raise NotCancelable(f"job {ticket} already succeeded: its own picture is ready")
        steps_left = max(0, (job.total_steps or job.task.shape.steps) - job.step)
        if ticket not in job.detached and not job.status.terminal and await self._stop_waiting(job, ticket):
            self.metrics.record_adoption(steps_left, job.task.namespace)
        return entry

    async def related(self, job: Job) -> list[Match]:
        """Stored pictures near the job's prompt while it generates ([] once it ended)."""
        if job.status.terminal or not job.task.vector:
            return []
        return await asyncio.to_thread(self.index.search, job.task.vector, compat_key=job.task.compat_key,
                                       limit=RELATED_LIMIT, min_score=RELATED_MIN_SCORE)
