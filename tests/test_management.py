"""Cache management through HTTP: takedowns, search, purges, wrong-picture reports, retention, vanished images."""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from apphelpers import running_app, tiny_settings
from dreamcache.api.deps import Services
from dreamcache.cli import entries_command
from dreamcache.cli import main as cli_main
from dreamcache.keys import KeysFileError, KeyStore


def generate(client: TestClient, prompt: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    response = client.post("/generate", json={"prompt": prompt, **body}, headers=headers or {})
    assert response.status_code == 200, response.text
    return response.json()


def services(client: TestClient) -> Services:
    return client.app.state.services  # type: ignore[attr-defined,no-any-return]


def metric(client: TestClient, line_start: str) -> float:
    return float(next(line for line in client.get("/metrics").text.splitlines() if line.startswith(line_start)
                      ).split()[1])


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tiny_settings(tmp_path_factory.mktemp("manage"), default_steps=10)) as c:
        yield c


def test_a_deleted_picture_is_a_404_and_never_a_hit_again(client: TestClient) -> None:
    prompt = "a takedown test: a red barn under a stormy sky"
    image = generate(client, prompt)["images"][0]
    assert generate(client, prompt, cache="only")["images"][0]["id"] == image["id"]
    files = sorted(p.name for p in services(client).settings.images_dir.glob(f"{image['id']}*"))
    assert f"{image['id']}.png" in files and len(files) == 3  # the image and two checkpoints
    assert client.delete(f"/admin/entries/{image['id']}").json() == {"deleted": 1}
    assert client.get(f"/images/{image['id']}.png").status_code == 404
    assert client.post("/generate", json={"prompt": prompt, "cache": "only"}).status_code == 404
    assert not list(services(client).settings.images_dir.glob(f"{image['id']}*"))
    suggestions = client.get("/recommend", params={"q": "a takedown test"}).json()["suggestions"]
    assert all(s["prompt"] != prompt for s in suggestions)
    assert client.delete(f"/admin/entries/{image['id']}").json() == {"deleted": 0}  # idempotent
    assert client.get(f"/admin/entries/{image['id']}").status_code == 404


def test_admins_list_search_and_page_entries(client: TestClient) -> None:
    before = time.time()
    made = [generate(client, f"a searchable lighthouse number {i}")["images"][0]["id"] for i in range(3)]
    generate(client, "an unrelated teapot on a table")
    found = client.get("/admin/entries", params={"q": "Searchable Lighthouse", "limit": 10}).json()["entries"]
    assert {e["id"] for e in found} == set(made) and all(e["url"] for e in found)
    assert [e["created_at"] for e in found] == sorted((e["created_at"] for e in found), reverse=True)
    page = client.get("/admin/entries", params={"q": "searchable lighthouse", "limit": 2, "offset": 2}).json()
    assert len(page["entries"]) == 1
    recent = client.get("/admin/entries", params={"created_after": time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime(before - 1)), "limit": 100}).json()["entries"]
    assert set(made) <= {e["id"] for e in recent}
    one = client.get(f"/admin/entries/{made[0]}").json()
    assert one["prompt"] == "a searchable lighthouse number 0" and one["checkpoints"] == [2, 4]


def test_delete_every_entry_of_a_prompt_and_purge_a_fingerprint(client: TestClient) -> None:
    prompt = "a prompt with two pictures: a heron in reeds"
    generate(client, prompt, headers={"X-Dreamcache-Client": "x"})
    generate(client, prompt, headers={"X-Dreamcache-Client": "x"})  # asked again: a second picture
    retyped = "A prompt with two pictures: a heron in reeds!"
    deleted = client.post("/admin/entries/delete-prompt", json={"prompt": retyped})
    assert deleted.json() == {"deleted": 2}
    assert client.post("/generate", json={"prompt": prompt, "cache": "only"}).status_code == 404
    assert client.post("/admin/purge", json={"fingerprint": "no-such-fingerprint"}).json() == {"deleted": 0}
    bad = client.post("/admin/purge", json={"fingerprint": ""})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "fingerprint"


def test_a_reported_picture_is_never_served_for_that_prompt_again(client: TestClient) -> None:
    stored = "a fox sleeping in the snow, oil painting"
    image = generate(client, stored)["images"][0]
    asked = "A fox sleeping in the snow; oil painting"
    assert generate(client, asked, cache="only")["images"][0]["id"] == image["id"]
    before = metric(client, "dreamcache_wrong_picture_reports_total")
    report = client.post(f"/images/{image['id']}/report", json={"prompt": asked})
    assert report.status_code == 201 and report.json()["entry_id"] == image["id"]
    # Not for that prompt, nor for its retyped variants...
    for variant in (asked, "a fox sleeping in the snow oil painting", "oil painting, a fox sleeping in the snow"):
        assert client.post("/generate", json={"prompt": variant, "cache": "only"}).status_code == 404
    # ...and the admins see the report and the counter moved.
    reports = client.get("/admin/reports").json()["reports"]
    assert reports[0]["entry_id"] == image["id"] and reports[0]["prompt"] == asked
    assert metric(client, "dreamcache_wrong_picture_reports_total") == before + 1
    missing = client.post("/images/00000000-0000-0000-0000-000000000000/report", json={"prompt": "x"})
    assert missing.status_code == 404
    assert client.post(f"/images/{image['id']}/report", json={"prompt": " "}).status_code == 422


def test_a_vanished_image_drops_its_entry(client: TestClient) -> None:
    images_dir = services(client).settings.images_dir
    served = generate(client, "a vanished picture of a windmill")["images"][0]
    (images_dir / f"{served['id']}.png").unlink()  # the store lost it behind the service's back
    assert client.get(f"/images/{served['id']}.png").status_code == 404
    assert client.post("/generate", json={"prompt": "a vanished picture of a windmill", "cache": "only"}
                       ).status_code == 404
    swept = generate(client, "another vanished picture of a canal")["images"][0]
    (images_dir / f"{swept['id']}.png").unlink()
    counts = client.post("/admin/sweep").json()
    assert counts["vanished"] >= 1 and services(client).index.get(swept["id"]) is None


def test_b64_json_on_a_hit_whose_image_vanished_is_a_miss_never_a_500(client: TestClient) -> None:
    images_dir = services(client).settings.images_dir
    prompt = "a vanished picture of a lighthouse, inline"
    first = generate(client, prompt)["images"][0]
    (images_dir / f"{first['id']}.png").unlink()
    only = client.post("/generate", json={"prompt": prompt, "cache": "only", "response_format": "b64_json"})
    assert only.status_code == 404 and only.json()["error"]["type"] == "cache_miss"  # as on every other path
    assert services(client).index.get(first["id"]) is None  # its entry was dropped
    second = generate(client, prompt)["images"][0]
    (images_dir / f"{second['id']}.png").unlink()
    again = client.post("/generate", json={"prompt": prompt, "response_format": "b64_json"})
    assert again.status_code == 200, again.text  # treated as a miss: generated anew
    body = again.json()
    assert body["source"] == "generated" and body["images"][0]["b64_json"]
    assert body["images"][0]["id"] != second["id"] and services(client).index.get(second["id"]) is None


def test_entries_cli_calls_the_admin_routes(client: TestClient, capsys: pytest.CaptureFixture[str]) -> None:
    image = generate(client, "a cli managed picture of a kettle")["images"][0]
    transport = httpx.MockTransport(lambda request: _forward(client, request))

    def run(*argv: str, **extra: Any) -> int:
        args = argparse.Namespace(url="http://service", key=None, entries_command=argv[0], **extra)
        return entries_command(args, services(client).settings, transport=transport)

    assert run("list", q="cli managed", namespace=None, limit=5, offset=0) == 0
    assert json.loads(capsys.readouterr().out)["entries"][0]["id"] == image["id"]
    assert run("delete", id=image["id"]) == 0
    assert json.loads(capsys.readouterr().out) == {"deleted": 1}
    assert run("show", id=image["id"]) == 1
    assert "404" in capsys.readouterr().err


def _forward(client: TestClient, request: httpx.Request) -> httpx.Response:
    """Hand an httpx request to the app under test (the CLI's transport)."""
    response = client.request(request.method, request.url.path, params=dict(request.url.params),
                              content=request.content, headers=dict(request.headers))
    return httpx.Response(response.status_code, content=response.content, headers=response.headers)


def test_the_background_sweeper_evicts_the_least_recently_hit_first(tmp_path: Path) -> None:
    """End to end, with nobody calling /admin/sweep: the service's own retention task (every 0.2 s here) keeps
    two entries, and the one it evicts is the least recently hit, not the oldest. The rules themselves are pinned
    in test_retention; the polls below are bounded waits, not timing assertions."""
    with running_app(tiny_settings(tmp_path, retention_max_entries=2, retention_interval_s=0.2)) as c:
        index = services(c).index
        oldest, idle = (generate(c, f"a retention test picture {n}")["images"][0]["id"] for n in ("one", "two"))
        generate(c, "a retention test picture one", cache="only")  # the oldest is hit: recently used
        deadline = time.monotonic() + 30  # hit counters are written in the background, batched every 2 s
        while index.get(oldest).hits == 0:  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "the hit never reached the index"
            time.sleep(0.1)
        newest = generate(c, "a retention test picture three")["images"][0]["id"]
        image = services(c).settings.images_dir / f"{idle}.png"

        def evicted() -> bool:  # the sweep removes the entry, then its picture, then counts it
            return (index.get(idle) is None and not image.exists()
                    and metric(c, "dreamcache_evicted_entries_total") >= 1)

        deadline = time.monotonic() + 30
        while not evicted():
            assert time.monotonic() < deadline, "the background sweeper never evicted the idle entry"
            time.sleep(0.1)
        assert index.get(oldest) is not None and index.get(newest) is not None
        assert metric(c, "dreamcache_evicted_entries_total") == 1
        # A TTL removes what nobody used for that long.
        curator = services(c).curator
        curator.settings = curator.settings.model_copy(update={"retention_ttl_s": 3600.0})  # none of them, yet
        assert curator.sweep(now=time.time() + 10**5)["evicted"] == 2 and index.count() == 0


def test_admin_routes_need_an_admin_key_of_the_namespace(tmp_path: Path) -> None:
    settings = tiny_settings(tmp_path)
    store = KeyStore(settings.keys_path)
    user = {"Authorization": f"Bearer {store.add(['a'])[0]}"}
    admin_a = {"Authorization": f"Bearer {store.add(['a'], 'admin')[0]}"}
    user_b = {"Authorization": f"Bearer {store.add(['b'])[0]}"}
    admin_b = {"Authorization": f"Bearer {store.add(['b'], 'admin')[0]}"}
    with running_app(settings) as c:
        image = generate(c, "a tenant a picture of a fern", headers=user)["images"][0]
        assert c.get("/admin/entries", headers=user).status_code == 403
        assert c.get("/admin/entries").status_code == 401
        assert [e["id"] for e in c.get("/admin/entries", headers=admin_a).json()["entries"]] == [image["id"]]
        assert c.get("/admin/entries", headers=admin_b).json()["entries"] == []
        assert c.get("/admin/entries", params={"namespace": "a"}, headers=admin_b).status_code == 403
        assert c.get(f"/admin/entries/{image['id']}", headers=admin_b).status_code == 404
        assert c.delete(f"/admin/entries/{image['id']}", headers=admin_b).json() == {"deleted": 0}
        assert c.post(f"/images/{image['id']}/report", json={"prompt": "x"}, headers=user_b).status_code == 404
        assert c.get("/admin/reports", headers=admin_b).json()["reports"] == []
        assert c.delete(f"/admin/entries/{image['id']}", headers=admin_a).json() == {"deleted": 1}


def test_an_operator_key_takes_down_pictures_in_every_namespace_even_later_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = tiny_settings(tmp_path)
    store = KeyStore(settings.keys_path)
    monkeypatch.setenv("DREAMCACHE_KEYS_FILE", str(settings.keys_path))
    # A user key can never be an operator key: the CLI refuses it, and so does the store.
    assert cli_main(["keys", "add", "--all-namespaces"]) == 2
    assert "--role admin" in capsys.readouterr().err
    assert cli_main(["keys", "add", "--role", "user", "--all-namespaces"]) == 2
    assert cli_main(["keys", "add", "--role", "admin"]) == 2  # neither namespaces nor --all-namespaces
    capsys.readouterr()
    assert cli_main(["keys", "add", "--role", "admin", "--all-namespaces", "--label", "abuse desk"]) == 0
    out = capsys.readouterr()
    operator = {"Authorization": f"Bearer {out.out.strip()}"}
    assert "every namespace" in out.err
    assert cli_main(["keys", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["all_namespaces"] is True and listed["role"] == "admin"
    user_a = {"Authorization": f"Bearer {store.add(['a'])[0]}"}
    admin_a = {"Authorization": f"Bearer {store.add(['a'], 'admin')[0]}"}
    with running_app(settings) as c:
        # A tenant made after the operator key: the key covers it too.
        user_c = {"Authorization": f"Bearer {store.add(['c'])[0]}"}
        time.sleep(1.1)  # the server re-reads the keys file within a second
        in_a = generate(c, "a tenant a picture of a copyrighted mouse", headers=user_a)["images"][0]
        in_c = generate(c, "a tenant c picture of a copyrighted mouse", headers=user_c)["images"][0]
        listed_ids = {e["id"] for e in c.get("/admin/entries", params={"q": "copyrighted"}, headers=operator).json()
                      ["entries"]}
        assert listed_ids == {in_a["id"], in_c["id"]}
        assert [e["id"] for e in c.get("/admin/entries", params={"namespace": "c"}, headers=operator).json()
                ["entries"]] == [in_c["id"]]
        assert c.get("/admin/entries", params={"namespace": "c"}, headers=admin_a).status_code == 403
        assert c.get(f"/admin/entries/{in_c['id']}", headers=operator).json()["namespace"] == "c"
        # Reports of every tenant, and /metrics.
        assert c.post(f"/images/{in_c['id']}/report", json={"prompt": "a mouse"}, headers=user_c).status_code == 201
        assert [r["entry_id"] for r in c.get("/admin/reports", headers=operator).json()["reports"]] == [in_c["id"]]
        assert c.get("/admin/reports", headers=admin_a).json()["reports"] == []
        assert c.get("/metrics", headers=operator).status_code == 200
        # The takedown: one entry by id, every entry of a prompt in a named namespace, through the CLI too.
        assert c.delete(f"/admin/entries/{in_c['id']}", headers=operator).json() == {"deleted": 1}
        assert c.get(f"/images/{in_c['id']}.png", headers=user_c).status_code == 404
        transport = httpx.MockTransport(lambda request: _forward(c, request))
        args = argparse.Namespace(url="http://service", key=operator["Authorization"].split()[1],
                                  entries_command="delete-prompt", prompt="a tenant a picture of a copyrighted mouse",
                                  namespace="a")
        assert entries_command(args, services(c).settings, transport=transport) == 0
        assert json.loads(capsys.readouterr().out) == {"deleted": 1}
        assert c.post("/generate", json={"prompt": "a tenant a picture of a copyrighted mouse", "cache": "only"},
                      headers=user_a).status_code == 404
        # A keys file that hands every namespace to a user key is not used at all: the service stays closed.
        raw = json.loads(settings.keys_path.read_text())
        raw["keys"][-1]["all_namespaces"] = True  # user_c
        settings.keys_path.write_text(json.dumps(raw))
        time.sleep(1.1)
        with pytest.raises(KeysFileError, match="only admin keys"):
            KeyStore(settings.keys_path).records()
        closed = TestClient(c.app, raise_server_exceptions=False)  # the same running app, errors as a client sees them
        for headers in (user_c, operator, {}):
            assert closed.get("/admin/entries", headers=headers).status_code >= 401
            assert closed.post("/generate", json={"prompt": "a cat"}, headers=headers).status_code >= 401


def test_the_gallery_pages_recent_and_popular_pictures(tmp_path: Path) -> None:
    with running_app(tiny_settings(tmp_path)) as c:
        ids = [generate(c, f"a gallery picture number {n}")["images"][0]["id"] for n in range(3)]
        for _ in range(3):
            generate(c, "a gallery picture number 0", cache="only")  # the oldest becomes the most popular
        deadline = time.monotonic() + 10  # hit counters are written in the background, batched every 2 s
        while c.get("/gallery", params={"sort": "popular", "limit": 1}).json()["images"][0]["id"] != ids[0]:
            assert time.monotonic() < deadline, "hit counters never reached the index"
            time.sleep(0.1)
        recent = c.get("/gallery", params={"limit": 2}).json()
        assert [i["id"] for i in recent["images"]] == [ids[2], ids[1]] and recent["more"] is True
        rest = c.get("/gallery", params={"limit": 2, "offset": 2}).json()
        assert [i["id"] for i in rest["images"]] == [ids[0]] and rest["more"] is False
        popular = c.get("/gallery", params={"sort": "popular", "limit": 1}).json()
        assert popular["images"][0]["id"] == ids[0]
        assert c.get("/gallery", params={"sort": "oldest"}).status_code == 422
        other = c.get("/gallery", headers={"X-Dreamcache-Namespace": "elsewhere"}).json()
        assert other["images"] == [] and other["more"] is False  # another namespace sees none of them
