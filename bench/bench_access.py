"""What access control and retention cost: the key check, hit latency with and without a key, eviction rate.

    python bench/bench_access.py [--hits 400] [--entries 2000]

1. `KeyStore.authenticate` per call with 1,000 keys in the file.
2. One client sending cache hits over real HTTP (uvicorn, tiny model, embedded index), first to an
   open service, then to the same service data with a key required: p50/p99 side by side.
3. Retention evicting entries (vector, autocomplete, image and checkpoints in the local store).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from dreamcache.app import create_app
from dreamcache.cli import wait_ready
from dreamcache.keys import KeyStore
from dreamcache.serving import uvicorn_config
from dreamcache.settings import Settings


def key_check(tmp: Path) -> float:
    store = KeyStore(tmp / "keys.json")
    keys = [store.add(["t"])[0] for _ in range(1000)]
    store.records()
    started = time.perf_counter()
    for key in keys * 20:
        assert store.authenticate(key) is not None
    return (time.perf_counter() - started) / (len(keys) * 20) * 1e6


def serve(settings: Settings, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings, host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_ready(f"http://127.0.0.1:{port}", 300)
    return server, thread


def hit_latencies(url: str, n: int, headers: dict[str, str]) -> list[float]:
    times = []
    with httpx.Client(base_url=url, headers=headers) as client:
        body = {"prompt": "a lighthouse on a cliff at dusk, oil painting", "cache": "only"}
        for _ in range(n):
            started = time.perf_counter()
            response = client.post("/generate", json=body)
            times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, response.text
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--hits", type=int, default=400)
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    print(f"machine: {platform.machine()}, Python {platform.python_version()}", file=sys.stderr)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        print(f"key check: {key_check(tmp):.1f} us per authenticate() (1,000 keys)")
        settings = Settings(model="tiny", data_dir=tmp / "data", default_width=64, default_height=64,
                            default_steps=4, request_rate_per_s=0.0, host="127.0.0.1", port=args.port)
        rows = []
        for label in ("open (no keys)", "with a key"):
            headers: dict[str, str] = {}
            if label == "with a key":
                headers = {"Authorization": f"Bearer {KeyStore(settings.keys_path).add([''])[0]}"}
            server, thread = serve(settings, args.port)
            try:
                url = f"http://127.0.0.1:{args.port}"
                with httpx.Client(base_url=url, headers=headers, timeout=60) as client:  # make the picture once
                    client.post("/generate", json={"prompt": "a lighthouse on a cliff at dusk, oil painting"})
                hit_latencies(url, 50, headers)  # warm-up
                times = hit_latencies(url, args.hits, headers)
            finally:
                server.should_exit = True
                thread.join(30)
            p50, p99 = np.percentile(times, [50, 99])
            rows.append(f"| {label} | {args.hits} | {p50:.2f} | {p99:.2f} | {statistics.mean(times):.2f} |")
        print("\n| hits, 1 client | n | p50 ms | p99 ms | mean ms |\n|---|---:|---:|---:|---:|")
        print("\n".join(rows))
        print(f"\nretention: {evict(tmp / 'evict', args.entries)}")


def evict(data: Path, n: int) -> str:
    """Fill an index with n entries (files included) and time a sweep that evicts them all."""
    import asyncio

    from dreamcache.app import build_services

    settings = Settings(model="tiny", data_dir=data, retention_ttl_s=1.0)

    async def run() -> str:
        from contextlib import AsyncExitStack

        from dreamcache.index import Entry

        async with AsyncExitStack() as stack:
            services = await build_services(settings, stack)
            rng = np.random.default_rng(0)
            items = []
            for i in range(n):
                entry_id = f"{i:08d}-0000-4000-8000-000000000000"
                key = f"{entry_id}.png"
                services.store.put(key, b"x" * 1000)
                vector = rng.normal(size=384).astype(np.float32)
                items.append((Entry(id=entry_id, prompt=f"p {i}", negative_prompt="", width=64, height=64, steps=4,
                                    guidance_scale=7.5, seed=i, model="tiny", fingerprint="f", image_key=key,
                                    created_at=time.time() - 3600, compat_key="c", exact_key=f"e{i}",
                                    prompt_norm=f"p {i}"), vector / np.linalg.norm(vector)))
            services.index.upsert_many(items)
            started = time.perf_counter()
            counts = await asyncio.to_thread(services.curator.sweep)
            seconds = time.perf_counter() - started
            return (f"{counts['evicted']} entries evicted in {seconds:.2f} s "
                    f"({counts['evicted'] / seconds:,.0f} entries/s: vector, image file, autocomplete)")

    return asyncio.run(run())


if __name__ == "__main__":
    main()
