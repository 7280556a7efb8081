"""The job table: single-flight bookkeeping and expiry."""

from __future__ import annotations

import asyncio

from dreamcache.generation.spec import BatchShape, PromptItem
from dreamcache.jobs import GenerationTask, Job, JobStatus, JobTable


def make_job(flight: str) -> Job:
    task = GenerationTask(BatchShape(64, 64, 4, 7.5), [PromptItem("a cat in a hat", "", 1)], [0.0], "c", ["e"], flight)
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


def test_a_job_canceled_at_a_step_never_shows_a_later_one() -> None:
    async def scenario() -> None:
        job = make_job("k")
        job.mark_running()
        job.progress(5, 25)
        job.cancel()
        changes = job.subscribe()
        job.progress(6, 25)  # the worker reports the step it was on when the cancel reached it
        assert (job.status, job.step) == (JobStatus.CANCELED, 5) and changes.empty()

    asyncio.run(scenario())


def test_finished_jobs_release_their_vector_and_checkpoint_and_canceled_ones_expire_fast() -> None:
    from dreamcache.jobs import CANCELED_TTL_S

    async def scenario() -> None:
        table = JobTable(ttl_s=3600)
        canceled, failed = make_job("a"), make_job("b")
        for job in (canceled, failed):
            table.add(job)
        canceled.cancel()
        failed.fail("out_of_memory", "boom")
        assert canceled.task.vector == [] and failed.task.vector == []
        assert table.sweep(now=canceled.finished_at + CANCELED_TTL_S + 1) == 1  # only the canceled one
        assert table.get(canceled.id) is None and table.get(failed.id) is failed

    asyncio.run(scenario())


def test_the_table_is_bounded_and_drops_the_oldest_finished_jobs_first() -> None:
    async def scenario() -> None:
        table = JobTable(ttl_s=3600, max_jobs=100)
        running = make_job("running")
        table.add(running)
        finished = []
        for i in range(150):
            job = make_job(f"k{i}")
            table.add(job)
            job.cancel()
            finished.append(job)
        assert len(table) <= 101
        assert table.get(running.id) is running  # unfinished jobs are never dropped
        assert table.get(finished[-1].id) is not None and table.get(finished[0].id) is None

    asyncio.run(scenario())


def test_a_failure_is_reported_with_its_type() -> None:
    async def scenario() -> None:
        seen: list[str] = []
        job = make_job("k")
        job.on_failure = seen.append
        job.fail("worker_crashed", "gone")
        assert seen == ["worker_crashed"]

    asyncio.run(scenario())


def test_a_generation_stream_ends_with_its_one_terminal_event() -> None:
    """The backend boundary: events in order, exactly one terminal event, nothing after it; events are plain data."""
    import asyncio
    import json
    from dataclasses import asdict

    from dreamcache.backend import Done, EventStream, Failed, Progress, Queued, Started, StoredPicture

    async def scenario() -> list[object]:
        stream = EventStream("g1")
        done = Done((StoredPicture("e1", "e1.png", (2,), 10),), 1.5)
        for event in (Queued(0), Started(4), Progress(1, 4), done, Failed("shutdown", "late"), Progress(2, 4)):
            stream.put(event)
        assert stream.ended
        return [event async for event in stream]

    seen = asyncio.run(scenario())
    assert seen == [Queued(0), Started(4), Progress(1, 4), Done((StoredPicture("e1", "e1.png", (2,), 10),), 1.5)]
    assert json.loads(json.dumps([asdict(event) for event in seen]))[-1]["pictures"][0]["image_key"] == "e1.png"
