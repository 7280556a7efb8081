"""The whole topology in real processes: a redis-server, SeaweedFS (S3), two web replicas without GPU
(`dreamcache serve --worker none`) and two GPU workers (`dreamcache worker`, tiny model). In the middle of a
load of generations, one worker and one replica are killed (SIGKILL); every job still finishes once, answered
by the surviving replica, its picture fetched from S3.

What it proves and what it does not: the queue, the job table, single flight and the write-back are shared
(Redis), and so are the pictures (one S3 server). Each replica keeps its own Qdrant Edge index (no Qdrant
server runs on these machines), so a picture is indexed by the replica that wrote it back; in production every
replica points at one Qdrant server and every write-back lands in it. The visibility timeout is 3 s here (30 s
by default) to keep the test short.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from apphelpers import free_port
from redisserver import redis_server
from seaweed import SeaweedS3, seaweed_s3_server

STEPS = 40  # slow enough (128x128 on 2 cores) to kill a worker while it runs its batch
SIZE = 128


def _env(tmp_path: Path, name: str, redis_url: str, s3: SeaweedS3, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DREAMCACHE_")}
    env.update({
        "HF_HUB_OFFLINE": "1", "DREAMCACHE_MODEL": "tiny", "DREAMCACHE_DATA_DIR": str(tmp_path / name),
        "DREAMCACHE_REDIS_URL": redis_url, "DREAMCACHE_REDIS_VISIBILITY_TIMEOUT_S": "3",
        "DREAMCACHE_S3_BUCKET": s3.bucket, "DREAMCACHE_S3_ENDPOINT_URL": s3.endpoint_url,
        "DREAMCACHE_S3_ACCESS_KEY_ID": s3.access_key_id, "DREAMCACHE_S3_SECRET_ACCESS_KEY": s3.secret_access_key,
        "DREAMCACHE_S3_REGION": s3.region, "DREAMCACHE_DEFAULT_WIDTH": "64", "DREAMCACHE_DEFAULT_HEIGHT": "64",
        "DREAMCACHE_DEFAULT_STEPS": "4", "DREAMCACHE_MAX_BATCH_SIZE": "2", "DREAMCACHE_WORKER_THREADS": "1",
        "DREAMCACHE_GENERATION_RATE_PER_S": "0",
    })
    env.update(extra)
    return env


@contextmanager
def process(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "dreamcache.cli", *args], env=env, cwd=log.parent,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _generate(base: str, prompt: str, **body: Any) -> dict[str, Any]:
    payload = {"prompt": prompt, **body}
    response = httpx.post(f"{base}/generate", json=payload, headers={"Prefer": "respond-async"}, timeout=30)
    assert response.status_code == 202, response.text
    return response.json()


def _wait_all(base: str, job_ids: list[str], timeout: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    done: dict[str, dict[str, Any]] = {}
    while time.monotonic() < deadline and len(done) < len(job_ids):
        for job_id in job_ids:
            if job_id in done:
                continue
            view = httpx.get(f"{base}/jobs/{job_id}", timeout=10).json()
            if view["status"] in ("succeeded", "failed", "canceled"):
                done[job_id] = view
        time.sleep(0.2)
    missing = [job_id for job_id in job_ids if job_id not in done]
    assert not missing, f"jobs not finished after {timeout} s: {missing}"
    return done


def _start_replica(stack: ExitStack, tmp_path: Path, i: int, redis_url: str, s3: SeaweedS3
                   ) -> tuple[subprocess.Popen[bytes], str]:
    """`serve --worker none` on a free port, ready; a port another process took meanwhile is tried again."""
    for attempt in range(3):
        port = free_port()
        log = tmp_path / f"replica{i}" / f"log{attempt}.txt"
        proc = stack.enter_context(process(["serve", "--worker", "none", "--port", str(port)],
                                           _env(tmp_path, f"replica{i}", redis_url, s3), log))
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    return proc, base
            time.sleep(0.25)
        if "address already in use" not in log.read_text(errors="replace"):
            break
    raise AssertionError(f"replica {i} did not start: {log.read_text(errors='replace')[-2000:]}")


def test_two_replicas_two_workers_lose_nothing_when_a_worker_and_a_replica_are_killed(tmp_path: Path) -> None:
    with ExitStack() as stack:
        redis = stack.enter_context(redis_server(tmp_path / "redis"))
        s3 = stack.enter_context(seaweed_s3_server(tmp_path / "s3"))
        workers = [stack.enter_context(process(["worker"], _env(tmp_path, f"worker{i}", redis.url, s3),
                                               tmp_path / f"worker{i}" / "log.txt")) for i in range(2)]
        replicas, bases = [], []
        for i in range(2):
            proc, base = _start_replica(stack, tmp_path, i, redis.url, s3)
            replicas.append(proc)
            bases.append(base)
        a, b = bases
        assert httpx.get(f"{a}/readyz").json()["checks"].get("redis") == "ok"

        # Single flight across replicas: 5 identical misses at once, spread over both, make one generation.
        same = {"prompt": "one lighthouse on a cliff in a storm", "seed": 7}
        with concurrent.futures.ThreadPoolExecutor(5) as pool:
            answers = list(pool.map(lambda base: httpx.post(f"{base}/generate", json=same, timeout=120).json(),
                                    [a, b, a, b, a]))
        assert len({answer["images"][0]["id"] for answer in answers}) == 1, answers

        # A load of distinct misses on both replicas, slow enough to kill a worker and a replica half-way.
        jobs = [_generate((a, b)[i % 2], f"a harbour at dusk, painting number {i}", width=SIZE, height=SIZE,
                          num_inference_steps=STEPS)["job_id"] for i in range(8)]
        # A worker runs at most a batch (2) at a time, so three running jobs mean both workers hold some: the
        # worker killed below surely dies mid-batch (waiting for two alone could catch one worker with both).
        deadline = time.monotonic() + 180
        states: list[str] = []
        while time.monotonic() < deadline:
            states = [httpx.get(f"{b}/jobs/{job_id}").json()["status"] for job_id in jobs]
            if states.count("running") >= 3:
                break
            time.sleep(0.1)
        assert states.count("running") >= 3, f"both workers never ran at once: {states}"
        workers[0].send_signal(signal.SIGKILL)  # mid-batch: its jobs come back after the visibility timeout
        replicas[0].send_signal(signal.SIGKILL)  # it accepted half of the jobs: they finish without it
        views = _wait_all(b, jobs, timeout=240)
        assert {view["status"] for view in views.values()} == {"succeeded"}, views
        worker_log = (tmp_path / "worker1" / "log.txt").read_text(errors="replace")
        assert "its worker stopped answering; running it here" in worker_log  # the survivor took them over

        # Each picture is in S3 once, served to a client of the surviving replica.
        urls = [view["result"]["images"][0]["url"] for view in views.values()]
        for url in urls:
            image = httpx.get(url if url.startswith("http") else f"{b}{url}", timeout=10)
            assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        import boto3

        client = boto3.client("s3", endpoint_url=s3.endpoint_url, aws_access_key_id=s3.access_key_id,
                              aws_secret_access_key=s3.secret_access_key, region_name=s3.region)
        listed = client.list_objects_v2(Bucket=s3.bucket).get("Contents", [])
        pngs = [item["Key"] for item in listed if item["Key"].endswith(".png")]
        assert len(pngs) == len(jobs) + 1  # one per job (the same keys when a job ran twice), plus the lighthouse

        # Asked again on the survivor: a hit (the replica that wrote a picture back indexed it; here, b's own).
        again = httpx.post(f"{b}/generate", json=same, timeout=60)
        assert again.status_code == 200
        for proc in (replicas[1], workers[1]):
            assert proc.poll() is None, "a surviving process died"


@pytest.mark.parametrize("command", [["worker"], ["serve", "--worker", "none"]])
def test_without_redis_a_worker_or_a_gpu_less_replica_refuses_to_start_with_one_line(tmp_path: Path,
                                                                                    command: list[str]) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DREAMCACHE_")}
    env.update({"DREAMCACHE_MODEL": "tiny", "DREAMCACHE_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1"})
    run = subprocess.run([sys.executable, "-m", "dreamcache.cli", *command], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1 and "redis_url" in lines[0].lower(), run.stderr
