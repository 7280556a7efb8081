"""One error shape for every route: {"error": {"type", "message", "field"}}."""

from __future__ import annotations

import difflib
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from dreamcache.api.schemas import ErrorResponse

log = logging.getLogger(__name__)


class ApiError(Exception):
    """An error a client can act on, with its HTTP status."""

    def __init__(
        self, status: int, type: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.type, self.message, self.field, self.headers = status, type, message, field, headers


def invalid(field: str, message: str) -> ApiError:
    """A 422 naming the field and the rule it broke."""
    return ApiError(422, "invalid_request", f"{field}: {message}", field)


def error_response(
    status: int, type: str, message: str, field: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    body = {"error": {"type": type, "message": message, "field": field}}
    return JSONResponse(body, status_code=status, headers=headers)


_STATUS_TYPES = {404: "not_found", 405: "method_not_allowed", 429: "queue_full", 503: "not_ready"}


def _field_of(loc: tuple[Any, ...]) -> str:
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _rule_of(error: dict[str, Any]) -> str:
    if error["type"] == "extra_forbidden":
        return "unknown field (not part of the request schema)"
    if error["type"] == "json_invalid":
        return f"body is not valid JSON ({error.get('ctx', {}).get('error', 'parse error')})"
    if error["type"] == "missing":
        return "field required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _allowed_methods(request: Request, fallback: str) -> str:
    """`Allow` of a 405: the methods the API document declares for the path the request names (its most literal
    matching template). Starlette reports those of the first route that matched, which for
    `/admin/entries/delete-prompt` is `/admin/entries/{entry_id}` (GET)."""
    paths: dict[str, dict[str, Any]] = request.app.openapi().get("paths", {})
    matching = [template for template in paths
                if re.fullmatch(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)), request.url.path)]
    if not matching:
        return fallback
    best = min(matching, key=lambda template: (template.count("{"), -len(template)))
    return ", ".join(sorted(method.upper() for method in paths[best]))
def _body_fields(request: Request) -> list[str]:
    """The field names of the matched route's JSON body model ([] when it has none)."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    model = getattr(getattr(body_field, "field_info", None), "annotation", None)
    return list(getattr(model, "model_fields", {}))


def _unknown_first(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """An unknown field explains the other problems (`promt` is why `prompt` is missing): it comes first."""
    return sorted(errors, key=lambda e: e["type"] != "extra_forbidden")


def _suggestion(error: dict[str, Any], request: Request) -> str:
    if error["type"] != "extra_forbidden":
        return ""
    close = difflib.get_close_matches(str(error.get("loc", ("",))[-1]), _body_fields(request), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


# The routes that answer from the cache or generate: the native one and its OpenAI and AUTOMATIC1111 translations.
_CACHE_ROUTES = frozenset({"/generate", "/v1/images/generations", "/sdapi/v1/txt2img"})


def _cache_header(request: Request, headers: dict[str, str] | None) -> dict[str, str] | None:
    """Every answer of the generating routes (POST /generate and its translations) says X-Cache, errors included
    (an error was served from no cache)."""
    if request.url.path in _CACHE_ROUTES and request.method == "POST":
        return {**(headers or {}), "X-Cache": "MISS"}
    return headers


def install(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the one error shape."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.type, exc.message, exc.field, _cache_header(request, exc.headers))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = _unknown_first(list(exc.errors()))[0]
        # Invalid JSON reports a character offset as its location: the field is the body.
        field = "body" if first["type"] == "json_invalid" else _field_of(tuple(first.get("loc", ())))
        message = f"{field}: {_rule_of(first)}{_suggestion(first, request)}"
        sent = request.headers.get("content-type", "")
        if tuple(first.get("loc", ())) == ("body",) and "json" not in sent.lower():
            message = (f"body: send a JSON object with the header Content-Type: application/json "
                       f"(got {sent or 'no Content-Type'})")
        if len(exc.errors()) > 1:
            message += f" (and {len(exc.errors()) - 1} more problem(s))"
        return error_response(422, "invalid_request", message, field, _cache_header(request, None))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and "parsing the body" in str(exc.detail):
            # Bytes that are not UTF-8 text: invalid input like any other, named and a 422.
            return error_response(422, "invalid_request", "body: is not valid JSON text (UTF-8 expected)", "body",
                                  _cache_header(request, None))
        kind = _STATUS_TYPES.get(exc.status_code, "http_error")
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:
            headers = {**(headers or {}), "Allow": _allowed_methods(request, (headers or {}).get("Allow", ""))}
        return error_response(exc.status_code, kind, str(exc.detail), None, _cache_header(request, headers))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error", None, _cache_header(request, None))


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorResponse, "description": text}
    for code, text in {
        404: "Unknown job or image, or a cache-only miss",
        409: "The job can no longer be canceled, or was canceled before it ran",
        422: "Invalid input: the message names the field and the rule",
        401: "An API key is needed (the service has keys): send Authorization: Bearer <key>",
        403: "The key may not do this (an admin route, or a namespace it does not have)",
        408: "The request body did not arrive in time",
        413: "The request body is larger than the service accepts",
        431: "The request line and headers are over 16 KiB (answered by the HTTP layer, in the same shape)",
        429: "Rate limit, this client's share of the queue, or the whole GPU queue is full: retry after "
             "Retry-After seconds",
        500: "Internal error (no details are exposed)",
        503: "Not ready yet, the API keys file cannot be read, or too many connections at once",
    }.items()
}
