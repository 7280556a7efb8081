"""`dreamcache replay` at scale: prompts/s and peak memory at 50k and 500k prompts, and the decisions the
approximate index changes against an exact scan.

    python bench/bench_replay.py [--data ../shared/data] [--sizes 50000 500000] [--baseline-src DIR]
                                 [--baseline-limit 20000] [--compare 50000] [--timeout 3600]

The stream is the shared Discord stream (`sd_discord_dream-10.jsonl.gz`, read in place), repeated with
variations until it has the size: pass k > 0 gives every user a new identity and appends one of a few
style tags to each prompt (chosen per line), so a bigger log has more distinct prompts, as a longer
one does. It is generated on the fly and piped into `dreamcache replay - --ignore-seeds --json` (a
subprocess with its embedding workers, as an operator runs it); nothing is written to disk. Peak
memory is the largest sum of the resident sets of the replay and its children, sampled twice a second.

`--baseline-src DIR`: also run another checkout's replay (its `src`, e.g. a worktree of main) at
`--baseline-limit` prompts, for a before/after in one run. `--compare N`: replay the first N prompts
in this process with the IVF index and with an exact scan, and count the requests whose decision
(hit / reuse and its step and source / generate) differs in either mode. Skips cleanly without the data.

`--scale 500000`: the decisions and the index at sizes whose embedding alone would take hours on 2 cores
(MiniLM costs ~20 ms of CPU per Discord prompt, whatever the replay does). Each distinct prompt of the stream
is embedded once, for real; a variation (pass k > 0) gets its base prompt's vector turned by a small seeded
random vector (cosine ~0.97 to it, as a style tag moves it), so the log grows, the index grows and the
decisions run on real text. It runs in a child process that only reads the vectors, so its peak memory is
the replay's own (plus the base vectors, stated). The IVF/exact comparison uses the same real vectors.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import psutil

STREAM = "sd_discord_dream-10.jsonl.gz"
STYLE_TAGS = ["trending on artstation", "highly detailed", "oil painting", "by greg rutkowski", "4k",
              "digital art", "cinematic lighting", "watercolor", "octane render", "concept art", "by alphonse mucha"]


BASE: int | None = None  # `--base N`: only the stream's first N lines are repeated (a quick run)


def stream_rows(path: Path, size: int) -> Iterator[tuple[dict[str, Any], dict[str, Any] | None]]:
    """`size` rows, each with its base row (None on the first pass): the stream as is, then again with new
    users and a style tag added per line."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()][:BASE]
    produced, k = 0, 0
    while True:
        for number, row in enumerate(rows):
            if produced >= size:
                return
            base = None
            if k:
                base = row
                row = {**row, "user": f"{row.get('user')}~{k}" if row.get("user") is not None else None,
                       "prompt": f"{row['prompt']}, {STYLE_TAGS[(number * 7 + k) % len(STYLE_TAGS)]}"}
            yield row, base
            produced += 1
        k += 1


def stream_lines(path: Path, size: int) -> Iterator[str]:
    """`size` JSON lines of `stream_rows`."""
    for row, _ in stream_rows(path, size):
        yield json.dumps(row)


TURN = 0.013  # per-dimension noise: |noise| ~ 0.25 in 384 dimensions, a cosine of ~0.97 to the base vector


class StreamVectors:
    """Embedding texts of the stream -> vectors: real ones for the stream's own prompts (`base`), a seeded turn
    of its base prompt's vector for a variation (`parent`: variation text -> base text)."""

    def __init__(self, base: dict[str, np.ndarray]) -> None:
        self.base = base
        self.parent: dict[str, str] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        out = []
        for text in texts:
            vector = self.base.get(text)
            if vector is None:
                origin = self.base[self.parent[text]]
                rng = np.random.default_rng(zlib.crc32(text.encode()))
                vector = origin + TURN * rng.standard_normal(origin.shape[0], dtype=np.float32)
                vector /= np.linalg.norm(vector)
            out.append(vector)
        return np.asarray(out, dtype=np.float32)


def embed_stream(path: Path, out: Path) -> dict[str, Any]:
    """Embed every distinct prompt of the stream once (the configured embedder, in this process); save them."""
    from dreamcache.embedding import open_embedder
    from dreamcache.prompts import embedding_text
    from dreamcache.replay import parse_line
    from dreamcache.settings import Settings

    found = set()
    for row, base in stream_rows(path, 10**9):
        if base is not None:
            break  # the first pass is the stream itself; variations get turned vectors
        item = parse_line(json.dumps(row), honour_seeds=False)
        if item is not None:
            found.add(embedding_text(item.prompt))
    texts = sorted(found, key=lambda text: (len(text), text))
    embedder = open_embedder(Settings())
    started, cpu = time.monotonic(), time.process_time()
    vectors = np.concatenate([embedder.embed(texts[i : i + 64]) for i in range(0, len(texts), 64)])
    figures = {"texts": len(texts), "seconds": round(time.monotonic() - started, 1),
               "cpu_ms_per_text": round(1000 * (time.process_time() - cpu) / len(texts), 2)}
    np.save(out / "vectors.npy", vectors.astype(np.float32))
    (out / "texts.json").write_text(json.dumps(texts))
    return figures


def _load_vectors(folder: Path) -> StreamVectors:
    texts = json.loads((folder / "texts.json").read_text())
    vectors = np.load(folder / "vectors.npy")
    return StreamVectors(dict(zip(texts, vectors, strict=True)))


def scale_items(path: Path, size: int, vectors: StreamVectors) -> Iterator[Any]:
    """The stream's requests at `size`, registering each variation's base text with `vectors` as it goes."""
    from dreamcache.prompts import embedding_text
    from dreamcache.replay import parse_line

    for row, base in stream_rows(path, size):
        item = parse_line(json.dumps(row), honour_seeds=False)
        if item is None:
            continue
        if base is not None:
            origin = parse_line(json.dumps(base), honour_seeds=False)
            if origin is None or embedding_text(origin.prompt) not in vectors.base:
                continue  # a line the first pass skipped too
            vectors.parent[embedding_text(item.prompt)] = embedding_text(origin.prompt)
        yield item


def scale_worker(path: Path, size: int, folder: Path) -> dict[str, Any]:
    """(child process) Replay `size` prompts on the saved vectors: seconds, peak memory, the decisions."""
    from dreamcache.replay import replay
    from dreamcache.settings import Settings

    vectors = _load_vectors(folder)
    loaded_mib = psutil.Process().memory_info().rss / 2**20
    report = replay(scale_items(path, size, vectors), Settings(), vectors)
    modes = report.to_json()["modes"]
    return {"prompts": report.prompts, "seconds": round(report.seconds, 1),
            "prompts_per_s": round(report.prompts / report.seconds, 1),
            "cpu_ms_per_prompt": round(1000 * report.resources["cpu_seconds"]["replay"] / report.prompts, 2),
            "peak_rss_mib": report.resources["peak_rss_mib"]["replay"],
            "rss_with_vectors_loaded_mib": round(loaded_mib),
            "distinct_vectors": report.resources["distinct_vectors"], "ivf_lists": report.resources["ivf_lists"],
            "vectors_scored_per_prompt": report.resources["vectors_scored_per_prompt"],
            "hit_rate": {m: modes[m]["hit_rate"] for m in modes},
            "reuse_rate": {m: modes[m]["reuse_rate"] for m in modes},
            "step_time_saved": {m: modes[m]["step_time_saved"] for m in modes}}


def run_cli(lines: Iterator[str], src: Path | None, extra: list[str], timeout: float) -> dict[str, Any]:
    """Pipe the stream into `dreamcache replay -`; wall time, peak tree RSS and the JSON report."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    command = [sys.executable, "-m", "dreamcache.cli", "replay", "-", "--ignore-seeds", "--json", "--no-progress",
               *extra]
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env=env, text=True)
    peak = 0.0
    cpu: dict[int, float] = {}  # pid -> its last sampled CPU seconds (user + system)
    done = threading.Event()

    def feed() -> None:
        assert process.stdin is not None
        try:
            for line in lines:
                process.stdin.write(line + "\n")
            process.stdin.close()
        except BrokenPipeError:
            pass

    def sample() -> None:
        nonlocal peak
        parent = psutil.Process(process.pid)
        while not done.is_set():
            try:
                tree = [parent, *parent.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()) / 2**20)
                for p in tree:
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
            except psutil.Error:
                pass
            done.wait(0.5)

    outputs: dict[str, str] = {}

    def drain(name: str, stream: Any) -> None:  # read as it comes: a full pipe would stall the replay
        outputs[name] = stream.read()

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=sample, daemon=True),
               threading.Thread(target=drain, args=("out", process.stdout), daemon=True),
               threading.Thread(target=drain, args=("err", process.stderr), daemon=True)]
    for thread in threads:
        thread.start()
    try:
        process.wait(timeout=timeout)  # not communicate(): it would close stdin under the feeding thread
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        done.set()
        return {"timed_out": True, "seconds": round(time.monotonic() - started, 1), "peak_rss_mib": round(peak)}
    for thread in threads[2:]:
        thread.join()
    out, err = outputs.get("out", ""), outputs.get("err", "")
    done.set()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"replay failed ({process.returncode}): {err[-2000:]}")
    report = json.loads(out)
    cpu_ms = 1000 * sum(cpu.values()) / max(report["prompts"], 1)
    return {"seconds": round(seconds, 1), "prompts": report["prompts"], "prompts_per_s": round(report["prompts"] /
            seconds, 1), "peak_rss_mib": round(peak), "cpu_ms_per_prompt": round(cpu_ms, 2), "report": report}


def compare_decisions(path: Path, size: int, folder: Path) -> dict[str, Any]:
    """Replay the first `size` prompts with the IVF index and with an exact scan; count differing decisions."""
    from dreamcache.replay import replay
    from dreamcache.settings import Settings

    settings = Settings()
    embed = _load_vectors(folder)
    items = list(scale_items(path, size, embed))
    runs = {}
    for exact in (False, True):
        started = time.monotonic()
        runs[exact] = replay(items, settings, embed, record=True, exact=exact)
        runs[exact].seconds = time.monotonic() - started
    differing = {}
    for mode, outcomes in runs[False].outcomes.items():
        differing[mode] = sum(a != b for a, b in zip(outcomes, runs[True].outcomes[mode], strict=True))
    return {"prompts": len(items), "differing_decisions": differing,
            "seconds_ivf": round(runs[False].seconds, 1), "seconds_exact": round(runs[True].seconds, 1),
            "vectors_scored_per_prompt": {"ivf": runs[False].resources["vectors_scored_per_prompt"],
                                          "exact": runs[True].resources["vectors_scored_per_prompt"]}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1] / "../shared/data")
    parser.add_argument("--sizes", type=int, nargs="*", default=[50_000, 500_000])
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--baseline-limit", type=int, default=20_000)
    parser.add_argument("--compare", type=int, default=42_535, help="0: skip the IVF/exact comparison")
    parser.add_argument("--scale", type=int, nargs="*", default=[50_000, 500_000],
                        help="sizes replayed on real base vectors and turned variations (see above)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the stream's vectors in this folder and reuse them on the next run")
    parser.add_argument("--base", type=int, default=None, help="repeat only the stream's first N lines (quick runs)")
    parser.add_argument("--scale-worker", nargs=2, metavar=("SIZE", "FOLDER"), help=argparse.SUPPRESS)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per replay run")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    global BASE
    BASE = args.base
    path = args.data / STREAM
    if not path.exists():
        print(f"skipped: {path} not found")
        return 0
    if args.scale_worker:
        print(json.dumps(scale_worker(path, int(args.scale_worker[0]), Path(args.scale_worker[1]))))
        return 0
    print(f"Machine: {os.cpu_count()} CPU cores ({platform.machine()}), {psutil.virtual_memory().total / 2**30:.0f} "
          f"GiB, Python {platform.python_version()}; shared with other work: figures are noisy.", flush=True)
    results: dict[str, Any] = {"runs": []}
    plan = [("after", None, size) for size in args.sizes]
    if args.baseline_src is not None:
        plan.insert(0, ("before", args.baseline_src.resolve(), args.baseline_limit))
    print("| code | prompts | seconds | prompts/s | CPU ms per prompt (all processes) | 2 idle cores at that CPU cost "
          "| peak memory (replay + workers) | hit rate (id / anon) |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for label, src, size in plan:
        run = run_cli(stream_lines(path, size), src, [], args.timeout)
        results["runs"].append({"code": label, "size": size, **{k: v for k, v in run.items() if k != "report"}})
        if run.get("timed_out"):
            print(f"| {label} | {size:,} | >{run['seconds']:,.0f} (timed out) | < {size / run['seconds']:,.0f} "
                  f"| - | - | "
                  f"{run['peak_rss_mib']:,} MiB | - |", flush=True)
            continue
        modes = run["report"]["modes"]
        hits = " / ".join(f"{modes[m]['hit_rate']:.1%}" for m in ("with_identity", "anonymous"))
        ideal = 2000 / run["cpu_ms_per_prompt"] if run["cpu_ms_per_prompt"] else 0.0
        print(f"| {label} | {run['prompts']:,} | {run['seconds']:,.0f} | {run['prompts_per_s']:,.0f} | "
              f"{run['cpu_ms_per_prompt']:.2f} | ~{ideal:,.0f} prompts/s | {run['peak_rss_mib']:,} MiB | {hits} |",
              flush=True)
    if args.compare or args.scale:
        with tempfile.TemporaryDirectory(prefix="bench-replay-") as scratch:
            folder = str(args.keep or scratch)
            Path(folder).mkdir(parents=True, exist_ok=True)
            if not (Path(folder) / "vectors.npy").exists():
                embedded = embed_stream(path, Path(folder))
                (Path(folder) / "figures.json").write_text(json.dumps(embedded))
            embedded = json.loads((Path(folder) / "figures.json").read_text())
            results["base_embedding"] = embedded
            print(f"\nEmbedding the stream's {embedded['texts']:,} distinct prompts once, in this process: "
                  f"{embedded['seconds']:,} s, {embedded['cpu_ms_per_text']} ms of CPU per prompt.", flush=True)
            if args.scale:
                print("\nAt scale, on those vectors (variations turned, see the docstring): the replay without "
                      "embedding\n\n| prompts | seconds | prompts/s | CPU ms per prompt | peak memory | distinct "
                      "vectors | IVF lists | vectors scored per prompt | hit rate (id / anon) | reuse rate (id / anon) "
                      "|\n|---:|---:|---:|---:|---:|---:|---:|---:|---|---|", flush=True)
            for size in args.scale:
                base = ["--base", str(args.base)] if args.base else []
                child = subprocess.run([sys.executable, __file__, "--data", str(args.data), *base, "--scale-worker",
                                        str(size), folder], capture_output=True, text=True, timeout=args.timeout,
                                       env={**os.environ, "HF_HUB_OFFLINE": "1"}, check=False)
                if child.returncode != 0:
                    raise RuntimeError(f"scale run failed: {child.stderr[-2000:]}")
                run = json.loads(child.stdout.strip().splitlines()[-1])
                results.setdefault("scale", []).append(run)
                pair = " / ".join
                print(f"| {run['prompts']:,} | {run['seconds']:,.0f} | {run['prompts_per_s']:,.0f} | "
                      f"{run['cpu_ms_per_prompt']:.2f} | {run['peak_rss_mib']:,.0f} MiB (vectors loaded: "
                      f"{run['rss_with_vectors_loaded_mib']:,} MiB) | {run['distinct_vectors']:,} | "
                      f"{run['ivf_lists']} | "
                      f"{run['vectors_scored_per_prompt']:,.0f} | "
                      f"{pair(f'{v:.1%}' for v in run['hit_rate'].values())} | "
                      f"{pair(f'{v:.1%}' for v in run['reuse_rate'].values())} |", flush=True)
            if args.compare:
                comparison = compare_decisions(path, args.compare, Path(folder))
                results["comparison"] = comparison
                print(f"\nIVF vs exact scan over the first {comparison['prompts']:,} prompts: decisions that differ "
                      f"{comparison['differing_decisions']} (ivf {comparison['seconds_ivf']:,} s, exact "
                      f"{comparison['seconds_exact']:,} s; vectors scored per prompt "
                      f"{comparison['vectors_scored_per_prompt']})")
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
