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
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

STREAM = "sd_discord_dream-10.jsonl.gz"
STYLE_TAGS = ["trending on artstation", "highly detailed", "oil painting", "by greg rutkowski", "4k",
              "digital art", "cinematic lighting", "watercolor", "octane render", "concept art", "by alphonse mucha"]


def stream_lines(path: Path, size: int) -> Iterator[str]:
    """`size` JSON lines: the stream as is, then again with new users and a style tag added per line."""
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    produced, k = 0, 0
    while True:
        for number, row in enumerate(rows):
            if produced >= size:
                return
            if k:
                row = {**row, "user": f"{row.get('user')}~{k}" if row.get("user") is not None else None,
                       "prompt": f"{row['prompt']}, {STYLE_TAGS[(number * 7 + k) % len(STYLE_TAGS)]}"}
            yield json.dumps(row)
            produced += 1
        k += 1


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

    threads = [threading.Thread(target=feed, daemon=True), threading.Thread(target=sample, daemon=True)]
    for thread in threads:
        thread.start()
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        done.set()
        return {"timed_out": True, "seconds": round(time.monotonic() - started, 1), "peak_rss_mib": round(peak)}
    done.set()
    seconds = time.monotonic() - started
    if process.returncode != 0:
        raise RuntimeError(f"replay failed ({process.returncode}): {err[-2000:]}")
    report = json.loads(out)
    cpu_ms = 1000 * sum(cpu.values()) / max(report["prompts"], 1)
    return {"seconds": round(seconds, 1), "prompts": report["prompts"], "prompts_per_s": round(report["prompts"] /
            seconds, 1), "peak_rss_mib": round(peak), "cpu_ms_per_prompt": round(cpu_ms, 2), "report": report}


def compare_decisions(path: Path, size: int) -> dict[str, Any]:
    """Replay the first `size` prompts with the IVF index and with an exact scan; count differing decisions."""
    from dreamcache.embedding import open_embedder
    from dreamcache.replay import parse_line, replay
    from dreamcache.settings import Settings

    settings = Settings()
    items = [item for item in (parse_line(line, honour_seeds=False) for line in stream_lines(path, size)) if item]
    embed = open_embedder(settings).embed
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
    parser.add_argument("--compare", type=int, default=50_000, help="0: skip the IVF/exact comparison")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per replay run")
    parser.add_argument("--out", type=Path, default=None, help="also write the figures as JSON")
    args = parser.parse_args()
    path = args.data / STREAM
    if not path.exists():
        print(f"skipped: {path} not found")
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
    if args.compare:
        comparison = compare_decisions(path, args.compare)
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
