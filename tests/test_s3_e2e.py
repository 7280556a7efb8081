"""The service with the S3 store against a real S3-compatible HTTP server (moto), end to end."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from apphelpers import running_app, tiny_settings
from dreamcache.storage import s3_client
from s3server import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY, fetch, moto_s3_server

BUCKET = "dreamcache-e2e"


def test_generated_images_go_to_s3_and_a_failed_store_leaves_no_vector(tmp_path: Path) -> None:
    with moto_s3_server() as endpoint:
        s3 = s3_client(endpoint_url=endpoint, region=REGION, access_key_id=ACCESS_KEY_ID,
                       secret_access_key=SECRET_ACCESS_KEY)
        s3.create_bucket(Bucket=BUCKET)
        settings = tiny_settings(
            tmp_path, s3_bucket=BUCKET, s3_endpoint_url=endpoint, s3_region=REGION,
            s3_access_key_id=ACCESS_KEY_ID, s3_secret_access_key=SECRET_ACCESS_KEY, s3_presign_expiry_s=600,
            default_steps=10,
        )
        with running_app(settings) as client:
            assert client.get("/readyz").json()["checks"]["store"] == "ok"
            body = client.post("/generate", json={"prompt": "a sailboat on a calm sea under a starry sky"}).json()
            assert body["source"] == "generated"
            url = body["images"][0]["url"]
            assert url.startswith(endpoint) and "X-Amz-Signature=" in url and "X-Amz-Expires=600" in url
            status, data, headers = fetch(url)
            assert status == 200 and headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(data)).size == (64, 64)
            objects = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
            entry_id = body["images"][0]["id"]
            # The image and its denoising checkpoints (10 steps: 20% and 40% are steps 2 and 4).
            assert sorted(o["Key"] for o in objects) == sorted(
                [f"images/{entry_id}.png", f"images/{entry_id}.step2.ckpt", f"images/{entry_id}.step4.ckpt"]
            )

            hit = client.post("/generate", json={"prompt": "a sailboat on a calm sea under a starry sky"}).json()
            assert hit["source"] == "cache"
            assert fetch(hit["images"][0]["url"])[1] == data
            key = f"{body['images'][0]['id']}.png"
            redirect = client.get(f"/images/{key}", follow_redirects=False)
            assert redirect.status_code == 307 and fetch(redirect.headers["location"])[1] == data

            # A near-miss starts from the sailboat's checkpoint, read back from the bucket.
            edit = "a sailboat on a calm sea under a starry sky, highly detailed"
            near = client.post("/generate", json={"prompt": edit})
            assert near.status_code == 200 and near.json()["source"] == "generated"
            reuse = near.json()["images"][0]["reuse"]
            assert reuse is not None and reuse["from"] == entry_id and reuse["skipped_steps"] in (2, 4)
            objects = s3.list_objects_v2(Bucket=BUCKET)["Contents"]

            # The bucket disappears: the next miss cannot store its image, so no vector is written.
            services = client.app.state.services  # type: ignore[attr-defined]
            count = services.index.count()
            for stored in objects:
                s3.delete_object(Bucket=BUCKET, Key=stored["Key"])
            s3.delete_bucket(Bucket=BUCKET)
            failed = client.post("/generate", json={"prompt": "a polar bear cub playing with a red ball"})
            assert failed.status_code == 500
            assert failed.json()["error"]["type"] == "store_failed"
            assert "could not be stored" in failed.json()["error"]["message"]
            assert services.index.count() == count
            assert client.get("/readyz").status_code == 503
            assert client.get("/readyz").json()["checks"]["store"].startswith("unreachable")
