"""Near-miss reuse through HTTP: the tiny model in a real worker, the embedded index and the local store."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apphelpers import running_app, tiny_settings
from dreamcache.api.deps import Services

# 10 steps: checkpoints at 20% and 40% are steps 2 and 4; the default schedule lets a neighbour at
# cosine >= 0.90 skip up to 20% (step 2) and one at >= 0.95 up to 40% (step 4).
STEPS = 10
FOX = "a red fox sleeping in fresh snow, oil painting"
FOX_MONET = "a red fox sleeping in fresh snow, oil painting, by monet"  # cosine 0.93 to FOX, vetoed
CHASE = "a dog chasing a cat across a garden"
CHASE_SWAPPED = "a cat chasing a dog across a garden"  # cosine > 0.95, vetoed (swapped roles)
MIKU = "Hatsune Miku as the Statue of Liberty, digital art, highly detailed, by greg rutkowski"
SWORDS = "the eight of swords, tarot card, art nouveau, intricate border, highly detailed"


def generate(client: TestClient, prompt: str, headers: dict[str, str] | None = None, **body: Any) -> dict[str, Any]:
    response = client.post("/generate", json={"prompt": prompt, **body}, headers=headers or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


def services(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def metric(client: TestClient, name: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"metric {name} not found")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tiny_settings(tmp_path_factory.mktemp("reuse"), default_steps=STEPS)) as c:
        yield c


def test_every_generation_stores_its_checkpoints_next_to_its_image(client: TestClient) -> None:
    body = generate(client, "a lighthouse on a cliff in a storm, dramatic")
    image = body["images"][0]
    assert body["source"] == "generated" and image["reuse"] is None
    entry = services(client).index.get(image["id"])
    assert entry is not None and entry.checkpoints == (2, 4) and entry.resume_key
    images_dir = services(client).settings.images_dir
    for step in (2, 4):
        assert (images_dir / f"{image['id']}.step{step}.ckpt").stat().st_size > 0
    # Checkpoints live in the store but are not images: never served.
    missing = client.get(f"/images/{image['id']}.step2.ckpt")
    assert missing.status_code == 404 and missing.json()["error"]["field"] == "key"


def test_a_near_miss_starts_from_the_neighbours_checkpoint_and_says_so(client: TestClient) -> None:
    source = generate(client, FOX)["images"][0]
    reused_before = metric(client, "dreamcache_reused_jobs_total")
    skipped_before = metric(client, "dreamcache_skipped_steps_total")
    response = client.post("/generate", json={"prompt": FOX_MONET})
    body = response.json()
    assert response.status_code == 200 and response.headers["X-Cache"] == "MISS"
    image = body["images"][0]
    assert image["prompt"] == FOX_MONET
    assert image["reuse"]["from"] == source["id"]
    assert image["reuse"]["skipped_steps"] == 2
    assert 0.90 <= image["reuse"]["similarity"] < 0.95
    assert image["seed"] == source["seed"]  # the picture continues the source's noise
    job = client.get(f"/jobs/{body['job_id']}").json()
    assert job["progress"] == {"step": STEPS - 2, "total": STEPS - 2}  # the steps actually run
    entry = services(client).index.get(image["id"])
    assert entry is not None and entry.reused_from == source["id"] and entry.skipped_steps == 2
    assert entry.checkpoints == (4,)  # only its own state after its start is kept
    assert metric(client, "dreamcache_reused_jobs_total") == reused_before + 1
    assert metric(client, "dreamcache_skipped_steps_total") == skipped_before + 2
    stats = client.get("/stats").json()
    assert stats["reused"] >= 1 and stats["skipped_steps"] >= 2


def test_a_closer_neighbour_skips_more(client: TestClient) -> None:
    source = generate(client, MIKU)["images"][0]
    image = generate(client, f"{MIKU}, trending on artstation")["images"][0]  # a style edit: as deep as allowed
    assert image["reuse"]["from"] == source["id"]
    assert image["reuse"]["skipped_steps"] == 4 and image["reuse"]["similarity"] >= 0.95


def test_a_layout_edit_starts_from_noise_however_close(client: TestClient) -> None:
    """Swapped roles (cosine > 0.95) or another count: the early steps fix the layout, so no reuse (issue 23)."""
    generate(client, CHASE)
    assert generate(client, CHASE_SWAPPED)["images"][0]["reuse"] is None
    generate(client, SWORDS)
    assert generate(client, SWORDS.replace("eight of swords", "five of swords"))["images"][0]["reuse"] is None
    colour = generate(client, SWORDS.replace("tarot card", "red tarot card"))["images"][0]  # a colour: shallow
    assert colour["reuse"] is not None and colour["reuse"]["skipped_steps"] == 2


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("an owl perched on a mossy branch at night", {"seed": 1234}),
        ("a hot air balloon over a desert canyon", {"reuse": False}),
        ("a steam train crossing a stone bridge", {"cache": "refresh"}),
    ],
)
def test_requests_that_must_generate_from_scratch(client: TestClient, subject: str, body: dict[str, Any]) -> None:
    base = f"{subject}, oil painting"
    generate(client, base)
    blocked = generate(client, f"{base}, highly detailed", **body)["images"][0]
    assert blocked["reuse"] is None
    control = generate(client, f"{base}, 4k")["images"][0]  # the same kind of edit without the blocker reuses
    assert control["reuse"] is not None


def test_the_same_prompt_asked_again_gets_a_new_sample_not_a_near_copy(client: TestClient) -> None:
    alice = {"X-Dreamcache-Client": "alice"}
    first = generate(client, "a paper boat on a puddle, macro photo", headers=alice)["images"][0]
    source = services(client).index.get(first["id"])
    assert source is not None and source.checkpoints  # it could be reused: the rule is what stops it
    again = generate(client, "A paper boat on a puddle, macro photo!", headers=alice)
    assert again["source"] == "generated" and again["images"][0]["id"] != first["id"]
    assert again["images"][0]["reuse"] is None


def test_a_missing_checkpoint_means_a_full_generation_and_a_warning(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    source = generate(client, "a koi pond in a japanese garden, oil painting")["images"][0]
    images_dir: Path = services(client).settings.images_dir
    for checkpoint in images_dir.glob(f"{source['id']}.step*.ckpt"):
        checkpoint.unlink()
    before = metric(client, "dreamcache_reuse_checkpoint_unavailable_total")
    with caplog.at_level(logging.WARNING, logger="dreamcache.cache"):
        body = generate(client, "a koi pond in a japanese garden, oil painting, highly detailed")
    assert body["source"] == "generated" and body["images"][0]["reuse"] is None
    assert any("missing from the store" in record.getMessage() for record in caplog.records)
    assert metric(client, "dreamcache_reuse_checkpoint_unavailable_total") == before + 1


def test_a_corrupt_checkpoint_means_a_full_generation(client: TestClient) -> None:
    source = generate(client, "a windmill in a tulip field, oil painting")["images"][0]
    images_dir: Path = services(client).settings.images_dir
    for checkpoint in images_dir.glob(f"{source['id']}.step*.ckpt"):
        checkpoint.write_bytes(b"garbage")
    before = metric(client, "dreamcache_reuse_checkpoint_unavailable_total")
    body = generate(client, "a windmill in a tulip field, oil painting, highly detailed")
    assert body["source"] == "generated" and body["images"][0]["reuse"] is None
    assert metric(client, "dreamcache_reuse_checkpoint_unavailable_total") == before + 1


def test_reuse_off_and_entries_without_checkpoints(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with running_app(tiny_settings(data, default_steps=STEPS, reuse=False)) as off:
        image = generate(off, FOX)["images"][0]
        assert image["reuse"] is None
        entry = services(off).index.get(image["id"])
        assert entry is not None and entry.checkpoints == () and entry.resume_key == ""
        assert generate(off, FOX_MONET)["images"][0]["reuse"] is None  # DREAMCACHE_REUSE=off
    # The same data with reuse on: the old entry has no checkpoints, so it is never chosen...
    with running_app(tiny_settings(data, default_steps=STEPS)) as on:
        monet = "a red fox sleeping in fresh snow, oil painting, by cezanne"
        assert generate(on, monet)["images"][0]["reuse"] is None
        assert generate(on, FOX, cache="only")["images"][0]["id"] == image["id"]  # ...but still a hit


def test_a_reused_picture_never_answers_an_exact_seed_request(client: TestClient) -> None:
    source = generate(client, "a red barn in a wheat field, oil painting")["images"][0]
    edit = "a red barn in a wheat field, oil painting, highly detailed"
    reused = generate(client, edit)["images"][0]
    assert reused["reuse"] is not None and reused["seed"] == source["seed"]
    seeded = generate(client, edit, seed=source["seed"])  # asks for the picture of (edit, seed) from noise
    assert seeded["source"] == "generated" and seeded["images"][0]["id"] != reused["id"]
