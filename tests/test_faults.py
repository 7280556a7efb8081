"""Faults found by probing the running service, each kept fixed by a test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

from apphelpers import free_port, running_app, tiny_settings
from dreamcache.cli import wait_ready


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


def test_failures_are_counted_by_type(tmp_path: Path) -> None:
    with running_app(tiny_settings(tmp_path)) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        # The image directory turns into a file: storing fails, the job fails with store_failed.
        images = services.settings.images_dir
        for child in images.iterdir():
            child.unlink()
        images.rmdir()
        images.write_text("not a directory")
        failed = client.post("/generate", json={"prompt": "a tugboat in a harbour at dawn"})
        assert failed.status_code == 500 and failed.json()["error"]["type"] == "store_failed"
        assert 'dreamcache_jobs_failed_total{type="store_failed"} 1.0' in client.get("/metrics").text
