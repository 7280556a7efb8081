"""OpenAI's images API (`POST /v1/images/generations`, `GET /v1/models`) in front of the cache.

A client built on the official `openai` SDK changes its base URL and gets the cache: the request is translated
into the `CacheRequest` the native `/generate` resolves (`resolution.resolve_request`), answered through the same
path (`api.answers`), and the answer translated back into OpenAI's shape. Errors under /v1/ take OpenAI's shape
(`{"error": {"message", "type", "param", "code"}}`, `OpenAIErrorShape`), so the SDK raises its typed exceptions.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal
from urllib.parse import urljoin

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dreamcache.api.answers import Cached, answer, client_of, finished
from dreamcache.api.deps import CallerDep, Services, ServicesDep
from dreamcache.api.errors import ApiError, invalid
from dreamcache.api.schemas import non_blank_text
from dreamcache.api.tenancy import NamespaceHeader, request_namespace
from dreamcache.resolution import CacheRequest, InvalidField, resolve_request, viewer_hash

router = APIRouter(prefix="/v1", tags=["OpenAI images API"])

_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")
# `quality` and `style` are accepted only at the values that change nothing here: what OpenAI's API does when they
# are absent (dall-e-3's `standard` and `vivid`, gpt-image-1's `auto`). Anything else would be silently ignored.
QUALITY_ACCEPTED = ("standard", "auto")
STYLE_ACCEPTED = ("vivid",)


class ImageGenerationRequest(BaseModel):
    """POST /v1/images/generations, as OpenAI's images API (the fields that apply to a Stable Diffusion cache)."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=1000, description="What to draw.")
    model: str | None = Field(None, description="The served model's name (`GET /v1/models`), or absent.")
    n: int | None = Field(1, ge=1, le=10, description="Pictures wanted (1-10).")
    size: str | None = Field(None, description="`WIDTHxHEIGHT` within the service's sizes (multiples of 8, "
                             "64-1024 by default), or `auto`/absent for the service's default size.")
    response_format: Literal["url", "b64_json"] | None = Field(
        None, description="`url` (absolute URLs, the default) or `b64_json` (the PNG bytes, base64).")
    user: str | None = Field(None, max_length=256, description="An end user's id: asking again without a seed "
                             "gets this user pictures not shown to them yet, then new ones (within the namespace).")
    quality: str | None = Field(None, description=f"Accepted only as {' or '.join(QUALITY_ACCEPTED)} (no effect).")
    style: str | None = Field(None, description=f"Accepted only as {' or '.join(STYLE_ACCEPTED)} (no effect).")

    @field_validator("prompt")
    @classmethod
    def _prompt_is_text(cls, value: str) -> str:
        return non_blank_text(value)


class ImageData(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str | None = Field(None, description="Set when the picture was made for another (similar) "
                                       "prompt: a cache hit on that prompt's picture.")


class ImagesResponse(BaseModel):
    created: int
    data: list[ImageData]


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorDetail


OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": OpenAIError, "description": text}
    for code, text in {
        400: "Invalid request: `param` names the field (the SDK raises BadRequestError)",
        401: "A valid API key is needed: Authorization: Bearer <key> (AuthenticationError)",
        403: "The key may not use this namespace (PermissionDeniedError)",
        429: "Rate limit or queue full: retry after Retry-After seconds (RateLimitError)",
        503: "Not ready, or the generation is still running after the longest wait: ask again (it joins it)",
    }.items()
}


def _size(size: str | None) -> tuple[int | None, int | None]:
    if size is None or size == "auto":
        return None, None
    match = _SIZE.match(size)
    if match is None:
        raise invalid("size", f"must be WIDTHxHEIGHT (such as 512x512) or auto, got {size!r}")
    return int(match.group(1)), int(match.group(2))


def _check_model(model: str | None, services: Services) -> None:
    if model is not None and model != services.settings.model:
        raise ApiError(422, "model_not_found", f"model: this service serves {services.settings.model!r} "
                       f"(GET /v1/models), got {model!r}", "model")


def _check_unchanging(field: str, value: str | None, accepted: tuple[str, ...]) -> None:
    if value is not None and value not in accepted:
        raise invalid(field, f"only {' or '.join(map(repr, accepted))} is accepted (it changes nothing here); "
                      f"got {value!r}")


def _resolve(body: ImageGenerationRequest, services: Services, namespace: str, client: str) -> CacheRequest:
    """The native request this one means; a 422 (400 to the SDK) naming the field otherwise."""
    _check_model(body.model, services)
    _check_unchanging("quality", body.quality, QUALITY_ACCEPTED)
    _check_unchanging("style", body.style, STYLE_ACCEPTED)
    width, height = _size(body.size)
    viewer = None
    if body.user:
        if not body.user.isprintable():
            raise invalid("user", "must be printable characters")
        viewer = viewer_hash(body.user)
    try:
        return resolve_request(
            services.settings, prompt=body.prompt, width=width, height=height, n=body.n or 1, namespace=namespace,
            viewer=viewer, client=client, tokenizer=services.tokenizer, api="openai",
        )
    except InvalidField as exc:
        field = "size" if exc.field in ("width", "height") else exc.field
        message = exc.message if field == exc.field else f"{exc.field} {exc.message} (given {body.size!r})"
        raise invalid(field, message) from None


def _data(image: dict[str, Any], prompt: str, base_url: str) -> dict[str, Any]:
    item: dict[str, Any] = (
        {"b64_json": image["b64_json"]} if image.get("b64_json") is not None
        else {"url": urljoin(base_url, image["url"])}  # absolute: clients fetch it as it is
    )
    if image["prompt"] != prompt:
        item["revised_prompt"] = image["prompt"]
    return item


@router.post("/images/generations", response_model=ImagesResponse, responses=OPENAI_ERRORS,
             summary="OpenAI images API: answer from the cache, or generate (X-Cache says which)")
async def create_image(
    body: ImageGenerationRequest, services: ServicesDep, caller: CallerDep, http: Request,
    namespace: NamespaceHeader = None,
) -> JSONResponse:
    started = time.perf_counter()
    request = _resolve(body, services, request_namespace(namespace, caller), client_of(caller, http))
    inline = body.response_format == "b64_json"
    answered = await answer(request, services, inline=inline, started=started)
    if isinstance(answered, Cached):
        result, cache = answered.body, "HIT"
    else:
        job, ticket = answered.job, answered.ticket or answered.job.id
        if not await job.wait(services.settings.max_wait_s):
            retry = str(services.settings.retry_after_s)
            raise ApiError(503, "generation_pending", f"the pictures are still being generated after "
                           f"{services.settings.max_wait_s:g} s; ask again (the same request joins the generation)",
                           headers={"Retry-After": retry})
        result, cache = await finished(job, services, ticket, inline=inline), "MISS"
    base = str(http.base_url)
    data = [_data(image, body.prompt, base) for image in result["images"]]
    return JSONResponse({"created": int(time.time()), "data": data}, headers={"X-Cache": cache})


@router.get("/models", response_model=ModelList, responses=OPENAI_ERRORS, summary="OpenAI API: the served model")
async def list_models(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    model = {"id": services.settings.model, "object": "model", "created": 0, "owned_by": "dreamcache"}
    return {"object": "list", "data": [model]}


# --- errors in OpenAI's shape -------------------------------------------------------------------------------


def _openai_type(status: int) -> str:
    if status == 429:
        return "rate_limit_error"
    if status == 401:
        return "authentication_error"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def openai_error(status: int, body: bytes) -> tuple[int, bytes]:
    """An error of the service's shape (`{"error": {"type", "message", "field"}}`) in OpenAI's: 422 is OpenAI's 400
    (what its SDK raises BadRequestError for); `param` is the field, `code` the service's error type."""
    try:
        error = json.loads(body)["error"]
        message, kind, field = str(error["message"]), str(error["type"]), error.get("field")
    except (ValueError, KeyError, TypeError):
        message, kind, field = body.decode("utf-8", "replace") or "error", "http_error", None
    status = 400 if status == 422 else status
    code = "invalid_api_key" if status == 401 else kind
    detail = {"message": message, "type": _openai_type(status), "param": field, "code": code}
    return status, json.dumps({"error": detail}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class OpenAIErrorShape:
    """ASGI middleware: every error answered under /v1/ (routes, validation, guards) in OpenAI's error shape."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        start: dict[str, Any] | None = None
        chunks: list[bytes] = []

        async def reshape(message: dict[str, Any]) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            status, body = openai_error(start["status"], b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length",)]
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, reshape)
