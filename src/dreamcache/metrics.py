"""Prometheus metrics of one app instance (own registry, so several apps can live in one process)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST


class WorkerStats(Protocol):
    """What the metrics read from the generation backend (part of `backend.GenerationBackend`)."""

    @property
    def depth(self) -> int:
        """Pictures waiting for the GPU."""

    @property
    def mean_step_seconds(self) -> float:
        """GPU seconds per denoising step of one picture, measured (0 before anything ran)."""

    @property
    def compile_fell_back(self) -> bool: ...

    @property
    def batches_run(self) -> int: ...

    @property
    def images_generated(self) -> int: ...

    @property
    def restarts(self) -> int: ...


class _Idle:
    """No backend yet: nothing queued, nothing run."""

    depth = batches_run = images_generated = restarts = 0
    mean_step_seconds = 0.0
    compile_fell_back = False


@dataclass
class NamespaceTotals:
    """One namespace's share of the counters (what `/stats` shows a key scoped to its namespaces)."""

    hits: float = 0.0
    misses: float = 0.0
    canceled: float = 0.0
    gpu_seconds_saved: float = 0.0
    reused: float = 0.0
    skipped_steps: float = 0.0
    images_generated: float = 0.0


class Metrics:
    """Counters for hits, misses, queue and GPU time; rendered at GET /metrics."""

    def __init__(self, worker: WorkerStats | None = None) -> None:
        self._worker: WorkerStats = worker if worker is not None else _Idle()
        self.registry = CollectorRegistry()
        self.hits = Counter("dreamcache_cache_hits", "Requests answered from the cache", registry=self.registry)
        self.misses = Counter("dreamcache_cache_misses", "Requests that needed a generation", registry=self.registry)
        self.by_api = Counter(
            "dreamcache_api_requests", "Hits and misses by the HTTP API that asked (native /generate, openai, a1111)",
            ["api", "outcome"], registry=self.registry,
        )
        self.joined = Counter(
            "dreamcache_single_flight_joins", "Misses that joined a generation already in flight",
            registry=self.registry,
        )
        self.rejected = Counter(
            "dreamcache_queue_rejections", "Misses refused with 429 because the queue was full", registry=self.registry
        )
        self.failed = Counter(
            "dreamcache_jobs_failed", "Jobs that ended in failure, by error type", ["type"], registry=self.registry
        )
        self.canceled = Counter(
            "dreamcache_jobs_canceled", "Jobs canceled before they ran (not counted as traffic)", registry=self.registry
        )
        self.generation_seconds = Histogram(
            "dreamcache_generation_seconds",
            "GPU seconds per generated image (batch time divided by batch size)",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.gpu_seconds_saved = Counter(
            "dreamcache_gpu_seconds_saved",
            "Estimated GPU seconds saved by hits (every step of the request) and near-miss reuse (the skipped "
            "steps), at the mean seconds per image-step measured so far",
            registry=self.registry,
        )
        self.reused = Counter(
            "dreamcache_reused_jobs", "Generations that started from a similar entry's checkpoint (near-miss reuse)",
            registry=self.registry,
        )
        self.skipped_steps = Counter(
            "dreamcache_skipped_steps", "Denoising steps not run thanks to near-miss reuse", registry=self.registry
        )
        self.reuse_unavailable = Counter(
            "dreamcache_reuse_checkpoint_unavailable",
            "Near-misses that generated from scratch because the chosen checkpoint was missing or unusable",
            registry=self.registry,
        )
        self.checkpoint_bytes = Histogram(
            "dreamcache_checkpoint_bytes", "Size of each stored denoising checkpoint",
            buckets=(4096, 16384, 65536, 131072, 262144, 524288, 1048576, 4194304),
            registry=self.registry,
        )
        self.reports = Counter(
            "dreamcache_wrong_picture_reports", "Pictures users reported as wrong for their prompt (labelled hit "
            "errors)", registry=self.registry,
        )
        self.adopted = Counter("dreamcache_adopted_pictures", "Generations canceled because the client took a "
                               "related cached picture instead", registry=self.registry)
        self.evicted = Counter("dreamcache_evicted_entries", "Entries removed by retention (TTL, caps)",
                               registry=self.registry)
        self.vanished = Counter("dreamcache_vanished_images", "Entries dropped because their image was gone from "
                                "the store", registry=self.registry)
        self.lookup_seconds = Histogram(
            "dreamcache_lookup_seconds", "Embedding plus index lookup time per request",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1),
            registry=self.registry,
        )
        self.limits_degraded = Gauge(
            "dreamcache_limits_degraded", "1 while Redis does not answer and this replica's rate limits use its own "
            "buckets (a client may get one rate per replica), else 0", registry=self.registry,
        )
        self.degraded_limit_checks = Counter(
            "dreamcache_limits_degraded_checks", "Rate-limit checks answered from this replica's own buckets because "
            "Redis did not answer", registry=self.registry,
        )
        hit_ratio = Gauge("dreamcache_hit_ratio", "Hits / (hits + misses) since start; canceled jobs are no misses",
                          registry=self.registry)
        hit_ratio.set_function(self.hit_ratio)
        gauges = {
            "dreamcache_queue_depth": ("Jobs waiting for the GPU", lambda: self._worker.depth),
            "dreamcache_gpu_batches": ("Batches the GPU worker ran since start", lambda: self._worker.batches_run),
            "dreamcache_images_generated": ("Images the GPU worker generated since start",
                                            lambda: self._worker.images_generated),
            "dreamcache_worker_restarts": ("Times the GPU worker process was restarted after a crash",
                                           lambda: self._worker.restarts),
            "dreamcache_compile_fallback": ("1 when the worker was asked to compile the UNet and runs it eagerly "
                                            "after a compile failure (see /readyz `compile`), else 0",
                                            lambda: int(self._worker.compile_fell_back)),
        }
        for name, (text, read) in gauges.items():
            Gauge(name, text, registry=self.registry).set_function(read)

        self._by_namespace: dict[str, NamespaceTotals] = {}

    def watch(self, worker: WorkerStats) -> None:
        """Read queue and GPU figures from this backend (built after the metrics: it reports into them)."""
        self._worker = worker

    def of(self, namespace: str) -> NamespaceTotals:
        """The totals of one namespace (created on first use)."""
        totals = self._by_namespace.get(namespace)
        if totals is None:
            totals = self._by_namespace[namespace] = NamespaceTotals()
        return totals

    def hit_ratio(self) -> float:
        snapshot = self.snapshot()
        return snapshot["hit_ratio"]

    def snapshot(self, namespaces: Iterable[str] | None = None) -> dict[str, float]:
        """Hits, misses, hit ratio, GPU seconds saved and images generated since start, as plain numbers: of every
        namespace (None), or summed over the given ones."""
        if namespaces is None:
            hits = self.hits._value.get()
            misses = self.misses._value.get() - self.canceled._value.get()
            saved, reused = self.gpu_seconds_saved._value.get(), self.reused._value.get()
            skipped, generated = self.skipped_steps._value.get(), float(self._worker.images_generated)
        else:
            parts = [self._by_namespace.get(n, NamespaceTotals()) for n in dict.fromkeys(namespaces)]
            hits = sum(p.hits for p in parts)
            misses = sum(p.misses - p.canceled for p in parts)
            saved, reused = sum(p.gpu_seconds_saved for p in parts), sum(p.reused for p in parts)
            skipped, generated = sum(p.skipped_steps for p in parts), sum(p.images_generated for p in parts)
        misses = max(0.0, misses)  # a job canceled before it ran was no traffic: it leaves the misses
        return {
            "hits": hits,
            "misses": misses,
            "hit_ratio": hits / (hits + misses) if hits + misses else 0.0,
            "gpu_seconds_saved": saved,
            "reused": reused,
            "skipped_steps": skipped,
            "images_generated": generated,
        }

    def job_failed(self, error_type: str) -> None:
        """Count one failed job under its error type (worker_crashed, out_of_memory, store_failed, ...)."""
        self.failed.labels(type=error_type).inc()

    def record_hit(self, steps: int, namespace: str = "", api: str = "native") -> None:
        """A hit saves every denoising step the request would have run."""
        saved = self._worker.mean_step_seconds * steps
        self.hits.inc()
        self.by_api.labels(api=api, outcome="hit").inc()
        self.gpu_seconds_saved.inc(saved)
        totals = self.of(namespace)
        totals.hits += 1
        totals.gpu_seconds_saved += saved

    def record_miss(self, namespace: str = "", api: str = "native") -> None:
        """A request that needed a generation (its own, or one it joined)."""
        self.misses.inc()
        self.by_api.labels(api=api, outcome="miss").inc()
        self.of(namespace).misses += 1

    def record_cancel(self, namespace: str = "") -> None:
        """A generation canceled (nobody waits for it any more)."""
        self.canceled.inc()
        self.of(namespace).canceled += 1

    def record_generated(self, pictures: int, namespace: str = "") -> None:
        """Pictures generated for a namespace (the worker counts all of them itself)."""
        self.of(namespace).images_generated += pictures

    def record_cached_pictures(self, pictures: int, steps: int, namespace: str = "") -> None:
        """A request of n pictures found some cached (it still generated the rest): their steps were saved."""
        saved = self._worker.mean_step_seconds * steps * pictures
        self.gpu_seconds_saved.inc(saved)
        self.of(namespace).gpu_seconds_saved += saved

    def record_adoption(self, steps_left: int, namespace: str = "") -> None:
        """A client took a related picture instead, and its canceled generation saved the steps it had left."""
        saved = self._worker.mean_step_seconds * steps_left
        self.adopted.inc()
        self.gpu_seconds_saved.inc(saved)
        self.of(namespace).gpu_seconds_saved += saved

    def record_reuse(self, skipped_steps: int, namespace: str = "") -> None:
        """A near-miss that started from a checkpoint saved the steps it skipped."""
        saved = self._worker.mean_step_seconds * skipped_steps
        self.reused.inc()
        self.skipped_steps.inc(skipped_steps)
        self.gpu_seconds_saved.inc(saved)
        totals = self.of(namespace)
        totals.reused += 1
        totals.skipped_steps += skipped_steps
        totals.gpu_seconds_saved += saved

    def render(self) -> bytes:
        return generate_latest(self.registry)
