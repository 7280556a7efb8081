"""Answering a resolved request, the one path of every HTTP API (the native `/generate`, OpenAI's images API,
AUTOMATIC1111's txt2img): the cache's outcome with its refusals as `ApiError`s, a hit asked again when one of its
pictures vanished from the store, a finished job's answer, and images inline. Each API's routes only translate
their request into a `CacheRequest` and the answer (a `GenerateResponse` body) into their own shape.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from fastapi import Request

from dreamcache.api.deps import Services
from dreamcache.api.errors import ApiError
from dreamcache.backend import ClientQueueFull, QueueFull, QueueUnavailable, WorkerUnavailable
from dreamcache.cache import CacheMiss, Hit, Pending, RateLimited
from dreamcache.jobs import Job, JobStatus
from dreamcache.keys import Caller
from dreamcache.resolution import CacheRequest
from dreamcache.storage import ImageNotFound

_VANISHED_RETRIES = 3  # each try drops the vanished entries it met, so the next one sees fewer
_FAILED_STATUS = {"worker_crashed": 503, "generator_unavailable": 503, "shutdown": 503}


@dataclass
class Cached:
    """The answer of a hit: the body (`GenerateResponse`), images inline when asked."""

    body: dict[str, Any]


def client_of(caller: Caller, http: Request) -> str:
    """Who asks, for rate limits and the GPU queue's fair share: the key's id, or the address on an open service."""
    return caller.owner or f"addr:{http.client.host if http.client else ''}"


async def outcome(request: CacheRequest, services: Services) -> Hit | Pending:
    """The cache's answer to a request, its refusals turned into the API's errors."""
    try:
        return await services.cache.handle(request)
    except CacheMiss:
        raise ApiError(404, "cache_miss", "no cached image matches this request and cache is 'only'") from None
    except RateLimited as exc:
        raise ApiError(
            429, "rate_limited", f"{exc.what} rate limit of this client reached; retry in {exc.retry_after} s",
            headers={"Retry-After": str(exc.retry_after)},
        ) from None
    except ClientQueueFull as exc:
        retry = str(services.settings.retry_after_s)
        raise ApiError(
            429, "client_queue_full", f"this client already has {exc.queued} jobs waiting for the GPU (the most "
            f"one client may queue); retry in {retry} s", headers={"Retry-After": retry},
        ) from None
    except QueueFull:
        retry = str(services.settings.retry_after_s)
        raise ApiError(
            429, "queue_full", f"the GPU queue is full; retry in {retry} s", headers={"Retry-After": retry}
        ) from None
    except QueueUnavailable as exc:
        retry = str(services.settings.retry_after_s)
        raise ApiError(503, "queue_unavailable", f"the shared GPU queue cannot take a generation now ({exc}); cached "
                       f"pictures are still served; retry in {retry} s", headers={"Retry-After": retry}) from None
    except WorkerUnavailable as exc:
        raise ApiError(503, "generator_unavailable", f"the image generator could not be loaded: {exc}") from None


async def inline_images(body: dict[str, Any], services: Services) -> dict[str, Any]:
    """`response_format: b64_json`: each image's PNG inline instead of its URL. ImageNotFound when a picture
    vanished from the store; its entry is dropped first (as `GET /images/{key}` does), so it answers no more."""
    inlined, vanished = await services.views.inline_images(body)
    if vanished:
        for key in vanished:
            await asyncio.to_thread(services.curator.image_vanished, key)
        raise ImageNotFound(vanished[0])
    return inlined


async def answer(request: CacheRequest, services: Services, *, inline: bool, started: float) -> Cached | Pending:
    """A hit's body (pictures inline when `inline`), or the generation to wait for. A hit whose picture vanished
    from the store is asked again (its entry is gone by then): a miss, another hit, or 404 for `cache: only`."""
    result = await outcome(request, services)
    for _ in range(_VANISHED_RETRIES):
        if not isinstance(result, Hit):
            return result
        body = services.views.hit(result, (time.perf_counter() - started) * 1000)
        if not inline:
            return Cached(body)
        try:
            return Cached(await inline_images(body, services))
        except ImageNotFound:
            result = await outcome(request, services)
    if isinstance(result, Hit):
        raise ApiError(503, "store_unavailable", "the cached pictures keep vanishing from the image store; retry",
                       headers={"Retry-After": str(services.settings.retry_after_s)})
    return result


async def finished(job: Job, services: Services, ticket: str, *, inline: bool) -> dict[str, Any]:
    """A finished job's answer (`GenerateResponse`) as waiter `ticket` sees it; its failure as an ApiError."""
    if job.status is JobStatus.CANCELED:
        raise ApiError(409, "canceled", f"job {ticket} was canceled before it ran")
    if job.status is not JobStatus.SUCCEEDED:
        assert job.error is not None
        raise ApiError(_FAILED_STATUS.get(job.error.type, 500), job.error.type, job.error.message)
    body = services.views.generated(job, ticket)
    assert body is not None
    if not inline:
        return body
    try:
        return await inline_images(body, services)
    except ImageNotFound as exc:
        raise ApiError(404, "not_found", f"a generated picture ({exc.args[0]}) vanished from the image store "
                       "before it could be sent; ask again", "response_format") from None
