"""Canceling: a joiner detaches only itself; a running job stops between denoising steps and frees the worker."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient

from apphelpers import running_app, tiny_settings

ASYNC = {"Prefer": "respond-async"}


def wait_for(client: TestClient, ticket: str, statuses: set[str], timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        view = client.get(f"/jobs/{ticket}").json()
        if view["status"] in statuses:
            return dict(view)
        assert time.monotonic() < deadline, view
        time.sleep(0.02)


def test_a_joiner_that_cancels_detaches_only_itself(tmp_path: Path) -> None:
    # The dispatcher waits 3 s for company, so both requests meet the job still queued.
    settings = tiny_settings(tmp_path, batch_wait_ms=3000.0, max_batch_size=64)
    with running_app(settings) as client:
        first = client.post("/generate", json={"prompt": "a shared generation of a tram"}, headers=ASYNC).json()
        joiner = client.post("/generate", json={"prompt": "a shared generation of a tram"}, headers=ASYNC).json()
        assert joiner["job_id"] != first["job_id"] and joiner["status"] == "queued"
        detached = client.delete(f"/jobs/{joiner['job_id']}")
        assert detached.status_code == 200 and detached.json()["status"] == "canceled"
        assert detached.json()["job_id"] == joiner["job_id"]
        done = wait_for(client, first["job_id"], {"succeeded", "failed", "canceled"})
        assert done["status"] == "succeeded" and done["result"]["job_id"] == first["job_id"]
        assert client.get(f"/jobs/{joiner['job_id']}").json()["status"] == "canceled"
        assert client.delete(f"/jobs/{joiner['job_id']}").json()["status"] == "canceled"  # idempotent
        # When every waiter cancels, the generation itself is canceled.
        a = client.post("/generate", json={"prompt": "an abandoned generation of a bus"}, headers=ASYNC).json()
        b = client.post("/generate", json={"prompt": "an abandoned generation of a bus"}, headers=ASYNC).json()
        assert client.delete(f"/jobs/{a['job_id']}").json()["status"] == "canceled"
        assert client.get(f"/jobs/{b['job_id']}").json()["status"] == "queued"  # b still waits
        assert client.delete(f"/jobs/{b['job_id']}").json()["status"] == "canceled"
        assert client.get(f"/jobs/{a['job_id']}").json()["status"] == "canceled"
        assert "dreamcache_jobs_canceled_total 1.0" in client.get("/metrics").text


def test_a_running_job_stops_between_steps_and_frees_the_worker(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, default_width=512, default_height=512, default_steps=80, batch_wait_ms=0.0)
    with running_app(settings) as client:
        job = client.post("/generate", json={"prompt": "a long generation of a glacier"}, headers=ASYNC).json()
        running = wait_for(client, job["job_id"], {"running"})
        deadline = time.monotonic() + 30
        while running["progress"]["step"] < 1 and time.monotonic() < deadline:
            running = client.get(f"/jobs/{job['job_id']}").json()
        canceled = client.delete(f"/jobs/{job['job_id']}")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        assert canceled.json()["progress"]["step"] < 80
        services = client.app.state.services  # type: ignore[attr-defined]
        after = client.post("/generate", json={"prompt": "the next generation of a fjord", "num_inference_steps": 2})
        assert after.status_code == 200 and after.json()["source"] == "generated"
        # The worker stopped the canceled batch: it never reported more than a step or two past the cancel.
        assert services.jobs.get(job["job_id"]).step <= canceled.json()["progress"]["step"] + 2
        assert services.backend.restarts == 0 and services.index.count() == 1  # the canceled picture is not stored
        assert client.get(f"/jobs/{job['job_id']}").json()["status"] == "canceled"
