"""Faults found by probing the running service, each kept fixed by a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import torch
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from fastapi.testclient import TestClient

from apphelpers import READY_TIMEOUT_S, free_port, running_app, tiny_settings
from dreamcache.cli import wait_ready
from dreamcache.worker.process import error_type


def test_the_worker_exits_when_the_server_is_killed(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DREAMCACHE_MODEL": "tiny", "DREAMCACHE_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "DREAMCACHE_PORT": str(port), "DREAMCACHE_DEFAULT_WIDTH": "64", "DREAMCACHE_DEFAULT_HEIGHT": "64"}
    server = subprocess.Popen([sys.executable, "-m", "dreamcache.cli", "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 120)
        workers = [p for p in psutil.Process(server.pid).children(recursive=True)
                   if any("spawn_main" in part for part in p.cmdline())]
        assert workers, "the GPU worker process was not found"
        server.send_signal(signal.SIGKILL)
        server.wait(10)
        gone, alive = psutil.wait_procs(workers, timeout=15)
        assert not alive, f"worker(s) still running after the server died: {[p.pid for p in alive]}"
    finally:
        if server.poll() is None:
            server.kill()


def test_sigterm_stops_the_server_without_leaking_semaphores(tmp_path: Path) -> None:
    """`dreamcache serve` ended by SIGTERM after a generation closes the worker's multiprocessing queues: Python's
    resource tracker, which outlives the server and writes to the same stderr, reports no leaked semaphores."""
    port = free_port()
    env = {name: value for name, value in os.environ.items() if not name.startswith("DREAMCACHE_")}
    env.update(DREAMCACHE_MODEL="tiny", DREAMCACHE_DATA_DIR=str(tmp_path), DREAMCACHE_HOST="127.0.0.1",
               DREAMCACHE_PORT=str(port), DREAMCACHE_DEFAULT_WIDTH="64", DREAMCACHE_DEFAULT_HEIGHT="64",
               DREAMCACHE_DEFAULT_STEPS="4", HF_HUB_OFFLINE="1")
    server = subprocess.Popen([sys.executable, "-m", "dreamcache.cli", "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    pipe = server.stderr
    assert pipe is not None
    stderr: list[str] = []
    # Reads to end of file: until every holder of the pipe (server, worker, resource tracker) has exited.
    drain = threading.Thread(target=lambda: stderr.append(pipe.read()), daemon=True)
    drain.start()
    try:
        base = f"http://127.0.0.1:{port}"
        wait_ready(base, READY_TIMEOUT_S)
        answer = httpx.post(f"{base}/generate", json={"prompt": "a lighthouse on a cliff at dusk"}, timeout=120)
        assert answer.status_code == 200, answer.text
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        drain.join(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert not drain.is_alive(), "a process of the server still holds its stderr"
    text = "".join(stderr)
    assert "Application shutdown complete" in text, text[-3000:]
    assert "leaked" not in text and "resource_tracker" not in text, text[-3000:]
def test_ctrl_c_stops_the_server_and_its_worker_without_a_traceback(tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "DREAMCACHE_MODEL": "tiny", "DREAMCACHE_DATA_DIR": str(tmp_path), "HF_HUB_OFFLINE": "1",
           "DREAMCACHE_PORT": str(port)}
    # A terminal's Ctrl+C sends SIGINT to the whole foreground process group: server and worker alike.
    server = subprocess.Popen([sys.executable, "-m", "dreamcache.cli", "serve"], env=env, cwd=tmp_path,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_ready(f"http://127.0.0.1:{port}", 120)
        os.killpg(server.pid, signal.SIGINT)
        output, _ = server.communicate(timeout=60)
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGKILL)
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output[-3000:]
    assert "worker" in output  # the worker did run and log (this is its output too)


def test_readiness_fails_below_the_free_disk_floor(tmp_path: Path) -> None:
    with running_app(tiny_settings(tmp_path, min_free_disk_mb=10**9), ready=False) as client:
        deadline = time.monotonic() + 60
        while client.get("/readyz").json()["checks"].get("generator") != "ok" and time.monotonic() < deadline:
            time.sleep(0.1)
        response = client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"]["disk"].startswith("low:")
        assert "disk: low" in response.json()["error"]["message"]


def test_canceled_jobs_are_no_traffic_and_do_not_pile_up(tmp_path: Path) -> None:
    # The dispatcher waits 5 s for company, so submitted jobs stay queued long enough to cancel.
    settings = tiny_settings(tmp_path, batch_wait_ms=5000.0, max_batch_size=64, queue_size=64, max_queued_per_client=64)
    with running_app(settings) as client:
        ids = []
        for i in range(20):
            response = client.post("/generate", json={"prompt": f"a lighthouse number {i} in fog"},
                                   headers={"Prefer": "respond-async"})
            assert response.status_code == 202
            ids.append(response.json()["job_id"])
        for job_id in ids:
            assert client.delete(f"/jobs/{job_id}").json()["status"] == "canceled"
        stats = client.get("/stats").json()
        assert stats["misses"] == 0 and stats["hit_ratio"] == 0.0
        metrics = client.get("/metrics").text
        assert "dreamcache_jobs_canceled_total 20.0" in metrics
        services = client.app.state.services  # type: ignore[attr-defined]
        assert all(services.jobs.get(job_id).task.vector == [] for job_id in ids)
        assert services.jobs.sweep(now=time.time() + 61) == 20 and len(services.jobs) == 0


@pytest.mark.without_cuda  # on a CUDA host the load would succeed
def test_a_model_that_fails_to_load_answers_generator_unavailable(tmp_path: Path) -> None:
    """Through HTTP: the worker cannot load its pipeline (device cuda on a machine without one), so a generation
    is answered 503 generator_unavailable with the load error at once, not queued, and readiness says why."""
    with running_app(tiny_settings(tmp_path, device="cuda", default_wait_s=5.0), ready=False) as client:
        deadline = time.monotonic() + 120
        readiness = client.get("/readyz")
        while "failed" not in readiness.text and time.monotonic() < deadline:  # the worker has reported its error
            time.sleep(0.1)
            readiness = client.get("/readyz")
        assert readiness.status_code == 503 and "no CUDA device" in readiness.text, readiness.text
        answer = client.post("/generate", json={"prompt": "a tugboat in a harbour at dawn"})
        assert answer.status_code == 503, answer.text
        error = answer.json()["error"]
        assert error["type"] == "generator_unavailable" and "no CUDA device" in error["message"], error


# --- a batch that raises, and an error nobody handled --------------------------------------------

# 2**26 px a side: the initial noise alone is 4 x (2**23)**2 float32 = 1 PiB, one allocation any host refuses at
# once (it is past the address space of a 48-bit machine, whatever the overcommit setting).
HUGE_SIDE = 2**26


def test_the_worker_names_a_refused_allocation_out_of_memory() -> None:
    """The classification of a batch's exception, on real exceptions: the CPU allocator's refusal and CUDA's
    OutOfMemoryError (the class torch raises, built here: no GPU) are `out_of_memory`, anything else is
    `generation_failed`."""
    with pytest.raises(RuntimeError) as refused:
        torch.empty(2**50, dtype=torch.uint8)
    assert error_type(refused.value) == "out_of_memory", str(refused.value)
    assert error_type(torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")) == "out_of_memory"
    assert error_type(RuntimeError("MPS backend out of memory (MPS allocated: 9.00 GB)")) == "out_of_memory"
    with pytest.raises(ValueError) as too_many_steps:
        DDIMScheduler(num_train_timesteps=1000).set_timesteps(1001)
    assert error_type(too_many_steps.value) == "generation_failed"
    with pytest.raises(RuntimeError) as mismatch:
        torch.ones(2) + torch.ones(3)
    assert error_type(mismatch.value) == "generation_failed"


@pytest.fixture(scope="module")
def lenient_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """A service whose operator allowed more than its pipeline can do: sides up to HUGE_SIDE, and up to 2000
    steps of a DDIM scheduler trained on 1000 timesteps. Real batches then fail inside the worker."""
    data_dir = tmp_path_factory.mktemp("lenient")
    settings = tiny_settings(data_dir, scheduler="ddim", max_steps=2000, max_side=HUGE_SIDE)
    with running_app(settings, raise_server_exceptions=False) as client:
        yield client


def test_a_batch_the_host_cannot_allocate_answers_out_of_memory(lenient_app: TestClient) -> None:
    answer = lenient_app.post("/generate", json={"prompt": "a lighthouse the size of a continent",
                                                 "width": HUGE_SIDE, "height": HUGE_SIDE})
    assert answer.status_code == 500, answer.text
    assert answer.json()["error"]["type"] == "out_of_memory", answer.text
    assert "Traceback" not in answer.text
    # The worker freed what it had and carries on.
    assert lenient_app.post("/generate", json={"prompt": "a small lighthouse"}).status_code == 200
    assert 'dreamcache_jobs_failed_total{type="out_of_memory"} 1.0' in lenient_app.get("/metrics").text


def test_a_batch_that_raises_answers_generation_failed(lenient_app: TestClient) -> None:
    answer = lenient_app.post("/generate", json={"prompt": "a lighthouse drawn very slowly",
                                                 "num_inference_steps": 1001})
    assert answer.status_code == 500, answer.text
    error = answer.json()["error"]
    assert error["type"] == "generation_failed" and "num_inference_steps" in error["message"], error
    assert "Traceback" not in answer.text
    assert lenient_app.post("/generate", json={"prompt": "a lighthouse drawn quickly"}).status_code == 200


def test_an_unhandled_error_answers_a_bare_500(lenient_app: TestClient) -> None:
    """An exception no handler expects (here: an image file that is a symlink loop, which the store does not
    anticipate) is logged and answered 500 internal_error in the error shape, without its message, type,
    traceback or any server path."""
    images = lenient_app.app.state.services.settings.images_dir  # type: ignore[attr-defined]
    loop = images / "loop.png"
    loop.symlink_to(loop)
    try:
        answer = lenient_app.get("/images/loop.png")
    finally:
        loop.unlink()
    assert answer.status_code == 500, answer.text
    assert answer.json() == {"error": {"type": "internal_error", "message": "internal server error", "field": None}}


def test_failures_are_counted_by_type(lenient_app: TestClient) -> None:
    """Last of the tests on lenient_app: it breaks the image store for good."""
    services = lenient_app.app.state.services  # type: ignore[attr-defined]
    # The image directory turns into a file: storing fails, the job fails with store_failed.
    images = services.settings.images_dir
    for child in images.iterdir():
        child.unlink()
    images.rmdir()
    images.write_text("not a directory")
    failed = lenient_app.post("/generate", json={"prompt": "a tugboat in a harbour at dawn"})
    assert failed.status_code == 500 and failed.json()["error"]["type"] == "store_failed"
    assert 'dreamcache_jobs_failed_total{type="store_failed"} 1.0' in lenient_app.get("/metrics").text
