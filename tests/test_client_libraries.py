"""The clients people already have, unmodified from PyPI, against a live server on the tiny model: the `openai`
SDK (`client.images.generate`) and AUTOMATIC1111's `webuiapi`. One server (with two tenants' keys) for the module."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import openai
import pytest
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
    assert bad_size.value.status_code == 400
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
