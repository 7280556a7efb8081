"""`dreamcache worker`: one GPU worker on the shared queue (Redis), as its own process on any machine."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

from dreamcache.settings import Settings

log = logging.getLogger(__name__)

NEEDS_REDIS = ("dreamcache worker: DREAMCACHE_REDIS_URL is not set: a worker takes its jobs from the shared queue "
               "on Redis (e.g. DREAMCACHE_REDIS_URL=redis://host:6379/0); for one machine, `dreamcache serve` "
               "runs its own worker")


def worker_command(settings: Settings) -> int:
    """Run a worker until SIGTERM or Ctrl+C (then it hands back what it has not started and finishes its batch)."""
    if not settings.redis_url:
        print(NEEDS_REDIS, file=sys.stderr)
        return 2
    from dreamcache.preflight import ModelUnavailable, check_model

    try:
        check_model(settings)
    except ModelUnavailable as exc:
        print(exc, file=sys.stderr)
        return 2
    asyncio.run(_run(settings))
    return 0


async def _run(settings: Settings) -> None:
    from dreamcache.cluster import RedisLink
    from dreamcache.cluster.worker import QueueWorker
    from dreamcache.generation.spec import pipeline_fingerprint, resolve_device
    from dreamcache.storage import open_store

    assert settings.redis_url is not None
    link = RedisLink(settings.redis_url, settings.redis_prefix)
    await link.start()
    fingerprint = pipeline_fingerprint(settings, resolve_device(settings))
    worker = QueueWorker(settings, link, open_store(settings), fingerprint)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.start()
    try:
        await stop.wait()
        log.info("stopping: handing back the jobs not started, finishing the running batch")
    finally:
        await worker.stop()
        await link.close()
    log.info("worker stopped")
