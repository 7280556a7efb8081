"""Webhooks against a local receiver: signed Standard Webhooks deliveries, events, retries, and no SSRF."""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from apphelpers import running_app, tiny_settings
from dreamcache.webhooks import sign

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


@dataclass
class Receiver:
    url: str
    deliveries: list[dict[str, Any]] = field(default_factory=list)
    fail_first: int = 0  # answer 500 to this many requests first
    release: threading.Event = field(default_factory=threading.Event)

    def events(self) -> list[str]:
        return [d["body"]["type"] for d in self.deliveries if d["status"] == 200]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver("")
    state.release.set()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            body = self.rfile.read(int(self.headers["content-length"]))
            state.release.wait(30)
            status = 500 if state.fail_first > 0 else 200
            state.fail_first -= 1
            state.deliveries.append({"headers": dict(self.headers), "raw": body, "body": json.loads(body),
                                     "status": status, "at": time.monotonic()})
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    state.release.set()
    server.shutdown()


def wait_until(check: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def settings_for(tmp_path: Path, **overrides: Any) -> Any:
    values = {"webhook_secret": SECRET, "webhook_allowed_hosts": ["127.0.0.1"], "webhook_backoff_scale": 0.05}
    return tiny_settings(tmp_path, **{**values, **overrides})


def test_events_arrive_signed_in_order(tmp_path: Path, receiver: Receiver) -> None:
    with running_app(settings_for(tmp_path, default_steps=20, default_width=256, default_height=256)) as client:
        response = client.post("/generate", json={
            "prompt": "a webhook test: a tugboat", "webhook": receiver.url,
            "webhook_events_filter": ["start", "progress", "completed"]})
        assert response.status_code == 200
        wait_until(lambda: "job.completed" in receiver.events())
        events = receiver.events()
        assert events[0] == "job.start" and events[-1] == "job.completed" and "job.progress" in events
        completed = receiver.deliveries[-1]
        assert completed["body"]["data"]["status"] == "succeeded"
        assert completed["body"]["data"]["result"]["images"][0]["id"] == response.json()["images"][0]["id"]
        for delivery in receiver.deliveries:
            headers = delivery["headers"]
            expected = sign(SECRET, headers["webhook-id"], int(headers["webhook-timestamp"]), delivery["raw"])
            assert headers["webhook-signature"] == expected
            # Verified independently of our own code, as a receiver would:
            key = base64.b64decode(SECRET.removeprefix("whsec_"))
            signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + delivery["raw"]
            mac = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
            assert headers["webhook-signature"] == f"v1,{mac}"
        assert len({d["headers"]["webhook-id"] for d in receiver.deliveries}) == len(receiver.deliveries)
        # A cache hit is a completion at once.
        hit = client.post("/generate", json={"prompt": "a webhook test: a tugboat", "webhook": receiver.url})
        assert hit.json()["source"] == "cache"
        wait_until(lambda: receiver.events().count("job.completed") == 2)
        assert receiver.deliveries[-1]["body"]["data"]["source"] == "cache"


def test_failed_deliveries_are_retried_with_backoff(tmp_path: Path, receiver: Receiver) -> None:
    receiver.fail_first = 2
    with running_app(settings_for(tmp_path)) as client:
        client.post("/generate", json={"prompt": "a webhook retry test: a ferry", "webhook": receiver.url})
        wait_until(lambda: receiver.events() == ["job.completed"])
        assert [d["status"] for d in receiver.deliveries] == [500, 500, 200]
        ids = {d["headers"]["webhook-id"] for d in receiver.deliveries}
        assert len(ids) == 1  # one message, three attempts
        # The backoff sequence itself: tests/test_webhook_delivery.py (recorded, not timed).


def test_delivery_never_holds_up_the_answer(tmp_path: Path, receiver: Receiver) -> None:
    receiver.release.clear()  # the receiver hangs until released
    with running_app(settings_for(tmp_path)) as client:
        response = client.post("/generate", json={"prompt": "a webhook test: a slow receiver",
                                                  "webhook": receiver.url})
        assert response.status_code == 200 and not receiver.deliveries  # answered while the receiver hangs
        receiver.release.set()
        wait_until(lambda: receiver.events() == ["job.completed"])


REFUSED = [
    ("http://127.0.0.1:9/hook", "non-public address"),
    ("http://localhost/hook", "non-public address"),
    ("http://169.254.169.254/latest/meta-data", "non-public address"),
    ("http://10.1.2.3/hook", "non-public address"),
    ("http://[::1]/hook", "non-public address"),
    ("ftp://example.com/hook", "must be an http:// or https:// URL"),
    ("not a url", "must be an http:// or https:// URL"),
]


@pytest.fixture(scope="module")
def secret_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app with a webhook secret (no allowlist) for the tests whose requests are all refused before a job
    exists, so they cannot affect each other; not waited for ready (refusals need no worker)."""
    with running_app(tiny_settings(tmp_path_factory.mktemp("webhooks"), webhook_secret=SECRET), ready=False) as client:
        yield client


def test_private_and_malformed_destinations_are_refused(secret_client: TestClient) -> None:
    for url, words in REFUSED:
        response = secret_client.post("/generate", json={"prompt": "a cat", "webhook": url})
        assert response.status_code == (422 if "must be" in words else 403), url
        error = response.json()["error"]
        assert error["field"] == "webhook" and words in error["message"], (url, error)


def test_webhooks_need_a_secret_and_the_allowlist_restricts_hosts(tmp_path: Path) -> None:
    with running_app(tiny_settings(tmp_path), ready=False) as client:
        refused = client.post("/generate", json={"prompt": "a cat", "webhook": "https://example.com/hook"})
        assert refused.status_code == 403 and "disabled" in refused.json()["error"]["message"]
    with running_app(tiny_settings(tmp_path / "b", webhook_secret=SECRET, webhook_allowed_hosts=[".example.org"]),
                     ready=False) as client:
        other = client.post("/generate", json={"prompt": "a cat", "webhook": "https://example.com/hook"})
        assert other.status_code == 403 and "allowlist" in other.json()["error"]["message"]


def test_a_malformed_secret_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="webhook_secret"):
        tiny_settings(tmp_path, webhook_secret="whsec_short")


MALFORMED = ["http://example.com:99999/", "http://example.com:abc/", "http://[::1/", "http://a..b/",
             "http://.example.com/", f"http://{'a' * 64}.example.com/"]


def test_a_url_the_parser_rejects_is_a_422_naming_webhook_and_keeps_the_connection(
    secret_client: TestClient,
) -> None:
    for url in MALFORMED:
        response = secret_client.post("/generate", json={"prompt": "a cat on a mat", "webhook": url})
        assert response.status_code == 422, (url, response.text)
        error = response.json()["error"]
        assert error["field"] == "webhook" and error["message"].startswith("webhook: "), (url, error)
        assert response.headers.get("connection") != "close"


EMBEDDING_PRIVATE = [
    "http://[::127.0.0.1]/hook",  # IPv4-compatible loopback
    "http://[::ffff:10.0.0.1]/hook",  # IPv4-mapped private
    "http://[64:ff9b::a9fe:a9fe]/hook",  # NAT64 of 169.254.169.254
    "http://[64:ff9b:1::a9fe:a9fe]/hook",  # local-use NAT64 (RFC 8215)
    "http://[2002:a9fe:a9fe::1]/hook",  # 6to4 of 169.254.169.254
    "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/hook",  # Teredo
    "http://[fec0::1]/hook",  # site-local
    "http://[ff0e::1]/hook",  # multicast
    "http://224.0.0.1/hook",  # multicast
]


def test_ipv6_forms_that_embed_private_ipv4_are_refused(secret_client: TestClient) -> None:
    for url in EMBEDDING_PRIVATE:
        response = secret_client.post("/generate", json={"prompt": "a cat", "webhook": url})
        assert response.status_code == 403, (url, response.text)
        assert "non-public address" in response.json()["error"]["message"], url


def test_public_ipv6_forms_still_pass_the_check() -> None:
    from ipaddress import ip_address

    from dreamcache.webhooks import is_public

    for public in ("2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "8.8.8.8"):
        assert is_public(ip_address(public)), public


def test_the_delivery_client_checks_each_connection_itself(tmp_path: Path, receiver: Receiver) -> None:
    """Checked again at connect time: a name that resolved to a public address when the request came in
    and to a private one at delivery (DNS rebinding) is never connected to."""
    import asyncio

    from dreamcache.webhooks import WebhookRefused, delivery_client

    async def attempt(settings: Any) -> int:
        async with delivery_client(settings) as client:
            return (await client.post(receiver.url, content=b"{}")).status_code

    with pytest.raises(WebhookRefused, match="non-public"):
        asyncio.run(attempt(tiny_settings(tmp_path, webhook_secret=SECRET)))
    assert receiver.deliveries == []
    allowed = tiny_settings(tmp_path, webhook_secret=SECRET, webhook_allowed_hosts=["127.0.0.1"])
    assert asyncio.run(attempt(allowed)) == 200  # an allowlisted host is connected to
