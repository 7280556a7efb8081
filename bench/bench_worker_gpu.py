"""Worker overhead through HTTP: what a miss costs beyond generating it, on the SD 1.5 architecture.

Saves SD 1.5's architecture with random weights (bench_gpu.sd15_components, fp16 on CUDA) to a temp
folder, serves it with the real app (uvicorn on a loopback port, the worker process, Qdrant Edge, the
local store; the `clip` embedder, so no MiniLM weights are needed) and sends misses
(`cache: refresh`, a seed each) at batch 1 (one request at a time) and batch 8 (8 requests at once,
which the dispatcher runs as one batch). Each answer's timings give, per job:

    overhead = total_ms - queue_ms - generate_ms

that is from leaving the queue to the image stored and indexed, minus the worker's own generation
time of the batch: IPC both ways, PNG encoding, store write, checkpoint writes, vector upsert.

    .venv/bin/python bench/bench_worker_gpu.py --json out.json          # on a CUDA machine
    .venv/bin/python bench/bench_worker_gpu.py --device cpu --tiny      # smoke run of the same code path

Without a CUDA device (and without --device cpu) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import torch
import uvicorn
from bench_gpu import PROMPTS, add_run_args, build_pipe, run_sizes

from dreamcache import cli
from dreamcache.app import create_app
from dreamcache.generation.tiny import SD_SCHEDULER_CONFIG
from dreamcache.serving import uvicorn_config
from dreamcache.settings import Settings

READY_TIMEOUT_S = 240.0


def save_model(folder: Path, device: str, tiny: bool) -> Path:
    """A random-weight pipeline on disk, as DREAMCACHE_MODEL can point to it."""
    pipe = build_pipe(device, tiny)
    pipe.save_pretrained(folder)
    # save_pretrained writes every scheduler default; ship SD's own file, as a real checkpoint does.
    (folder / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD_SCHEDULER_CONFIG))
    del pipe
    if device == "cuda":
        torch.cuda.empty_cache()
    return folder


def free_port() -> int:
    """A free loopback port."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """The app behind uvicorn in this process (its worker process does the GPU work); yields the base URL."""
    server = uvicorn.Server(uvicorn_config(create_app(settings), settings, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://{settings.host}:{settings.port}"
    try:
        cli.wait_ready(base, READY_TIMEOUT_S)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=60)


def generate(client: httpx.Client, body: dict[str, Any]) -> dict[str, float]:
    """One miss, waited for; returns its timings (queue_ms, generate_ms, total_ms)."""
    response = client.post("/generate", json=body, headers={"Prefer": "wait=300"})
    if response.status_code == 202:  # still running after the wait: poll its job
        location = response.headers["Location"]
        while (job := client.get(location).json())["status"] in ("queued", "running"):
            time.sleep(0.1)
        if job["status"] != "succeeded":
            raise RuntimeError(f"job failed: {job}")
        result = job["result"]
    elif response.status_code == 200:
        result = response.json()
    else:
        raise RuntimeError(f"{response.status_code}: {response.text}")
    if result["source"] != "generated":
        raise RuntimeError(f"expected a generation, got {result['source']}")
    timings: dict[str, float] = result["timings"]
    return timings


def run_batches(base: str, size: int, steps: int, batch: int, repeats: int, first_seed: int) -> list[dict[str, float]]:
    """`repeats` rounds of `batch` concurrent misses (after one untimed round); every job's timings."""
    jobs: list[dict[str, float]] = []
    seed = first_seed
    with httpx.Client(base_url=base, timeout=600) as client, ThreadPoolExecutor(batch) as pool:
        for round_ in range(repeats + 1):
            bodies = []
            for i in range(batch):
                bodies.append({"prompt": f"{PROMPTS[i % len(PROMPTS)]}, take {seed}", "seed": seed, "cache": "refresh",
                               "width": size, "height": size, "num_inference_steps": steps, "guidance_scale": 7.5})
                seed += 1
            timings = list(pool.map(lambda body: generate(client, body), bodies))
            if round_ > 0:  # the first round warms the allocator, the store and the index
                jobs.extend(timings)
    return jobs


def summarise(jobs: list[dict[str, float]], batch: int) -> dict[str, Any]:
    """Medians over jobs: overhead (dequeue to stored, minus generation) and the generation per image."""
    overhead = [job["total_ms"] - job["queue_ms"] - job["generate_ms"] for job in jobs]
    return {
        "jobs": jobs,
        "overhead_ms_per_image": statistics.median(overhead),
        "generate_ms_per_image": statistics.median(job["generate_ms"] for job in jobs) / batch,
        "queue_ms": statistics.median(job["queue_ms"] for job in jobs),
    }


def main(argv: list[str] | None = None) -> int:
    """Serve the random-weight model, measure batch 1 and batch `--batch`, print a table (and JSON)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(parser)
    parser.add_argument("--compile", action="store_true", help="DREAMCACHE_COMPILE_UNET (warm-up at batch 1 and big)")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bench_worker_gpu: no CUDA device here, nothing to measure (--device cpu --tiny smokes).")
        return 0
    tiny = args.tiny
    steps, size, big, repeats = run_sizes(args)
    with tempfile.TemporaryDirectory(prefix="dreamcache-bench-") as tmp:
        started = time.perf_counter()
        model = save_model(Path(tmp) / "model", args.device, tiny)
        print(f"saved the random-weight model in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        settings = Settings(
            model=str(model), device=args.device, embedder="clip", data_dir=Path(tmp) / "data",
            host="127.0.0.1", port=free_port(), default_width=size, default_height=size, default_steps=steps,
            max_batch_size=big, batch_wait_ms=50.0, request_rate_per_s=0, generation_rate_per_s=0,
            max_queued_per_client=max(16, big), compile_unet=args.compile, warmup_batch_sizes=[1, big],
            default_wait_s=300.0,
        )
        started = time.perf_counter()
        with serving(settings) as base:
            ready_s = time.perf_counter() - started
            compile_status = httpx.get(f"{base}/readyz").json()["checks"].get("compile", "off")
            print(f"ready in {ready_s:.1f} s (compile: {compile_status})", file=sys.stderr, flush=True)
            one = summarise(run_batches(base, size, steps, 1, repeats, first_seed=0), 1)
            many = summarise(run_batches(base, size, steps, big, repeats, first_seed=10_000), big)

    where = torch.cuda.get_device_name() if args.device == "cuda" else "CPU (smoke run, not a measurement)"
    print(f"\n{where}; {'tiny' if tiny else 'SD 1.5 architecture, random weights'}, {size}x{size}, {steps} steps, "
          f"CFG 7.5, DeepCache as the service defaults; compile: {compile_status}; ready (load + warm-up) "
          f"{ready_s:.1f} s; median of {repeats} rounds\n")
    print("| batch | generation per image (ms) | dequeue->stored overhead per image (ms) | queue wait (ms) |")
    print("|---|---|---|---|")
    for batch, row in ((1, one), (big, many)):
        print(f"| {batch} | {row['generate_ms_per_image']:.1f} | {row['overhead_ms_per_image']:.1f} | "
              f"{row['queue_ms']:.1f} |")
    print("\noverhead = total_ms - queue_ms - generate_ms of each answer: IPC, PNG encoding, store and "
          "checkpoint writes, vector upsert (batch_wait_ms 50 is in the queue wait).")
    if args.json:
        results = {"device": where, "size": size, "steps": steps, "tiny": tiny, "compile": compile_status,
                   "ready_s": ready_s, "batch1": one, f"batch{big}": many}
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
