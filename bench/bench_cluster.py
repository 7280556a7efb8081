"""Many replicas and workers on Redis (issue 19): what the shared queue costs and buys, on this machine, in one run.

    python bench/bench_cluster.py [--misses 50] [--jobs 64] [--concurrency 16] [--json out.json]

Starts the topology in real processes, as tests/test_cluster_e2e.py does (redis-server and SeaweedFS from the
test helpers in tests/; replicas and workers as `python -m dreamcache.cli serve|worker`, tiny model, each with
its own data directory; every process stores its pictures in the one SeaweedFS bucket, so the in-process rows
pay the same S3 writes as the shared ones). Each topology has its own Redis key prefix, so processes of one
never take the jobs of another. Measured, side by side:

1. **Dispatch**: `--misses` sequential distinct misses (`cache: refresh`, 1 step, 64x64), client ms from
   `POST /generate` to its answer, p50/p99, next to the server's own `generate_ms` (the generation itself) and
   the difference (what queueing, dispatch and write-back cost): `serve` without Redis, `serve` on Redis
   (worker=local), and a `--worker none` replica with one `dreamcache worker` process.
2. **Jobs/s**: `--jobs` distinct misses (`--job-steps` steps, `--job-size` px) at `--concurrency`, on a
   `--worker none` replica with one, then two worker processes (DREAMCACHE_WORKER_THREADS=1 each), then one
   worker with DREAMCACHE_WORKER_THREADS=2 (the same two cores, used by one process's torch instead of two;
   a quarter of the jobs, as it is far slower here).
3. **Duplicates**: 5 identical concurrent misses spread over two `--worker none` replicas (one worker), for
   `--rounds` prompts: generations per prompt, counted as distinct picture ids in the 5 answers and as new PNGs
   in the bucket (goal 1.0; without single flight n*(1-(1-1/n)^k) = 1.94 for n=2 replicas, k=5 requests).
4. **Hits**: Debian's `wrk` (bench/wrk_generate.lua, `cache: only`) on a `--worker none` replica and on a
   replica with its own worker, both on Redis, the same prompts filled in each first, the same wrk settings.

The machine's load (`/proc/loadavg`) is printed before and after each part: other people's work on the same
cores shows there. Run: `make bench` (or `--help`).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the real-server helpers the cluster tests use

from bench_hit_path import Run, wrk  # noqa: E402

from dreamcache.cli import wait_ready  # noqa: E402
from redisserver import RedisServer, have_redis  # noqa: E402
from seaweed import SeaweedS3, have_weed, start_seaweed, stop_seaweed  # noqa: E402

WARM_UP = 3  # misses before measuring: the worker's model loaded, connections open
DUPLICATE_PROMPTS = [
    "a lighthouse on a cliff in a storm", "a bowl of ramen on a wooden table", "an astronaut riding a horse",
    "a snowy mountain village at night", "a red vintage car in the desert", "a cat sleeping on a stack of books",
    "a futuristic city skyline at sunset", "a watercolor of tulips in a glass vase", "a knight fighting a dragon",
    "a submarine exploring a coral reef", "a steam train crossing a bridge", "an owl perched on a lantern",
]
HIT_PROMPTS = [f"{subject}, {style}" for subject in DUPLICATE_PROMPTS[:10] for style in ("oil painting", "photograph")]


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages now (2.00 = both cores busy)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# -- processes --


class Topology:
    """The processes of one run: a redis-server, SeaweedFS, and dreamcache replicas and workers."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.redis = RedisServer(root / "redis")
        self.s3: SeaweedS3 | None = None
        self.processes: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        self.redis.start()
        self.s3 = start_seaweed(self.root / "s3")

    def env(self, name: str, prefix: str | None, **extra: str) -> dict[str, str]:
        assert self.s3 is not None
        env = {key: value for key, value in os.environ.items() if not key.startswith("DREAMCACHE_")}
        env.update({
            "HF_HUB_OFFLINE": "1", "DREAMCACHE_MODEL": "tiny", "DREAMCACHE_DATA_DIR": str(self.root / name),
            "DREAMCACHE_S3_BUCKET": self.s3.bucket, "DREAMCACHE_S3_ENDPOINT_URL": self.s3.endpoint_url,
            "DREAMCACHE_S3_ACCESS_KEY_ID": self.s3.access_key_id,
            "DREAMCACHE_S3_SECRET_ACCESS_KEY": self.s3.secret_access_key, "DREAMCACHE_S3_REGION": self.s3.region,
            "DREAMCACHE_DEFAULT_WIDTH": "64", "DREAMCACHE_DEFAULT_HEIGHT": "64", "DREAMCACHE_WORKER_THREADS": "1",
            # A load generator is one client sending many requests a second: no rate limits here.
            "DREAMCACHE_REQUEST_RATE_PER_S": "0", "DREAMCACHE_GENERATION_RATE_PER_S": "0",
            "DREAMCACHE_MAX_CONNECTIONS": "1000", "DREAMCACHE_MAX_QUEUED_PER_CLIENT": "1000",
            # POST /generate answers when the picture is there, however loaded the machine (not 202 after 30 s).
            "DREAMCACHE_DEFAULT_WAIT_S": "600", "DREAMCACHE_MAX_WAIT_S": "600",
        })
        if prefix is not None:
            env.update({"DREAMCACHE_REDIS_URL": self.redis.url, "DREAMCACHE_REDIS_PREFIX": prefix})
        env.update(extra)
        return env

    def spawn(self, name: str, args: list[str], prefix: str | None, **extra: str) -> subprocess.Popen[bytes]:
        directory = self.root / name
        directory.mkdir(parents=True, exist_ok=True)
        with (directory / "log.txt").open("wb") as log:
            proc = subprocess.Popen([sys.executable, "-m", "dreamcache.cli", *args], cwd=directory,
                                    env=self.env(name, prefix, **extra), stdout=log, stderr=subprocess.STDOUT)
        self.processes[name] = proc
        return proc

    def replica(self, name: str, port: int, prefix: str | None, worker: str = "local") -> str:
        args = ["serve", "--port", str(port)] + (["--worker", worker] if prefix is not None else [])
        self.spawn(name, args, prefix)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_ready(base, 300)
        except BaseException:
            print(self.log_tail(name), file=sys.stderr)
            raise
        return base

    def worker(self, name: str, prefix: str, timeout_s: float = 300.0, **extra: str) -> None:
        """A `dreamcache worker` process; returns once its model is loaded (it takes jobs from then on)."""
        proc = self.spawn(name, ["worker"], prefix, **extra)
        log = self.root / name / "log.txt"
        deadline = time.monotonic() + timeout_s
        while "GPU worker ready" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"worker {name} did not get ready:\n{self.log_tail(name)}")
            time.sleep(0.2)

    def stop(self, name: str) -> None:
        proc = self.processes.pop(name)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def log_tail(self, name: str) -> str:
        with contextlib.suppress(OSError):
            return f"--- {name} ---\n" + (self.root / name / "log.txt").read_text(errors="replace")[-3000:]
        return ""

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        if self.s3 is not None:
            stop_seaweed(self.s3)
        self.redis.stop()

    def pngs(self) -> int:
        """PNG objects in the bucket (every generated picture is one)."""
        from dreamcache.storage import s3_client

        assert self.s3 is not None
        client = s3_client(endpoint_url=self.s3.endpoint_url, region=self.s3.region,
                           access_key_id=self.s3.access_key_id, secret_access_key=self.s3.secret_access_key)
        count = 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=self.s3.bucket):
            count += sum(1 for item in page.get("Contents", []) if item["Key"].endswith(".png"))
        return count


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- 1. dispatch --


@dataclass
class Dispatch:
    name: str
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    queue_ms: list[float] = field(default_factory=list)
    generate_ms: list[float] = field(default_factory=list)
    load: tuple[str, str] = ("", "")

    @property
    def overhead_ms(self) -> list[float]:
        return [c - g for c, g in zip(self.client_ms, self.generate_ms, strict=True)]


def miss(client: httpx.Client, prompt: str, steps: int, size: int, seed: int) -> tuple[float, dict[str, Any]]:
    body = {"prompt": prompt, "width": size, "height": size, "num_inference_steps": steps, "seed": seed,
            "cache": "refresh", "reuse": False}
    began = time.perf_counter()
    response = client.post("/generate", json=body)
    elapsed = (time.perf_counter() - began) * 1000
    if response.status_code != 200 or response.headers.get("X-Cache") != "MISS":
        raise RuntimeError(f"expected a generated answer: {response.status_code} {response.text[:300]}")
    return elapsed, response.json()


def dispatch(name: str, base: str, count: int) -> Dispatch:
    result = Dispatch(name)
    with httpx.Client(base_url=base, timeout=300) as client:
        for i in range(WARM_UP):
            miss(client, f"{name}: warm-up {i}", 1, 64, i)
        before = loadavg()
        for i in range(count):
            elapsed, body = miss(client, f"{name}: dispatch probe {i}", 1, 64, 1000 + i)
            timings = body["timings"]
            result.client_ms.append(elapsed)
            result.server_ms.append(timings["total_ms"])
            result.queue_ms.append(timings["queue_ms"])
            result.generate_ms.append(timings["generate_ms"])
        result.load = (before, loadavg())
    return result


# -- 2. jobs/s --


@dataclass
class Throughput:
    name: str
    jobs: int
    seconds: float
    client_ms: list[float]
    generate_ms: list[float]
    load: tuple[str, str]

    @property
    def jobs_per_s(self) -> float:
        return self.jobs / self.seconds


def throughput(name: str, base: str, jobs: int, concurrency: int, steps: int, size: int, tag: str) -> Throughput:
    with httpx.Client(base_url=base, timeout=600, limits=httpx.Limits(max_connections=concurrency)) as client:
        for i in range(WARM_UP):  # every worker's model loaded before the clock starts
            miss(client, f"{tag} warm-up {i}", 1, size, i)
        before = loadavg()
        began = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
            answers = list(pool.map(lambda i: miss(client, f"{tag} load job {i}", steps, size, i), range(jobs)))
        seconds = time.perf_counter() - began
    return Throughput(name, jobs, seconds, [a[0] for a in answers], [a[1]["timings"]["generate_ms"] for a in answers],
                      (before, loadavg()))


# -- 3. duplicates --


@dataclass
class Duplicates:
    rounds: int
    by_ids: list[int]
    by_objects: list[int]
    hits: int
    load: tuple[str, str]
    answers: list[list[dict[str, Any]]] = field(default_factory=list)  # per prompt: who answered what, when


def duplicates(topology: Topology, bases: list[str], prompts: list[str], steps: int) -> Duplicates:
    spread = [bases[i % len(bases)] for i in range(5)]  # a b a b a
    by_ids, by_objects, hits, details = [], [], 0, []
    before = loadavg()

    def ask(base: str, body: dict[str, Any], began: float) -> dict[str, Any]:
        sent = time.perf_counter()
        answer = httpx.post(f"{base}/generate", json=body, timeout=300)
        if answer.status_code != 200:
            raise RuntimeError(f"{body['prompt']!r}: {answer.status_code} {answer.text[:300]}")
        data = answer.json()
        return {"replica": bases.index(base), "x_cache": answer.headers.get("X-Cache"), "job_id": data["job_id"],
                "image": data["images"][0]["id"], "sent_ms": round((sent - began) * 1000, 1),
                "answered_ms": round((time.perf_counter() - began) * 1000, 1)}

    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        for prompt in prompts:
            objects = topology.pngs()
            body = {"prompt": prompt, "seed": 7, "num_inference_steps": steps, "reuse": False}
            began = time.perf_counter()
            answers = list(pool.map(lambda base, body=body, began=began: ask(base, body, began), spread))
            hits += sum(answer["x_cache"] != "MISS" for answer in answers)
            by_ids.append(len({answer["image"] for answer in answers}))
            by_objects.append(topology.pngs() - objects)
            details.append(answers)
    return Duplicates(len(prompts), by_ids, by_objects, hits, (before, loadavg()), details)


# -- 4. hits --


def fill(base: str, prompts: list[str], steps: int) -> None:
    with httpx.Client(base_url=base, timeout=300) as client:
        for prompt in prompts:
            response = client.post("/generate", json={"prompt": prompt, "num_inference_steps": steps, "seed": 1})
            response.raise_for_status()
        for prompt in prompts:  # each one a hit now
            only = client.post("/generate", json={"prompt": prompt, "num_inference_steps": steps, "seed": 1,
                                                   "cache": "only"})
            if only.status_code != 200:
                raise RuntimeError(f"{prompt!r} is not a hit after filling: {only.status_code} {only.text[:200]}")


def hit_bodies(path: Path, prompts: list[str], steps: int) -> Path:
    path.write_text("".join(json.dumps({"prompt": p, "num_inference_steps": steps, "seed": 1, "cache": "only"}) + "\n"
                            for p in prompts), encoding="utf-8")
    return path


# -- report --


def report(args: argparse.Namespace, rows: list[Dispatch], rates: list[Throughput], dup: Duplicates,
           hits: list[tuple[str, Run, tuple[str, str]]], uptime: tuple[str, str]) -> str:
    n, k = 2, 5
    formula = n * (1 - (1 - 1 / n) ** k)
    cpu = platform.processor() or platform.machine()
    lines = [
        f"Machine: {os.cpu_count()} CPU cores ({cpu}), no GPU, Python {platform.python_version()}; tiny model on the "
        "CPU; redis-server, SeaweedFS, every replica and worker, and the load generators on the same cores, shared "
        "with other people's work (load average `1 5 15 min` before/after each part in the tables).",
        f"`uptime` before: {uptime[0]}",
        f"`uptime` after: {uptime[1]}",
        "",
        f"**1. Dispatch of one job** ({len(rows[0].client_ms)} sequential distinct misses, 1 step, 64x64, "
        "`cache: refresh`; ms; *generate* is the worker's own time for the job, *overhead* = client - generate: "
        "queue, dispatch, picture upload, write-back, HTTP):",
        "",
        "| topology | client p50 | client p99 | generate p50 | overhead p50 | overhead p99 | queue_ms p50 | load |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(f"| {r.name} | {pct(r.client_ms, 50):.1f} | {pct(r.client_ms, 99):.1f} | "
                     f"{pct(r.generate_ms, 50):.1f} | {pct(r.overhead_ms, 50):.1f} | {pct(r.overhead_ms, 99):.1f} | "
                     f"{pct(r.queue_ms, 50):.1f} | {r.load[0]} -> {r.load[1]} |")
    lines += [
        "",
        f"**2. Jobs/s** ({' / '.join(str(t.jobs) for t in rates)} distinct misses at concurrency "
        f"{args.concurrency}, {args.job_steps} steps, "
        f"{args.job_size}x{args.job_size}, batches of up to 4; one `--worker none` replica; torch threads per "
        "worker set by DREAMCACHE_WORKER_THREADS):",
        "",
        "| workers | jobs/s | wall s | client p50 ms | client p99 ms | generate p50 ms (per batch) | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in rates:
        lines.append(f"| {t.name} | {t.jobs_per_s:.2f} | {t.seconds:.1f} | {pct(t.client_ms, 50):.0f} | "
                     f"{pct(t.client_ms, 99):.0f} | {pct(t.generate_ms, 50):.0f} | {t.load[0]} -> {t.load[1]} |")
    if len(rates) >= 2:
        lines.append(f"\nTwo workers / one: **{rates[1].jobs_per_s / rates[0].jobs_per_s:.2f}x**" + (
            f"; one worker with two threads / one with one: **{rates[2].jobs_per_s / rates[0].jobs_per_s:.2f}x**."
            if len(rates) > 2 else "."))
    lines += [
        "",
        f"**3. Duplicate generations** (5 identical concurrent misses, spread a b a b a over two `--worker none` "
        f"replicas, one worker; {dup.rounds} prompts, {args.duplicate_steps} steps, 64x64):",
        "",
        "| measure | generations per prompt (mean) | max | answers not MISS | without single flight | load |",
        "|---|---:|---:|---:|---:|---|",
        f"| distinct picture ids in the 5 answers | {np.mean(dup.by_ids):.2f} | {max(dup.by_ids)} | {dup.hits} | "
        f"{formula:.2f} | {dup.load[0]} -> {dup.load[1]} |",
        f"| new PNGs in the bucket | {np.mean(dup.by_objects):.2f} | {max(dup.by_objects)} | | {formula:.2f} | |",
        "",
        f"**4. Hits** (wrk, {args.connections} connections, 2 threads, {args.seconds:g} s, `cache: only`, "
        f"{len(HIT_PROMPTS)} prompts filled in each replica first; both replicas on Redis and S3):",
        "",
        "| replica | req/s | p50 ms | p99 ms | not hits | errors | load |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for name, run, load in hits:
        lines.append(f"| {name} | {run.rps:,.0f} | {run.p50_ms:.2f} | {run.p99_ms:.2f} | {run.requests - run.ok} | "
                     f"{run.errors} | {load[0]} -> {load[1]} |")
    return "\n".join(lines)


@contextlib.contextmanager
def topology_at(root: Path) -> Iterator[Topology]:
    topology = Topology(root)
    try:
        topology.start()
        yield topology
    except BaseException:
        for name in list(topology.processes):
            print(topology.log_tail(name), file=sys.stderr)
        raise
    finally:
        topology.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--misses", type=int, default=50, help="sequential misses per dispatch row")
    parser.add_argument("--jobs", type=int, default=64, help="misses of the jobs/s load")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--job-steps", type=int, default=20)
    parser.add_argument("--job-size", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=10, help="prompts of the duplicates part")
    parser.add_argument("--duplicate-steps", type=int, default=20, help="steps of the duplicates part's misses")
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    missing = [what for what, ok in (("redis-server (`make redis-deps`)", have_redis()),
                                     ("SeaweedFS `weed` (dev extra)", have_weed()), ("wrk (`make bench-deps`)",
                                     bool(subprocess.run(["which", "wrk"], capture_output=True).returncode == 0)))
               if not ok]
    if missing:
        print(f"bench_cluster: missing {', '.join(missing)}", file=sys.stderr)
        return 2

    uptime_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="dreamcache-cluster-bench-") as tmp, topology_at(Path(tmp)) as topo:
        step = lambda text: print(f"[{time.perf_counter() - began:5.0f} s] {text}", file=sys.stderr)  # noqa: E731
        rows: list[Dispatch] = []

        step("1a: serve without Redis")
        base = topo.replica("alone", free_port(), None)
        rows.append(dispatch("`serve`, no Redis (in-process queue)", base, args.misses))
        topo.stop("alone")

        step("1b: serve on Redis, worker=local")
        local = topo.replica("local", free_port(), "local")
        rows.append(dispatch("`serve` on Redis, worker=local", local, args.misses))

        step("1c: --worker none replica + dreamcache worker")
        topo.worker("worker1", "split")
        split_a = topo.replica("split-a", free_port(), "split", worker="none")
        rows.append(dispatch("`serve --worker none` + 1 `dreamcache worker`", split_a, args.misses))

        step("3: duplicates over two replicas")
        split_b = topo.replica("split-b", free_port(), "split", worker="none")
        dup = duplicates(topo, [split_a, split_b], DUPLICATE_PROMPTS[: args.rounds], args.duplicate_steps)
        topo.stop("split-b")

        step("2: jobs/s, one worker")
        rates = [throughput("1 worker, 1 thread", split_a, args.jobs, args.concurrency, args.job_steps,
                            args.job_size, "one")]
        step("2: jobs/s, two workers")
        topo.worker("worker2", "split")
        rates.append(throughput("2 workers, 1 thread each", split_a, args.jobs, args.concurrency, args.job_steps,
                                args.job_size, "two"))
        step("2: jobs/s, one worker with two threads")
        topo.stop("worker1")
        topo.stop("worker2")
        topo.worker("worker-2t", "split", DREAMCACHE_WORKER_THREADS="2")
        # A quarter of the jobs: measured at 0.4 jobs/s on this loaded machine, the full load took minutes.
        rates.append(throughput("1 worker, 2 threads", split_a, max(args.concurrency, args.jobs // 4),
                                args.concurrency, args.job_steps, args.job_size, "wide"))

        step("4: hits (fill, then wrk)")
        fill(split_a, HIT_PROMPTS, 4)
        fill(local, HIT_PROMPTS, 4)
        bodies = hit_bodies(Path(tmp) / "hits.jsonl", HIT_PROMPTS, 4)
        hits = []
        for name, base in (("`--worker none` (its worker: another process, idle)", split_a),
                           ("worker=local (its own worker, idle)", local)):
            wrk(base, 4, 2, bodies)  # warm-up
            before = loadavg()
            run = wrk(base, args.connections, args.seconds, bodies)
            hits.append((name, run, (before, loadavg())))
        step("done; stopping")
    uptime_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    print(report(args, rows, rates, dup, hits, (uptime_before, uptime_after)))
    print(f"\n(whole run: {time.perf_counter() - began:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({
            "machine": {"cpus": os.cpu_count(), "cpu": platform.processor() or platform.machine(),
                        "python": platform.python_version(), "uptime": [uptime_before, uptime_after]},
            "args": {key: str(value) for key, value in vars(args).items()},
            "dispatch": [{**asdict(r), "overhead_ms": r.overhead_ms} for r in rows],
            "throughput": [{**asdict(t), "jobs_per_s": t.jobs_per_s} for t in rates],
            "duplicates": {**asdict(dup), "without_single_flight": 2 * (1 - 0.5 ** 5)},
            "hits": [{"replica": name, **asdict(run), "rps": run.rps, "load": load} for name, run, load in hits],
        }, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
