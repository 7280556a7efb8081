"""HTTP routes. Handlers parse, call one service method and shape the answer with `views`; nothing else."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import time
from dataclasses import replace
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from dreamcache.api.answers import Cached, answer, client_of, finished
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
from dreamcache.api.tenancy import NamespaceHeader, request_namespace
from dreamcache.cache.waiters import NoSuchPicture, NotCancelable
from dreamcache.jobs import Job
from dreamcache.keys import Caller
from dreamcache.metrics import CONTENT_TYPE
from dreamcache.resolution import CacheRequest, InvalidField, resolve_request, resolve_size, viewer_hash
from dreamcache.storage import ImageNotFound, InvalidKey, validate_key
from dreamcache.webhooks import WebhookRefused, WebhookUrlInvalid, check_destination

router = APIRouter()


class FastJSONResponse(JSONResponse):
    """JSON rendered by orjson (several times faster than the standard library's): the hit path's bodies."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


_PREFER_WAIT = re.compile(r"(?:^|[,;\s])wait\s*=\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_SSE_KEEPALIVE_S = 15.0
WARM_UP_HEADER = "X-Dreamcache-Warm-Up"
WarmUpHeader = Annotated[
    Literal["0", "1"] | None,
    WithJsonSchema({"type": "string", "enum": ["0", "1"]}),  # a header is absent or a string, never null
    Header(alias=WARM_UP_HEADER, description="`1` from an admin key (anyone on an open service): this request fills "
           "the cache (`dreamcache warm`, the demo): not user traffic in the hit ratio, not rate limited.",
           ),
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


# --- validation that depends on the service's settings and model ------------------------------


def _resolve(
    body: GenerateRequest, services: Services, namespace: str, viewer: str | None, client: str = ""
) -> CacheRequest:
    """Fill defaults and check the rules that depend on settings; raise a 422 naming the field."""
    try:
        return resolve_request(
            services.settings, prompt=body.prompt, negative_prompt=body.negative_prompt, width=body.width,
            height=body.height, steps=body.num_inference_steps, guidance=body.guidance_scale, seed=body.seed,
            n=body.n, max_results=body.max_results, n_given="n" in body.model_fields_set, mode=body.cache.value,
            min_similarity=body.min_similarity, namespace=namespace, viewer=viewer, reuse=body.reuse, client=client,
            tokenizer=services.tokenizer, scheduler=body.scheduler,
        )
    except InvalidField as exc:
        raise invalid(exc.field, exc.message) from None


def _size(width: int | None, height: int | None, services: Services) -> tuple[int, int]:
    """Width and height with the defaults filled in, within the service's side limits (else a 422)."""
    try:
        return resolve_size(width, height, services.settings)
    except InvalidField as exc:
        raise invalid(exc.field, exc.message) from None


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


async def _job_or_404(job_id: str, services: Services, caller: Caller) -> Job:
    job = await services.jobs.fetch(job_id)
    # Another tenant's job does not exist for this caller (a 403 would confirm that it does).
    if job is None or not caller.may_read(job.task.namespace):
        raise ApiError(404, "not_found", f"no job with id {job_id!r} (unknown or expired)", "job_id")
    return job


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
        except WebhookUrlInvalid as exc:
            raise invalid("webhook", str(exc)) from None
        except WebhookRefused as exc:  # a policy of this service, not a malformed request
            raise ApiError(403, "webhook_refused", f"webhook: {exc}", "webhook") from None
    request = _resolve(body, services, request_namespace(namespace, caller), _viewer(client), client_of(caller, http))
    if warm_up == "1" and caller.is_admin:  # only admins (or anyone on an open service) fill the cache
        request = replace(request, warm_up=True)
    answered = await answer(request, services, inline=body.response_format == "b64_json", started=started)
    if isinstance(answered, Cached):
        if body.webhook is not None:
            services.webhooks.completed_now(body.webhook, body.webhook_events_filter, answered.body)
        return FastJSONResponse(answered.body, headers={"X-Cache": "HIT"})
    job, ticket = answered.job, answered.ticket or answered.job.id
    if body.webhook is not None:
        services.webhooks.follow(job, body.webhook, body.webhook_events_filter,
                                 lambda: services.views.job(job, ticket))
    respond_async, wait = _parse_prefer(prefer, services)
    applied = "respond-async" if respond_async else (f"wait={wait:g}" if prefer and _PREFER_WAIT.search(prefer)
                                                     else None)
    if not respond_async and await job.wait(wait):
        response = FastJSONResponse(await finished(job, services, ticket, inline=body.response_format == "b64_json"),
                                    headers={"X-Cache": "MISS"})
        if applied:
            response.headers["Preference-Applied"] = applied
        return response
    headers = {"Location": f"/jobs/{ticket}", "X-Cache": "MISS"}
    if applied:
        headers["Preference-Applied"] = applied
    return FastJSONResponse(services.views.job(job, ticket), status_code=202, headers=headers)


@router.get("/jobs/{job_id}", response_model=JobView, responses=ERROR_RESPONSES, summary="A job's state")
async def get_job(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return services.views.job(await _job_or_404(job_id, services, caller), job_id)


@router.delete("/jobs/{job_id}", response_model=JobView, responses=ERROR_RESPONSES,
               summary="Stop waiting for a job; the job is canceled (queued or between denoising steps) once nobody "
               "waits for it")
async def cancel_job(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    job = await _job_or_404(job_id, services, caller)
    try:
        await services.waiters.cancel(job, job_id)
    except NotCancelable as exc:
        raise ApiError(409, "not_cancelable", str(exc)) from None
    return services.views.job(job, job_id)


@router.get("/jobs/{job_id}/related", responses=ERROR_RESPONSES,
            summary="Up to 9 stored pictures near a job's prompt (related, not answers), while it generates")
async def related_pictures(job_id: str, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    job = await _job_or_404(job_id, services, caller)
    return {"job_id": job_id, "images": services.views.matches(await services.waiters.related(job))}


class AdoptBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    image_id: str = Field(min_length=1, max_length=64, description="A related picture (`/jobs/{id}/related`).")


@router.post("/jobs/{job_id}/adopt", responses=ERROR_RESPONSES,
             summary="Use a related picture instead: this request stops waiting (its generation is canceled when "
             "nobody else waits), and the saved steps count as GPU time saved")
async def adopt_picture(job_id: str, body: AdoptBody, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    job = await _job_or_404(job_id, services, caller)
    try:
        entry = await services.waiters.adopt(job, job_id, body.image_id)
    except NoSuchPicture as exc:
        raise ApiError(404, "not_found", str(exc), "image_id") from None
    except NotCancelable as exc:
        raise ApiError(409, "not_cancelable", str(exc)) from None
    return {"job_id": job_id, "adopted": services.views.image(entry, 1.0)}


@router.get(
    "/jobs/{job_id}/events",
    responses={200: {"content": {"text/event-stream": {}}, "description": "Server-Sent Events"}, **ERROR_RESPONSES},
    summary="Progress of a job as Server-Sent Events",
)
async def job_events(job_id: str, services: ServicesDep, caller: CallerDep) -> StreamingResponse:
    job = await _job_or_404(job_id, services, caller)
    ticket = job_id

    async def stream() -> Any:
        changes = job.subscribe()
        try:
            yield _sse("status", services.views.job(job, ticket))
            while not job.status.terminal and ticket not in job.detached:
                try:
                    kind = await asyncio.wait_for(changes.get(), _SSE_KEEPALIVE_S)
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                while not changes.empty():  # coalesce bursts: the view is the latest state anyway
                    latest = changes.get_nowait()
                    kind = "status" if "status" in (kind, latest) else latest
                yield _sse(kind, services.views.job(job, ticket))
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
    suggestions = await services.cache.suggestions.recommend(params.q, params.limit, width, height, chosen)
    body = [services.views.suggestion(s) for s in suggestions]
    total_ms = (time.perf_counter() - started) * 1000
    return FastJSONResponse(
        {"query": params.q, "suggestions": body, "timings": {"total_ms": total_ms}},
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
    # The store's naming rule (storage.validate_key): letters, digits, '_', '.', '-', no '..'.
    key: Annotated[str, Path(json_schema_extra={"pattern": r"^[A-Za-z0-9](?:\.?[A-Za-z0-9_-])*\.?$",
                                                "maxLength": 200},
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
        await asyncio.to_thread(services.curator.image_vanished, key)
        raise ApiError(404, "not_found", f"no image with key {key!r}", "key") from None
    return Response(data, media_type="image/png", headers={"Cache-Control": "public, max-age=31536000, immutable"})


@router.get("/healthz", response_model=Health, summary="Liveness")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}}, summary="Readiness")
async def readyz(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    worker = services.backend
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
    if services.link is not None:
        # Detail, not a problem: Redis is shared, so when it is down it is down for every replica, and pulling
        # them all out of the load balancer would stop the hits they still serve.
        link = services.link
        checks["redis"] = "ok" if link.healthy else f"unreachable: {link.error or 'no answer'}"
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
