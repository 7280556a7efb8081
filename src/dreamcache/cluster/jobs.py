"""The job table shared by every web replica (`SharedJobs`): the truth is in Redis (`queue` describes the keys);
each replica keeps copies of the jobs its clients ask about, kept current by tailing the one events stream.

A replica also does its share of the write-back: generations whose pictures a worker stored wait in the
`done` stream, and exactly one live replica (consumer group) indexes each and marks its job succeeded; if that
replica dies half-way, another claims the entry after the visibility timeout (`claim_after_s`). The same
events carry every new entry to every replica's autocomplete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from dreamcache.backend import ClientQueueFull, QueueFull, QueueUnavailable
from dreamcache.cluster import codec
from dreamcache.cluster.connection import REDIS_ERRORS, RedisLink
from dreamcache.cluster.queue import EVENTS_MAXLEN, LIVE, WRITEBACK_GROUP, SharedQueue
from dreamcache.index import Entry
from dreamcache.jobs import CANCELED_TTL_S, GenerationResult, Job, JobStatus, JobTable

log = logging.getLogger(__name__)



def replica_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class SharedJobs(JobTable):
    """Jobs of every replica: Redis records, local copies, single flight by `SET NX`, the shared write-back."""

    shared = True

    def __init__(self, link: RedisLink, *, ttl_s: float, max_jobs: int, queue_size: int, max_queued_per_client: int,
                 flight_ttl_s: float, claim_after_s: float = 30.0) -> None:
        super().__init__(ttl_s, max_jobs)
        self.link = link
        self.queue = SharedQueue(link)
        self.name = replica_name()
        self.queue_size, self.max_queued_per_client = queue_size, max_queued_per_client
        self.flight_ttl_s = flight_ttl_s
        self.claim_after_s = claim_after_s  # a write-back left unacknowledged this long (its replica died) moves
        self.positions: dict[str, int | None] = {}
        self.depth = 0  # images waiting in the shared queue (refreshed every second)
        # Set by the service: index a generation's pictures (`WriteBack.index_pictures` plus metrics), and add a
        # new entry to autocomplete.
        self.index_pictures: Callable[[str, Any, Any, float], Awaitable[list[Entry]]] | None = None
        self.suggest: Callable[[Entry], None] | None = None
        self._indexed_here: set[str] = set()  # entries this replica wrote back (already in its autocomplete)
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False

    # -- lifecycle --

    async def start(self) -> None:
        self._stopping = False
        with contextlib.suppress(*REDIS_ERRORS):
            await self._create_group()
        self._tasks = [asyncio.create_task(coro, name=name) for coro, name in (
            (self._tail_forever(), "jobs-tail"), (self._writeback_forever(), "jobs-writeback"),
            (self._refresh_forever(), "jobs-positions"))]

    async def stop(self) -> None:
        # redis-py may turn a cancellation during a blocking read into a connection error: the loops also look
        # at this flag, so they end either way.
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _create_group(self) -> None:
        try:
            await self.link.redis.xgroup_create(self.queue.done, WRITEBACK_GROUP, id="0", mkstream=True)
        except Exception as exc:  # BUSYGROUP: another replica created it
            if "BUSYGROUP" not in str(exc):
                raise

    # -- the table --

    async def fetch(self, ticket: str) -> Job | None:
        job = self.get(ticket)
        if job is not None:
            return job
        try:
            job_id = await self.link.redis.get(self.queue.ticket(ticket)) or ticket
            job = await self._load(job_id)
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            return None
        if job is not None and ticket != job.id:
            self._tickets[ticket] = job.id
        return job

    async def fetch_in_flight(self, flight_key: str) -> Job | None:
        job = self.in_flight(flight_key)
        if job is not None:
            return job
        try:
            job_id = await self.link.redis.get(self.queue.flight(flight_key))
            job = await self._load(job_id) if job_id else None
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            return None
        return job if job is not None and not job.status.terminal else None

    async def new_ticket(self, job: Job) -> str:
        ticket = self.join(job)
        try:
            pipe = self.link.redis.pipeline(transaction=True)
            pipe.set(self.queue.ticket(ticket), job.id, ex=int(self._ttl_s))
            pipe.sadd(self.queue.waiters(job.id), ticket)
            await pipe.execute()
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            raise QueueUnavailable(f"Redis: {exc}") from exc
        return ticket

    async def release_ticket(self, job: Job, ticket: str) -> bool:
        local = self.detach(job, ticket)
        try:
            return await self.queue.detach(job.id, ticket, self._ttl_s) > 0
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            return local

    async def submit(self, job: Job) -> tuple[Job, bool]:
        """Queue the job's generation, or join the identical one some replica queued first: (job, joined)."""
        task = job.task
        try:
            done = await self.queue.submit(
                job.id, codec.dump_task(task), shape=task.shape, client=task.client, n=len(task.items),
                flight_key=task.flight_key, queue_size=self.queue_size, max_per_client=self.max_queued_per_client,
                flight_ttl_s=self.flight_ttl_s, job_ttl_s=self._ttl_s)
            if done.outcome == "joined":
                other = await self._load(done.detail)
                if other is not None and not other.status.terminal:
                    return other, True
                return await self.submit(job)  # it ended just now: ask again
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            raise QueueUnavailable(f"Redis does not answer ({type(exc).__name__})") from exc
        if done.outcome == "full":
            raise QueueFull()
        if done.outcome == "client_full":
            raise ClientQueueFull(int(done.detail))
        self.add(job)
        self.positions[job.id] = int(done.detail)
        return job, False

    async def cancel(self, job: Job) -> bool:
        """Cancel the generation (queued or running, on whichever worker); True if it was."""
        try:
            outcome = await self.queue.cancel(job.id, CANCELED_TTL_S)
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            raise QueueUnavailable(f"Redis does not answer ({type(exc).__name__})") from exc
        if outcome != "ok":
            return False
        if not job.status.terminal:
            job.cancel()
        self.settle(job)
        return True

    def position(self, job_id: str) -> int | None:
        return self.positions.get(job_id)

    async def _load(self, job_id: str) -> Job | None:
        """A local copy of a job recorded in Redis (None if there is none), kept current from now on."""
        job = self.get(job_id)
        if job is not None:
            return job
        record = await self.link.redis.hgetall(self.queue.job(job_id))
        if not record or "task" not in record:
            return None
        waiters, detached = await asyncio.gather(self.link.redis.smembers(self.queue.waiters(job_id)),
                                                 self.link.redis.smembers(self.queue.detached(job_id)))
        job = self.get(job_id)  # loaded meanwhile by another request
        if job is not None:
            return job
        job = Job(codec.load_task(record["task"]), id=job_id, created_at=float(record.get("created") or time.time()))
        self._jobs[job.id] = job
        job.waiters.update(waiters)
        job.detached.update(detached)
        if record.get("status") in LIVE:
            self._in_flight[job.task.flight_key] = job
        self._apply_record(job, record)
        # An event may have passed between the read and the copy's registration: read once more.
        self._apply_record(job, await self.link.redis.hgetall(self.queue.job(job_id)))
        return job

    def _apply_record(self, job: Job, record: dict[str, str]) -> None:
        status = record.get("status")
        if job.status.terminal or not status:
            return
        if status == "running" and job.status is JobStatus.QUEUED:
            job.mark_running(int(record.get("total") or 0) or None)
        if status in LIVE and record.get("step"):
            step, total = int(record["step"]), int(record.get("total") or 0)
            if step > job.step and total:
                job.progress(step, total)
        if status == "succeeded" and record.get("result"):
            job.succeed(codec.load_result(record["result"]))
        elif status == "failed":
            job.fail(record.get("error_type") or "generation_failed", record.get("error_message") or "")
        elif status == "canceled":
            job.cancel()
        if job.status.terminal:
            self.settle(job)

    # -- following every job's changes --

    async def _tail_forever(self) -> None:
        # After a gap (Redis was away), every live copy is read afresh before the events are followed again.
        await self.queue.follow_events(self._apply_event, lambda: self._stopping, self._resync)

    async def _resync(self) -> None:
        """Bring every unfinished local copy up to date (after a gap in the events: Redis was away)."""
        for job in [job for job in self._jobs.values() if not job.status.terminal]:
            record = await self.link.redis.hgetall(self.queue.job(job.id))
            if not record:
                # Redis lost the job (restarted without persistence): nothing will ever finish it.
                job.fail("queue_lost", "the shared queue lost this job (Redis restarted without persistence); "
                         "please submit it again")
                self.settle(job)
                continue
            self._apply_record(job, record)

    def _apply_event(self, fields: dict[str, str]) -> None:
        job_id, kind = fields.get("job", ""), fields.get("kind", "")
        data: dict[str, Any] = json.loads(fields.get("data") or "{}")
        if kind == "succeeded" and self.suggest is not None:
            for entry in codec.load_result(data["result"]).entries:
                if entry.id not in self._indexed_here:
                    self.suggest(entry)
                self._indexed_here.discard(entry.id)
        job = self._jobs.get(job_id)
        if job is None or job.status.terminal:
            return
        if kind == "started":
            job.mark_running(int(data.get("total") or 0) or None)
        elif kind == "progress":
            job.progress(int(data["step"]), int(data["total"]))
        elif kind == "succeeded":
            job.succeed(codec.load_result(data["result"]))
        elif kind == "failed":
            job.fail(str(data.get("type") or "generation_failed"), str(data.get("message") or ""))
        elif kind == "canceled":
            job.cancel()
        elif kind == "detached":
            ticket = str(data.get("ticket"))
            if ticket not in job.detached:
                job.waiters.discard(ticket)
                job.detached.add(ticket)
                job._publish("status")
        if job.status.terminal:
            self.settle(job)

    async def _refresh_forever(self) -> None:
        """Queue positions of the queued copies, and the shared queue's depth, every second."""
        while not self._stopping:
            await asyncio.sleep(1.0)
            queued = [job.id for job in self._jobs.values() if job.status is JobStatus.QUEUED]
            try:
                self.depth = int(await self.link.redis.get(self.queue.depth) or 0)
                if queued:
                    self.positions = dict(zip(queued, await self.queue.position(queued), strict=True))
            except REDIS_ERRORS as exc:
                self.link.failed(exc)

    # -- the shared write-back --

    async def _writeback_forever(self) -> None:
        claimed_at = 0.0
        while not self._stopping:
            try:
                if time.monotonic() - claimed_at > self.claim_after_s / 3:
                    claimed_at = time.monotonic()
                    _, messages, _ = await self.link.redis.xautoclaim(
                        self.queue.done, WRITEBACK_GROUP, self.name, int(self.claim_after_s * 1000), "0-0", count=16)
                    for message_id, fields in messages:
                        await self._write_back(message_id, fields)
                answer = await self.link.redis.xreadgroup(WRITEBACK_GROUP, self.name, {self.queue.done: ">"},
                                                          count=8, block=1000)
                for _, messages in answer or []:
                    for message_id, fields in messages:
                        await self._write_back(message_id, fields)
            except asyncio.CancelledError:
                raise
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
                await asyncio.sleep(0.5)
            except Exception as exc:
                if "NOGROUP" in str(exc):  # Redis restarted without persistence: the group is gone
                    with contextlib.suppress(*REDIS_ERRORS):
                        await self._create_group()
                else:
                    log.exception("the shared write-back failed; retrying")
                await asyncio.sleep(0.5)

    async def _write_back(self, message_id: str, fields: dict[str, str] | None) -> None:
        """Index one generation's stored pictures and mark its job succeeded (once, whoever does it)."""
        job_id = (fields or {}).get("job", "")
        record = await self.link.redis.hgetall(self.queue.job(job_id)) if job_id else {}
        if record.get("status") in LIVE and record.get("pictures") and self.index_pictures is not None:
            task = codec.load_task(record["task"])
            pictures = codec.load_pictures(record["pictures"])
            seconds = float(record.get("seconds") or 0.0)
            entries = await self.index_pictures(job_id, task, pictures, seconds)
            self._indexed_here.update(entry.id for entry in entries)
            result = codec.dump_result(GenerationResult(entries, seconds))
            await self.queue.finish(job_id, task.flight_key, "succeeded", {"result": json.loads(result)}, self._ttl_s,
                                    status="succeeded", finished=time.time(), result=result)
        pipe = self.link.redis.pipeline(transaction=True)
        pipe.xack(self.queue.done, WRITEBACK_GROUP, message_id)
        pipe.xdel(self.queue.done, message_id)
        await pipe.execute()


__all__ = ["EVENTS_MAXLEN", "SharedJobs"]
