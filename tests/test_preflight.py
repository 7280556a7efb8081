"""`make run` without weights fails in seconds with one paragraph, not minutes of retries and a traceback."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dreamcache.preflight import ModelUnavailable, check_model
from dreamcache.settings import Settings


def serve_cli(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "HF_ENDPOINT")}
    environment.update({"DREAMCACHE_DATA_DIR": str(tmp_path), "HF_HOME": str(tmp_path / "hf"), **env})
    return subprocess.run([sys.executable, "-m", "dreamcache.cli", "serve"], env=environment, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60, check=False)


def test_an_unreachable_hub_fails_fast_and_kindly(tmp_path: Path) -> None:
    result = serve_cli(tmp_path, DREAMCACHE_MODEL="acme/no-such-model", HF_ENDPOINT="http://127.0.0.1:9")
    assert result.returncode == 2
    message = result.stderr.strip()
    assert "Traceback" not in message and len(message.splitlines()) == 1  # one paragraph
    for words in ("acme/no-such-model", "cannot be reached", "huggingface-cli download", "DREAMCACHE_MODEL=tiny"):
        assert words in message


@pytest.fixture
def hub_404() -> Iterator[str]:
    class NotFound(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotFound)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_model_the_hub_does_not_know_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, hub_404: str
) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", hub_404)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailable, match="the Hub answered 404"):
        check_model(Settings(model="acme/typo-in-the-name"))


def test_offline_local_folders_and_tiny(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailable, match="HF_HUB_OFFLINE is set"):
        check_model(Settings(model="acme/not-cached"))
    folder = tmp_path / "weights"
    folder.mkdir()
    with pytest.raises(ModelUnavailable, match="no model_index.json"):
        check_model(Settings(model=str(folder)))
    (folder / "model_index.json").write_text("{}")
    check_model(Settings(model=str(folder)))  # a diffusers folder: fine
    check_model(Settings(model="tiny"))
