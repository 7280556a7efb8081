"""The web page: served by the app, and driven for real in headless Chromium (tests/web/flow.mjs)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from apphelpers import live_server, running_app, tiny_settings

WEB = Path(__file__).resolve().parent / "web"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))


def test_page_and_assets_are_served(tmp_path: Path) -> None:
    with running_app(tiny_settings(tmp_path)) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '/static/app.js' in page.text and '/static/style.css' in page.text
        assert "http://" not in page.text and "https://" not in page.text  # works offline: nothing external
        for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
            response = client.get(f"/static/{asset}")
            assert response.status_code == 200 and kind in response.headers["content-type"]
            assert "http://" not in response.text and "https://" not in response.text
        assert client.get("/static/nope.js").json()["error"]["type"] == "not_found"
        # The API docs work offline: Swagger UI and ReDoc come from the package, not a CDN.
        for path, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            docs = client.get(path)
            assert docs.status_code == 200 and script in docs.text
            assert "http://" not in docs.text and "https://" not in docs.text, path
            assets = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", docs.text)
            assert any(a.endswith(script) for a in assets), assets
            for asset in assets:
                fetched = client.get(asset)
                assert fetched.status_code == 200 and len(fetched.content) > 1000, (path, asset)

        stats = client.get("/stats").json()
        assert stats["hits"] == stats["misses"] == 0 and stats["hit_ratio"] == 0.0
        assert stats["queue_depth"] == 0 and stats["gpu_seconds_saved"] == 0.0
        assert stats["defaults"]["width"] == 64

        assert client.post("/generate", json={"prompt": "a quiet harbour at dawn"}).status_code == 200
        assert client.post("/generate", json={"prompt": "a quiet harbour at dawn"}).headers["x-cache"] == "HIT"
        stats = client.get("/stats").json()
        assert (stats["hits"], stats["misses"], stats["hit_ratio"]) == (1, 1, 0.5)
        assert stats["gpu_seconds_saved"] > 0


def test_page_in_headless_chromium(tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} missing: run `make web-deps` (installs Debian's chromium as root)")
    node = shutil.which("node")
    if node is None or not (WEB / "node_modules" / "playwright-core").is_dir():
        pytest.skip("node or tests/web/node_modules missing: run `make web-deps` (npm ci in tests/web)")
    shots = Path(os.environ.get("WEB_SCREENSHOT_DIR", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    # Misses wait 1.5 s for company before they run: long enough to take a related picture instead.
    with live_server(tiny_settings(tmp_path / "data", batch_wait_ms=1500.0)) as server:
        flow = subprocess.run(
            [node, "flow.mjs", server.url, str(shots / "dreamcache-web.png")],
            cwd=WEB, capture_output=True, text=True, timeout=240, env={**os.environ, "CHROMIUM": str(CHROMIUM)},
        )
        stats = httpx.get(f"{server.url}/stats").json()
    assert flow.returncode == 0, f"browser flow failed:\n{flow.stdout}\n{flow.stderr}"
    assert "web flow: ok" in flow.stdout
    assert stats["hits"] >= 1 and stats["misses"] >= 1
