"""Hit-path benchmark: POST /generate answered from the cache, through HTTP, driven by a compiled load generator.

Fills one Qdrant Edge index with 100,000 entries (real MiniLM vectors of ~13,000 distinct prompts made
from PartiPrompts and the demo prompts, the rest noisy neighbours; 80% share the benchmark's 512x512
size), then runs `dreamcache serve` (tiny model) on it once per configuration, one after the other:
the code before this work (a git ref, run from a worktree: "today's path"), then each step added in
turn. For each it measures, with Debian's `wrk` (2 threads; a Lua script for the POST bodies):

- `GET /healthz` with 32 connections (what a bare request costs here);
- 32 connections, every prompt text distinct (no two requests repeat one);
- 32 connections cycling the 300 most popular prompts (as real traffic repeats);
- 1 connection, repeated prompts, idle; and the same while the worker generates misses back to back;

client-side req/s and p50/p99, the server's own `timings` (embed, lookup, total; every 10th answer),
the web process's resident memory and its start-up time (spawn to /healthz). Every request is a hit
(`cache: only`); the table says how many were not. Run: `make bench` (or `--help`).
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from dreamcache import prompts
from dreamcache.cli import wait_ready
from dreamcache.embedding import OnnxMiniLMEmbedder
from dreamcache.generation.spec import BatchShape, pipeline_fingerprint
from dreamcache.generation.text import count_prompt_tokens, load_tokenizer
from dreamcache.index import Entry, open_index

try:  # their homes since issue 18; the benches' baselines (older checkouts) import this module too
    from dreamcache.prompts import embedding_text
    from dreamcache.resolution import compat_key, exact_key
except ImportError:
    from dreamcache.decision import compat_key, embedding_text, exact_key  # type: ignore[attr-defined,no-redef]
from dreamcache.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().parent / "wrk_generate.lua"
SHAPE = BatchShape(512, 512, 25, 7.5)
OTHER_SHAPES = [BatchShape(768, 512, 25, 7.5), BatchShape(512, 768, 25, 7.5)]
STYLES = ["", "oil painting", "watercolor", "at night", "photograph, 35mm", "pixel art", "in the snow",
          "studio lighting", "by a river"]
POPULAR = 300
BASELINE_REF = "9013292"  # main before the hit-path work of issue 12 (int8 embedder, LRU, httptools, uvloop)

# (name, git ref to run or None for this checkout, settings) in the order the steps were added.
ONE_THREAD = {"DREAMCACHE_EMBEDDER_THREADS": "1"}
OLD_HTTP = {"DREAMCACHE_HTTP_PARSER": "h11", "DREAMCACHE_EVENT_LOOP": "asyncio"}
CONFIGS: list[tuple[str, str | None, dict[str, str]]] = [
    ("before", BASELINE_REF, {}),
    ("+ ONNX embedder (1 thread), text-key lookup, worker nice", None,
     {**ONE_THREAD, **OLD_HTTP, "DREAMCACHE_EMBEDDING_CACHE_SIZE": "0"}),
    ("+ prompt -> vector LRU", None, {**ONE_THREAD, **OLD_HTTP}),
    ("+ httptools, uvloop", None, ONE_THREAD),
    ("+ 2 embedder threads (all: the defaults)", None, {}),
]


def base_prompts(data_dir: Path) -> list[str]:
    """Real prompts: PartiPrompts when ../shared/data is there, else the demo list; within the token limit."""
    parti = data_dir / "parti_prompts.tsv"
    texts: list[str] = []
    if parti.exists():
        with parti.open(encoding="utf-8") as handle:
            texts = [row["Prompt"] for row in csv.DictReader(handle, delimiter="\t") if len(row["Prompt"]) > 12]
    demo = (ROOT / "src/dreamcache/data/demo_prompts.txt").read_text().splitlines()
    texts += [line for line in demo if line and not line.startswith("#")]
    tokenizer = load_tokenizer("tiny")  # the benchmark server runs the tiny model: stay within its token limit
    seen: dict[str, str] = {}
    for base in texts:
        for style in STYLES:
            text = f"{base}, {style}" if style else base
            if count_prompt_tokens(tokenizer, text) <= tokenizer.model_max_length:
                seen.setdefault(prompts.normalize(text), prompts.clean(text))
    return list(seen.values())


def fill(settings: Settings, size: int, texts: list[str], vectors: np.ndarray, seed: int = 0) -> None:
    """Index `size` entries: every text once with its own vector, the rest noisy neighbours (20% other sizes)."""
    rng = np.random.default_rng(seed)
    index = open_index(settings, embedder_name="minilm", dimension=vectors.shape[1])
    store_all(index, _entries(settings, size, texts, vectors, rng))


def _entries(
    settings: Settings, size: int, texts: list[str], vectors: np.ndarray, rng: np.random.Generator
) -> Iterator[tuple[Entry, list[float]]]:
    fingerprint = pipeline_fingerprint(settings, "cpu")
    for i in range(size):
        base = i % len(texts)
        shape = SHAPE if i < len(texts) or i % 5 else OTHER_SHAPES[i % 2]
        compat = compat_key(fingerprint, shape, "")
        vector = vectors[base] if i < len(texts) else vectors[base] + rng.normal(0, 0.08, vectors.shape[1])
        vector = vector / np.linalg.norm(vector)
        prompt = texts[base] if i < len(texts) else f"{texts[base]}, variation {i}"
        entry = Entry(
            id=str(uuid.uuid4()), prompt=prompt, negative_prompt="", width=shape.width, height=shape.height,
            steps=shape.steps, guidance_scale=shape.guidance_scale, seed=i, model=settings.model,
            fingerprint=fingerprint, image_key=f"{uuid.uuid4().hex}.png", created_at=time.time(), compat_key=compat,
            exact_key=exact_key(compat, prompt, shape, i), prompt_norm=prompts.normalize(prompt),
            text_key=prompts.text_key(prompt),
        )
        yield entry, vector.astype(np.float32).tolist()


def store_all(index: Any, pairs: Iterable[tuple[Entry, list[float]]], chunk: int = 1000) -> None:
    """Upsert (entry, vector) pairs in chunks, optimize the index as a long-running service has it (HNSW; the
    service optimizes at start-up by default), then close it."""
    batch: list[tuple[Entry, list[float]]] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == chunk:
            index.upsert_many(batch)
            batch = []
    if batch:
        index.upsert_many(batch)
    optimize = getattr(index, "optimize", None)
    if optimize is not None:
        optimize()
    index.close()


def embed(embedder: OnnxMiniLMEmbedder, texts: list[str], batch: int = 64) -> np.ndarray:
    """Embed in batches of similar length (a batch is padded to its longest text)."""
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    vectors = np.empty((len(texts), embedder.dimension), dtype=np.float32)
    for start in range(0, len(order), batch):
        chunk = order[start : start + batch]
        vectors[chunk] = embedder.embed([texts[i] for i in chunk])
    return vectors


@dataclass
class Run:
    """One wrk run: client view and sampled server timings."""

    requests: int
    seconds: float
    ok: int
    other: int
    errors: int
    p50_ms: float
    p99_ms: float
    embed: list[float] = field(default_factory=list)
    lookup: list[float] = field(default_factory=list)
    total: list[float] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def hits(self) -> float:
        return self.ok / self.requests if self.requests else 0.0


def wrk(url: str, connections: int, seconds: float, bodies: Path | None = None) -> Run:
    """Drive the server with wrk: POST bodies from a file (one a line), or GET the URL as it is."""
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if bodies is not None:
        command += ["-s", str(LUA), url, "--", str(bodies), str(threads)]
    else:
        command.append(url)
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    if bodies is not None:
        line = next(line for line in out.splitlines() if line.startswith("RESULT "))
        data = json.loads(line.removeprefix("RESULT "))
        return Run(data["requests"], data["seconds"], data["ok"], data["other"], data["errors"], data["p50_ms"],
                   data["p99_ms"], data["embed"], data["lookup"], data["total"])
    requests = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
    latency = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.strip().startswith(("50%", "99%"))}
    return Run(requests, seconds, requests, 0, 0, _ms(latency.get("50%", "0ms")), _ms(latency.get("99%", "0ms")))


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


@contextlib.contextmanager
def misses_back_to_back(url: str) -> Iterator[None]:
    """Two clients asking for new pictures without pause: the worker's queue is never empty."""
    stop = threading.Event()

    def ask(worker: int) -> None:
        i = 0
        with httpx.Client(base_url=url, timeout=120) as client:
            while not stop.is_set():
                i += 1
                body = {"prompt": f"a new picture {worker}-{i}", "cache": "refresh", "reuse": False}
                with contextlib.suppress(httpx.HTTPError):
                    client.post("/generate", json=body, headers={"Prefer": "wait=60"})

    workers = [threading.Thread(target=ask, args=(w,), daemon=True) for w in range(2)]
    for worker in workers:
        worker.start()
    time.sleep(3)  # the first generations are under way
    try:
        yield
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=120)


def serve(ref_dir: Path | None, env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    full = {**os.environ, **env, "DREAMCACHE_PORT": str(port), "DREAMCACHE_MODEL": "tiny", "HF_HUB_OFFLINE": "1",
            # A load generator is one client sending thousands of requests a second: no rate limit here.
            "DREAMCACHE_REQUEST_RATE_PER_S": "0", "DREAMCACHE_GENERATION_RATE_PER_S": "0",
            "DREAMCACHE_MAX_CONNECTIONS": "1000"}
    if ref_dir is not None:
        full["PYTHONPATH"] = str(ref_dir / "src")  # ahead of this checkout's editable install
    return subprocess.Popen([sys.executable, "-m", "dreamcache.cli", "serve"], env=full,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def spawn(ref_dir: Path | None, env: dict[str, str], port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start the server; return it once /healthz answers, with the seconds that took."""
    began = time.perf_counter()
    process = serve(ref_dir, env, port)
    while True:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process, time.perf_counter() - began
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode}")
        time.sleep(0.05)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1]) / 1024


@dataclass
class Result:
    name: str
    start_s: float
    rss_mb: float
    healthz: Run
    runs: dict[str, Run]
    empty_start_s: float = 0.0
    empty_rss_mb: float = 0.0


def measure(name: str, ref_dir: Path | None, env: dict[str, str], data_dir: Path, files: dict[str, Path],
            port: int, seconds: float) -> Result:
    url = f"http://127.0.0.1:{port}"
    process, start_s = spawn(ref_dir, {**env, "DREAMCACHE_DATA_DIR": str(data_dir)}, port)
    try:
        wait_ready(url, timeout_s=300)
        wrk(url, 4, 2, files["repeated"])  # warm-up
        runs = {}
        healthz = wrk(f"{url}/healthz", 32, seconds)
        runs["distinct, 32 clients"] = wrk(url, 32, seconds, files["distinct"])
        runs["repeated, 32 clients"] = wrk(url, 32, seconds, files["repeated"])
        runs["distinct, 1 client"] = wrk(url, 1, seconds, files["distinct_single"])
        runs["repeated, 1 client"] = wrk(url, 1, seconds, files["repeated"])
        with misses_back_to_back(url):
            runs["repeated, 1 client, worker busy"] = wrk(url, 1, seconds, files["repeated"])
        memory = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return Result(name, start_s, memory, healthz, runs)


def empty_start(ref_dir: Path | None, env: dict[str, str], data_dir: Path, port: int) -> tuple[float, float]:
    """Seconds from spawn to /healthz and the web process's resident MB, on an empty data directory."""
    url = f"http://127.0.0.1:{port}"
    process, seconds = spawn(ref_dir, {**env, "DREAMCACHE_DATA_DIR": str(data_dir)}, port)
    try:
        wait_ready(url, timeout_s=300)
        httpx.post(f"{url}/generate", json={"prompt": "a first prompt", "cache": "only"}, timeout=60)
        return seconds, rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)


def bodies(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"prompt": t, "width": 512, "height": 512, "cache": "only"}) + "\n"
                            for t in texts), encoding="utf-8")
    return path


def p(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.2f}" if values else "–"


def report(results: list[Result], seconds: float, size: int, distinct: int) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Machine: {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}; server and wrk on the same "
        f"machine; Qdrant Edge, {size:,} entries ({distinct:,} distinct prompts); {seconds:g} s per run; "
        "`cache: only`, so every answer is a hit or counted as not one.",
        "",
        "| configuration | workload | req/s | p50 ms | p99 ms | server embed p50 | lookup p50 | total p50 / p99 "
        "| not hits |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | GET /healthz, 32 clients | {r.healthz.rps:,.0f} | {r.healthz.p50_ms:.2f} | "
                     f"{r.healthz.p99_ms:.2f} | | | | |")
        for workload, run in r.runs.items():
            lines.append(
                f"| {r.name} | {workload} | {run.rps:,.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} | "
                f"{p(run.embed, 50)} | {p(run.lookup, 50)} | {p(run.total, 50)} / {p(run.total, 99)} | "
                f"{run.requests - run.ok} |"
            )
    lines += ["", "| configuration | web process start (spawn to /healthz): 100k entries / empty | web process RSS: "
              "100k entries / empty | a hit costs (healthz req/s / repeated hits/s) | busy/idle p99 (1 client) |",
              "|---|---:|---:|---:|---:|"]
    for r in results:
        repeated = r.runs["repeated, 32 clients"].rps
        idle, busy = r.runs["repeated, 1 client"].p99_ms, r.runs["repeated, 1 client, worker busy"].p99_ms
        lines.append(f"| {r.name} | {r.start_s:.1f} s / {r.empty_start_s:.1f} s | {r.rss_mb:.0f} / "
                     f"{r.empty_rss_mb:.0f} MB | "
                     f"{r.healthz.rps / repeated if repeated else float('nan'):.1f} | {busy / idle:.2f}x |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="entries in the index")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--baseline", default=BASELINE_REF, help="git ref of 'before' (empty: skip it)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these configurations (by name)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk); `make bench` installs it", file=sys.stderr)
        return 2

    texts = base_prompts(args.data)
    print(f"embedding {len(texts)} distinct prompts...", file=sys.stderr)
    vectors = embed(OnnxMiniLMEmbedder(threads=os.cpu_count() or 1), [embedding_text(t) for t in texts])
    configs = [c for c in CONFIGS if (args.only is None or c[0] in args.only) and (c[1] is None or args.baseline)]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="dreamcache-bench-") as tmp:
        root = Path(tmp)
        data_dir = root / "data"
        began = time.perf_counter()
        fill(Settings(model="tiny", data_dir=data_dir), args.size, texts, vectors)
        print(f"{args.size} entries indexed in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        order = np.random.default_rng(1).permutation(len(texts))
        files = {
            "distinct": bodies(root / "distinct.jsonl", [texts[i] for i in order]),
            "distinct_single": bodies(root / "distinct1.jsonl", [texts[i] for i in order[::-1]]),
            "repeated": bodies(root / "repeated.jsonl", texts[:POPULAR]),
        }
        for name, ref, env in configs:
            ref_dir = None
            if ref is not None:
                ref_dir = root / "baseline"
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(ref_dir), ref],
                               check=True, capture_output=True)
            try:
                print(f"{name}...", file=sys.stderr)
                result = measure(name, ref_dir, env, data_dir, files, args.port, args.seconds)
                empty = root / f"empty-{len(results)}"
                result.empty_start_s, result.empty_rss_mb = empty_start(ref_dir, env, empty, args.port)
                results.append(result)
                for workload, run in result.runs.items():
                    print(f"  {workload}: {run.rps:.0f} req/s, p99 {run.p99_ms:.1f} ms", file=sys.stderr)
            finally:
                if ref_dir is not None:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref_dir)],
                                   check=False, capture_output=True)
    print(report(results, args.seconds, args.size, len(texts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
