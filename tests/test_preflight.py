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
    for words in ("acme/no-such-model", "cannot be reached", "`hf download acme/no-such-model`",
                  "DREAMCACHE_MODEL=tiny"):
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


def test_a_missing_local_folder_is_not_offered_for_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for model in (str(tmp_path / "no-such-weights"), "./weights/sd15", "~/models/sd"):
        with pytest.raises(ModelUnavailable) as caught:
            check_model(Settings(model=model))
        message = str(caught.value)
        assert "no such folder" in message and "download" not in message and "DREAMCACHE_MODEL=tiny" in message


def test_serve_and_demo_help_print_each_default_once_and_right(capsys: pytest.CaptureFixture[str]) -> None:
    from dreamcache import cli

    defaults = Settings.model_fields
    for command in ("serve", "demo"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "None" not in text and text.count("(default:") == (3 if command == "serve" else 2), text
        assert f"(default: DREAMCACHE_HOST, else {defaults['host'].default})" in text
        assert f"(default: DREAMCACHE_PORT, else {defaults['port'].default})" in text
        if command == "serve":
            assert f"(default: DREAMCACHE_WORKER, else {defaults['worker'].default})" in text
