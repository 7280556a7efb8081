"""create_app(settings): builds every service in the lifespan, in order, and closes them in reverse."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from dreamcache import __version__
from dreamcache.api import a1111, admin, errors, openai_compat, routes, web
from dreamcache.api.deps import Services
from dreamcache.api.guards import BodyGuard
from dreamcache.api.views import Views
from dreamcache.cache import CacheService
from dreamcache.cache.waiters import Waiters
from dreamcache.cache.writeback import PictureWriter
from dreamcache.cluster.backend import SharedBackend
from dreamcache.cluster.connection import RedisLink
from dreamcache.cluster.jobs import SharedJobs
from dreamcache.cluster.lease import Lease
from dreamcache.cluster.limits import SharedLimits
from dreamcache.cluster.reports import SharedReportLog
from dreamcache.cluster.worker import QueueWorker
from dreamcache.embedding import BatchingEmbedder, VectorCache, open_embedder
from dreamcache.generation.spec import pipeline_fingerprint, resolve_device
from dreamcache.generation.text import load_tokenizer
from dreamcache.index import open_index
from dreamcache.jobs import JobTable
from dreamcache.keys import KeysFileError, KeyStore
from dreamcache.limits import local_limiter
from dreamcache.management import SWEEP_LEASE, SWEEP_LEASE_TTL_S, Curator, retention_forever
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage import open_store
from dreamcache.webhooks import WebhookSender
from dreamcache.worker import GpuWorker

log = logging.getLogger(__name__)

_SWEEP_EVERY_S = 60.0


async def build_services(settings: Settings, stack: AsyncExitStack) -> Services:
    """Open every backend; each registers its own clean-up on the stack."""
    device = resolve_device(settings)
    if device == "cpu" and not settings.is_tiny:
        log.warning("no CUDA device: generation will run in fp32 on the CPU and be slow (model %s)", settings.model)
    fingerprint = pipeline_fingerprint(settings, device)

    embedder = await asyncio.to_thread(open_embedder, settings)
    batching = BatchingEmbedder(
        embedder, max_batch=settings.embed_batch_size, max_wait_ms=settings.embed_batch_wait_ms,
        cache=VectorCache(settings.embedding_cache_size),
    )
    await batching.start()
    stack.push_async_callback(batching.stop)

    index = await asyncio.to_thread(
        open_index, settings, embedder_name=embedder.name, dimension=embedder.dimension
    )
    stack.callback(index.close)
    optimize = getattr(index, "optimize", None)
    if settings.index_optimize_on_start and optimize is not None:
        # Blocking and GIL-holding on large shards: done before serving, never on the request path.
        began = time.perf_counter()
        changed = await asyncio.to_thread(optimize)
        log.info("index optimized in %.1fs (changed: %s)", time.perf_counter() - began, changed)
    store = open_store(settings)
    tokenizer = await asyncio.to_thread(load_tokenizer, settings.model)

    metrics = Metrics()
    # Redis (DREAMCACHE_REDIS_URL): one link per process; jobs, the queue, single flight, limits, the retention
    # turn and the reports log on it.
    link: RedisLink | None = None
    jobs: JobTable
    backend: GpuWorker | SharedBackend
    if settings.redis_url:
        link = RedisLink(settings.redis_url, settings.redis_prefix)
        await link.start()
        stack.push_async_callback(link.close)
        jobs = SharedJobs(link, ttl_s=settings.job_ttl_s, max_jobs=settings.max_jobs, queue_size=settings.queue_size,
                          max_queued_per_client=settings.max_queued_per_client, flight_ttl_s=settings.job_ttl_s,
                          claim_after_s=settings.redis_visibility_timeout_s)
        worker = QueueWorker(settings, link, store, fingerprint, metrics) if settings.worker == "local" else None
        backend = SharedBackend(link, jobs, worker)
    else:
        jobs = JobTable(settings.job_ttl_s, settings.max_jobs)
        backend = GpuWorker(settings, PictureWriter(store, metrics).store_all, fingerprint)
    limiters = SharedLimits(link, metrics).limiter if link is not None else local_limiter
    sweep_lease = Lease(link, SWEEP_LEASE, SWEEP_LEASE_TTL_S) if link is not None else None
    report_log = SharedReportLog(link) if link is not None else None
    metrics.watch(backend)
    cache = CacheService(settings, batching, index, store, jobs, metrics, backend, fingerprint, limiters=limiters)
    if isinstance(jobs, SharedJobs):
        jobs.index_pictures = cache.misses.index_generated
        jobs.suggest = lambda entry: cache.suggestions.of(entry.namespace).add(entry)
    keys = KeyStore(settings.keys_path)
    views = Views(settings, store, keys, backend)
    _announce_access(settings, keys)
    await cache.suggestions.load()
    stack.push_async_callback(cache.drain)
    await backend.start()
    stack.push_async_callback(backend.stop)

    curator = Curator(settings, index, store, metrics, cache.suggestions.of, report_log)
    webhooks = WebhookSender(settings)
    stack.push_async_callback(webhooks.close)
    sweepers = [
        asyncio.create_task(_sweep_forever(jobs), name="job-sweeper"),
        asyncio.create_task(retention_forever(curator, settings.retention_interval_s, sweep_lease), name="retention"),
    ]

    async def _stop_sweepers() -> None:
        for sweeper in sweepers:
            sweeper.cancel()
        for sweeper in sweepers:
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper

    stack.push_async_callback(_stop_sweepers)
    log.info("dreamcache %s: index %s, store %s, embedder %s (%d-d), fingerprint %s", __version__, index.name,
             store.name, embedder.name, embedder.dimension, fingerprint)
    waiters = Waiters(jobs, cache.misses, index, metrics)
    log.info("API docs (work offline): http://%s:%d/docs (Swagger UI) and /redoc", settings.host, settings.port)
    return Services(settings, cache, waiters, views, index, store, backend, jobs, metrics, tokenizer, keys, curator,
                    webhooks, link)


_LOOPBACK = ("127.", "::1", "localhost")


def _announce_access(settings: Settings, keys: KeyStore) -> None:
    """Say at start-up who can use the service: key holders, or (no keys file) anybody who reaches it."""
    if keys.enabled:  # an empty or unreadable keys file is logged by the key store itself: closed to everybody
        with contextlib.suppress(KeysFileError):
            count = len(keys.records())
            log.info("access: %d API key(s) in %s; every route but /healthz, /readyz and the page needs one",
                     count, keys.path)
        return
    message = ("access: OPEN - no API keys in %s, so anybody who can reach %s:%d may generate, read every "
               "namespace and cancel jobs. Add keys with `dreamcache keys add --namespace NAME`.")
    if settings.host.startswith(_LOOPBACK):
        log.info(message, keys.path, settings.host, settings.port)
    else:
        log.warning("!" * 100)
        log.warning(message, keys.path, settings.host, settings.port)
        log.warning("!" * 100)


async def _sweep_forever(jobs: JobTable) -> None:
    while True:
        await asyncio.sleep(_SWEEP_EVERY_S)
        jobs.sweep()


def create_app(settings: Settings | None = None) -> FastAPI:
    """The ASGI app. Settings come from the caller (tests) or the environment."""
    settings = settings if settings is not None else Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            app.state.services = await build_services(settings, stack)
            yield

    app = FastAPI(
        title="dreamcache",
        version=__version__,
        summary="A collaborative Stable Diffusion cache: similar prompts are answered from stored images.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are web.py's: their assets come from the package, not a CDN
        redoc_url=None,
    )
    errors.install(app)
    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes, body_timeout_s=settings.body_timeout_s,
                       body_total_timeout_s=settings.body_total_timeout_s)
    app.add_middleware(openai_compat.OpenAIErrorShape)  # outermost: the guards' errors under /v1/ too
    app.include_router(routes.router)
    app.include_router(openai_compat.router)
    app.include_router(a1111.router)
    app.include_router(admin.router)
    app.include_router(web.router)
    return app
