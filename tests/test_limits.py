"""Rate limits (`limits.py`) on a fake clock: the token bucket's refill, cap and boundary, and the limiter's
rounding, per-client buckets and bounded client table. No app, no sleeping (`make mutate` runs this file alone
against limits.py)."""

from __future__ import annotations

import asyncio

from dreamcache.limits import RateLimiter, TokenBucket, local_limiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_gives_its_burst_then_says_how_long_until_the_next_token() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == 0.5  # empty: one token takes 1/rate seconds
    assert bucket.take(0.25) == 0.25  # half a token has come back
    assert bucket.take(0.5) == 0.0  # exactly one token: taken
    assert bucket.tokens == 0.0


def test_a_bucket_refills_at_its_rate_up_to_its_burst() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    for _ in range(3):
        bucket.take(0.0)
    assert bucket.take(1.0) == 0.0 and bucket.tokens == 1.0  # 2 tokens came back in a second, one taken
    assert bucket.take(1000.0) == 0.0 and bucket.tokens == 2.0  # a long rest fills it to the burst, no more
    assert bucket.take(1000.0) == 0.0 and bucket.take(1000.0) == 0.0 and bucket.take(1000.0) == 0.5


def test_the_limiter_answers_whole_seconds_rounded_up() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.5, burst=2, clock=clock)
    assert [limiter.retry_after("a") for _ in range(2)] == [0, 0]
    assert limiter.retry_after("a") == 2  # exactly 2 s: not rounded further
    clock.now += 0.5  # a quarter token back: 1.5 s to wait
    assert limiter.retry_after("a") == 2
    clock.now += 1.4  # 0.95 of a token: 0.1 s, never 0 while refused
    assert limiter.retry_after("a") == 1
    clock.now += 0.1
    assert limiter.retry_after("a") == 0


def test_each_client_has_its_own_bucket_and_a_burst_below_one_still_allows_one() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.001, burst=0.2, clock=clock)
    assert limiter.burst == 1.0
    assert limiter.retry_after("a") == 0 and limiter.retry_after("a") == 1000
    assert limiter.retry_after("b") == 0 and limiter.retry_after("b") == 1000


def test_a_rate_of_zero_means_no_limit() -> None:
    limiter = RateLimiter(rate=0.0, burst=1, clock=Clock())
    assert all(limiter.retry_after("a") == 0 for _ in range(100))


def test_the_least_recently_seen_client_is_forgotten_first() -> None:
    clock = Clock()
    limiter = RateLimiter(rate=0.001, burst=1, max_clients=2, clock=clock)
    limiter.retry_after("a")
    limiter.retry_after("b")
    assert limiter.retry_after("a") > 0  # a is seen again: now the most recent
    limiter.retry_after("c")  # three clients: b, the least recently seen, is forgotten
    assert limiter.retry_after("a") > 0  # a was kept, bucket still empty
    assert limiter.retry_after("b") == 0  # b starts again with a full bucket


def test_the_awaitable_check_is_the_same_bucket_and_the_local_factory_builds_one() -> None:
    limiter = local_limiter("requests", 0.5, 2)
    assert isinstance(limiter, RateLimiter) and (limiter.rate, limiter.burst) == (0.5, 2.0)
    assert [asyncio.run(limiter.take("a")) for _ in range(3)] == [0, 0, 2]
    assert limiter.retry_after("a") == 2  # the same bucket as the synchronous check
