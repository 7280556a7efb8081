"""Hit-path benchmark: POST /generate answered from the cache, through HTTP, on this machine.

For each index backend (embedded Qdrant Edge, qdrant-client local mode) and index size (1k, 100k
entries) it fills an index, starts `dreamcache serve` (tiny model) in its own process on it, and
drives it with 1 and 32 concurrent clients for a fixed time. Every request is a hit. Reported:
client-side p50/p99 latency and requests/s, and the server's own total_ms p50/p99 (from the
response's timings). Run: `make bench` (or `python bench/bench_hit_path.py --help`).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np

from dreamcache import prompts
from dreamcache.cli import wait_ready
from dreamcache.decision import compat_key, embedding_text, exact_key
from dreamcache.embedding import MiniLMEmbedder
from dreamcache.generation.spec import BatchShape, pipeline_fingerprint
from dreamcache.generation.text import count_prompt_tokens, load_tokenizer
from dreamcache.index import Entry, open_index
from dreamcache.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
SHAPE = BatchShape(512, 512, 25, 7.5)
OTHER_SHAPES = [BatchShape(768, 512, 25, 7.5), BatchShape(512, 768, 25, 7.5)]


def base_prompts(data_dir: Path) -> list[str]:
    """Real prompts to index and query: PartiPrompts when ../shared/data is there, else the demo list."""
    parti = data_dir / "parti_prompts.tsv"
    texts: list[str] = []
    if parti.exists():
        with parti.open(encoding="utf-8") as handle:
            texts = [row["Prompt"] for row in csv.DictReader(handle, delimiter="\t") if len(row["Prompt"]) > 12]
    demo = (ROOT / "src/dreamcache/data/demo_prompts.txt").read_text().splitlines()
    texts += [line for line in demo if line and not line.startswith("#")]
    tokenizer = load_tokenizer("tiny")  # the benchmark server runs the tiny model: stay within its token limit
    seen: dict[str, str] = {}
    for text in texts:
        if count_prompt_tokens(tokenizer, text) <= tokenizer.model_max_length:
            seen.setdefault(prompts.normalize(text), prompts.clean(text))
    return list(seen.values())


def fill(settings: Settings, size: int, texts: list[str], vectors: np.ndarray, seed: int = 0) -> None:
    """Index `size` entries near the real prompt vectors; 80% share the benchmark's shape."""
    rng = np.random.default_rng(seed)
    fingerprint = pipeline_fingerprint(settings, "cpu")
    index = open_index(settings, embedder_name="minilm", dimension=vectors.shape[1])
    batch: list[tuple[Entry, list[float]]] = []
    for i in range(size):
        base = i % len(texts)
        shape = SHAPE if i < len(texts) or i % 5 else OTHER_SHAPES[i % 2]
        compat = compat_key(fingerprint, shape, "")
        # The first copy of each prompt is its exact vector (the hit); the rest are noisy neighbours.
        vector = vectors[base] if i < len(texts) else vectors[base] + rng.normal(0, 0.08, vectors.shape[1])
        vector = vector / np.linalg.norm(vector)
        prompt = texts[base] if i < len(texts) else f"{texts[base]}, variation {i}"
        entry = Entry(
            id=str(uuid.uuid4()),
            prompt=prompt,
            negative_prompt="",
            width=shape.width,
            height=shape.height,
            steps=shape.steps,
            guidance_scale=shape.guidance_scale,
            seed=i,
            model=settings.model,
            fingerprint=fingerprint,
            image_key=f"{uuid.uuid4().hex}.png",
            created_at=time.time(),
            compat_key=compat,
            exact_key=exact_key(compat, prompt, shape, i),
            prompt_norm=prompts.normalize(prompt),
        )
        batch.append((entry, vector.astype(np.float32).tolist()))
        if len(batch) == 1000:
            index.upsert_many(batch)
            batch = []
    if batch:
        index.upsert_many(batch)
    optimize = getattr(index, "optimize", None)
    if optimize is not None:
        optimize()  # build HNSW now, as a long-running service would have by then
    index.close()


@dataclass
class Cell:
    backend: str
    size: int
    clients: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_p50_ms: float
    server_p99_ms: float
    embed_p50_ms: float
    lookup_p50_ms: float
    hit_ratio: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q)) if values else float("nan")


async def drive(
    base_url: str, queries: list[str], clients: int, duration_s: float
) -> tuple[list[float], list[dict], int]:
    latencies: list[float] = []
    server: list[dict] = []
    hits = 0
    deadline = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as client:

        async def one(worker: int) -> None:
            nonlocal hits
            i = worker
            while time.perf_counter() < deadline:
                body = {"prompt": queries[i % len(queries)], "width": 512, "height": 512, "cache": "only"}
                i += clients
                started = time.perf_counter()
                try:
                    response = await client.post("/generate", json=body)
                except httpx.HTTPError:  # a timeout counts as a failed request, not a crash of the bench
                    latencies.append((time.perf_counter() - started) * 1000)
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code == 200:
                    hits += 1
                    server.append(response.json()["timings"])

        await asyncio.gather(*(one(w) for w in range(clients)))
    return latencies, server, hits


def serve(settings_env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **settings_env,
        "DREAMCACHE_PORT": str(port),
        "DREAMCACHE_MODEL": "tiny",
        "HF_HUB_OFFLINE": "1",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "dreamcache.cli", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--backends", nargs="+", default=["edge", "qdrant-local"], choices=["edge", "qdrant-local"])
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration per cell")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()

    texts = base_prompts(args.data)
    print(f"embedding {len(texts)} base prompts...", file=sys.stderr)
    vectors = MiniLMEmbedder().embed([embedding_text(text) for text in texts])
    cells: list[Cell] = []
    for backend in args.backends:
        for size in args.sizes:
            with tempfile.TemporaryDirectory(prefix="dreamcache-bench-") as tmp:
                # A load generator is one client sending hundreds of requests a second: no rate limit here.
                env = {"DREAMCACHE_DATA_DIR": tmp, "DREAMCACHE_REQUEST_RATE_PER_S": "0"}
                if backend == "qdrant-local":
                    env["DREAMCACHE_QDRANT_LOCAL_PATH"] = str(Path(tmp) / "qdrant-local")
                settings = Settings(
                    model="tiny", data_dir=Path(tmp), qdrant_local_path=env.get("DREAMCACHE_QDRANT_LOCAL_PATH")
                )
                started = time.perf_counter()
                fill(settings, size, texts, vectors)
                print(f"{backend}: {size} entries indexed in {time.perf_counter() - started:.1f}s", file=sys.stderr)
                process = serve(env, args.port)
                url = f"http://127.0.0.1:{args.port}"
                try:
                    wait_ready(url, timeout_s=300)
                    queries = texts[:size]  # only prompts that are in this index: every request a hit
                    asyncio.run(drive(url, queries, 4, 2.0))  # warm-up
                    for clients in args.clients:
                        lat, server, hits = asyncio.run(drive(url, queries, clients, args.seconds))
                        total = [t["total_ms"] for t in server]
                        cell = Cell(
                            backend,
                            size,
                            clients,
                            len(lat),
                            args.seconds,
                            pct(lat, 50),
                            pct(lat, 99),
                            pct(total, 50),
                            pct(total, 99),
                            pct([t["embed_ms"] for t in server], 50),
                            pct([t["lookup_ms"] for t in server], 50),
                            hits / max(1, len(lat)),
                        )
                        cells.append(cell)
                        print(
                            f"  {clients:>2} clients: {cell.rps:7.1f} req/s  p50 {cell.p50_ms:6.1f} ms  "
                            f"p99 {cell.p99_ms:6.1f} ms  (server p50 {cell.server_p50_ms:.1f} / "
                            f"p99 {cell.server_p99_ms:.1f} ms, hits {cell.hit_ratio:.0%})",
                            file=sys.stderr,
                        )
                finally:
                    process.terminate()
                    process.wait(timeout=30)
    print(report(cells, args.seconds))
    return 0


def report(cells: list[Cell], seconds: float) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Machine: {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}; "
        f"server and load generator on the same machine; {seconds:.0f} s per cell; every request a hit.",
        "",
        "| index | entries | clients | req/s | p50 ms | p99 ms | server p50 ms | server p99 ms "
        "| embed p50 ms | lookup p50 ms | hits |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lines.append(
            f"| {c.backend} | {c.size:,} | {c.clients} | {c.rps:.1f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | "
            f"{c.server_p50_ms:.1f} | {c.server_p99_ms:.1f} | {c.embed_p50_ms:.1f} | {c.lookup_p50_ms:.1f} "
            f"| {c.hit_ratio:.0%} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
