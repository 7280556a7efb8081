"""The job table: single-flight bookkeeping and expiry."""

from __future__ import annotations

import asyncio

from dreamcache.generation.spec import BatchShape, PromptItem
from dreamcache.jobs import GenerationTask, Job, JobStatus, JobTable


def make_job(flight: str) -> Job:
    task = GenerationTask(BatchShape(64, 64, 4, 7.5), PromptItem("a cat in a hat", "", 1), [0.0], "c", "e", flight)
    return Job(task)


def test_in_flight_and_sweep() -> None:
    async def scenario() -> None:
        table = JobTable(ttl_s=10)
        job = make_job("k")
        table.add(job)
        assert table.in_flight("k") is job
        job.fail("generation_failed", "boom")
        assert table.in_flight("k") is None  # a failed job is never joined
        assert table.sweep(now=job.finished_at + 5) == 0 and table.get(job.id) is job
        assert table.sweep(now=job.finished_at + 11) == 1 and table.get(job.id) is None
        assert len(table) == 0

    asyncio.run(scenario())


def test_subscribers_see_progress_and_end() -> None:
    async def scenario() -> None:
        job = make_job("k")
        changes = job.subscribe()
        job.mark_running()
        job.progress(1, 4)
        job.succeed({"source": "generated"})
        assert [changes.get_nowait() for _ in range(3)] == ["status", "progress", "status"]
        assert job.status is JobStatus.SUCCEEDED and await job.wait(0)

    asyncio.run(scenario())
