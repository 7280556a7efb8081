"""Rate limits shared on Redis (`cluster.limits`), on a real redis-server: two `SharedLimits` on two links are two
replicas. One bucket per client across them, no over-grant under concurrency (one Lua script per check), and
while Redis is away each replica falls back to its own buckets (a warning, the metric), back to the shared
bucket when Redis returns. No app: the whole file runs in a few seconds."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from dreamcache.cluster.connection import RedisLink
from dreamcache.cluster.limits import SharedLimits, SharedRateLimiter
from dreamcache.metrics import Metrics
from redisserver import RedisServer, redis_server

SLOW = 0.001  # tokens per second: no refill within a test


@asynccontextmanager
async def replicas(url: str, count: int = 2) -> AsyncIterator[list[RedisLink]]:
    """`count` started links to one Redis, as `count` replicas each open their own."""
    links = [RedisLink(url, "test") for _ in range(count)]
    for link in links:
        await link.start()
    try:
        yield links
    finally:
        for link in links:
            await link.close()


def limiter(link: RedisLink, rate: float, burst: float, metrics: Metrics | None = None) -> SharedRateLimiter:
    return SharedLimits(link, metrics or Metrics()).limiter("requests", rate, burst)


async def until_healthy(*links: RedisLink) -> None:
    deadline = time.monotonic() + 15
    while not all([await link.check() for link in links]):
        assert time.monotonic() < deadline, [link.error for link in links]
        await asyncio.sleep(0.05)


def test_two_replicas_take_from_one_bucket_per_client(tmp_path: Path) -> None:
    async def scenario(server: RedisServer) -> None:
        async with replicas(server.url) as (a, b):
            on_a, on_b = limiter(a, SLOW, 5), limiter(b, SLOW, 5)
            answers = [await (on_a if i % 2 else on_b).take("alice") for i in range(12)]
            assert answers.count(0) == 5  # the burst once in total, not once per replica
            assert set(answers[5:]) == {1000}  # whole seconds until the next token, the same on both
            assert await on_b.take("bob") == 0  # another client has its own bucket
            key = a.key("limits", "requests", "alice")
            assert 0 < await a.redis.pttl(key) <= 5 / SLOW * 1000 + 1000  # an idle bucket expires once full again

            exact_a, exact_b = limiter(a, 0.5, 2), limiter(b, 0.5, 2)
            assert [await exact_a.take("carol"), await exact_b.take("carol"), await exact_b.take("carol")] == [0, 0, 2]

            free = limiter(a, 0, 1)  # rate 0: no limit, and nothing stored
            assert all([await free.take("dave") == 0 for _ in range(20)])
            assert not await a.redis.exists(a.key("limits", "requests", "dave"))

    with redis_server(tmp_path) as server:
        asyncio.run(scenario(server))


def test_across_replicas_a_client_gets_at_most_burst_plus_rate_times_elapsed(tmp_path: Path) -> None:
    rate, burst = 20.0, 5

    async def scenario(server: RedisServer) -> None:
        async with replicas(server.url) as (a, b):
            on_a, on_b = limiter(a, rate, burst), limiter(b, rate, burst)
            began = time.monotonic()
            granted = 0
            for i in range(200):
                granted += await (on_a if i % 2 else on_b).take("erin") == 0
            elapsed = time.monotonic() - began
            # Redis's clock runs between the first and the last check, inside `elapsed`: this bound holds on any
            # machine; with a bucket per replica a client got about twice as much.
            assert burst <= granted <= burst + rate * elapsed + 1e-9, (granted, elapsed)

    with redis_server(tmp_path) as server:
        asyncio.run(scenario(server))


def test_concurrent_checks_never_grant_more_than_the_bucket_holds(tmp_path: Path) -> None:
    async def scenario(server: RedisServer) -> None:
        async with replicas(server.url, 3) as links:
            limiters = [limiter(link, SLOW, 10) for link in links]
            answers = await asyncio.gather(*(limiters[i % 3].take("frank") for i in range(120)))
            assert answers.count(0) == 10

    with redis_server(tmp_path) as server:
        asyncio.run(scenario(server))


def test_without_redis_each_replica_uses_its_own_buckets_and_shares_again_when_it_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics_a, metrics_b = Metrics(), Metrics()

    def degraded(metrics: Metrics) -> float | None:
        return metrics.registry.get_sample_value("dreamcache_limits_degraded")

    def warnings(text: str) -> int:
        return sum(text in record.getMessage() for record in caplog.records if record.levelno == logging.WARNING)

    async def scenario(server: RedisServer) -> None:
        async with replicas(server.url) as (a, b):
            on_a, on_b = limiter(a, SLOW, 2, metrics_a), limiter(b, SLOW, 2, metrics_b)
            assert [await on_a.take("gina"), await on_b.take("gina"), await on_a.take("gina")] == [0, 0, 1000]
            assert degraded(metrics_a) == 0

            server.stop()
            # Every check still answers: from each replica's own bucket, full when the outage began.
            assert [await on_a.take("gina") for _ in range(3)] == [0, 0, 1000]
            assert [await on_b.take("gina") for _ in range(3)] == [0, 0, 1000]
            assert degraded(metrics_a) == 1 and degraded(metrics_b) == 1
            assert metrics_a.registry.get_sample_value("dreamcache_limits_degraded_checks_total") == 3
            assert warnings("each replica uses its own buckets") == 2  # once per replica, not once per check

            server.start()  # no AOF: the restarted Redis has no buckets
            await until_healthy(a, b)
            assert [await on_a.take("gina"), await on_b.take("gina"), await on_b.take("gina")] == [0, 0, 1000]
            assert degraded(metrics_a) == 0 and degraded(metrics_b) == 0
            assert warnings("shares one bucket per client again") == 2

    with caplog.at_level(logging.WARNING, logger="dreamcache.cluster.limits"), redis_server(tmp_path) as server:
        asyncio.run(scenario(server))
