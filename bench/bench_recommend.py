"""Autocomplete benchmark: GET /recommend on every keystroke, through HTTP, on this machine.

Fills an embedded Qdrant Edge index with N entries (default 100,000 distinct prompts: PartiPrompts
and their variations, with MiniLM vectors; same filler as bench_hit_path.py), measures how long
the in-memory suggestion index takes to load from it, starts `dreamcache serve` (tiny model) in its
own process on it, and drives GET /recommend with C concurrent clients for a fixed time. Each query
is a keystroke prefix (1..all characters) of a random indexed prompt. Reported: client p50/p99 and
requests/s, and the server's own handler time p50/p99 (its `Server-Timing: app;dur=` header).
Run: `python bench/bench_recommend.py` (options: --help).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import random
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hit_path import base_prompts, fill, pct, serve, wait_ready  # noqa: E402

from dreamcache.embedding import MiniLMEmbedder  # noqa: E402
from dreamcache.index import open_index  # noqa: E402
from dreamcache.prompts import embedding_text  # noqa: E402
from dreamcache.settings import Settings  # noqa: E402
from dreamcache.suggest import SuggestionIndex, load_timed  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
_DUR = re.compile(r"app;dur=([0-9.]+)")


@dataclass
class Cell:
    size: int
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float
    server_p50_ms: float
    server_p99_ms: float
    nonempty: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds


def keystrokes(texts: list[str], count: int, seed: int = 0) -> list[str]:
    """What users have typed so far: 1..len characters of known prompts (never ending in a space)."""
    rng = random.Random(seed)
    typed: list[str] = []
    while len(typed) < count:
        text = rng.choice(texts)
        prefix = text[: rng.randint(1, len(text))].rstrip()
        if prefix:
            typed.append(prefix)
    return typed


async def drive(base_url: str, queries: list[str], clients: int, duration_s: float) -> Cell:
    latencies: list[float] = []
    server: list[float] = []
    errors = 0
    nonempty = 0
    deadline = time.perf_counter() + duration_s
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=30) as client:

        async def one(worker: int) -> None:
            nonlocal errors, nonempty
            i = worker
            while time.perf_counter() < deadline:
                params = {"q": queries[i % len(queries)], "limit": 5, "width": 512, "height": 512}
                i += clients
                started = time.perf_counter()
                try:
                    response = await client.get("/recommend", params=params)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    errors += 1
                    continue
                match = _DUR.search(response.headers.get("server-timing", ""))
                if match:
                    server.append(float(match.group(1)))
                nonempty += bool(response.json()["suggestions"])

        await asyncio.gather(*(one(w) for w in range(clients)))
    return Cell(
        0,
        clients,
        len(latencies),
        errors,
        duration_s,
        pct(latencies, 50),
        pct(latencies, 99),
        pct(server, 50),
        pct(server, 99),
        nonempty / max(1, len(latencies)),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="indexed entries (distinct prompts)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seconds", type=float, default=10.0, help="load duration per cell")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="data directory to fill once and reuse on later runs (default: a temporary one)",
    )
    args = parser.parse_args()

    texts = base_prompts(args.data)
    print(f"embedding {len(texts)} base prompts...", file=sys.stderr)
    vectors = MiniLMEmbedder().embed([embedding_text(text) for text in texts])
    cells: list[Cell] = []
    with tempfile.TemporaryDirectory(prefix="dreamcache-bench-recommend-") as scratch:
        tmp = str(args.keep or scratch)
        settings = Settings(model="tiny", data_dir=Path(tmp))
        marker = Path(tmp) / f"filled-{args.size}"
        if not marker.exists():
            started = time.perf_counter()
            fill(settings, args.size, texts, vectors)
            marker.touch()
            print(f"{args.size} entries indexed in {time.perf_counter() - started:.1f}s", file=sys.stderr)
        index = open_index(settings, embedder_name="minilm", dimension=vectors.shape[1])
        try:
            suggestions = SuggestionIndex()
            count, load_s = load_timed(suggestions, index)
            typed_from = suggestions.prompts()
        finally:
            index.close()
        print(
            f"suggestion index: {count} entries ({len(suggestions)} prompts) loaded in {load_s:.2f}s", file=sys.stderr
        )
        queries = keystrokes(typed_from, 20_000)
        process = serve({"DREAMCACHE_DATA_DIR": tmp}, args.port)
        url = f"http://127.0.0.1:{args.port}"
        try:
            wait_ready(url, timeout_s=300)
            asyncio.run(drive(url, queries, 4, 2.0))  # warm-up
            for clients in args.clients:
                cell = asyncio.run(drive(url, queries, clients, args.seconds))
                cell.size = args.size
                cells.append(cell)
                print(
                    f"  {clients:>2} clients: {cell.rps:7.1f} req/s  p50 {cell.p50_ms:6.1f} ms  p99 "
                    f"{cell.p99_ms:6.1f} ms  (server p50 {cell.server_p50_ms:.2f} / p99 {cell.server_p99_ms:.2f} "
                    f"ms, non-empty {cell.nonempty:.0%}, errors {cell.errors})",
                    file=sys.stderr,
                )
        finally:
            process.terminate()
            process.wait(timeout=30)
    print(report(cells, args.seconds, count, load_s))
    return 0


def report(cells: list[Cell], seconds: float, loaded: int, load_s: float) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Machine: {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}; server (tiny model, "
        f"embedded Qdrant Edge) and load generator on the same machine; {seconds:.0f} s per cell; each query a "
        f"keystroke prefix of an indexed prompt, limit 5. Suggestion index start-up load: {loaded:,} entries in "
        f"{load_s:.2f} s.",
        "",
        "| entries | clients | req/s | p50 ms | p99 ms | server p50 ms | server p99 ms | non-empty | errors |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in cells:
        lines.append(
            f"| {c.size:,} | {c.clients} | {c.rps:.1f} | {c.p50_ms:.1f} | {c.p99_ms:.1f} | "
            f"{c.server_p50_ms:.2f} | {c.server_p99_ms:.2f} | {c.nonempty:.0%} | {c.errors} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
