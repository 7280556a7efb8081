"""`n` pictures per request: cached ones first, the missing ones generated together; the alias `max_results`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from apphelpers import running_app, tiny_settings
from test_api import generate, services


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    # Batches of at most 4 images: a job of 9 runs in three batches.
    with running_app(tiny_settings(tmp_path_factory.mktemp("pictures"), max_batch_size=4)) as client:
        yield client


def test_missing_pictures_are_generated_in_one_batch_after_the_cached_ones(client: TestClient) -> None:
    prompt = "a lantern floating down a quiet river at night"
    first = generate(client, prompt=prompt)
    second = generate(client, prompt=prompt, cache="refresh")
    cached_ids = {first["images"][0]["id"], second["images"][0]["id"]}
    worker = services(client).backend
    batches_before, count_before = worker.batches_run, services(client).index.count()

    answer = generate(client, prompt=prompt, n=5)
    assert answer["source"] == "generated" and answer["job_id"]
    images = answer["images"]
    assert len(images) == 5 and len({image["id"] for image in images}) == 5
    assert [image["source"] for image in images] == ["cache", "cache", "generated", "generated", "generated"]
    assert {image["id"] for image in images[:2]} == cached_ids
    assert all(image["match"] in ("exact", "verified") for image in images[:2])
    assert all(image["match"] is None for image in images[2:])
    assert len({image["seed"] for image in images[2:]}) == 3  # three samples, not one picture three times
    assert worker.batches_run == batches_before + 1 and worker.batch_sizes[-1] == 3
    assert services(client).index.count() == count_before + 3
    for image in images:
        assert client.get(image["url"]).status_code == 200

    # Now five are stored: the same request is a hit with five distinct pictures.
    again = client.post("/generate", json={"prompt": prompt, "n": 5})
    assert again.headers["x-cache"] == "HIT"
    assert again.json()["source"] == "cache" and len({i["id"] for i in again.json()["images"]}) == 5
    assert {i["source"] for i in again.json()["images"]} == {"cache"}


def test_more_pictures_than_a_batch_run_in_consecutive_batches(client: TestClient) -> None:
    worker = services(client).backend
    before = worker.batches_run
    answer = generate(client, prompt="a teapot shaped like a sleeping whale", n=9)
    assert answer["source"] == "generated"
    assert [image["source"] for image in answer["images"]] == ["generated"] * 9
    assert len({image["id"] for image in answer["images"]}) == 9
    assert worker.batches_run == before + 3 and list(worker.batch_sizes)[-3:] == [4, 4, 1]


def test_seeded_pictures_count_up_from_the_seed(client: TestClient) -> None:
    prompt = "a brass robot tending a rooftop garden"
    three = generate(client, prompt=prompt, seed=100, n=3)
    assert [image["seed"] for image in three["images"]] == [100, 101, 102]
    middle = generate(client, prompt=prompt, seed=101)  # one exact picture of the three
    assert middle["source"] == "cache" and middle["images"][0]["id"] == three["images"][1]["id"]
    four = generate(client, prompt=prompt, seed=100, n=4)
    assert [image["seed"] for image in four["images"]] == [100, 101, 102, 103]
    assert [image["source"] for image in four["images"]] == ["cache"] * 3 + ["generated"]
    # The same seed renders the same picture whether it came alone or in a batch.
    alone = generate(client, prompt=prompt, seed=103, cache="refresh")["images"][0]
    assert client.get(alone["url"]).content == client.get(four["images"][3]["url"]).content


def test_max_results_is_an_alias_of_n(client: TestClient) -> None:
    prompt = "a kite made of autumn leaves"
    answer = generate(client, prompt=prompt, max_results=2)
    assert len(answer["images"]) == 2
    assert len(generate(client, prompt=prompt, n=2, max_results=2)["images"]) == 2
    conflict = client.post("/generate", json={"prompt": prompt, "n": 3, "max_results": 2})
    assert conflict.status_code == 422 and conflict.json()["error"]["field"] == "max_results"


def test_a_cache_only_request_returns_the_cached_pictures_there_are(client: TestClient) -> None:
    prompt = "a snail racing a tortoise on a garden path"
    generate(client, prompt=prompt)
    count = services(client).index.count()
    only = generate(client, prompt=prompt, n=4, cache="only")
    assert only["source"] == "cache" and len(only["images"]) == 1
    assert services(client).index.count() == count


def test_a_job_of_several_pictures_is_polled_and_canceled_as_one(client: TestClient) -> None:
    response = client.post("/generate", json={"prompt": "a castle built of stacked books", "n": 6},
                           headers={"Prefer": "respond-async"})
    assert response.status_code == 202
    job_id = response.json()["job_id"]
    canceled = client.delete(f"/jobs/{job_id}")
    assert canceled.status_code == 200 and canceled.json()["status"] == "canceled"
    assert client.get(f"/jobs/{job_id}").json()["status"] == "canceled"
    # The worker goes on serving: the next request is answered.
    assert generate(client, prompt="a castle built of stacked books", n=2)["source"] == "generated"


def test_a_job_canceled_after_its_first_batch_runs_no_more_batches(tmp_path_factory: pytest.TempPathFactory) -> None:
    import time

    # One image a batch: a job of 9 pictures runs 9 batches, and is canceled once the first is done.
    with running_app(tiny_settings(tmp_path_factory.mktemp("one-a-batch"), max_batch_size=1)) as client:
        worker = services(client).backend
        before = worker.images_generated
        response = client.post("/generate", json={"prompt": "a lighthouse keeper's cat", "n": 9},
                               headers={"Prefer": "respond-async"})
        job_id = response.json()["job_id"]
        deadline = time.monotonic() + 60
        while worker.images_generated == before:
            assert time.monotonic() < deadline, "the first batch never finished"
            time.sleep(0.01)
        assert client.delete(f"/jobs/{job_id}").json()["status"] == "canceled"
        stopped_at = worker.images_generated
        assert generate(client, prompt="a second request after the cancel")["source"] == "generated"
        # At most the batch that was running when it was canceled finished; the rest never ran.
        assert worker.images_generated - before <= (stopped_at - before) + 1 + 1  # + the second request
        assert worker.images_generated - before < 9
        assert client.get(f"/jobs/{job_id}").json()["status"] == "canceled"


def test_a_job_between_its_batches_can_be_canceled(tmp_path: Path) -> None:
    """The dispatcher on its own (no worker process): a 3-picture job at one image a batch, after its first."""
    import asyncio

    from dreamcache.backend import Canceled, GenerationRequest, Queued, Started
    from dreamcache.generation.spec import BatchShape, PromptItem
    from dreamcache.worker import GpuWorker

    async def scenario() -> None:
        def store_pictures(*_: object) -> list[object]:
            raise AssertionError("nothing runs here")

        worker = GpuWorker(tiny_settings(tmp_path, max_batch_size=1), store_pictures, "fingerprint")
        items = [PromptItem("a cat", "", seed) for seed in range(3)]
        events = worker.submit(GenerationRequest("job1", BatchShape(64, 64, 4, 7.5), items, "c"))
        assert worker.depth == 3 and worker.position("job1") == 0
        first = await worker._take_batch()  # what the dispatcher sends first
        [(job, index)] = first
        assert job.id == "job1" and index == 0 and worker.depth == 2
        job.mark_running(4)  # as `_run` does; the batch then finishes and the job waits for its next one
        assert not worker.cancel_queued(job)  # no longer just queued...
        assert worker.cancel("job1")  # ...but canceled all the same: its other pictures never run
        assert worker.depth == 0 and not worker.cancel("job1")
        seen = [event async for event in events]  # the stream ends with its terminal event
        assert seen == [Queued(0), Started(4), Canceled()]

    asyncio.run(scenario())
