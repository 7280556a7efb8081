"""Autocomplete benchmark: a real prompt stream typed into GET /recommend, one request per keystroke, with wrk.

Reads the Discord prompt stream `sd_discord_dream-10.jsonl.gz` in place (../shared/data; skipped
cleanly when absent). The first 80% of it (in channel order) is indexed, each prompt as often as
it was asked, plus variations of its distinct prompts (", <style>") up to --size entries (100,000),
in a Qdrant Edge index with MiniLM vectors (a variation gets its base's vector plus noise). The
last 20% is the typing: each prompt typed character by character, each keystroke its own
request; 64 users type at once (their keystrokes interleaved). Most of these prompts were never
asked before, as in life.

For each configuration (the code before this work, from a git worktree of --baseline, then this
checkout) `dreamcache serve` (tiny model) runs on that index and Debian's wrk drives it: GET
/healthz with 32 connections (what a bare request costs), then the keystrokes with 1 and with 32
connections. Reported: req/s, client p50/p99, the server's own time (Server-Timing) p50/p99 split
by the match kind of the first suggestion, and client p50/p99 by kind from 1 connection. Before the
servers, one process per configuration loads the suggestion index alone (its Python heap under
tracemalloc: the index's memory) and measures suggestion quality on the stream, in process:

- real repeats (a typed prompt already asked, as typed prompts are written back): the share whose
  prompt appears in the top 5 before it is fully typed, and the characters left to type then;
- the other prompts: the share of keystrokes that get any suggestion.

Run: `make bench` or `python bench/bench_recommend.py` (options: --help; --keep DIR reuses the index).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import tracemalloc
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_hit_path import embed, rss_mb, spawn, store_all  # noqa: E402

from dreamcache import matching, prompts  # noqa: E402
from dreamcache.cli import wait_ready  # noqa: E402
from dreamcache.generation.spec import BatchShape, pipeline_fingerprint  # noqa: E402
from dreamcache.index import Entry, open_index  # noqa: E402

try:  # their homes since issue 18; the baseline (an older checkout) runs this script too
    from dreamcache.prompts import embedding_text
    from dreamcache.resolution import compat_key
except ImportError:
    from dreamcache.decision import compat_key, embedding_text  # type: ignore[attr-defined,no-redef]
from dreamcache.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
LUA = Path(__file__).resolve().parent / "wrk_recommend.lua"
STREAM = "sd_discord_dream-10.jsonl.gz"
BASELINE_REF = "effb2b2"  # main before the work of issue 20 (autocomplete at the speed of typing)
STYLES = ["oil painting", "watercolor", "at night", "photograph, 35mm", "pixel art", "in the snow",
          "studio lighting", "by a river", "trending on artstation", "8k"]
USERS = 64  # users typing at once
MAX_KEYSTROKES = 150_000  # lines in the keystroke file (a 10 s run uses far fewer)
KINDS = ("prefix", "words", "typo", "semantic", "none")


def stream(data: Path) -> tuple[list[str], list[str]]:
    """The stream's prompts in channel order, cleaned, split 80/20 (indexed, typed)."""
    with gzip.open(data / STREAM, "rt", encoding="utf-8") as handle:
        rows = sorted((json.loads(line) for line in handle), key=lambda row: row["seq"])
    texts = [prompts.clean(row["prompt"] or "")[:1000] for row in rows]
    cut = int(len(texts) * 0.8)
    return [t for t in texts[:cut] if t.strip()], [t for t in texts[cut:] if t.strip()]


def corpus(head: list[str], size: int) -> list[str]:
    """The indexed prompts: the first 80% as asked (repeats included), then variations of its distinct prompts."""
    texts = list(head[:size])
    distinct = list(dict.fromkeys(head))
    for style in STYLES:
        for base in distinct:
            if len(texts) >= size:
                return texts
            texts.append(f"{base}, {style}")
    return texts


def fill(settings: Settings, texts: list[str], vectors: dict[str, np.ndarray], seed: int = 0) -> None:
    """Index every text (512x512, created in stream order); a text without its own vector gets its base's + noise."""
    index = open_index(settings, embedder_name="minilm", dimension=len(next(iter(vectors.values()))))
    store_all(index, _entries(settings, texts, vectors, np.random.default_rng(seed)))


def _entries(
    settings: Settings, texts: list[str], vectors: dict[str, np.ndarray], rng: np.random.Generator
) -> Iterator[tuple[Entry, list[float]]]:
    fingerprint = pipeline_fingerprint(settings, "cpu")
    shape = BatchShape(512, 512, 25, 7.5)
    compat = compat_key(fingerprint, shape, "")
    started = time.time() - len(texts)
    for i, text in enumerate(texts):
        vector = vectors.get(text)
        if vector is None:
            base = vectors[text.rsplit(", ", 1)[0]] if text.rsplit(", ", 1)[0] in vectors else rng.normal(size=384)
            vector = base + rng.normal(0, 0.08, base.shape[0])
        vector = vector / np.linalg.norm(vector)
        entry_id = str(uuid.uuid4())
        yield Entry(
            id=entry_id, prompt=text, negative_prompt="", width=512, height=512, steps=25, guidance_scale=7.5,
            seed=i, model=settings.model, fingerprint=fingerprint, image_key=f"{entry_id}.png",
            created_at=started + i, compat_key=compat, exact_key=entry_id, prompt_norm=prompts.normalize(text),
            text_key=prompts.text_key(text),
        ), vector.astype(np.float32).tolist()


def keystroke_paths(tail: list[str], limit: int = 5) -> list[str]:
    """GET paths of the typed keystrokes: USERS users, each typing its share of the tail, interleaved."""
    lanes = [[p for p in tail[user::USERS]] for user in range(USERS)]
    queues = [iter([text[:n] for text in lane for n in range(1, len(text) + 1) if text[:n].strip()])
              for lane in lanes]
    out: list[str] = []
    while queues and len(out) < MAX_KEYSTROKES:
        for queue in list(queues):
            typed = next(queue, None)
            if typed is None:
                queues.remove(queue)
                continue
            out.append(f"/recommend?q={urllib.parse.quote(typed)}&limit={limit}")
    return out


# -- quality and memory, in one process per configuration (`--engine-report`) --------------------------------


def _entry(text: str, created_at: float) -> Entry:
    entry_id = str(uuid.uuid4())
    return Entry(
        id=entry_id, prompt=text, negative_prompt="", width=512, height=512, steps=25, guidance_scale=7.5, seed=0,
        model="bench", fingerprint="bench", image_key=f"{entry_id}.png", created_at=created_at, compat_key="bench",
        exact_key=entry_id, prompt_norm=prompts.normalize(text),
    )


async def quality(engine: Any, known: set[str], tail: list[str], settle: bool) -> dict[str, float]:
    """Type a sample of the tail (every 4th repeat, every 40th new prompt), writing every tail prompt back after."""
    repeats = found = 0
    saved: list[float] = []
    new_keys = new_with = 0
    latency: list[float] = []
    for i, text in enumerate(tail):
        norm = prompts.normalize(text)
        repeat = norm in known
        if (repeat and i % 4 == 0) or (not repeat and i % 40 == 0):
            canon = matching.canonical(text)
            first: int | None = None
            for n in range(1, len(text) + 1):
                typed = text[:n]
                if not typed.strip():
                    continue
                began = time.perf_counter()
                answer = await engine.suggest(typed, compat="bench", limit=5)
                latency.append((time.perf_counter() - began) * 1000)
                if not repeat:
                    new_keys += 1
                    new_with += bool(answer)
                if repeat and first is None and n < len(text) and any(
                        matching.canonical(s.prompt) == canon for s in answer):
                    first = n
                if settle and typed.endswith(" "):
                    await engine.semantic.idle()  # a word takes a typist far longer than its embedding
            if repeat:
                repeats += 1
                if first is not None:
                    found += 1
                    saved.append(len(text) - first)
        engine.add(_entry(text, time.time()))
        known.add(norm)
    return {"repeats": repeats, "found": found / max(1, repeats), "saved_chars": float(np.mean(saved)) if saved else 0,
            "new_keystrokes": new_keys, "new_with": new_with / max(1, new_keys),
            "engine_p50_ms": float(np.percentile(latency, 50)), "engine_p99_ms": float(np.percentile(latency, 99))}


def engine_report(data_dir: Path, data: Path, semantic_quality: bool = True) -> dict[str, Any]:
    """Memory and load time of the suggestion index, and its quality on the stream (lexical only, and with the
    background semantic lookups where this version has them)."""
    from dreamcache.embedding import OnnxMiniLMEmbedder
    from dreamcache.suggest import SuggestionIndex

    _, tail = stream(data)
    settings = Settings(model="tiny", data_dir=data_dir)
    index = open_index(settings, embedder_name="minilm", dimension=384)
    try:
        entries = list(index.scroll_all())
        tracemalloc.start()
        began = time.perf_counter()
        engine = SuggestionIndex()
        engine.load(entries)
        load_s = time.perf_counter() - began
        memory_mb = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        known = {e.prompt_norm for e in entries}
        out: dict[str, Any] = {"load_s": load_s, "memory_mb": memory_mb, "prompts": len(engine)}
        out["lexical"] = asyncio.run(quality(engine, set(known), tail, settle=False))
        if semantic_quality and hasattr(engine, "semantic"):
            embedder = OnnxMiniLMEmbedder(threads=1)

            async def embed_text(text: str) -> np.ndarray:
                return await asyncio.to_thread(lambda: embedder.embed([embedding_text(text)])[0])

            semantic = SuggestionIndex(index, embed_text)
            semantic.load(entries)
            out["semantic"] = asyncio.run(quality(semantic, set(known), tail, settle=True))
    finally:
        index.close()
    return out


# -- HTTP, with wrk -----------------------------------------------------------------------------------------


@dataclass
class Run:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    samples: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, server ms, client ms)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def wrk(url: str, connections: int, seconds: float, paths: Path | None = None) -> Run:
    threads = min(2, connections)
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--latency"]
    if paths is None:
        command.append(url)
    else:
        command += ["-s", str(LUA), url, "--", str(paths), str(threads), "1" if connections == 1 else "0"]
    out = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120, check=True).stdout
    if paths is None:
        requests = int(next(line for line in out.splitlines() if "requests in" in line).split()[0])
        latency = {ln.split()[0]: ln.split()[1] for ln in out.splitlines() if ln.strip().startswith(("50%", "99%"))}
        return Run(requests, seconds, 0, _ms(latency.get("50%", "0")), _ms(latency.get("99%", "0")))
    samples = []
    for line in out.splitlines():
        if line.startswith("S "):
            _, kind, server, client = line.split()
            samples.append((kind, float(server), float(client)))
    data = json.loads(next(line for line in out.splitlines() if line.startswith("RESULT ")).removeprefix("RESULT "))
    return Run(data["requests"], data["seconds"], data["errors"] + data["other"], data["p50_ms"], data["p99_ms"],
               samples)


def _ms(text: str) -> float:
    for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
        if text.endswith(unit):
            return float(text[: -len(unit)]) * factor
    return float(text)


@dataclass
class Result:
    name: str
    start_s: float
    rss_mb: float
    healthz: Run
    runs: dict[int, Run]
    engine: dict[str, Any]


def measure(name: str, ref_dir: Path | None, data_dir: Path, paths: Path, port: int, seconds: float,
            engine: dict[str, Any]) -> Result:
    url = f"http://127.0.0.1:{port}"
    process, start_s = spawn(ref_dir, {"DREAMCACHE_DATA_DIR": str(data_dir)}, port)
    try:
        wait_ready(url, timeout_s=600)
        wrk(url, 4, 2, paths)  # warm-up
        healthz = wrk(f"{url}/healthz", 32, seconds)
        runs = {clients: wrk(url, clients, seconds, paths) for clients in (1, 32)}
        memory = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=60)
    return Result(name, start_s, memory, healthz, runs, engine)


def pct(values: list[float], q: float) -> str:
    return f"{np.percentile(values, q):.2f}" if values else "–"


def report(results: list[Result], seconds: float, size: int, typed: int, keystrokes: int) -> str:
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Machine: {os.cpu_count()} CPU cores ({cpu}), Python {platform.python_version()}, no GPU; server and wrk on "
        f"the same machine (shared with other engineers' test runs: noisy); Qdrant Edge, {size:,} entries; "
        f"{typed:,} prompts typed ({keystrokes:,} keystrokes in the file, {USERS} users interleaved); {seconds:g} s "
        "per run; limit 5. Server = the handler's own time (Server-Timing), by the first suggestion's match kind.",
        "",
        "| configuration | workload | req/s | client p50 / p99 ms | " + " | ".join(
            f"{k}: share, server p50 / p99" for k in KINDS) + " | errors |",
        "|---|---|---:|---:|" + "---:|" * len(KINDS) + "---:|",
    ]
    for r in results:
        lines.append(f"| {r.name} | GET /healthz, 32 connections | {r.healthz.rps:,.0f} | {r.healthz.p50_ms:.2f} / "
                     f"{r.healthz.p99_ms:.2f} |" + " |" * len(KINDS) + " |")
        for clients, run in r.runs.items():
            cells = []
            for kind in KINDS:
                server = [s for k, s, _ in run.samples if k == kind]
                share = len(server) / max(1, len(run.samples))
                cells.append(f"{share:.0%}, {pct(server, 50)} / {pct(server, 99)}" if server else "–")
            plural = "s" if clients > 1 else ""
            lines.append(f"| {r.name} | keystrokes, {clients} connection{plural} | {run.rps:,.0f} | "
                         f"{run.p50_ms:.2f} / {run.p99_ms:.2f} | " + " | ".join(cells) + f" | {run.errors} |")
    lines += ["", "Client time by match kind, 1 connection (measured in the wrk script):", "",
              "| configuration | " + " | ".join(f"{k} p50 / p99 ms" for k in KINDS) + " | keystroke costs (healthz "
              "req/s / keystroke req/s, 32 conn.) |", "|---|" + "---:|" * (len(KINDS) + 1)]
    for r in results:
        run = r.runs[1]
        cells = [f"{pct([c for k, _, c in run.samples if k == kind], 50)} / "
                 f"{pct([c for k, _, c in run.samples if k == kind], 99)}" for kind in KINDS]
        cost = r.healthz.rps / r.runs[32].rps if r.runs[32].rps else float("nan")
        lines.append(f"| {r.name} | " + " | ".join(cells) + f" | {cost:.1f} |")
    lines += ["", "| configuration | suggestion index memory (Python heap) | index load | web process RSS | "
              "start (spawn to /healthz) | repeats found in top 5 | chars left when found | new prompts: "
              "keystrokes with a suggestion | engine p50 / p99 ms |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        e = r.engine
        for mode in ("lexical", "semantic"):
            q = e.get(mode)
            if q is None:
                continue
            label = "no semantic" if mode == "lexical" else "with background semantic"
            lines.append(
                f"| {r.name} ({label}) | {e['memory_mb']:.0f} MB | {e['load_s']:.1f} s | {r.rss_mb:.0f} MB | "
                f"{r.start_s:.1f} s | {q['found']:.0%} of {q['repeats']} | {q['saved_chars']:.0f} | "
                f"{q['new_with']:.0%} of {q['new_keystrokes']:,} | "
                f"{q['engine_p50_ms']:.2f} / {q['engine_p99_ms']:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="indexed entries")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--baseline", default=BASELINE_REF, help="git ref of 'before' (empty: skip it)")
    parser.add_argument("--keep", type=Path, default=None, help="data directory to fill once and reuse")
    parser.add_argument("--engine-report", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--lexical-quality-only", action="store_true",
                        help="skip the quality replay with background semantic lookups (long: it embeds as users type)")
    args = parser.parse_args()
    if args.engine_report is not None:  # the child process of one configuration
        print(json.dumps(engine_report(args.engine_report, args.data, not args.lexical_quality_only)))
        return 0
    if not (args.data / STREAM).exists():
        print(f"skipped: {args.data / STREAM} is absent", file=sys.stderr)
        return 0
    if shutil.which("wrk") is None:
        print("wrk is not installed (Debian: apt-get install wrk); `make bench` installs it", file=sys.stderr)
        return 2
    from dreamcache.embedding import OnnxMiniLMEmbedder

    head, tail = stream(args.data)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="dreamcache-bench-recommend-") as scratch:
        root = Path(scratch)
        data_dir = args.keep or root / "data"
        marker = data_dir / f"filled-{args.size}"
        if not marker.exists():
            texts = corpus(head, args.size)
            distinct = list(dict.fromkeys(head))
            print(f"embedding {len(distinct)} distinct prompts...", file=sys.stderr)
            began = time.perf_counter()
            saved = data_dir / f"vectors-{len(distinct)}.npy"  # the slow part, kept should the fill fail
            if saved.exists():
                vectors = list(np.load(saved))
            else:
                vectors = embed(OnnxMiniLMEmbedder(threads=os.cpu_count() or 1), [embedding_text(t) for t in distinct])
                data_dir.mkdir(parents=True, exist_ok=True)
                np.save(saved, np.asarray(vectors, dtype=np.float32))
            fill(Settings(model="tiny", data_dir=data_dir), texts, dict(zip(distinct, vectors, strict=True)))
            marker.touch()
            print(f"{len(texts)} entries indexed in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        paths = root / "keystrokes.txt"
        lines = keystroke_paths(tail)
        paths.write_text("\n".join(lines) + "\n", encoding="utf-8")
        configs: list[tuple[str, str | None]] = ([("before", args.baseline)] if args.baseline else []) + [
            ("after", None)]
        for name, ref in configs:
            ref_dir = None
            if ref is not None:
                ref_dir = root / "baseline"
                subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(ref_dir), ref],
                               check=True, capture_output=True)
            try:
                print(f"{name}: suggestion index alone (memory, quality)...", file=sys.stderr)
                env = {**os.environ, "HF_HUB_OFFLINE": "1"}
                if ref_dir is not None:
                    env["PYTHONPATH"] = str(ref_dir / "src")
                child = subprocess.run([sys.executable, __file__, "--engine-report", str(data_dir), "--data",
                                        str(args.data)] + (["--lexical-quality-only"] if args.lexical_quality_only
                                                           else []), env=env, capture_output=True, text=True,
                                       check=True)
                engine = json.loads(child.stdout.strip().splitlines()[-1])
                print(f"{name}: {engine}", file=sys.stderr)
                print(f"{name}: HTTP...", file=sys.stderr)
                result = measure(name, ref_dir, data_dir, paths, args.port, args.seconds, engine)
                results.append(result)
                for clients, run in result.runs.items():
                    print(f"  {clients} conn.: {run.rps:.0f} keystrokes/s, p99 {run.p99_ms:.1f} ms "
                          f"(healthz {result.healthz.rps:.0f}/s)", file=sys.stderr)
            finally:
                if ref_dir is not None:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(ref_dir)],
                                   check=False, capture_output=True)
    print(report(results, args.seconds, args.size, len(tail), len(lines)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
