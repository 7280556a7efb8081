"""`dreamcache serve`, `demo` (the tiny model with a cache warmed in the background) and `openapi`."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from importlib import resources
from typing import Any

import httpx

from dreamcache.cli.warm import read_prompts, warm
from dreamcache.settings import Settings


def serve(settings: Settings, warm_up: dict[str, Any] | None = None) -> None:
    """Run the service with uvicorn in this process (`warm_up`: the demo's progress, shown by /stats)."""
    import uvicorn

    from dreamcache.app import create_app
    from dreamcache.serving import uvicorn_config

    app = create_app(settings)
    app.state.warm_up = warm_up
    try:
        uvicorn.Server(uvicorn_config(app, settings)).run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C once it has shut down cleanly: nothing left to say
        print("dreamcache: stopped", file=sys.stderr)



def serve_command(settings: Settings) -> int:
    """`dreamcache serve`: check the model is there (else exit 2 with why), then serve."""
    from dreamcache.preflight import ModelUnavailable, check_model

    try:
        check_model(settings)
    except ModelUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    serve(settings)
    return 0


def wait_ready(base_url: str, timeout_s: float) -> None:
    """Block until GET /readyz answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{base_url} was not ready within {timeout_s} s")


def demo(settings: Settings) -> None:
    """Serve the tiny model and print the URL as soon as it answers; warm the cache in the background."""
    base_url = f"http://{settings.host}:{settings.port}"
    text = resources.files("dreamcache").joinpath("data/demo_prompts.txt").read_text()
    prompt_list, _, _ = read_prompts(text.splitlines())
    tracker: dict[str, Any] = {"done": 0, "total": len(prompt_list), "generated": 0, "cached": 0, "failed": 0}

    def populate() -> None:
        try:
            wait_ready(base_url, settings.worker_start_timeout_s)
            print(f"\n  dreamcache demo: {base_url}  (API docs, offline: {base_url}/docs and /redoc)\n"
                  f"  warming the cache with {len(prompt_list)} prompts in the background; the page and "
                  f"{base_url}/stats show how far\n",
                  flush=True)
            report = asyncio.run(warm(base_url, prompt_list, progress=False, tracker=tracker))
            print(f"\n  demo cache warm: {report.generated} generated, {report.cached} already cached, "
                  f"{report.failed} failed\n  try: curl -s {base_url}/generate -H 'content-type: application/json' "
                  f"-d '{{\"prompt\": \"A red fox sleeping in fresh snow; soft morning light!\"}}'\n", flush=True)
        except Exception as exc:
            print(f"demo warm-up failed: {exc}", file=sys.stderr, flush=True)

    threading.Thread(target=populate, name="demo-warm", daemon=True).start()
    serve(settings, warm_up=tracker)


def openapi_json() -> str:
    """The app's OpenAPI document, as checked in under openapi/ (stable key order, trailing newline)."""
    from dreamcache.app import create_app

    return json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True)
