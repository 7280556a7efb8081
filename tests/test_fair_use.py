"""Fair use: per-client token buckets for requests and generations, and the GPU queue's fair share."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from apphelpers import running_app, tiny_settings
from dreamcache.keys import KeyStore
from dreamcache.limits import RateLimiter

ASYNC = {"Prefer": "respond-async"}


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(rate=1.0, burst=3)
    assert [limiter.retry_after("a") for _ in range(3)] == [0, 0, 0]
    assert limiter.retry_after("a") == 1  # refused: about a second to the next token
    assert limiter.retry_after("b") == 0  # another client has its own bucket
    assert RateLimiter(rate=0, burst=1).retry_after("a") == 0  # 0 = no limit
    bounded = RateLimiter(rate=1.0, burst=1, max_clients=2)
    for client in ("a", "b", "c"):
        bounded.retry_after(client)
    assert bounded.retry_after("a") == 0  # forgotten (LRU), so a full bucket again


def keys_for(settings_path: Path, *names: str) -> list[dict[str, str]]:
    store = KeyStore(settings_path)
    return [{"Authorization": f"Bearer {store.add([''])[0]}"} for _ in names]


def test_requests_and_generations_have_separate_limits(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, request_burst=6, request_rate_per_s=0.01, generation_burst=2,
                             generation_rate_per_s=0.01)
    alice, bob = keys_for(settings.keys_path, "alice", "bob")
    with running_app(settings) as client:
        for prompt in ("a red kite over a beach", "a blue kite over a field"):
            assert client.post("/generate", json={"prompt": prompt}, headers=alice).status_code == 200
        third = client.post("/generate", json={"prompt": "a green kite over a lake"}, headers=alice)
        assert third.status_code == 429 and third.headers["Retry-After"].isdigit()
        assert third.json()["error"]["type"] == "rate_limited" and "generation" in third.json()["error"]["message"]
        # Hits cost no generation: alice is still served from the cache...
        hit = client.post("/generate", json={"prompt": "a red kite over a beach"}, headers=alice)
        assert hit.status_code == 200 and hit.json()["source"] == "cache"
        # ...until her request bucket is empty too (6 requests: 2 generated, 1 refused, 3 more).
        client.post("/generate", json={"prompt": "a red kite over a beach"}, headers=alice)
        client.post("/generate", json={"prompt": "a red kite over a beach"}, headers=alice)
        refused = client.post("/generate", json={"prompt": "a red kite over a beach"}, headers=alice)
        assert refused.status_code == 429 and "request" in refused.json()["error"]["message"]
        # Bob has buckets of his own; health is never limited.
        assert client.post("/generate", json={"prompt": "a red kite over a beach"}, headers=bob).status_code == 200
        assert client.get("/healthz").status_code == 200


def test_one_client_cannot_hold_more_than_its_share_of_the_queue(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, max_queued_per_client=3, batch_wait_ms=3000.0, max_batch_size=64)
    alice, bob = keys_for(settings.keys_path, "alice", "bob")
    with running_app(settings) as client:
        for i in range(3):
            assert client.post("/generate", json={"prompt": f"a castle number {i}"}, headers={**alice, **ASYNC}
                               ).status_code == 202
        full = client.post("/generate", json={"prompt": "a castle number 9"}, headers={**alice, **ASYNC})
        assert full.status_code == 429 and full.json()["error"]["type"] == "client_queue_full"
        assert full.headers["Retry-After"]
        assert client.post("/generate", json={"prompt": "a castle for bob"}, headers={**bob, **ASYNC}
                           ).status_code == 202


def test_a_flood_from_one_client_does_not_starve_another(tmp_path: Path) -> None:
    # One image per batch, so the order of batches is the order of service; 512x512 so that the
    # flood is queued while the first image is being made.
    settings = tiny_settings(tmp_path, max_batch_size=1, batch_wait_ms=0.0, max_queued_per_client=64,
                             generation_burst=64)
    alice, bob = keys_for(settings.keys_path, "alice", "bob")
    big = {"width": 512, "height": 512}
    with running_app(settings) as client:
        flood = [client.post("/generate", json={"prompt": f"a flood of boats number {i}", **big},
                             headers={**alice, **ASYNC}).json()["job_id"] for i in range(10)]
        bobs = client.post("/generate", json={"prompt": "one lighthouse for bob", **big},
                           headers={**bob, **ASYNC}).json()
        deadline = time.monotonic() + 120
        while client.get(f"/jobs/{bobs['job_id']}", headers=bob).json()["status"] != "succeeded":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        services = client.app.state.services  # type: ignore[attr-defined]
        bob_job = services.jobs.get(bobs["job_id"])
        waiting = [services.jobs.get(i) for i in flood]
        waiting = [j for j in waiting if j.started_at is None or j.started_at >= bob_job.created_at]
        assert len(waiting) >= 5, "the flood was not queued when Bob arrived: the test proves nothing"
        # Of Alice's jobs still waiting when Bob arrived, round-robin runs at most one before his.
        ahead = sum(1 for j in waiting if j.started_at is not None and j.started_at < bob_job.started_at)
        assert ahead <= 1, ahead


@pytest.mark.parametrize("burst", [1])
def test_open_mode_limits_by_client_address(tmp_path: Path, burst: int) -> None:
    settings = tiny_settings(tmp_path, request_burst=burst, request_rate_per_s=0.01)
    with running_app(settings) as client:
        assert client.post("/generate", json={"prompt": "a fox", "cache": "only"}).status_code == 404
        limited = client.post("/generate", json={"prompt": "a fox", "cache": "only"})
        assert limited.status_code == 429 and limited.json()["error"]["type"] == "rate_limited"
