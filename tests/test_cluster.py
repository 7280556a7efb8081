"""The shared queue and job table on a real redis-server, with two "replicas" (two SharedJobs, each its own Redis
connection, as two processes would have) in one event loop: what each replica sees of the other's jobs, single
flight across them, fairness and batching of the shared queue, global caps, cancellation, the write-back taken
over from a dead replica, autocomplete across replicas, and the delivery limit of a job that kills its workers.

The GPU side (processes, kill -9) is tests/test_cluster_e2e.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from dreamcache.backend import ClientQueueFull, QueueFull, QueueUnavailable, StoredPicture
from dreamcache.cluster import RedisLink, codec
from dreamcache.cluster.jobs import SharedJobs
from dreamcache.cluster.queue import GROUP, SharedQueue
from dreamcache.generation.spec import BatchShape, PromptItem
from dreamcache.index import Entry
from dreamcache.jobs import GenerationResult, GenerationTask, Job, JobStatus
from redisserver import redis_server

SHAPE = BatchShape(64, 64, 4, 7.5)
OTHER_SHAPE = BatchShape(96, 64, 4, 7.5)


def task(flight: str, client: str = "alice", shape: BatchShape = SHAPE, n: int = 1) -> GenerationTask:
    items = [PromptItem(f"a picture of {flight}", "", seed) for seed in range(n)]
    return GenerationTask(shape, items, [0.5, 0.25], "compat", [f"exact-{i}" for i in range(n)], flight,
                          client=client)


@asynccontextmanager
async def replicas(url: str, count: int = 2, **limits: Any) -> AsyncIterator[list[SharedJobs]]:
    """`count` replicas' job tables on one Redis, started (tailing the events, taking write-backs)."""
    links = [RedisLink(url, "test") for _ in range(count)]
    tables = [SharedJobs(link, ttl_s=60, max_jobs=1000, queue_size=limits.get("queue_size", 64),
                         max_queued_per_client=limits.get("max_queued_per_client", 16), flight_ttl_s=60,
                         claim_after_s=0.5)
              for link in links]
    for link, table in zip(links, tables, strict=True):
        await link.start()
        await table.start()
    try:
        yield tables
    finally:
        for link, table in zip(links, tables, strict=True):
            await table.stop()
            await link.close()


async def eventually(check: Callable[[], bool | Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


@pytest.fixture()
def redis_url(tmp_path: Path) -> Any:
    with redis_server(tmp_path / "redis") as server:
        yield server.url


def test_a_job_submitted_on_one_replica_is_seen_and_followed_on_the_other(redis_url: str) -> None:
    async def scenario() -> None:
        async with replicas(redis_url) as (a, b):
            job, joined = await a.submit(Job(task("fox")))
            assert not joined
            other = await b.fetch(job.id)
            assert other is not None and other is not job and other.status is JobStatus.QUEUED
            ticket = await a.new_ticket(job)  # a joiner's ticket, issued by a: b answers for it too
            assert (await b.fetch(ticket)) is other
            await a.queue.update(job.id, "started", {"total": 4}, status="running", total=4)
            await a.queue.update(job.id, "progress", {"step": 3, "total": 4}, step=3, total=4)
            await eventually(lambda: other.step == 3 and other.status is JobStatus.RUNNING)
            assert await b.fetch("no-such-job") is None

    asyncio.run(scenario())


def test_identical_misses_on_two_replicas_make_one_generation(redis_url: str) -> None:
    async def scenario() -> None:
        async with replicas(redis_url) as (a, b):
            submitted = await asyncio.gather(*(table.submit(Job(task("same flight"))) for table in (a, b, a, b, a)))
            queued = [job for job, joined in submitted if not joined]
            assert len(queued) == 1  # the formula without single flight: 2 * (1 - (1/2)**5) = 1.94
            assert {job.id for job, _ in submitted} == {queued[0].id}
            assert int(await a.link.redis.get(a.queue.depth)) == 1
            # Once it ended, the same request generates again (a failed job is never joined).
            await a.queue.finish(queued[0].id, "same flight", "failed", {"type": "x", "message": "y"}, 60,
                                 status="failed")
            again, joined = await b.submit(Job(task("same flight")))
            assert not joined and again.id != queued[0].id

    asyncio.run(scenario())


def test_the_shared_queue_batches_compatible_jobs_round_robin_across_clients(redis_url: str) -> None:
    async def scenario() -> None:
        async with replicas(redis_url) as (a, b):
            flood = [(await a.submit(Job(task(f"flood {i}", client="mallory"))))[0].id for i in range(6)]
            odd = (await b.submit(Job(task("wide", client="bob", shape=OTHER_SHAPE))))[0].id
            bob = (await b.submit(Job(task("bob's", client="bob"))))[0].id
            carol = (await a.submit(Job(task("carol's", client="carol"))))[0].id
            first = [t.job_id for t in await a.queue.take("worker-1", 4)]
            # mallory's oldest first, then one job per client per round: bob and carol before mallory's second;
            # the job of another shape is never in the batch.
            assert first == [flood[0], bob, carol, flood[1]]
            second = [t.job_id for t in await a.queue.take("worker-2", 4)]
            assert second == [odd]  # bob's turn (served least recently): his other shape runs alone
            third = [t.job_id for t in await b.queue.take("worker-1", 4)]
            assert third == flood[2:6]
            assert await a.queue.take("worker-2", 4) == []
            assert int(await a.link.redis.get(a.queue.depth)) == 0

    asyncio.run(scenario())


def test_queue_caps_are_global_across_replicas(redis_url: str) -> None:
    async def scenario() -> None:
        async with replicas(redis_url, queue_size=5, max_queued_per_client=3) as (a, b):
            await a.submit(Job(task("one", client="alice")))
            await b.submit(Job(task("two", client="alice")))
            await a.submit(Job(task("three", client="alice")))
            with pytest.raises(ClientQueueFull) as full:
                await b.submit(Job(task("four", client="alice")))  # the other replica counts alice's 3
            assert full.value.queued == 3
            await b.submit(Job(task("bob", client="bob", n=2)))
            with pytest.raises(QueueFull):
                await a.submit(Job(task("carol", client="carol")))
            taken = await a.queue.take("w", 4)  # taking frees places in line
            assert len(taken) >= 2
            await a.submit(Job(task("carol", client="carol")))

    asyncio.run(scenario())


def test_cancel_on_one_replica_takes_the_job_out_of_the_line_everywhere(redis_url: str) -> None:
    async def scenario() -> None:
        async with replicas(redis_url) as (a, b):
            job, _ = await a.submit(Job(task("to cancel")))
            keep, _ = await a.submit(Job(task("to keep")))
            copy = await b.fetch(job.id)
            assert copy is not None and await b.cancel(copy)
            await eventually(lambda: job.status is JobStatus.CANCELED)
            assert [t.job_id for t in await a.queue.take("w", 4)] == [keep.id]
            assert not await b.cancel(copy)  # canceled already
            assert await a.fetch_in_flight("to cancel") is None  # its flight is free again

    asyncio.run(scenario())


def test_a_write_back_left_by_a_dead_replica_is_finished_by_another(redis_url: str) -> None:
    async def scenario() -> None:
        indexed: dict[str, list[str]] = {"a": [], "b": []}
        suggested: dict[str, list[str]] = {"a": [], "b": []}
        async with replicas(redis_url) as (a, b):
            for name, table in (("a", a), ("b", b)):
                table.suggest = lambda entry, name=name: suggested[name].append(entry.prompt)

                async def index(job_id: str, t: GenerationTask, pictures: Any, seconds: float,
                                name: str = name) -> list[Entry]:
                    indexed[name].append(job_id)
                    return [_entry(p.entry_id, t) for p in pictures]

                table.index_pictures = index
            # Replica "dead" takes the write-back and dies before finishing it (never acknowledges).
            dead = RedisLink(redis_url, "test")
            await dead.start()
            job, _ = await a.submit(Job(task("written back")))
            taken = (await a.queue.take("w", 1))[0]
            await a.queue.update(job.id, "started", {"total": 4}, status="running", total=4)
            await b.stop()  # only a and the dead replica compete for the write-back
            await a.stop()
            await a.queue.generated(taken, codec.dump_pictures([StoredPicture("e1", "e1.png", (), 10)]), 0.5)
            got = await dead.redis.xreadgroup("writeback", "dead", {a.queue.done: ">"}, count=1)
            assert got and got[0][1]
            await a.start()
            await b.start()
            await eventually(lambda: job.status is JobStatus.SUCCEEDED, timeout=10)
            assert len(indexed["a"] + indexed["b"]) == 1  # indexed once, by whichever live replica claimed it
            assert job.result is not None and [e.id for e in job.result.entries] == ["e1"]
            # Autocomplete: the replica that did not write it back learns the prompt from the events.
            writer, other = ("a", "b") if indexed["a"] else ("b", "a")
            await eventually(lambda: suggested[other] == ["a picture of written back"])
            assert suggested[writer] == []  # the writer added it itself (WriteBack), not twice
            await dead.close()

    asyncio.run(scenario())


def _entry(entry_id: str, t: GenerationTask) -> Entry:
    return Entry(id=entry_id, prompt=t.items[0].prompt, negative_prompt="", width=64, height=64, steps=4,
                 guidance_scale=7.5, seed=0, model="tiny", fingerprint="f", image_key=f"{entry_id}.png",
                 created_at=time.time(), compat_key="compat", exact_key="x", prompt_norm=t.items[0].prompt)


def test_a_picture_stored_twice_is_written_back_once(redis_url: str) -> None:
    async def scenario() -> None:
        async with replicas(redis_url, count=1) as (a,):
            job, _ = await a.submit(Job(task("twice")))
            taken = (await a.queue.take("w1", 1))[0]
            pictures = codec.dump_pictures([StoredPicture("e1", "e1.png", (), 10)])
            assert await a.queue.generated(taken, pictures, 0.5)
            assert not await a.queue.generated(taken, pictures, 0.5)  # a second run of the same job
            assert await a.link.redis.xlen(a.queue.done) <= 1

    asyncio.run(scenario())


def test_redis_away_makes_submitting_unavailable_not_an_error(tmp_path: Path) -> None:
    async def scenario() -> None:
        with redis_server(tmp_path / "redis") as server:
            async with replicas(server.url, count=1) as (a,):
                server.stop()
                with pytest.raises(QueueUnavailable):
                    await a.submit(Job(task("while away")))
                assert not a.link.healthy
                assert await a.fetch("anything") is None
                server.start()
                await eventually(lambda: a.link.healthy, timeout=10)
                job, joined = await a.submit(Job(task("back again")))
                assert not joined and job.status is JobStatus.QUEUED

    asyncio.run(scenario())


def test_a_job_that_killed_its_workers_too_often_fails_instead_of_looping(tmp_path: Path) -> None:
    """Three workers took the job and died (never renewed, never acknowledged); the next claim fails it."""
    from apphelpers import tiny_settings
    from dreamcache.cluster.worker import QueueWorker
    from dreamcache.storage import open_store

    async def scenario() -> None:
        with redis_server(tmp_path / "redis") as server:
            settings = tiny_settings(tmp_path, redis_url=server.url, redis_prefix="test",
                                     redis_visibility_timeout_s=2.0, redis_max_deliveries=3)
            async with replicas(server.url, count=1) as (a,):
                job, _ = await a.submit(Job(task("poison")))
                taken = (await a.queue.take("dead-1", 1))[0]
                redis = a.link.redis
                for dead in ("dead-2", "dead-3"):  # delivered again to two more workers that died too
                    await redis.xclaim(taken.stream, GROUP, dead, 0, [taken.entry])
                await asyncio.sleep(2.1)  # past the visibility timeout
                worker = QueueWorker(settings, a.link, open_store(settings), "f")
                await worker._reclaim()
                await eventually(lambda: job.status is JobStatus.FAILED)
                assert job.error is not None and job.error.type == "worker_crashed"
                assert "died 3 times" in job.error.message
                assert await redis.xpending(taken.stream, GROUP) == {"pending": 0, "min": None, "max": None,
                                                                     "consumers": []}

    asyncio.run(scenario())


def test_the_queue_position_is_the_shared_line(redis_url: str) -> None:
    async def scenario() -> None:
        async with replicas(redis_url) as (a, b):
            first, _ = await a.submit(Job(task("first")))
            second, _ = await b.submit(Job(task("second", client="bob")))
            assert b.position(second.id) == 1
            assert await a.queue.position([first.id, second.id]) == [0, 1]
            await a.queue.take("w", 1)
            assert await a.queue.position([first.id, second.id]) == [None, 0]

    asyncio.run(scenario())


def test_results_survive_the_trip_through_redis() -> None:
    result = GenerationResult([_entry("3dfa953c-f09d-542c-ab89-d4377aea3a91", task("x"))], 1.5)
    assert codec.load_result(codec.dump_result(result)) == result
    t = task("round trip", n=2)
    assert codec.load_task(codec.dump_task(t)) == t
    assert SharedQueue  # the module's public names stay importable


@pytest.mark.parametrize("aof", [True, False], ids=["with-aof", "without-persistence"])
def test_a_redis_restart_keeps_the_queue_with_aof_and_loses_it_without(tmp_path: Path, aof: bool) -> None:
    """With appendonly (fsync always), a restart keeps jobs, line and flights; without persistence everything is
    gone, and a replica fails its unfinished jobs (`queue_lost`) instead of letting clients wait forever."""

    async def scenario() -> None:
        with redis_server(tmp_path / "redis", aof=aof) as server:
            async with replicas(server.url, count=1) as (a,):
                job, _ = await a.submit(Job(task("kept across a restart?")))
                server.stop()
                server.start()
                await eventually(lambda: a.link.healthy, timeout=10)
                if aof:
                    assert [t.job_id for t in await a.queue.take("w", 4)] == [job.id]
                    assert job.status is JobStatus.QUEUED
                else:
                    await eventually(lambda: job.status is JobStatus.FAILED, timeout=10)
                    assert job.error is not None and job.error.type == "queue_lost"
                    assert await a.queue.take("w", 4) == []
                    again, joined = await a.submit(Job(task("kept across a restart?")))
                    assert not joined and again.status is JobStatus.QUEUED

    asyncio.run(scenario())


def test_a_stopped_worker_hands_back_what_it_has_not_started_and_finishes_its_batch(tmp_path: Path) -> None:
    """SIGTERM's path (`QueueWorker.stop`): the running job ends done, the one waiting on this worker goes back
    to the queue claimable at once, its delivery count unchanged (a graceful stop is not a crash)."""
    from apphelpers import tiny_settings
    from dreamcache.cluster.worker import QueueWorker
    from dreamcache.generation.spec import pipeline_fingerprint, resolve_device
    from dreamcache.storage import open_store

    async def scenario() -> None:
        with redis_server(tmp_path / "redis") as server:
            settings = tiny_settings(tmp_path, redis_url=server.url, redis_prefix="test", max_batch_size=1,
                                     redis_visibility_timeout_s=2.0)
            async with replicas(server.url, count=1) as (a,):
                slow = BatchShape(64, 64, 60, 7.5)
                first, _ = await a.submit(Job(task("running", shape=slow)))
                second, _ = await a.submit(Job(task("waiting", shape=slow)))
                fingerprint = pipeline_fingerprint(settings, resolve_device(settings))
                worker = QueueWorker(settings, a.link, open_store(settings), fingerprint)
                await worker.start()
                try:
                    await eventually(lambda: first.status is JobStatus.RUNNING and len(worker.held) == 2,
                                     timeout=120)
                finally:
                    await worker.stop()
                # The running job finished: its pictures stored and handed to the write-back.
                assert await a.link.redis.hget(a.queue.job(first.id), "pictures")
                entry = await a.link.redis.hget(a.queue.job(second.id), "entry")
                stream = await a.link.redis.hget(a.queue.job(second.id), "stream")
                [pending] = await a.link.redis.xpending_range(stream, GROUP, min=entry, max=entry, count=1)
                assert pending["times_delivered"] == 0  # the next worker's claim makes it 1: its first delivery
                assert pending["time_since_delivered"] >= 2000  # claimable by the next worker at once
                assert second.status is JobStatus.QUEUED

    asyncio.run(scenario())
