"""While a miss generates: related pictures (not answers), and taking one instead stops the generation."""

from __future__ import annotations

import time
from pathlib import Path

from apphelpers import running_app, tiny_settings
from dreamcache.keys import KeyStore

ASYNC = {"Prefer": "respond-async"}


def test_related_pictures_and_taking_one_instead(tmp_path: Path) -> None:
    # Misses wait 3 s for company: the job is still queued when the client looks at related pictures.
    settings = tiny_settings(tmp_path, batch_wait_ms=3000.0, max_batch_size=8)
    with running_app(settings) as client:
        neighbour = client.post("/generate", json={"prompt": "a glacier under the stars"}).json()["images"][0]
        job = client.post("/generate", json={"prompt": "a glacier under the stars, oil painting"},
                          headers=ASYNC).json()
        related = client.get(f"/jobs/{job['job_id']}/related").json()["images"]
        assert related and related[0]["id"] == neighbour["id"] and related[0]["similarity"] > 0.3
        taken = client.post(f"/jobs/{job['job_id']}/adopt", json={"image_id": neighbour["id"]})
        assert taken.status_code == 200 and taken.json()["adopted"]["id"] == neighbour["id"]
        assert client.get(f"/jobs/{job['job_id']}").json()["status"] == "canceled"
        assert "dreamcache_adopted_pictures_total 1.0" in client.get("/metrics").text
        assert client.get(f"/jobs/{job['job_id']}/related").json()["images"] == []  # nothing left to relate
        # The worker is free and the service goes on.
        time.sleep(3.5)
        assert client.post("/generate", json={"prompt": "a harbour at dawn"}).status_code == 200


def test_only_related_pictures_of_the_same_kind_can_be_taken(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path, batch_wait_ms=3000.0, max_batch_size=8)
    store = KeyStore(settings.keys_path)
    a = {"Authorization": f"Bearer {store.add(['a'])[0]}"}
    b = {"Authorization": f"Bearer {store.add(['b'])[0]}"}
    with running_app(settings) as client:
        theirs = client.post("/generate", json={"prompt": "a secret garden of tenant b"}, headers=b).json()
        job = client.post("/generate", json={"prompt": "a secret garden of tenant b, watercolor"},
                          headers={**a, **ASYNC}).json()
        assert client.get(f"/jobs/{job['job_id']}/related", headers=a).json()["images"] == []  # not b's
        stolen = client.post(f"/jobs/{job['job_id']}/adopt", json={"image_id": theirs["images"][0]["id"]}, headers=a)
        assert stolen.status_code == 404 and stolen.json()["error"]["field"] == "image_id"
        assert client.get(f"/jobs/{job['job_id']}/related", headers=b).status_code == 404  # and not b's job
