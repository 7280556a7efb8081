"""Through a real uvicorn server where the transport matters: SSE, the worker crash path, the warm CLI."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from apphelpers import LiveServer, live_server, tiny_settings
from dreamcache.cli import main as cli_main
from dreamcache.cli import read_prompts, warm

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with live_server(tiny_settings(tmp_path_factory.mktemp("live"), max_batch_size=4)) as running:
        yield running


@pytest.fixture(scope="module")
def base(server: LiveServer) -> str:
    return server.url


def worker_pid(server: LiveServer) -> int:
    pid = server.app.state.services.backend.pid
    assert pid is not None
    return int(pid)


def sse_events(base: str, job_id: str) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    with httpx.stream("GET", f"{base}/jobs/{job_id}/events", timeout=60) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in response.iter_lines():
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind:
                events.append((kind, json.loads(line.removeprefix("data: "))))
    return events


def test_sse_delivers_progress_and_the_final_state(base: str) -> None:
    job = httpx.post(f"{base}/generate", json={"prompt": "a whale swimming through the clouds above a town",
                                               "num_inference_steps": 30}, headers=ASYNC).json()
    events = sse_events(base, job["job_id"])
    kinds = [kind for kind, _ in events]
    assert kinds[0] == "status"
    assert "progress" in kinds
    steps = [data["progress"]["step"] for kind, data in events if kind == "progress"]
    assert steps == sorted(steps) and steps[-1] <= 30
    final = events[-1][1]
    assert final["status"] == "succeeded"
    assert final["result"]["images"][0]["url"]
    # A finished job's stream answers its final state at once.
    assert sse_events(base, job["job_id"])[-1][1]["status"] == "succeeded"


def test_worker_crash_fails_its_jobs_hits_keep_answering_and_worker_restarts(server: LiveServer) -> None:
    base = server.url
    cached = "a chessboard in the middle of a forest clearing, morning fog"
    assert httpx.post(f"{base}/generate", json={"prompt": cached}, timeout=60).json()["source"] == "generated"
    slow = httpx.post(f"{base}/generate", json={"prompt": "an ancient temple half buried in sand",
                                                "num_inference_steps": 150, "width": 256, "height": 256},
                      headers=ASYNC).json()
    deadline = time.monotonic() + 30
    while httpx.get(f"{base}/jobs/{slow['job_id']}").json()["status"] != "running":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    pid = worker_pid(server)
    os.kill(pid, signal.SIGKILL)  # a real crash: no clean-up, no message

    # The cache keeps answering while the worker is down.
    hit = httpx.post(f"{base}/generate", json={"prompt": cached})
    assert hit.status_code == 200 and hit.json()["source"] == "cache"

    deadline = time.monotonic() + 30
    while (job := httpx.get(f"{base}/jobs/{slow['job_id']}").json())["status"] != "failed":
        assert time.monotonic() < deadline, job
        time.sleep(0.05)
    assert job["error"]["type"] == "worker_crashed"
    assert "crashed" in job["error"]["message"]

    # A new worker comes up and generates again.
    deadline = time.monotonic() + 120
    while httpx.get(f"{base}/readyz").status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    after = httpx.post(f"{base}/generate", json={"prompt": "a basket of freshly baked bread"}, timeout=60)
    assert after.status_code == 200 and after.json()["source"] == "generated"
    assert worker_pid(server) != pid


def test_read_prompts_drops_short_and_duplicates() -> None:
    lines = [
        "# comment",
        "a cat",
        "A red fox sleeping in the snow",
        "a red fox, sleeping in the SNOW!",
        '{"prompt": "a lighthouse in a storm at night"}',
        '"a quoted prompt about the sea"',
        "",
    ]
    kept, short, duplicate = read_prompts(lines)
    assert kept == ["A red fox sleeping in the snow", "a lighthouse in a storm at night",
                    "a quoted prompt about the sea"]
    assert (short, duplicate) == (1, 1)


def test_warm_generates_then_a_rerun_skips_everything(base: str, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    prompt_list = [f"a watercolor postcard of harbor number {n} with fishing boats" for n in range(6)]
    before = httpx.get(f"{base}/stats").json()
    tracker = {"done": 0, "total": 6, "generated": 0, "cached": 0, "failed": 0}
    first = asyncio.run(warm(base, prompt_list, concurrency=6, progress=False, tracker=tracker))
    assert (first.generated, first.cached, first.failed) == (6, 0, 0)
    assert tracker == {"done": 6, "total": 6, "generated": 6, "cached": 0, "failed": 0}
    after = httpx.get(f"{base}/stats").json()
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])  # warm-up is not user traffic
    listing = tmp_path / "prompts.txt"
    listing.write_text("\n".join(prompt_list + ["too short", prompt_list[0].upper()]))
    assert cli_main(["warm", str(listing), "--url", base, "--no-progress"]) == 0
    out = capsys.readouterr()
    assert "generated 0, already cached 6, failed 0" in out.out
    assert "1 too short and 1 duplicates dropped" in out.err
