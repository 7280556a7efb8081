"""HTTP routes. Handlers validate, call the cache service and shape responses; nothing else."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import shutil
import time
from dataclasses import replace
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from dreamcache.api.deps import CallerDep, Services, ServicesDep, authenticate, require_admin
from dreamcache.api.errors import ERROR_RESPONSES, ApiError, invalid
from dreamcache.api.schemas import (
    GenerateRequest,
    GenerateResponse,
    Health,
    JobView,
    Readiness,
    RecommendRequest,
    RecommendResponse,
)
from dreamcache.cache import CacheMiss, Hit, RateLimited
from dreamcache.decision import CacheRequest, viewer_hash
from dreamcache.generation.spec import BatchShape
from dreamcache.generation.text import count_prompt_tokens
from dreamcache.jobs import Job, JobStatus
from dreamcache.keys import Caller
from dreamcache.metrics import CONTENT_TYPE
from dreamcache.storage import ImageNotFound, InvalidKey, validate_key
from dreamcache.times import rfc3339
from dreamcache.webhooks import WebhookRefused, check_destination
from dreamcache.worker import ClientQueueFull, QueueFull, WorkerUnavailable

router = APIRouter()


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson (several times faster than the standard library's): the hit path's bodies."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_SSE_KEEPALIVE_S = 15.0
NAMESPACE_HEADER = "X-Dreamcache-Namespace"
_NAMESPACE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
NamespaceHeader = Annotated[
    str | None,
    Header(alias=NAMESPACE_HEADER, description="Private namespace: its entries are never served to another "
           "namespace, and it never sees the shared pool's. Absent = the shared pool.",
           json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"}),
]


WARM_UP_HEADER = "X-Dreamcache-Warm-Up"
WarmUpHeader = Annotated[
    str | None,
    Header(alias=WARM_UP_HEADER, description="`1` from an admin key (anyone on an open service): this request fills "
           "the cache (`dreamcache warm`, the demo): not user traffic in the hit ratio, not rate limited.",
           json_schema_extra={"enum": ["0", "1"]}),
]

CLIENT_HEADER = "X-Dreamcache-Client"
ClientHeader = Annotated[
    str | None,
    Header(alias=CLIENT_HEADER, description="Optional client identity (only a hash is stored). A client asking "
           "again for a prompt without a seed gets cached pictures it has not been shown yet, then a new sample.",
           json_schema_extra={"maxLength": 256, "pattern": "^[ -~]*$"}),
]


def _viewer(value: str | None) -> str | None:
    """The stored form of the client identity, or a 422 naming the header."""
    if value is None or value == "":
        return None
    if len(value) > 256 or not value.isprintable():
        raise invalid(CLIENT_HEADER, "must be at most 256 printable characters")
    return viewer_hash(value)


def request_namespace(value: str | None, caller: Caller) -> str:
    """The request's namespace ("" = the shared pool): a 422 naming the header for a malformed name; with
    keys, the key's first namespace by default and a 403 for one the key does not have."""
    if value and not _NAMESPACE.match(value):
        raise invalid(NAMESPACE_HEADER, "must be 1-64 characters of letters, digits, '_', '.' or '-', "
                      "starting with a letter or digit")
    if caller.key is None:
        return value or ""
    if value is None:
        return caller.key.namespaces[0]
    if not caller.key.has_namespace(value):
        raise ApiError(403, "forbidden_namespace", f"this API key may not use namespace {value!r}",
                       NAMESPACE_HEADER)
    return value


# --- validation that depends on the service's settings and model ------------------------------


def _resolve(
    body: GenerateRequest, services: Services, namespace: str, viewer: str | None, client: str = ""
) -> CacheRequest:
    """Fill defaults and check the rules that depend on settings; raise a 422 naming the field."""
    s = services.settings
    for field in ("prompt", "negative_prompt"):
        text: str = getattr(body, field)
        if len(text) > s.max_prompt_chars:
            raise invalid(field, f"must be at most {s.max_prompt_chars} characters, got {len(text)}")
        limit = services.tokenizer.model_max_length
        tokens = count_prompt_tokens(services.tokenizer, text)
        if tokens > limit:
            raise invalid(field, f"is {tokens} CLIP tokens long (with start/end tokens); the limit is {limit}")
    width, height = _size(body.width, body.height, services)
    steps = body.num_inference_steps if body.num_inference_steps is not None else s.default_steps
    if steps > s.max_steps:
        raise invalid("num_inference_steps", f"must be between 1 and {s.max_steps}, got {steps}")
    guidance = body.guidance_scale if body.guidance_scale is not None else s.default_guidance
    min_similarity = body.min_similarity if body.min_similarity is not None else s.similarity_threshold
    if min_similarity < s.min_similarity_floor:
        raise invalid(
            "min_similarity", f"must be between {s.min_similarity_floor} and 1.0, got {min_similarity}"
        )
    n = body.n
    if body.max_results is not None:  # the deprecated alias
        if "n" in body.model_fields_set and body.n != body.max_results:
            raise invalid("max_results", f"is an alias of n: give one of them, or equal values (n={body.n}, "
                          f"max_results={body.max_results})")
        n = body.max_results
    if body.seed is not None and body.seed + n - 1 > 2**63 - 1:
        raise invalid("seed", f"with n={n} pictures (seeds seed .. seed + n - 1), must be at most 2**63 - {n}")
    return CacheRequest(
        prompt=body.prompt,
        negative_prompt=body.negative_prompt,
        shape=BatchShape(width, height, steps, float(guidance)),
        seed=body.seed,
        n=n,
        mode=body.cache.value,
        min_similarity=min_similarity,
        namespace=namespace,
        viewer=viewer if body.seed is None else None,  # a seed names one exact picture: no variety
        reuse=body.reuse,
        client=client,
    )


def _size(width: int | None, height: int | None, services: Services) -> tuple[int, int]:
    """Width and height with the defaults filled in, within the service's side limits (else a 422)."""
    s = services.settings
    width = width if width is not None else s.default_width
    height = height if height is not None else s.default_height
    for field, value in (("width", width), ("height", height)):
        if not s.min_side <= value <= s.max_side:
            raise invalid(field, f"must be between {s.min_side} and {s.max_side} pixels, got {value}")
    return width, height


def _parse_prefer(prefer: str | None, services: Services) -> tuple[bool, float]:
    """(respond_async, seconds to wait) from an RFC 7240 Prefer header."""
    wait = services.settings.default_wait_s
    if not prefer:
        return False, wait
    respond_async = "respond-async" in prefer.lower()
    match = _PREFER_WAIT.search(prefer)
    if match:
        wait = min(float(match.group(1)), services.settings.max_wait_s)
    return respond_async, wait


# --- views ------------------------------------------------------------------------------------


def _iso(ts: float | None) -> str | None:
    return rfc3339(ts) if ts is not None else None


def _job_view(job: Job, services: Services, ticket: str | None = None) -> dict[str, Any]:
    """The job as one waiter sees it: by its ticket, and canceled once that waiter detached."""
    ticket = ticket or job.id
    error = None
    if job.error is not None:
        error = {"type": job.error.type, "message": job.error.message, "field": None}
    detached = ticket in job.detached
    status = JobStatus.CANCELED if detached else job.status
    result = job.result if not detached else None
    if result is not None and ticket != job.id:
        result = {**result, "job_id": ticket}
    return {
        "job_id": ticket,
        "status": status.value,
        "queue_position": services.worker.position(job) if status is JobStatus.QUEUED else None,
        "progress": {"step": job.step, "total": job.total_steps or job.task.shape.steps - job.task.start_step},
        "created_at": _iso(job.created_at),
        "started_at": _iso(job.started_at),
        "finished_at": _iso(job.finished_at),
        "result": result,
        "error": error,
    }


async def _inline_images(body: dict[str, Any], services: Services) -> dict[str, Any]:
    """`response_format: b64_json`: each image's PNG inline instead of its URL."""
    images = []
    for image in body.get("images", []):
        data = await asyncio.to_thread(services.store.get, f"{image['id']}.png")
        images.append({**image, "url": None, "b64_json": base64.b64encode(data).decode("ascii")})
    return {**body, "images": images}


def _job_or_404(job_id: str, services: Services, caller: Caller) -> Job:
    job = services.jobs.get(job_id)
    # Another tenant's job does not exist for this caller (a 403 would confirm that it does).
    if job is None or not caller.may_read(job.task.namespace):
        raise ApiError(404, "not_found", f"no job with id {job_id!r} (unknown or expired)", "job_id")
    return job


_FAILED_STATUS = {"worker_crashed": 503, "generator_unavailable": 503, "shutdown": 503}


def _finished(job: Job, services: Services, ticket: str) -> JSONResponse:
    if job.status is JobStatus.SUCCEEDED:
        result = job.result if ticket == job.id else {**(job.result or {}), "job_id": ticket}
        return FastJSONResponse(result, headers={"X-Cache": "MISS"})
    if job.status is JobStatus.CANCELED:
        raise ApiError(409, "canceled", f"job {job.id} was canceled before it ran")
    assert job.error is not None
    status = _FAILED_STATUS.get(job.error.type, 500)
    raise ApiError(status, job.error.type, job.error.message)


# --- routes -----------------------------------------------------------------------------------


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={202: {"model": JobView, "description": "Generation still running: poll Location"}, **ERROR_RESPONSES},
    summary="Answer from the cache, or generate",
)
async def generate(
    body: GenerateRequest,
    services: ServicesDep,
    caller: CallerDep,
    http: Request,
    prefer: Annotated[str | None, Header(description="`wait=N` and/or `respond-async` (RFC 7240)")] = None,
    namespace: NamespaceHeader = None,
    client: ClientHeader = None,
    warm_up: WarmUpHeader = None,
) -> Response:
    started = time.perf_counter()
    if body.webhook is not None:
        try:
            await asyncio.to_thread(check_destination, body.webhook, services.settings)
        except WebhookRefused as exc:  # a policy of this service, not a malformed request
            raise ApiError(403, "webhook_refused", f"webhook: {exc}", "webhook") from None
    who = caller.owner or f"addr:{http.client.host if http.client else ''}"
    request = _resolve(body, services, request_namespace(namespace, caller), _viewer(client), who)
    if warm_up == "1" and caller.is_admin:  # only admins (or anyone on an open service) fill the cache
        request = replace(request, warm_up=True)
    try:
        outcome = await services.cache.handle(request)
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
    except WorkerUnavailable as exc:
        raise ApiError(503, "generator_unavailable", f"the image generator could not be loaded: {exc}") from None
    if isinstance(outcome, Hit):
        body_out = services.cache.hit_response(outcome, (time.perf_counter() - started) * 1000)
        if body.webhook is not None:
            services.webhooks.completed_now(body.webhook, body.webhook_events_filter, body_out)
        if body.response_format == "b64_json":
            body_out = await _inline_images(body_out, services)
        return FastJSONResponse(body_out, headers={"X-Cache": "HIT"})
    job, ticket = outcome.job, outcome.ticket or outcome.job.id
    if body.webhook is not None:
        services.webhooks.follow(job, body.webhook, body.webhook_events_filter,
                                 lambda: _job_view(job, services, ticket))
    respond_async, wait = _parse_prefer(prefer, services)
    applied = "respond-async" if respond_async else (f"wait={wait:g}" if prefer and _PREFER_WAIT.search(prefer)
                                                     else None)
    if not respond_async and await job.wait(wait):
        response = _finished(job, services, ticket)
        if body.response_format == "b64_json":
            inlined = await _inline_images(json.loads(bytes(response.body)), services)
            response = JSONResponse(inlined, headers={"X-Cache": "MISS"})
        if applied:
            response.headers["Preference-Applied"] = applied
        return response
    headers = {"Location": f"/jobs/{ticket}", "X-Cache": "MISS"}
    if applied:
        headers["Preference-Applied"] = applied
    return FastJSONResponse(_job_view(job, services, ticket), status_code=202, headers=headers)


@router.get("/jobs/{job_id}", response_model=JobView, responses=ERROR_RESPONSES, summary="A job's state")
async def get_job(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return _job_view(_job_or_404(job_id, services, caller), services, job_id)


@router.delete("/jobs/{job_id}", response_model=JobView, responses=ERROR_RESPONSES,
               summary="Stop waiting for a job; the job is canceled (queued or between denoising steps) once nobody "
               "waits for it")
async def cancel_job(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    job = _job_or_404(job_id, services, caller)
    if job_id in job.detached or job.status is JobStatus.CANCELED:
        return _job_view(job, services, job_id)  # canceled already: idempotent
    if job.status.terminal:
        raise ApiError(409, "not_cancelable", f"job {job_id} already {job.status.value}")
    _stop_waiting(job, job_id, services)
    return _job_view(job, services, job_id)


def _stop_waiting(job: Job, ticket: str, services: Services) -> bool:
    """Detach one waiter; cancel the generation when nobody else waits. True if the generation was canceled."""
    if services.jobs.detach(job, ticket):
        return False  # others joined this generation: it goes on for them
    canceled = services.worker.cancel(job) or services.worker.cancel_running(job)
    if canceled:
        services.metrics.canceled.inc()
    services.jobs.settle(job)
    return canceled


@router.get("/jobs/{job_id}/related", responses=ERROR_RESPONSES,
            summary="Up to 9 stored pictures near a job's prompt (related, not answers), while it generates")
async def related_pictures(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    job = _job_or_404(job_id, services, caller)
    if job.status.terminal or not job.task.vector:
        return {"job_id": job_id, "images": []}
    matches = await asyncio.to_thread(services.index.search, job.task.vector, compat_key=job.task.compat_key,
                                      limit=9, min_score=0.3)
    return {"job_id": job_id, "images": [services.cache.image_out(m.entry, m.score) for m in matches]}


class AdoptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_id: str = Field(min_length=1, max_length=64, description="A related picture (`/jobs/{id}/related`).")


@router.post("/jobs/{job_id}/adopt", responses=ERROR_RESPONSES,
             summary="Use a related picture instead: this request stops waiting (its generation is canceled when "
             "nobody else waits), and the saved steps count as GPU time saved")
async def adopt_picture(job_id: str, body: AdoptBody, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    job = _job_or_404(job_id, services, caller)
    entry = await asyncio.to_thread(services.index.get, body.image_id)
    if entry is None or entry.compat_key != job.task.compat_key:
        raise ApiError(404, "not_found", f"no related picture with id {body.image_id!r}", "image_id")
    if job.status is JobStatus.SUCCEEDED and job_id not in job.detached:
        raise ApiError(409, "not_cancelable", f"job {job_id} already succeeded: its own picture is ready")
    steps_left = max(0, (job.total_steps or job.task.shape.steps) - job.step)
    if job_id not in job.detached and not job.status.terminal and _stop_waiting(job, job_id, services):
        services.metrics.record_adoption(steps_left)
    return {"job_id": job_id, "adopted": services.cache.image_out(entry, 1.0)}


@router.get(
    "/jobs/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **ERROR_RESPONSES},
    summary="Progress of a job as Server-Sent Events",
)
async def job_events(job_id: str, services: ServicesDep, caller: CallerDep) -> StreamingResponse:
    job = _job_or_404(job_id, services, caller)
    ticket = job_id

    async def stream() -> Any:
        changes = job.subscribe()
        try:
            yield _sse("status", _job_view(job, services, ticket))
            while not job.status.terminal and ticket not in job.detached:
                try:
                    kind = await asyncio.wait_for(changes.get(), _SSE_KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                while not changes.empty():  # coalesce bursts: the view is the latest state anyway
                    latest = changes.get_nowait()
                    kind = "status" if "status" in (kind, latest) else latest
                yield _sse(kind, _job_view(job, services, ticket))
        finally:
            job.unsubscribe(changes)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    )


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


async def _recommend(
    params: RecommendRequest, services: Services, namespace: str | None, caller: Caller
) -> JSONResponse:
    started = time.perf_counter()
    width, height = _size(params.width, params.height, services)
    chosen = request_namespace(namespace, caller)
    suggestions = await services.cache.recommend(params.q, params.limit, width, height, chosen)
    total_ms = (time.perf_counter() - started) * 1000
    return FastJSONResponse(
        {"query": params.q, "suggestions": suggestions, "timings": {"total_ms": total_ms}},
        headers={"Server-Timing": f"app;dur={total_ms:.3f}"},
    )


@router.get("/recommend", response_model=RecommendResponse, responses=ERROR_RESPONSES,
            summary="Prompt suggestions (autocomplete), from the first character")
async def recommend(
    params: Annotated[RecommendRequest, Query()], services: ServicesDep, caller: CallerDep,
    namespace: NamespaceHeader = None,
) -> JSONResponse:
    return await _recommend(params, services, namespace, caller)


@router.post("/recommend", response_model=RecommendResponse, responses=ERROR_RESPONSES,
             summary="Prompt suggestions (autocomplete), JSON body")
async def recommend_post(
    body: RecommendRequest, services: ServicesDep, caller: CallerDep, namespace: NamespaceHeader = None
) -> JSONResponse:
    return await _recommend(body, services, namespace, caller)


@router.get(
    "/images/{key}",
    responses={200: {"content": {"image/png": {}}}, 307: {"description": "Redirect to S3"}, **ERROR_RESPONSES},
    summary="Image bytes (local store) or a redirect to a presigned URL (S3 store)",
)
async def get_image(
    key: Annotated[str, Path(json_schema_extra={"pattern": "^[A-Za-z0-9][A-Za-z0-9_.-]*$", "maxLength": 200},
                             description="The image's key: `<entry id>.png`")],
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <key>`, unless the URL is signed")] = None,
    exp: Annotated[int | None, Query(description="Signed URL: expiry (unix seconds)")] = None,
    sig: Annotated[str | None, Query(description="Signed URL: signature")] = None,
) -> Response:
    try:
        validate_key(key)
    except InvalidKey as exc:
        raise invalid("key", str(exc)) from None
    if not key.endswith(".png"):  # the store also holds denoising checkpoints: never served
        raise ApiError(404, "not_found", f"no image with key {key!r}", "key")
    if services.keys.enabled:
        await _check_image_access(key, services, authorization, exp, sig)
    if services.store.name != "local":
        return RedirectResponse(services.store.url(key), status_code=307)
    try:
        data = await asyncio.to_thread(services.store.get, key)
    except ImageNotFound:
        # An image gone from the store outside the service: its entry must stop answering hits at once.
        entry = await asyncio.to_thread(services.index.get, key.removesuffix(".png"))
        if entry is not None and entry.image_key == key:
            await asyncio.to_thread(services.curator.delete, entry)
        raise ApiError(404, "not_found", f"no image with key {key!r}", "key") from None
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Readiness")
async def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    worker = services.worker
    if worker.ready:
        checks["generator"] = "ok"
    elif worker.load_error:
        checks["generator"] = f"failed: {worker.load_error}"
    else:
        checks["generator"] = "loading"
    for name, probe in (("index", services.index.check), ("store", services.store.check)):
        try:
            await asyncio.to_thread(probe)
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"unreachable: {type(exc).__name__}"
    checks["disk"] = await asyncio.to_thread(_disk_check, services)
    problems = [f"{name}: {value}" for name, value in checks.items() if value != "ok"]
    if worker.ready and worker.compile_status is not None:
        # Detail, not a problem (added after `problems`): a worker that fell back to eager serves, slower.
        checks["compile"] = worker.compile_status
    if not problems:
        return JSONResponse({"status": "ready", "checks": checks})
    error = {"type": "not_ready", "message": "; ".join(problems), "field": None}
    return JSONResponse({"status": "not_ready", "checks": checks, "error": error}, status_code=503)


def _disk_check(services: Services) -> str:
    """`ok`, or how little space is left where the index and local images live."""
    path = services.settings.data_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    free_mb = shutil.disk_usage(path).free / 2**20
    floor = services.settings.min_free_disk_mb
    return "ok" if free_mb >= floor else f"low: {free_mb:.0f} MB free under {path}, below {floor} MB"


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE: {}}}, **ERROR_RESPONSES},
            summary="Prometheus metrics (an admin key, unless DREAMCACHE_METRICS_PUBLIC)")
async def metrics(
    services: ServicesDep,
    authorization: Annotated[str | None, Header(description="`Bearer <admin key>`")] = None,
) -> Response:
    if not services.settings.metrics_public:
        require_admin(authenticate(services, authorization))
    return Response(services.metrics.render(), media_type=CONTENT_TYPE)


async def _check_image_access(
    key: str, services: Services, authorization: str | None, exp: int | None, sig: str | None
) -> None:
    """With keys: a signed URL (what responses hand out, for <img> tags) or a key of the image's namespace."""
    if exp is not None and sig is not None and services.keys.check_signature(key, exp, sig):
        return
    caller = authenticate(services, authorization)  # 401 without a key
    entry = await asyncio.to_thread(services.index.get, key.removesuffix(".png"))
    if entry is None or not caller.may_read(entry.namespace):
        raise ApiError(404, "not_found", f"no image with key {key!r}", "key")
