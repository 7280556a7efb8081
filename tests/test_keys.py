"""API keys and tenants: the keys file, the CLI, and every route tried with the wrong key."""

from __future__ import annotations

import dataclasses
import json
import logging
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apphelpers import running_app, tiny_settings
from dreamcache import cli
from dreamcache.keys import KeysFileError, KeyStore, signing_urls_for

PROMPT_A = "a secret blueprint of tenant a's flying machine"
PROMPT_B = "a watercolor of tenant b's garden party"


def test_a_key_is_shown_once_and_only_its_hash_is_stored(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.json")
    assert not store.enabled
    key, record = store.add(["tenantA", "tenantA", "shared2"], "admin", "ops")
    assert key.startswith(f"dck_{record.id}_") and record.namespaces == ("tenantA", "shared2")
    text = (tmp_path / "keys.json").read_text()
    assert key not in text and key.split("_", 2)[2] not in text and record.hash in text
    assert stat.S_IMODE((tmp_path / "keys.json").stat().st_mode) == 0o600
    assert store.enabled and store.authenticate(key) == record
    for wrong in ["", key[:-1] + ("A" if key[-1] != "A" else "B"), key + "x", "Bearer " + key, "dck_x_y"]:
        assert store.authenticate(wrong) is None
    other = KeyStore(tmp_path / "keys.json")  # another process (the server) sees the file
    assert other.authenticate(key) == record
    store.revoke(record.id)
    time.sleep(1.1)  # the server re-reads a changed file within a second
    assert other.authenticate(key) is None and other.enabled  # no key left: closed to everybody, never open
    with pytest.raises(KeysFileError, match="no key with id"):
        store.revoke(record.id)
    with pytest.raises(KeysFileError, match="namespace"):
        store.add(["has space"])
    with pytest.raises(KeysFileError, match="role"):
        store.add(["a"], "root")  # type: ignore[arg-type]


def test_signed_image_names_expire_cannot_be_moved_and_end_with_their_key(tmp_path: Path) -> None:
    store = KeyStore(tmp_path / "keys.json")
    assert store.sign("a.png", 10**10) == ""  # no keys: nothing to sign with
    _, record = store.add(["t"])
    _, other = store.add(["t"])
    later = int(time.time()) + 60
    assert store.sign("a.png", later) == ""  # outside an authenticated request: nothing is signed
    with signing_urls_for(record.id):
        sig = store.sign("a.png", later)
        past = int(time.time()) - 1
        expired = store.sign("a.png", past)
    assert sig.startswith(f"{record.id}.") and store.check_signature("a.png", later, sig)
    assert not store.check_signature("b.png", later, sig)
    assert not store.check_signature("a.png", later + 1, sig)
    assert not store.check_signature("a.png", later, sig.replace(record.id, other.id))  # bound to its key
    assert not store.check_signature("a.png", past, expired)
    store.revoke(record.id)
    assert not store.check_signature("a.png", later, sig)  # revoking the key ends its URLs


def test_keys_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DREAMCACHE_DATA_DIR", str(tmp_path))
    assert cli.main(["keys", "list"]) == 0
    assert "the service is open" in capsys.readouterr().err
    assert cli.main(["keys", "add", "--namespace", "tenantA", "--role", "admin", "--label", "ops"]) == 0
    out = capsys.readouterr()
    key = out.out.strip()
    assert key.startswith("dck_") and "only time the key is shown" in out.err
    assert cli.main(["keys", "list", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["role"] == "admin" and listed["namespaces"] == ["tenantA"] and listed["label"] == "ops"
    assert key not in json.dumps(listed) and "hash" not in listed
    assert cli.main(["keys", "revoke", listed["id"]]) == 0
    assert cli.main(["keys", "revoke", listed["id"]]) == 2
    assert "no key with id" in capsys.readouterr().err
    assert cli.main(["keys", "add", "--namespace", "no spaces allowed"]) == 2


@dataclass
class Tenants:
    client: TestClient
    a: dict[str, str]  # Authorization headers
    b: dict[str, str]
    shared: dict[str, str]
    admin_a: dict[str, str]
    both: dict[str, str]  # a key for tenantA and tenantB


@pytest.fixture(scope="module")
def tenants(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    settings = tiny_settings(tmp_path_factory.mktemp("keys"))
    store = KeyStore(settings.keys_path)

    def bearer(namespaces: list[str], role: str = "user") -> dict[str, str]:
        return {"Authorization": f"Bearer {store.add(namespaces, role)[0]}"}  # type: ignore[arg-type]

    headers = {"a": bearer(["tenantA"]), "b": bearer(["tenantB"]), "shared": bearer([""]),
               "admin_a": bearer(["tenantA"], "admin"), "both": bearer(["tenantA", "tenantB"])}
    with running_app(settings) as client:
        yield Tenants(client, **headers)


def generate(t: Tenants, headers: dict[str, str], prompt: str, **body: Any) -> Any:
    response = t.client.post("/generate", json={"prompt": prompt, **body}, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


def test_no_key_or_a_bad_key_is_401_with_a_challenge(tenants: Tenants) -> None:
    c = tenants.client
    for headers in ({}, {"Authorization": "Bearer dck_000000000000_" + "x" * 43}, {"Authorization": "Basic abc"}):
        for method, path, body in [("post", "/generate", {"prompt": "a cat"}), ("get", "/recommend?q=a", None),
                                   ("get", "/jobs/abc", None), ("get", "/stats", None), ("get", "/metrics", None),
                                   ("delete", "/jobs/abc", None), ("get", "/jobs/abc/events", None)]:
            response = c.request(method, path, json=body, headers=headers)
            assert response.status_code == 401, (method, path, headers)
            assert response.json()["error"]["type"] == "unauthorized"
            assert response.json()["error"]["field"] == "Authorization"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert c.get("/gallery").status_code == 401
    for path in ("/healthz", "/readyz", "/"):
        assert c.get(path).status_code == 200  # health, readiness and the page stay open


def test_metrics_need_an_admin_key(tenants: Tenants) -> None:
    c = tenants.client
    forbidden = c.get("/metrics", headers=tenants.a)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["type"] == "forbidden"
    assert c.get("/metrics", headers=tenants.admin_a).status_code == 200
    assert c.get("/stats", headers=tenants.a).status_code == 200


def test_the_namespace_comes_from_the_key(tenants: Tenants) -> None:
    c = tenants.client
    denied = c.post("/generate", json={"prompt": "a cat"},
                    headers={**tenants.a, "X-Dreamcache-Namespace": "tenantB"})
    assert denied.status_code == 403 and denied.json()["error"]["field"] == "X-Dreamcache-Namespace"
    assert c.get("/recommend?q=a", headers={**tenants.a, "X-Dreamcache-Namespace": ""}).status_code == 403
    # A key with two namespaces picks one with the header; without it, its first.
    made = generate(tenants, {**tenants.both, "X-Dreamcache-Namespace": "tenantB"}, "a lantern in a dark cave")
    hit = generate(tenants, tenants.b, "a lantern in a dark cave", cache="only")
    assert hit["images"][0]["id"] == made["images"][0]["id"]


def test_no_route_leaks_another_tenants_pictures_prompts_suggestions_or_jobs(tenants: Tenants) -> None:
    c = tenants.client
    made = c.post("/generate", json={"prompt": PROMPT_A}, headers=tenants.a)
    assert made.status_code == 200
    body = made.json()
    image, job_id = body["images"][0], body["job_id"]
    image_key = f"{image['id']}.png"
    signed_url = image["url"]
    assert "sig=" in signed_url and "exp=" in signed_url
    for other in (tenants.b, tenants.shared):
        # The same prompt from another tenant is no hit: it gets its own picture.
        miss = c.post("/generate", json={"prompt": PROMPT_A, "cache": "only"}, headers=other)
        assert miss.status_code == 404 and miss.json()["error"]["type"] == "cache_miss"
        # Autocomplete never offers the other tenant's prompt.
        for q in ("a secret", "blueprint", "flying machine"):
            suggestions = c.get("/recommend", params={"q": q}, headers=other).json()["suggestions"]
            assert all("tenant a" not in s["prompt"] for s in suggestions)
        # Its job does not exist for them, and they cannot cancel it.
        for method, path in (("get", f"/jobs/{job_id}"), ("delete", f"/jobs/{job_id}"),
                             ("get", f"/jobs/{job_id}/events")):
            response = c.request(method, path, headers=other)
            assert response.status_code == 404, (method, path)
        # Its picture is a 404 with their key, and their gallery does not show it.
        assert c.get(f"/images/{image_key}", headers=other).status_code == 404
        assert all(i["id"] != image["id"] for i in c.get("/gallery", headers=other).json()["images"])
    # The owner reads everything back.
    assert c.get(f"/jobs/{job_id}", headers=tenants.a).json()["status"] == "succeeded"
    assert c.get(f"/images/{image_key}", headers=tenants.a).status_code == 200
    assert c.get("/recommend", params={"q": "a secret"}, headers=tenants.a).json()["suggestions"]
    # Without a key: only the signed URL handed out works; a tampered or moved signature does not.
    assert c.get(f"/images/{image_key}").status_code == 401
    assert c.get(signed_url).status_code == 200
    assert c.get(signed_url.replace("sig=", "sig=0")).status_code == 401
    other_made = generate(tenants, tenants.b, PROMPT_B)["images"][0]
    moved = signed_url.replace(image["id"], other_made["id"])
    assert c.get(moved).status_code == 401


def test_an_open_service_says_so_loudly_on_a_public_address(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="dreamcache.app"), running_app(
        tiny_settings(tmp_path, host="0.0.0.0"), ready=False
    ):
        pass
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "OPEN" in r.getMessage()]
    assert warnings and "dreamcache keys add" in warnings[0].getMessage()


def test_revoking_a_key_ends_the_image_urls_handed_to_it(tenants: Tenants) -> None:
    c = tenants.client
    store: KeyStore = c.app.state.services.keys  # type: ignore[attr-defined]
    key, record = store.add(["tenantA"], label="short-lived")
    url = generate(tenants, {"Authorization": f"Bearer {key}"}, "a revocable picture of a red kite")["images"][0]["url"]
    assert f"sig={record.id}." in url and c.get(url).status_code == 200
    hit = generate(tenants, tenants.a, "a revocable picture of a red kite", cache="only")["images"][0]["url"]
    store.revoke(record.id)
    time.sleep(1.1)  # the server re-reads a changed file within a second
    assert c.get(url).status_code == 401  # its URLs end with it
    assert c.get(hit).status_code == 200  # another key's URL of the same picture still works


def test_emptying_the_keys_file_closes_the_service_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = tiny_settings(tmp_path)
    store = KeyStore(settings.keys_path)
    key, record = store.add(["tenantA"], "admin")
    with caplog.at_level(logging.INFO), running_app(settings, ready=False) as c:
        admin = {"Authorization": f"Bearer {key}"}
        assert c.get("/admin/entries", headers=admin).status_code == 200
        store.revoke(record.id)  # the last key: the file now says {"secret": ..., "keys": []}
        time.sleep(1.1)
        for method, path in [("get", "/admin/entries"), ("get", "/stats"), ("get", "/gallery"),
                             ("get", "/recommend?q=a"), ("get", "/metrics"), ("post", "/admin/sweep")]:
            for headers in ({}, admin):
                response = c.request(method, path, headers=headers)
                assert response.status_code == 401, (method, path, response.text)
        response = c.post("/generate", json={"prompt": "a cat"})
        assert response.status_code == 401 and response.json()["error"]["field"] == "Authorization"
        for path in ("/healthz", "/"):
            assert c.get(path).status_code == 200  # health and the page stay open
        assert c.get("/readyz").status_code in (200, 503)  # readiness answers (no key needed)
        assert any(r.levelno >= logging.ERROR and "holds no keys" in r.getMessage() for r in caplog.records)
        caplog.clear()
        settings.keys_path.unlink()  # the one way back to an open service: no keys file at all
        time.sleep(1.1)
        assert c.get("/admin/entries").status_code == 200
        assert any(r.levelno >= logging.WARNING and "OPEN" in r.getMessage() for r in caplog.records)


def test_a_corrupt_keys_file_is_503_with_a_clear_error_and_a_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = tiny_settings(tmp_path)
    key, _ = KeyStore(settings.keys_path).add(["tenantA"])
    with caplog.at_level(logging.INFO), running_app(settings, ready=False) as c:
        settings.keys_path.write_text('{"secret": "x", "keys": [{"id": ')  # cut short by a bad edit
        time.sleep(1.1)
        for headers in ({}, {"Authorization": f"Bearer {key}"}):
            response = c.get("/gallery", headers=headers)
            assert response.status_code == 503, response.text
            assert response.json()["error"]["type"] == "keys_unavailable"
        assert c.get("/healthz").status_code == 200
        assert any(r.levelno >= logging.ERROR and "keys file" in r.getMessage() for r in caplog.records)


def test_stats_count_only_the_callers_namespaces(tenants: Tenants) -> None:
    c = tenants.client

    def totals(headers: dict[str, str]) -> tuple[int, int, int]:
        body = c.get("/stats", headers=headers).json()
        return body["hits"], body["misses"], body["images_generated"]

    before_a, before_b, before_both = totals(tenants.a), totals(tenants.b), totals(tenants.both)
    generate(tenants, tenants.a, "a stats test: a teal bicycle by a canal")  # a miss, one picture
    generate(tenants, tenants.a, "a stats test: a teal bicycle by a canal", cache="only")  # a hit
    assert totals(tenants.b) == before_b  # another tenant's traffic is not in b's numbers
    assert totals(tenants.a) == (before_a[0] + 1, before_a[1] + 1, before_a[2] + 1)
    assert totals(tenants.admin_a) == totals(tenants.a)  # an admin sees its own namespaces
    assert totals(tenants.both) == (before_both[0] + 1, before_both[1] + 1, before_both[2] + 1)


def test_post_recommend_and_admin_purge_stay_in_their_namespaces(tenants: Tenants) -> None:
    # Last in this module: the purge empties tenantA's pool of the shared app.
    c = tenants.client
    services = c.app.state.services  # type: ignore[attr-defined]
    fingerprint = services.cache.fingerprint
    ours = generate(tenants, tenants.a, "a purge test: tenant a's copper kettle")["images"][0]
    theirs = generate(tenants, tenants.b, "a purge test: tenant b's copper kettle")["images"][0]
    # POST /recommend (the body form) offers each tenant its own prompts only.
    for headers, mine, other in ((tenants.a, "tenant a's", "tenant b's"), (tenants.b, "tenant b's", "tenant a's")):
        response = c.post("/recommend", json={"q": "a purge test"}, headers=headers)
        assert response.status_code == 200, response.text
        prompts = [s["prompt"] for s in response.json()["suggestions"]]
        assert any(mine in p for p in prompts) and not any(other in p for p in prompts), prompts
    other_namespace = {**tenants.a, "X-Dreamcache-Namespace": "tenantB"}
    denied = c.post("/recommend", json={"q": "a purge test"}, headers=other_namespace)
    assert denied.status_code == 403
    # An entry of tenantA made by another model: the purge leaves it.
    entry = services.index.get(ours["id"])
    other_model = dataclasses.replace(entry, id=str(uuid.uuid4()), fingerprint="another-fingerprint",
                                      compat_key="compat-of-another-model", text_key="", exact_key="")
    services.index.upsert(other_model, services.index.vector(ours["id"]))
    in_a = len(services.index.find(1000, fingerprint=fingerprint, namespace="tenantA"))
    assert in_a >= 1
    # A user key may not purge; tenantA's admin purges tenantA's entries of the fingerprint, and only those.
    assert c.post("/admin/purge", json={"fingerprint": fingerprint}, headers=tenants.a).status_code == 403
    purged = c.post("/admin/purge", json={"fingerprint": fingerprint}, headers=tenants.admin_a)
    assert purged.status_code == 200 and purged.json() == {"deleted": in_a}
    assert services.index.get(ours["id"]) is None and services.index.get(other_model.id) is not None
    assert services.index.get(theirs["id"]) is not None
    gone = c.post("/generate", json={"prompt": "a purge test: tenant a's copper kettle", "cache": "only"},
                  headers=tenants.a)
    assert gone.status_code == 404
    kept = generate(tenants, tenants.b, "a purge test: tenant b's copper kettle", cache="only")
    assert kept["images"][0]["id"] == theirs["id"]
