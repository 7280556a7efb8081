"""Upkeep shared on Redis, on a real redis-server: the retention lease (one replica sweeps at a time, a dead
holder's lease expires, only the holder lets go), the wrong-picture reports log every replica reads, and what
`/readyz` says while Redis is away. Two links are two replicas; they share one index and store here as they
share one Qdrant and one bucket in production. Only the last test starts an app."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from apphelpers import running_app, tiny_settings
from dreamcache import prompts
from dreamcache.cluster.connection import RedisLink, RedisUnavailable
from dreamcache.cluster.lease import Lease
from dreamcache.cluster.reports import SharedReportLog
from dreamcache.index import Entry, QdrantServerIndex
from dreamcache.management import Curator, Report, sweep_turn
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage.local import LocalStore
from dreamcache.suggest import SuggestionIndex
from redisserver import RedisServer, redis_server

DIM = 4


@asynccontextmanager
async def replicas(url: str, count: int = 2) -> AsyncIterator[list[RedisLink]]:
    links = [RedisLink(url, "test") for _ in range(count)]
    for link in links:
        await link.start()
    try:
        yield links
    finally:
        for link in links:
            await link.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RedisServer]:
    with redis_server(tmp_path / "redis") as started:
        yield started


def test_one_holder_at_a_time_a_dead_holders_lease_expires_and_only_the_holder_lets_go(server: RedisServer) -> None:
    async def scenario() -> None:
        async with replicas(server.url) as (a, b):
            on_a, on_b = Lease(a, "retention", 0.3), Lease(b, "retention", 0.3)
            assert await on_a.acquire() and not await on_b.acquire()
            assert not await on_b.release() and await on_b.holder() == on_a.owner  # not b's to let go
            assert await on_a.release() and await on_b.acquire()
            # b dies holding it (never renews, never lets go): the lease expires and a takes over.
            deadline = time.monotonic() + 10
            while not await on_a.acquire():
                assert time.monotonic() < deadline, "the dead holder's lease never expired"
                await asyncio.sleep(0.05)
            # b coming back cannot renew or release its successor's lease.
            assert not await on_b.extend() and not await on_b.release()
            assert await on_a.holder() == on_a.owner
            assert await on_a.extend(60) and await a.redis.pttl(on_a.key) > 30_000
            # Work longer than the TTL: `keep` renews it (every third of the TTL) for as long as it runs.
            short = Lease(b, "sweep", 1.0)
            assert await short.acquire()
            keeper = asyncio.create_task(short.keep())
            await asyncio.sleep(2.5)
            assert await on_a.holder() == on_a.owner and await short.holder() == short.owner
            keeper.cancel()

    asyncio.run(scenario())


def _entry(name: str) -> Entry:
    entry_id = str(uuid.uuid4())
    prompt = f"a lease picture of a lighthouse called {name}"
    return Entry(
        id=entry_id, prompt=prompt, negative_prompt="", width=64, height=64, steps=10, guidance_scale=7.5, seed=1,
        model="tiny", fingerprint="fp", image_key=f"{entry_id}.png", created_at=100.0, compat_key="compat",
        exact_key=f"exact-{name}", prompt_norm=prompts.normalize(prompt), stored_bytes=100,
    )


@pytest.fixture
def curators(tmp_path: Path) -> Iterator[tuple[list[Curator], QdrantServerIndex, dict[str, Entry]]]:
    """Two replicas' curators over one index and one store with three entries, retention capped at one."""
    index = QdrantServerIndex(QdrantClient(location=":memory:"), "entries", DIM)
    store = LocalStore(tmp_path / "images")
    suggestions = SuggestionIndex()
    entries = {name: _entry(name) for name in "ABC"}
    for row, entry in enumerate(entries.values()):
        index.upsert(entry, np.eye(DIM, dtype=np.float32)[row])
        store.put(entry.image_key, b"png")
        suggestions.add(entry)
    made = [Curator(Settings(data_dir=tmp_path / f"replica{n}", retention_max_entries=1), index, store, Metrics(),
                    lambda namespace: suggestions) for n in range(2)]
    yield made, index, entries
    index.close()


def test_replicas_take_turns_at_the_retention_sweep(
    server: RedisServer, curators: tuple[list[Curator], QdrantServerIndex, dict[str, Entry]]
) -> None:
    (first, second), index, _ = curators

    async def scenario() -> None:
        async with replicas(server.url) as (a, b):
            leases = [Lease(a, "retention", 5.0), Lease(b, "retention", 5.0)]
            turns = await asyncio.gather(sweep_turn(first, 60.0, leases[0]), sweep_turn(second, 60.0, leases[1]))
            swept = [counts for counts in turns if counts is not None]
            assert len(swept) == 1 and swept[0]["evicted"] == 2 and index.count() == 1  # one replica swept
            # The sweeper keeps the lease for the rest of the interval: nobody sweeps again before it ends.
            assert await a.redis.pttl(leases[0].key) > 30_000
            assert await sweep_turn(first, 60.0, leases[0]) is None
            assert await sweep_turn(second, 60.0, leases[1]) is None
            # Without Redis (no lease) every replica sweeps on its own, as before.
            assert await sweep_turn(second, 60.0, None) == {"evicted": 0, "vanished": 0, "entries": 1}

    asyncio.run(scenario())


def test_a_sweep_that_ends_after_its_interval_lets_go_at_once(
    server: RedisServer, curators: tuple[list[Curator], QdrantServerIndex, dict[str, Entry]]
) -> None:
    (first, second), _, _ = curators

    async def scenario() -> None:
        async with replicas(server.url) as (a, b):
            lease = Lease(a, "retention", 5.0)
            assert await sweep_turn(first, 0.0, lease) is not None  # an interval already over when it ends
            assert await lease.holder() is None
            assert await sweep_turn(second, 0.0, Lease(b, "retention", 5.0)) is not None

    asyncio.run(scenario())


def test_a_report_filed_through_one_replica_is_listed_by_another(
    server: RedisServer, curators: tuple[list[Curator], QdrantServerIndex, dict[str, Entry]]
) -> None:
    (first, second), _, entries = curators

    async def scenario() -> None:
        async with replicas(server.url) as (a, b):
            first.report_log, second.report_log = SharedReportLog(a), SharedReportLog(b)
            filed = await first.report(entries["A"], "  a lease picture of a lighthouse  ", "key-1")
            assert await second.reports(None) == [filed]
            assert filed.prompt == "a lease picture of a lighthouse" and filed.reporter == "key-1"
            assert await second.reports(["elsewhere"]) == []

            bounded = [SharedReportLog(a, kept=3), SharedReportLog(b, kept=3)]
            for number in range(5):
                await bounded[number % 2].append(Report(f"e{number}", "p", "", "", float(number)))
            assert [r.entry_id for r in await bounded[1].newest(None, 10)] == ["e4", "e3", "e2"]  # newest first

            server.stop()
            with pytest.raises(RedisUnavailable):
                await bounded[0].append(Report("lost", "p", "", "", 9.0))
            with pytest.raises(RedisUnavailable):
                await bounded[1].newest(None, 10)

    asyncio.run(scenario())


def test_while_redis_is_away_hits_are_served_misses_answer_503_and_it_comes_back_without_a_restart(
    tmp_path: Path, server: RedisServer
) -> None:
    """/readyz reports redis and stays ready; a cached prompt is still a hit; a miss is 503 `queue_unavailable` with
    Retry-After (nothing queued, nothing lost); once Redis answers again, misses generate again (shared queue)."""
    settings = tiny_settings(tmp_path / "data", redis_url=server.url)

    def redis_check(client: object, wanted: str) -> dict[str, object]:
        deadline = time.monotonic() + 20
        while True:
            answer = client.get("/readyz")  # type: ignore[attr-defined]
            body: dict[str, object] = answer.json()
            checks = body["checks"]
            assert isinstance(checks, dict)
            if str(checks.get("redis", "")).startswith(wanted):
                assert answer.status_code == 200 and body["status"] == "ready", body
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.1)

    with running_app(settings) as client:
        redis_check(client, "ok")
        cached = {"prompt": "a paper boat on a puddle after the rain"}
        first = client.post("/generate", json=cached)
        assert first.status_code == 200 and first.headers["X-Cache"] == "MISS", first.text
        server.stop()
        body = redis_check(client, "unreachable: ")
        assert "error" not in body  # hits are still served: the load balancer keeps this replica
        hit = client.post("/generate", json=cached)
        assert hit.status_code == 200 and hit.headers["X-Cache"] == "HIT"
        miss = client.post("/generate", json={"prompt": "a lantern festival over a river at night"})
        assert miss.status_code == 503 and miss.headers["Retry-After"] == "5", miss.text
        assert miss.json()["error"]["type"] == "queue_unavailable"
        listing = client.get("/admin/reports")
        assert listing.status_code == 503 and listing.headers["Retry-After"] == "5"
        assert listing.json()["error"]["type"] == "reports_unavailable"
        server.start()
        redis_check(client, "ok")  # back without a restart
        assert client.get("/admin/reports").json() == {"reports": []}
        again = client.post("/generate", json={"prompt": "a lantern festival over a river at night"})
        assert again.status_code == 200 and again.headers["X-Cache"] == "MISS", again.text
