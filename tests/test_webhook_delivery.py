"""Webhook delivery and its address check without an app: `check_destination` against every private range the
guard must refuse, and `WebhookSender` against a local receiver (give-up after max_attempts, retry after a
connection error, the backoff sequence, the check at every attempt, redirects never followed).

The receiver is on 127.0.0.1, which the guard refuses, so deliveries here allowlist it; the guard itself is
tested on, without an allowlist, by `check_destination` (an IP literal resolves without a network)."""

from __future__ import annotations

import asyncio
import base64
import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from dreamcache import webhooks
from dreamcache.settings import Settings
from dreamcache.webhooks import BACKOFF_S, WebhookRefused, WebhookSender, WebhookUrlInvalid, check_destination

SECRET = "whsec_" + base64.b64encode(b"0123456789abcdef0123456789abcdef").decode()


def guarded(**overrides: Any) -> Settings:
    return Settings(webhook_secret=SECRET, **overrides)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook", "http://10.255.255.254/hook",
        "http://172.16.0.1/hook", "http://172.31.255.254/hook",
        "http://192.168.0.1/hook", "http://192.168.255.254/hook",
        "http://0.0.0.0/hook", "http://127.0.0.1/hook", "http://[::ffff:127.0.0.1]/hook", "http://[::1]/hook",
        "http://169.254.169.254/latest/meta-data", "https://[fd00::1]:8443/hook", "http://100.64.0.1/hook",
        # IPv6 addresses that are global themselves but carry a private or multicast IPv4 address, and the rest
        # of the IPv6 non-public kinds: NAT64, NAT64 for local use (RFC 8215), 6to4, IPv4-compatible, site-local,
        # multicast
        "http://[64:ff9b::10.0.0.1]/hook", "http://[64:ff9b:1::8.8.8.8]/hook", "http://[2002:a00:1::1]/hook",
        "http://[2002:e000:1::1]/hook", "http://[::10.0.0.1]/hook", "http://[fec0::1]/hook", "http://[ff0e::1]/hook",
        "http://224.0.0.1/hook", "http://[::2]/hook",
    ],
)
def test_the_guard_refuses_private_addresses(url: str) -> None:
    with pytest.raises(WebhookRefused, match="non-public address"):
        check_destination(url, guarded())


def test_the_refusal_says_which_address_and_how_to_allow_it() -> None:
    with pytest.raises(WebhookRefused) as refused:
        check_destination("http://10.1.2.3:8080/hook", guarded())
    assert str(refused.value) == (
        "host '10.1.2.3' resolves to a non-public address (10.1.2.3): loopback, link-local, site-local, private and "
        "addresses embedding them need DREAMCACHE_WEBHOOK_ALLOWED_HOSTS")


@pytest.mark.parametrize("url", ["http://172.32.0.1/hook", "http://172.15.255.254/hook", "https://8.8.8.8/hook",
                                 "http://192.169.0.1/hook", "http://11.0.0.1:8080/hook",
                                 "http://[64:ff9b::8.8.8.8]/hook", "http://[2002:808:808::1]/hook",
                                 "http://[::8.8.8.8]/hook", "http://[2606:4700::1111]/hook"])
def test_the_guard_lets_public_addresses_through(url: str) -> None:
    check_destination(url, guarded())  # raises nothing


def test_the_guard_needs_a_secret_a_scheme_and_a_host() -> None:
    with pytest.raises(WebhookRefused, match=r"^webhooks are disabled on this service \(DREAMCACHE_WEBHOOK_SECRET is "
                                             r"not set\)$"):
        check_destination("https://8.8.8.8/hook", Settings())
    for url in ["ftp://8.8.8.8/hook", "https:///hook", "8.8.8.8/hook"]:
        with pytest.raises(WebhookUrlInvalid, match="http:// or https:// URL with a host"):
            check_destination(url, guarded())
    with pytest.raises(WebhookRefused, match="does not resolve"):
        check_destination("http://no-such-host.invalid/hook", guarded())


def test_the_allowlist_restricts_hosts_and_admits_listed_private_ones() -> None:
    listed = guarded(webhook_allowed_hosts=["127.0.0.1", ".example.org", "10.0.0.7"])
    check_destination("http://127.0.0.1:9/hook", listed)
    check_destination("http://10.0.0.7/hook", listed)
    with pytest.raises(WebhookRefused, match="'10.0.0.8' is not in this service's webhook allowlist"):
        check_destination("http://10.0.0.8/hook", listed)
    with pytest.raises(WebhookRefused, match="allowlist"):
        check_destination("https://8.8.8.8/hook", listed)  # public, but not listed
    assert webhooks._host_allowed("HOOKS.Example.ORG.", [".example.org"])
    assert webhooks._host_allowed("example.org", ["Example.org"])
    assert not webhooks._host_allowed("example.org", [".example.org"])  # a leading dot is for subdomains
    assert not webhooks._host_allowed("badexample.org", [".example.org", "example.org"])
    assert not webhooks._host_allowed("example.org.evil", ["example.org"])


# -- delivery --


@dataclass
class Receiver:
    url: str = ""
    statuses: list[int] = field(default_factory=list)  # answers in order; then 200
    seen: list[str] = field(default_factory=list)  # paths of the requests received
    on_request: Any = None  # called with the request count after each request


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers["content-length"]))
            state.seen.append(self.path)
            status = state.statuses.pop(0) if state.statuses else 200
            self.send_response(status)
            if status in (301, 302, 307, 308):
                self.send_header("location", state.url.replace("/hook", "/elsewhere"))
            self.send_header("content-length", "0")
            self.end_headers()
            if state.on_request is not None:
                state.on_request(len(state.seen))

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


class RecordedSleeps:
    """Stands in for the `asyncio` module inside webhooks: records each backoff instead of waiting it out."""

    def __init__(self, on_sleep: Any = None) -> None:
        self.slept: list[float] = []
        self.on_sleep = on_sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if self.on_sleep is not None:
            self.on_sleep(len(self.slept))


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> RecordedSleeps:
    recorded = RecordedSleeps()
    monkeypatch.setattr(webhooks, "asyncio", recorded)
    return recorded


def deliver(settings: Settings, url: str) -> tuple[bool, WebhookSender]:
    async def run() -> tuple[bool, WebhookSender]:
        sender = WebhookSender(settings)
        try:
            return await sender._deliver(url, "completed", {"id": "job-1"}), sender
        finally:
            await sender.close()

    return asyncio.run(run())


def allowed(**overrides: Any) -> Settings:
    return guarded(webhook_allowed_hosts=["127.0.0.1"], **overrides)


def test_gives_up_after_max_attempts(receiver: Receiver, sleeps: RecordedSleeps) -> None:
    receiver.statuses = [500] * 10
    ok, sender = deliver(allowed(webhook_max_attempts=3), receiver.url)
    assert not ok and sender.failed == 1 and sender.delivered == 0
    assert len(receiver.seen) == 3 and sleeps.slept == [1.0, 2.0]  # no wait after the last attempt


def test_the_backoff_sequence(receiver: Receiver, sleeps: RecordedSleeps) -> None:
    receiver.statuses = [503] * 10
    ok, _ = deliver(allowed(webhook_max_attempts=6, webhook_backoff_scale=0.5), receiver.url)
    assert not ok and len(receiver.seen) == 6
    assert sleeps.slept == [0.5, 1.0, 2.0, 4.0, 8.0] == [s * 0.5 for s in BACKOFF_S]


def test_a_success_after_failures_stops_the_retries(receiver: Receiver, sleeps: RecordedSleeps) -> None:
    receiver.statuses = [500, 404]
    ok, sender = deliver(allowed(), receiver.url)
    assert ok and sender.delivered == 1 and sender.failed == 0
    assert len(receiver.seen) == 3 and sleeps.slept == [1.0, 2.0]


def test_retries_after_a_connection_error(receiver: Receiver, sleeps: RecordedSleeps) -> None:
    # A port nothing listens on yet: the first attempt is refused; it listens during the backoff.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    accepted: list[bytes] = []

    def serve_once() -> None:
        conn, _ = sock.accept()
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            accepted.append(data)
            conn.sendall(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")

    def listen_now(count: int) -> None:
        if count == 1:
            sock.listen(1)
            threading.Thread(target=serve_once, daemon=True).start()

    sleeps.on_sleep = listen_now
    try:
        ok, sender = deliver(allowed(), f"http://127.0.0.1:{port}/hook")
    finally:
        sock.close()
    assert ok and sender.delivered == 1 and sleeps.slept == [1.0] and len(accepted) == 1
    assert accepted[0].startswith(b"POST /hook ")


def test_the_address_check_runs_at_every_attempt(receiver: Receiver, sleeps: RecordedSleeps) -> None:
    settings = allowed(webhook_max_attempts=5)
    receiver.statuses = [500] * 10

    def revoke(count: int) -> None:  # after the first attempt, 127.0.0.1 is no longer allowlisted
        settings.webhook_allowed_hosts = []

    receiver.on_request = revoke
    ok, sender = deliver(settings, receiver.url)
    assert not ok and sender.failed == 1
    assert len(receiver.seen) == 1  # the second attempt was refused before connecting: no more retries
    assert sleeps.slept == [1.0]


def test_redirects_are_not_followed(receiver: Receiver, sleeps: RecordedSleeps) -> None:
    receiver.statuses = [302, 307, 308]
    ok, sender = deliver(allowed(webhook_max_attempts=3), receiver.url)
    assert not ok and sender.failed == 1
    assert receiver.seen == ["/hook"] * 3  # never "/elsewhere"
