"""End to end through HTTP: the real app, the tiny model in a real worker process, embedded Qdrant Edge."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from apphelpers import running_app, tiny_settings
from dreamcache.api.deps import Services


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api-data")


@pytest.fixture(scope="module")
def client(data_dir: Path) -> Iterator[TestClient]:
    with running_app(tiny_settings(data_dir)) as client:
        yield client


def services(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def generate(client: TestClient, **body: object) -> dict:
    response = client.post("/generate", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def fetch_png(client: TestClient, url: str) -> Image.Image:
    response = client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def test_miss_is_generated_stored_indexed_then_same_and_paraphrase_hit(client: TestClient) -> None:
    before = services(client).index.count()
    first = client.post("/generate", json={"prompt": "A red fox sleeping in fresh snow, soft morning light"})
    assert first.status_code == 200, first.text
    assert first.headers["X-Cache"] == "MISS"
    body = first.json()
    assert body["source"] == "generated"
    assert body["job_id"]
    [image] = body["images"]
    assert (image["width"], image["height"]) == (64, 64)
    assert image["similarity"] is None and image["match"] is None  # generated: matched against nothing
    assert fetch_png(client, image["url"]).size == (64, 64)
    assert services(client).index.count() == before + 1
    stored = services(client).index.get(image["id"])
    assert stored is not None and stored.prompt == "A red fox sleeping in fresh snow, soft morning light"
    assert services(client).store.exists(stored.image_key)

    again = client.post("/generate", json={"prompt": "A red fox sleeping in fresh snow, soft morning light"})
    assert again.status_code == 200
    assert again.headers["X-Cache"] == "HIT"
    hit = again.json()
    assert hit["source"] == "cache"
    assert hit["images"][0]["id"] == image["id"]
    assert hit["images"][0]["similarity"] > 0.99
    assert hit["images"][0]["match"] == "exact" and hit["images"][0]["prompt"] == body["images"][0]["prompt"]
    assert body["images"][0]["match"] is None

    paraphrase = generate(client, prompt="a red fox sleeps in fresh snow - soft morning light")
    assert paraphrase["source"] == "cache"
    assert paraphrase["images"][0]["id"] == image["id"]
    assert paraphrase["images"][0]["match"] == "verified"
    assert services(client).settings.similarity_threshold <= paraphrase["images"][0]["similarity"] < 1.0
    assert fetch_png(client, paraphrase["images"][0]["url"]).size == (64, 64)

    # Moving a whole tag is harmless in SD prompts: a hit even when MiniLM's cosine (0.97) is below the bar.
    moved = generate(client, prompt="soft morning light, a red fox sleeping in fresh snow", min_similarity=0.99)
    assert moved["source"] == "cache" and moved["images"][0]["id"] == image["id"]
    assert moved["images"][0]["similarity"] < 0.99

    # Same words, roles swapped: another picture, even though cosine is high.
    swapped_prompt = "a fresh fox sleeping in red snow, soft morning light"
    swapped = client.post("/generate", json={"prompt": swapped_prompt, "cache": "only"})
    assert swapped.status_code == 404


def test_different_size_negative_prompt_or_unrelated_prompt_is_a_miss(client: TestClient) -> None:
    prompt = "a lighthouse on a rocky cliff during a thunderstorm, oil painting"
    assert generate(client, prompt=prompt)["source"] == "generated"
    assert generate(client, prompt=prompt)["source"] == "cache"
    wider = generate(client, prompt=prompt, width=96)
    assert wider["source"] == "generated" and wider["images"][0]["width"] == 96
    assert generate(client, prompt=prompt, negative_prompt="blurry")["source"] == "generated"
    assert generate(client, prompt="a bowl of ramen with a soft boiled egg")["source"] == "generated"


def test_explicit_seed_is_exact_match_only(client: TestClient) -> None:
    prompt = "a tiny robot watering a bonsai tree on a windowsill"
    seeded = generate(client, prompt=prompt, seed=1234)
    assert seeded["source"] == "generated" and seeded["images"][0]["seed"] == 1234
    same = generate(client, prompt=prompt, seed=1234)
    assert same["source"] == "cache" and same["images"][0]["id"] == seeded["images"][0]["id"]
    assert same["images"][0]["match"] == "exact"
    assert generate(client, prompt=prompt, seed=99)["source"] == "generated"
    # Same seed but another step count is another picture.
    assert generate(client, prompt=prompt, seed=1234, num_inference_steps=5)["source"] == "generated"
    # Without a seed, any stored picture of the prompt will do.
    assert generate(client, prompt=prompt)["source"] == "cache"


def test_same_seed_generates_the_same_picture(client: TestClient) -> None:
    prompt = "an owl wearing round glasses reading a newspaper"
    first = generate(client, prompt=prompt, seed=7)["images"][0]
    second = generate(client, prompt=prompt, seed=7, cache="refresh")["images"][0]
    assert first["id"] != second["id"]
    assert fetch_png(client, first["url"]).tobytes() == fetch_png(client, second["url"]).tobytes()


def test_cache_modes(client: TestClient) -> None:
    prompt = "a paper boat sailing across a puddle after the rain"
    only = client.post("/generate", json={"prompt": prompt, "cache": "only"})
    assert only.status_code == 404 and only.headers["X-Cache"] == "MISS"
    assert only.json()["error"]["type"] == "cache_miss"
    generate(client, prompt=prompt)
    refreshed = generate(client, prompt=prompt, cache="refresh")
    assert refreshed["source"] == "generated"
    several = generate(client, prompt=prompt, n=5, cache="only")  # never generates: the two there are
    assert several["source"] == "cache"
    assert len({image["id"] for image in several["images"]}) == 2
    assert generate(client, prompt=prompt, cache="only")["source"] == "cache"


def test_min_similarity_per_request(client: TestClient) -> None:
    generate(client, prompt="a snowy cabin is glowing at dusk")
    near = "a snowy cabin glowing at dusk"  # verified (the copula aside), not the same text
    strict = client.post("/generate", json={"prompt": near, "min_similarity": 1.0, "cache": "only"})
    assert strict.status_code == 404
    loose = generate(client, prompt=near, min_similarity=0.95, cache="only")
    assert loose["source"] == "cache"


def test_hits_are_counted_in_payload_and_metrics(client: TestClient) -> None:
    prompt = "a jellyfish glowing in the deep dark ocean"
    image_id = generate(client, prompt=prompt)["images"][0]["id"]
    generate(client, prompt=prompt)
    generate(client, prompt=prompt)
    import time

    deadline = time.monotonic() + 5
    while services(client).index.get(image_id).hits < 2 and time.monotonic() < deadline:  # type: ignore[union-attr]
        time.sleep(0.05)
    assert services(client).index.get(image_id).hits == 2  # type: ignore[union-attr]
    text = client.get("/metrics").text
    for name in ("dreamcache_cache_hits_total", "dreamcache_cache_misses_total", "dreamcache_hit_ratio",
                 "dreamcache_queue_depth", "dreamcache_generation_seconds_bucket",
                 "dreamcache_gpu_seconds_saved_total"):
        assert name in text
    hits = float(next(line.split()[1] for line in text.splitlines() if line.startswith("dreamcache_cache_hits_total")))
    assert hits >= 2


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"prompt": "   "}, "prompt", "blank"),
        ({"prompt": ""}, "prompt", "blank"),
        ({}, "prompt", "required"),
        ({"prompt": "cat " * 120}, "prompt", "CLIP tokens"),
        ({"prompt": "x" * 1001}, "prompt", "1000 characters"),
        ({"prompt": "a cat", "negative_prompt": "dog " * 120}, "negative_prompt", "CLIP tokens"),
        ({"prompt": "a cat", "width": 500}, "width", "multiple of 8"),
        ({"prompt": "a cat", "height": 4096}, "height", "between 64 and 1024"),
        ({"prompt": "a cat", "width": 32}, "width", "between 64 and 1024"),
        ({"prompt": "a cat", "num_inference_steps": 0}, "num_inference_steps", "greater than or equal to 1"),
        ({"prompt": "a cat", "num_inference_steps": 151}, "num_inference_steps", "between 1 and 150"),
        ({"prompt": "a cat", "guidance_scale": 31}, "guidance_scale", "less than or equal to 30"),
        ({"prompt": "a cat", "n": 10}, "n", "less than or equal to 9"),
        ({"prompt": "a cat", "n": 0}, "n", "greater than or equal to 1"),
        ({"prompt": "a cat", "max_results": 10}, "max_results", "less than or equal to 9"),
        ({"prompt": "a cat", "n": 2, "max_results": 3}, "max_results", "alias of n"),
        ({"prompt": "a cat", "n": 3, "seed": 2**53 - 2}, "seed", "2**53 - 3"),
        ({"prompt": "a cat", "min_similarity": 0.5}, "min_similarity", "between 0.9 and 1.0"),
        ({"prompt": "a cat", "cache": "sometimes"}, "cache", "auto"),
        ({"prompt": "a cat", "seed": -1}, "seed", "greater than or equal to 0"),
        ({"prompt": "a cat", "colour": "red"}, "colour", "unknown field"),
        ({"promt": "a red fox"}, "promt", "unknown field (not part of the request schema); did you mean 'prompt'?"),
        ({"prompt": 42}, "prompt", "string"),
    ],
)
def test_invalid_input_is_422_naming_field_and_rule(client: TestClient, body: dict, field: str, words: str) -> None:
    count = services(client).index.count()
    response = client.post("/generate", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request"
    assert error["field"] == field
    assert error["message"].startswith(f"{field}:")
    assert words in error["message"]
    assert response.headers["X-Cache"] == "MISS"  # every /generate answer says it, errors too
    assert services(client).index.count() == count


@pytest.mark.parametrize("field", ["prompt", "negative_prompt"])
def test_a_lone_surrogate_is_422_naming_the_field(client: TestClient, field: str) -> None:
    count = services(client).index.count()
    body = {"prompt": "a cat", field: "a cat \\ud800 on a mat"}
    raw = '{' + ", ".join(f'"{k}": "{v}"' for k, v in body.items()) + '}'  # JSON escapes, as a client sends them
    response = client.post("/generate", content=raw.encode(), headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["field"] == field and "lone surrogate" in error["message"]
    assert services(client).index.count() == count
    recommend = client.get("/recommend", params={"q": "x"})  # a query string cannot carry one: decoded as UTF-8
    assert recommend.status_code == 200
    posted = client.post("/recommend", content=b'{"q": "a \\udfff"}', headers={"content-type": "application/json"})
    assert posted.status_code == 422 and posted.json()["error"]["field"] == "q"


def test_malformed_json_is_422(client: TestClient) -> None:
    response = client.post("/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert "JSON" in response.json()["error"]["message"] and response.json()["error"]["field"] == "body"
    invalid_utf8 = client.post("/generate", content=b'{"prompt": "\xff\xfe"}',
                               headers={"content-type": "application/json"})
    assert invalid_utf8.status_code == 422 and invalid_utf8.json()["error"]["field"] == "body"
    wrong_method = client.put("/generate", json={})
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"


def test_images_route_rejects_traversal_and_unknown_keys(client: TestClient, data_dir: Path) -> None:
    (data_dir / "secret.txt").write_text("do not serve")
    for key in ("..%2Fsecret.txt", "%2E%2E", ".hidden", "a%5Cb"):
        response = client.get(f"/images/{key}")
        assert response.status_code in (404, 422), key
        assert "do not serve" not in response.text
        assert "error" in response.json()
    missing = client.get("/images/0123456789abcdef.png")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "not_found"


def test_unknown_job_is_404_and_unknown_route_uses_error_shape(client: TestClient) -> None:
    for method, url in (("GET", "/jobs/nope"), ("DELETE", "/jobs/nope"), ("GET", "/jobs/nope/events")):
        response = client.request(method, url)
        assert response.status_code == 404
        assert response.json()["error"]["field"] == "job_id"
    assert client.get("/no/such/route").json()["error"]["type"] == "not_found"


def test_recommend_suggests_past_prompts_deduplicated(client: TestClient) -> None:
    generate(client, prompt="a golden retriever puppy wearing a raincoat in the rain")
    generate(client, prompt="A golden retriever puppy wearing a raincoat in the rain!", cache="refresh")
    response = client.get("/recommend", params={"q": "a golden ret", "limit": 5})
    assert response.status_code == 200, response.text
    suggestions = response.json()["suggestions"]
    norms = [s["prompt"].lower().rstrip("!") for s in suggestions]
    assert norms[0] == "a golden retriever puppy wearing a raincoat in the rain"
    assert len(norms) == len(set(norms))
    assert suggestions[0]["thumbnail_url"]
    assert suggestions[0]["match"] == "prefix" and suggestions[0]["instant"] is True  # generated at the default size
    posted = client.post("/recommend", json={"q": "puppy in a raincoat", "limit": 2})
    assert posted.status_code == 200
    assert any("raincoat" in s["prompt"] for s in posted.json()["suggestions"])
    assert posted.json()["suggestions"][0]["match"] == "words"  # the typed words, in another order
    assert len(posted.json()["suggestions"]) <= 2
    blank = client.get("/recommend", params={"q": "  "})
    assert blank.status_code == 422 and blank.json()["error"]["field"] == "q"
    assert client.get("/recommend", params={"q": "x", "limit": 0}).json()["error"]["field"] == "limit"


def test_health_and_readiness(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["checks"] == {"generator": "ok", "index": "ok", "store": "ok", "disk": "ok"}


def test_private_namespaces_never_share_entries(client: TestClient) -> None:
    prompt = "a secret blueprint of a flying bicycle, ink drawing"
    tenant_a = {"X-Dreamcache-Namespace": "tenant-a"}
    made = client.post("/generate", json={"prompt": prompt}, headers=tenant_a)
    assert made.status_code == 200 and made.json()["source"] == "generated"
    assert client.post("/generate", json={"prompt": prompt}, headers=tenant_a).json()["source"] == "cache"
    stored = services(client).index.get(made.json()["images"][0]["id"])
    assert stored is not None and stored.namespace == "tenant-a"
    # Neither another namespace nor the shared pool is served tenant-a's picture...
    for headers in ({"X-Dreamcache-Namespace": "tenant-b"}, {}):
        only = client.post("/generate", json={"prompt": prompt, "cache": "only"}, headers=headers)
        assert only.status_code == 404, headers
        suggested = client.get("/recommend", params={"q": "a secret blue"}, headers=headers).json()["suggestions"]
        assert all("blueprint" not in s["prompt"] for s in suggested), headers
    # ...while tenant-a's autocomplete knows it, as instant.
    own = client.get("/recommend", params={"q": "a secret blue"}, headers=tenant_a).json()["suggestions"]
    assert own and own[0]["prompt"] == prompt and own[0]["instant"]
    # And the shared pool is not served to a namespace either.
    shared = "a lighthouse on a rocky cliff during a thunderstorm, oil painting"
    generate(client, prompt=shared)
    isolated = client.post("/generate", json={"prompt": shared, "cache": "only"}, headers=tenant_a)
    assert isolated.status_code == 404


@pytest.mark.parametrize("value", ["../x", "a b", "-lead", "x" * 65, "a/b"])
def test_invalid_namespace_is_422_naming_the_header(client: TestClient, value: str) -> None:
    response = client.post("/generate", json={"prompt": "a cat in a hat"}, headers={"X-Dreamcache-Namespace": value})
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "X-Dreamcache-Namespace"


def test_a_client_asking_again_gets_unseen_pictures_then_a_new_sample(client: TestClient, data_dir: Path) -> None:
    prompt = "a glass whale swimming above a desert at dawn"
    alice = {"X-Dreamcache-Client": "alice@example.com"}
    bob = {"X-Dreamcache-Client": "bob-device-42"}

    def ask(headers: dict[str, str]) -> dict:
        response = client.post("/generate", json={"prompt": prompt}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()

    a1 = ask(alice)
    assert a1["source"] == "generated"
    b1 = ask(bob)  # new to bob: alice's picture, from the cache
    assert b1["source"] == "cache" and b1["images"][0]["id"] == a1["images"][0]["id"]
    b2 = ask(bob)  # bob has seen every cached picture of it: a new sample
    assert b2["source"] == "generated" and b2["images"][0]["id"] != a1["images"][0]["id"]
    a2 = ask(alice)  # bob's sample is new to alice
    assert a2["source"] == "cache" and a2["images"][0]["id"] == b2["images"][0]["id"]
    assert ask(alice)["source"] == "generated"
    # Without an identity any picture will do, and the prompt's gallery has grown to three.
    gallery = generate(client, prompt=prompt, n=9, cache="only")
    assert gallery["source"] == "cache" and len(gallery["images"]) == 3
    # An explicit seed still names one exact picture, identity or not.
    seeded = client.post("/generate", json={"prompt": prompt, "seed": a1["images"][0]["seed"]}, headers=alice)
    assert seeded.json()["source"] == "cache" and seeded.json()["images"][0]["id"] == a1["images"][0]["id"]
    # Only a hash of the identity is stored, never the raw value.
    stored = b"".join(p.read_bytes() for p in (data_dir / "index").rglob("*") if p.is_file())
    assert b"alice@example.com" not in stored and b"bob-device-42" not in stored
    from dreamcache.resolution import viewer_hash

    assert viewer_hash("alice@example.com").encode() in stored


def test_invalid_client_identity_is_422(client: TestClient) -> None:
    response = client.post("/generate", json={"prompt": "a cat in a hat"}, headers={"X-Dreamcache-Client": "x" * 300})
    assert response.status_code == 422 and response.json()["error"]["field"] == "X-Dreamcache-Client"


def test_conventions_timestamps_preferences_and_content_type(client: TestClient) -> None:
    made = client.post("/generate", json={"prompt": "a conventions test: a lighthouse"}, headers={"Prefer": "wait=30"})
    assert made.status_code == 200 and made.headers["Preference-Applied"] == "wait=30"
    assert made.json()["images"][0]["created_at"].endswith("Z")
    queued = client.post("/generate", json={"prompt": "a conventions test: a windmill"},
                         headers={"Prefer": "respond-async"})
    assert queued.headers["Preference-Applied"] == "respond-async"
    assert queued.json()["created_at"].endswith("Z")
    no_type = client.post("/generate", content=b'{"prompt": "a cat"}')
    assert no_type.status_code == 422 and "Content-Type: application/json" in no_type.json()["error"]["message"]
    assert no_type.json()["error"]["field"] == "body"


def test_cli_version_and_defaults_in_help(capsys: pytest.CaptureFixture[str]) -> None:
    from dreamcache import __version__
    from dreamcache.cli import main

    with pytest.raises(SystemExit):
        main(["--version"])
    assert __version__ in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["warm", "--help"])
    assert "(default: 8)" in " ".join(capsys.readouterr().out.split())  # argparse wraps lines


def test_cli_runs_every_command_by_name_and_never_falls_through(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each command the parser offers has its own handler and is named in the help; one without is an error
    (exit 2), not another command."""
    import argparse

    from dreamcache import cli

    commands = next(a for a in cli._parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(commands) == set(cli.COMMANDS)
    assert all(f"`{name}" in (cli.__doc__ or "") or f"`dreamcache {name}" in (cli.__doc__ or "") for name in commands)
    monkeypatch.delitem(cli.COMMANDS, "openapi")
    with pytest.raises(SystemExit) as exited:
        cli.main(["openapi"])
    assert exited.value.code == 2 and "no handler for command 'openapi'" in capsys.readouterr().err


def test_response_format_b64_json_inlines_the_png(client: TestClient) -> None:
    import base64

    made = client.post("/generate", json={"prompt": "a b64 test: a paper lantern", "response_format": "b64_json"})
    assert made.status_code == 200
    image = made.json()["images"][0]
    assert image["url"] is None and Image.open(io.BytesIO(base64.b64decode(image["b64_json"]))).size == (64, 64)
    hit = client.post("/generate", json={"prompt": "a b64 test: a paper lantern", "response_format": "b64_json"})
    assert hit.json()["source"] == "cache" and hit.json()["images"][0]["b64_json"] == image["b64_json"]
    plain = client.post("/generate", json={"prompt": "a b64 test: a paper lantern"}).json()["images"][0]
    assert plain["url"] and plain.get("b64_json") is None
    bad = client.post("/generate", json={"prompt": "a cat", "response_format": "png"})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "response_format"


def test_a_prompt_asked_again_skips_the_embedder(client: TestClient) -> None:
    embedder = services(client).cache.embedder
    generate(client, prompt="a violin made of glass on a velvet cushion")
    before = embedder.texts_embedded
    # The same text retyped normalises to the same embedded text: answered from the prompt -> vector LRU.
    again = generate(client, prompt="A violin made of glass, on a velvet cushion!")
    assert again["source"] == "cache" and embedder.texts_embedded == before
    assert embedder.cache.hits >= 1
    generate(client, prompt="a violin made of ice on a velvet cushion")  # another text: embedded
    assert embedder.texts_embedded == before + 1


def _schema_pattern(client: TestClient, path: str, method: str, name: str) -> str:
    operation = client.get("/openapi.json").json()["paths"][path][method]
    [parameter] = [p for p in operation["parameters"] if p["name"] == name]
    return str(parameter["schema"]["pattern"])


def test_schema_and_runtime_agree_where_schemathesis_found_they_did_not(client: TestClient) -> None:
    import re

    # An empty namespace header is the shared pool: the schema allows it, as the service does.
    assert re.search(_schema_pattern(client, "/recommend", "get", "X-Dreamcache-Namespace"), "")
    assert client.get("/recommend", params={"q": "a"}, headers={"X-Dreamcache-Namespace": ""}).status_code == 200
    # created_before is an RFC 3339 date-time, not a number of seconds.
    for value in ("0.5", "1700000000", "2026-11-01T00:00:00"):
        response = client.get("/admin/entries", params={"created_before": value})
        assert response.status_code == 422 and response.json()["error"]["field"] == "created_before", value
    assert client.get("/admin/entries", params={"created_before": "2026-11-01T00:00:00Z"}).status_code == 200
    # An image key the schema allows is never a 422, one it refuses always is.
    key_pattern = _schema_pattern(client, "/images/{key}", "get", "key")
    for key in ("M4..Vmzgk", "a..png", ".png"):
        assert not re.search(key_pattern, key) and client.get(f"/images/{key}").status_code == 422, key
    for key in ("M4.Vmzgk", "a-b_c.d.png", "x."):
        assert re.search(key_pattern, key) and client.get(f"/images/{key}").status_code == 404, key
    # A report's prompt needs a visible character in the schema too.
    report_prompt = client.get("/openapi.json").json()["components"]["schemas"]["PromptBody"]["properties"]["prompt"]
    assert not re.search(report_prompt["pattern"], "\f")
    # OPTIONS (undeclared everywhere): 405 with the methods of the path the request names.
    for path, allowed in (("/admin/entries/delete-prompt", "POST"), ("/images/abc/report", "POST"),
                          ("/admin/entries/abc", "DELETE, GET"), ("/generate", "POST")):
        response = client.options(path)
        assert response.status_code == 405 and response.headers["allow"] == allowed, (path, response.headers)
        assert response.json()["error"]["type"] == "method_not_allowed"
    # The warm-up header is "0" or "1" in the schema and at run time (schemathesis' coverage phase sent "null").
    refused = client.post("/generate", json={"prompt": "a cat"}, headers={"X-Dreamcache-Warm-Up": "null"})
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "X-Dreamcache-Warm-Up", refused.text
    schema = client.get("/openapi.json").json()["paths"]["/generate"]["post"]["parameters"]
    warm_up = next(p for p in schema if p["name"] == "X-Dreamcache-Warm-Up")["schema"]
    assert warm_up["enum"] == ["0", "1"] and "anyOf" not in warm_up, warm_up  # never "null"


def test_utf16_bodies_and_invisible_prompts_are_422_naming_the_field(client: TestClient) -> None:
    count = services(client).index.count()
    for encoding in ("utf-16", "utf-16-le", "utf-32"):
        body = '{"prompt": "a cat on a mat"}'.encode(encoding)
        response = client.post("/generate", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 422, (encoding, response.text)
        assert response.json()["error"]["field"] == "body" and "UTF-8" in response.json()["error"]["message"]
    for blank in ("\u200b\u200b", "\ufeff", " \u200d\t", "\u2060"):
        response = client.post("/generate", json={"prompt": blank})
        assert response.status_code == 422 and response.json()["error"]["field"] == "prompt", repr(blank)
        assert "blank" in response.json()["error"]["message"]
        assert client.get("/recommend", params={"q": blank}).json()["error"]["field"] == "q"
    assert services(client).index.count() == count
