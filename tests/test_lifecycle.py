"""Jobs, the bounded queue, restarts: the real app with the tiny model in a real worker process."""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient
from PIL import Image

from apphelpers import running_app, tiny_settings, wait_ready

ASYNC = {"Prefer": "respond-async"}


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)), dtype=np.int16)


def wait_job(client: TestClient, job_id: str, timeout_s: float = 60) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("succeeded", "failed", "canceled"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {job['status']}")


def test_hits_survive_a_restart_on_the_same_data_dir(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    with running_app(settings) as client:
        empty = client.get("/recommend", params={"q": "a"})
        assert empty.status_code == 200 and empty.json()["suggestions"] == []
        first = client.post("/generate", json={"prompt": "a treehouse village connected by rope bridges"}).json()
        assert first["source"] == "generated"
    with running_app(settings) as client:
        again = client.post("/generate", json={"prompt": "a treehouse village connected by rope bridges"})
        assert again.status_code == 200
        assert again.json()["source"] == "cache"
        assert again.json()["images"][0]["id"] == first["images"][0]["id"]
        image = client.get(again.json()["images"][0]["url"])
        assert image.status_code == 200 and image.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_queue_full_single_flight_cancel_and_async_jobs(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, queue_size=2, max_batch_size=1, retry_after_s=3)
    # Not waiting for readiness: while the worker process loads its model, nothing leaves the queue.
    with running_app(settings, ready=False) as client:
        a = client.post("/generate", json={"prompt": "a hot air balloon festival over a desert canyon"}, headers=ASYNC)
        assert a.status_code == 202, a.text
        assert a.headers["Location"] == f"/jobs/{a.json()['job_id']}"
        assert a.json()["status"] == "queued" and a.json()["queue_position"] == 0
        b = client.post("/generate", json={"prompt": "a glass of lemonade on a wooden table"}, headers=ASYNC)
        assert b.status_code == 202 and b.json()["queue_position"] == 1

        # The same request again joins the generation in flight instead of queueing another.
        joined = client.post("/generate", json={"prompt": "a hot air balloon festival over a desert canyon"},
                             headers=ASYNC)
        # It has a ticket of its own (its DELETE detaches only itself) on the same generation: still first in line.
        assert joined.status_code == 202 and joined.json()["job_id"] != a.json()["job_id"]
        assert joined.json()["queue_position"] == 0
        assert client.app.state.services.backend.depth == 2  # type: ignore[attr-defined]

        full = client.post("/generate", json={"prompt": "a koi pond seen from above"}, headers=ASYNC)
        assert full.status_code == 429
        assert full.headers["Retry-After"] == "3"
        assert full.json()["error"]["type"] == "queue_full"

        canceled = client.delete(f"/jobs/{b.json()['job_id']}")
        assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
        assert client.get(f"/jobs/{b.json()['job_id']}").json()["status"] == "canceled"

        wait_ready(client)
        done = wait_job(client, a.json()["job_id"])
        assert done["status"] == "succeeded"
        joined_done = client.get(f"/jobs/{joined.json()['job_id']}").json()
        assert joined_done["status"] == "succeeded" and joined_done["result"]["images"] == done["result"]["images"]
        assert done["result"]["source"] == "generated"
        assert done["progress"] == {"step": 4, "total": 4}
        again = client.delete(f"/jobs/{a.json()['job_id']}")
        assert again.status_code == 409 and again.json()["error"]["type"] == "not_cancelable"

        # Prefer: wait=0 answers 202 at once; the job still completes.
        quick = client.post("/generate", json={"prompt": "a futuristic train crossing a bridge over the clouds"},
                            headers={"Prefer": "wait=0"})
        assert quick.status_code == 202
        assert wait_job(client, quick.json()["job_id"])["status"] == "succeeded"


def test_compatible_jobs_run_as_one_batch_and_incompatible_ones_apart(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, max_batch_size=3, queue_size=10)
    with running_app(settings, ready=False) as client:
        worker = client.app.state.services.backend  # type: ignore[attr-defined]
        prompts = [f"a lantern festival on a river, scene number {n}" for n in range(4)]
        jobs = [client.post("/generate", json={"prompt": p, "seed": n}, headers=ASYNC).json()["job_id"]
                for n, p in enumerate(prompts)]
        odd = client.post("/generate", json={"prompt": "a lantern festival, wide", "width": 128}, headers=ASYNC)
        jobs.append(odd.json()["job_id"])
        wait_ready(client)
        finished = [wait_job(client, job_id) for job_id in jobs]
        assert [job["status"] for job in finished] == ["succeeded"] * 5
        # Oldest first: three compatible jobs together, then the fourth alone, then the other size.
        assert list(worker.batch_sizes) == [3, 1, 1]
        for n, job in enumerate(finished[:4]):
            image = job["result"]["images"][0]
            assert image["prompt"] == prompts[n] and image["seed"] == n
        # A picture generated inside a batch is the one its seed gives alone (up to float rounding).
        alone = client.post("/generate", json={"prompt": prompts[1], "seed": 1, "cache": "refresh"}).json()
        batched = pixels(client.get(finished[1]["result"]["images"][0]["url"]).content)
        assert np.abs(pixels(client.get(alone["images"][0]["url"]).content) - batched).max() <= 2
        assert "dreamcache_gpu_batches 4.0" in client.get("/metrics").text


def test_clip_embedder_uses_the_generators_text_encoder(tmp_path: Path) -> None:
    with running_app(tiny_settings(tmp_path, embedder="clip")) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.index.dimension == services.cache.embedder.dimension != 384
        assert client.post("/generate", json={"prompt": "a stack of pancakes with blueberries"}).json()[
            "source"] == "generated"
        hit = client.post("/generate", json={"prompt": "A stack of pancakes with blueberries!"}).json()
        assert hit["source"] == "cache"
