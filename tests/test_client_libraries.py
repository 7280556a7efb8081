"""The clients people already have, unmodified from PyPI, against a live server on the tiny model: the `openai`
SDK (`client.images.generate`) and AUTOMATIC1111's `webuiapi`. One server (with two tenants' keys) for the module."""

from __future__ import annotations

import base64
import io
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import openai
import pytest
import webuiapi
from PIL import Image

from apphelpers import LiveServer, live_server, tiny_settings
from dreamcache.keys import KeyStore


@dataclass
class Service:
    server: LiveServer
    key_a: str
    key_b: str
    admin: str

    def openai(self, key: str | None = None) -> openai.OpenAI:
        # No retries: a test sees the first answer (the SDK retries 429 and 5xx by default).
        return openai.OpenAI(base_url=f"{self.server.url}/v1", api_key=key or self.key_a, max_retries=0)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    settings = tiny_settings(tmp_path_factory.mktemp("clients"), default_wait_s=60.0)
    store = KeyStore(settings.keys_path)
    key_a, key_b = store.add(["tenantA"])[0], store.add(["tenantB"])[0]
    with live_server(settings) as server:
        yield Service(server, key_a, key_b, store.add(["tenantA"], "admin")[0])


def png_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        return image.size


# --- the openai SDK ---------------------------------------------------------------------------------------------


def test_openai_generate_then_hit_with_urls_the_client_fetches(service: Service) -> None:
    client = service.openai()
    first = client.images.with_raw_response.generate(prompt="a lighthouse on a cliff at dusk", size="64x64")
    assert first.headers["X-Cache"] == "MISS"
    generated = first.parse()
    assert len(generated.data) == 1 and generated.created > 0
    url = generated.data[0].url
    assert url is not None and url.startswith(service.server.url)  # absolute: fetched as it is, no key needed
    fetched = httpx.get(url)
    assert fetched.status_code == 200 and png_size(fetched.content) == (64, 64)

    again = client.images.with_raw_response.generate(prompt="A lighthouse on a cliff, at dusk", size="64x64")
    assert again.headers["X-Cache"] == "HIT"
    assert again.parse().data[0].url == url
    assert again.parse().data[0].revised_prompt == "a lighthouse on a cliff at dusk"  # the picture's own prompt


def test_openai_n_pictures_inline_as_b64_json(service: Service) -> None:
    result = service.openai().images.generate(prompt="three red apples on a table", n=3, size="64x64",
                                              response_format="b64_json", model="tiny", quality="standard")
    assert len(result.data) == 3
    pictures = [base64.b64decode(item.b64_json or "") for item in result.data]
    assert all(png_size(p) == (64, 64) for p in pictures) and len(set(pictures)) == 3
    assert all(item.url is None for item in result.data)


def test_openai_typed_errors_for_a_bad_size_a_bad_key_and_settings_that_would_be_ignored(service: Service) -> None:
    client = service.openai()
    with pytest.raises(openai.BadRequestError) as bad_size:
        client.images.generate(prompt="a cat", size="1792x1024")
    assert bad_size.value.status_code == 400 and bad_size.value.response.headers["X-Cache"] == "MISS"
    assert bad_size.value.body["param"] == "size" and "1792" in bad_size.value.body["message"]
    assert bad_size.value.body["type"] == "invalid_request_error"
    with pytest.raises(openai.BadRequestError) as quality:
        client.images.generate(prompt="a cat", quality="hd")
    assert quality.value.body["param"] == "quality"
    with pytest.raises(openai.BadRequestError) as model:
        client.images.generate(prompt="a cat", model="dall-e-3")
    assert model.value.body["param"] == "model"
    with pytest.raises(openai.BadRequestError) as unknown:
        client.images.generate(prompt="a cat", extra_body={"background": "transparent"})
    assert unknown.value.body["param"] == "background"
    with pytest.raises(openai.AuthenticationError) as bad_key:
        service.openai("dck_000000000000_" + "x" * 43).images.generate(prompt="a cat")
    assert bad_key.value.status_code == 401 and bad_key.value.body["code"] == "invalid_api_key"
    assert [m.id for m in client.models.list()] == ["tiny"]


def test_openai_user_asking_again_gets_a_new_picture_and_tenants_never_share(service: Service) -> None:
    client = service.openai()
    prompt = "a paper boat on a puddle"
    first = client.images.generate(prompt=prompt, size="64x64", user="alice").data[0].url
    # Another user of the same tenant is served alice's picture; alice asking again wants a new one.
    assert client.images.generate(prompt=prompt, size="64x64", user="bob").data[0].url == first
    again = client.images.with_raw_response.generate(prompt=prompt, size="64x64", user="alice")
    assert again.headers["X-Cache"] == "MISS" and again.parse().data[0].url != first
    other = service.openai(service.key_b).images.with_raw_response.generate(prompt=prompt, size="64x64")
    assert other.headers["X-Cache"] == "MISS"  # tenant B never sees tenant A's pictures
    assert other.parse().data[0].url not in (first, again.parse().data[0].url)


def counted(service: Service, api: str, outcome: str) -> float:
    text = httpx.get(f"{service.server.url}/metrics", headers={"Authorization": f"Bearer {service.admin}"}).text
    line = f'dreamcache_api_requests_total{{api="{api}",outcome="{outcome}"}} '
    return next((float(row.removeprefix(line)) for row in text.splitlines() if row.startswith(line)), 0.0)


def test_requests_are_counted_under_their_api(service: Service) -> None:
    assert counted(service, "openai", "hit") >= 2 and counted(service, "openai", "miss") >= 4
    assert counted(service, "native", "hit") == 0


# --- AUTOMATIC1111's webuiapi -----------------------------------------------------------------------------------


def a1111(service: Service, key: str | None = None) -> webuiapi.WebUIApi:
    """The client as an A1111 user sets it up against `--api-auth` (HTTP Basic; the password is the API key)."""
    port = int(service.server.url.rsplit(":", 1)[1])
    return webuiapi.WebUIApi(host="127.0.0.1", port=port, username="me", password=key or service.key_a)


def test_a1111_defaults_with_a_seed_then_a_hit_and_another_sampler_is_another_picture(service: Service) -> None:
    api = a1111(service)
    prompt = "a castle in the clouds, oil painting"
    first = api.txt2img(prompt=prompt, seed=1234)  # webuiapi's defaults: 512x512, 20 steps, Euler a, cfg 7
    assert first.info["dreamcache"]["cache"] == "MISS"
    assert first.info["all_seeds"] == [1234] and first.info["sampler_name"] == "Euler a"
    assert first.image.size == (512, 512) and first.info["steps"] == 20
    again = api.txt2img(prompt=prompt, seed=1234)
    assert again.info["dreamcache"]["cache"] == "HIT"
    assert again.image.tobytes() == first.image.tobytes()
    ddim = api.txt2img(prompt=prompt, seed=1234, sampler_name="DDIM", eta=0)
    assert ddim.info["dreamcache"]["cache"] == "MISS" and ddim.info["sampler_name"] == "DDIM"
    assert ddim.image.tobytes() != first.image.tobytes()
    batch = api.txt2img(prompt="a small green frog", seed=7, batch_size=2, n_iter=2, width=64, height=64, steps=4)
    assert batch.info["all_seeds"] == [7, 8, 9, 10] and len(batch.images) == 4


def test_a1111_refuses_what_it_would_otherwise_ignore(service: Service) -> None:
    api = a1111(service)
    for fields, named in [({"enable_hr": True}, "enable_hr"), ({"restore_faces": True}, "restore_faces"),
                          ({"sampler_name": "LMS"}, "sampler_name"), ({"styles": ["cinematic"]}, "styles"),
                          ({"sampler_name": "DDIM"}, "eta")]:  # webuiapi sends eta 1, DDIM runs with eta 0
        with pytest.raises(RuntimeError) as refused:
            api.txt2img(prompt="a cat", width=64, height=64, **fields)
        status, text = refused.value.args
        assert status == 422 and json.loads(text)["error"]["field"] == named, text
    assert "DPM++ 2M, Euler a, Euler, DDIM, UniPC" in json.loads(refused_text(api))["error"]["message"]
    with pytest.raises(RuntimeError) as bad_key:
        a1111(service, "dck_000000000000_" + "x" * 43).txt2img(prompt="a cat")
    assert bad_key.value.args[0] == 401


def refused_text(api: webuiapi.WebUIApi) -> str:
    try:
        api.txt2img(prompt="a cat", sampler_name="k_lms")
    except RuntimeError as exc:
        return str(exc.args[1])
    raise AssertionError("an unknown sampler was accepted")


def test_a1111_read_only_endpoints(service: Service) -> None:
    api = a1111(service)
    assert api.util_get_model_names() == [api.util_get_current_model()]
    assert api.util_get_sampler_names() == sorted(["DPM++ 2M", "Euler a", "Euler", "DDIM", "UniPC"])
    assert api.get_progress()["state"]["job_count"] == 0


def test_a1111_interrupt_stops_the_callers_own_running_job(service: Service) -> None:
    api, other = a1111(service), a1111(service, service.key_b)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(api.txt2img, prompt="a very long exposure of a city at night", steps=150)
        deadline = time.monotonic() + 60
        while api.get_progress()["state"]["sampling_step"] < 1:
            assert time.monotonic() < deadline and not running.done()
            time.sleep(0.05)
        other.interrupt()  # another key's interrupt does not reach this job
        assert api.get_progress()["state"]["job_count"] == 1
        api.interrupt()
        result = running.result(timeout=60)
    assert result.images == [] and result.info["interrupted"] is True
    assert api.get_progress()["state"]["job_count"] == 0


def test_a1111_tenants_never_share_pictures(service: Service) -> None:
    prompt, seed = "a lantern in the snow", 99
    a = a1111(service).txt2img(prompt=prompt, seed=seed, width=64, height=64, steps=4)
    b = a1111(service, service.key_b).txt2img(prompt=prompt, seed=seed, width=64, height=64, steps=4)
    assert a.info["dreamcache"]["cache"] == "MISS" and b.info["dreamcache"]["cache"] == "MISS"
    assert a.info["dreamcache"]["ids"] != b.info["dreamcache"]["ids"]
    assert counted(service, "a1111", "hit") >= 1 and counted(service, "a1111", "miss") >= 4


def test_native_generate_takes_a_sampler_too(service: Service) -> None:
    headers = {"Authorization": f"Bearer {service.key_a}"}
    body = {"prompt": "a windmill in a tulip field", "seed": 5, "scheduler": "unipc"}
    first = httpx.post(f"{service.server.url}/generate", json=body, headers=headers, timeout=60)
    assert first.status_code == 200 and first.headers["X-Cache"] == "MISS"
    again = httpx.post(f"{service.server.url}/generate", json=body, headers=headers, timeout=60)
    assert again.headers["X-Cache"] == "HIT" and again.json()["images"][0]["id"] == first.json()["images"][0]["id"]
    euler = httpx.post(f"{service.server.url}/generate", json={**body, "scheduler": "euler"}, headers=headers,
                       timeout=60)
    assert euler.headers["X-Cache"] == "MISS"
    unknown = httpx.post(f"{service.server.url}/generate", json={**body, "scheduler": "lms"}, headers=headers)
    assert unknown.status_code == 422 and unknown.json()["error"]["field"] == "scheduler"
    assert "'dpm-solver++', 'euler-ancestral', 'euler', 'ddim' or 'unipc'" in unknown.json()["error"]["message"]
