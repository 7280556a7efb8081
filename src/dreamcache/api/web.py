"""The web page: `/` serves the static UI shipped in the package, `/stats` a small JSON summary for it,
`/gallery` the cache's pictures to browse, and `/docs` / `/redoc` the API documentation, whose Swagger UI
and ReDoc assets come from a pinned PyPI package (fastapi-offline), not a CDN: they work with no internet."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any, Literal

import fastapi_offline
from fastapi import APIRouter, Query, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse
from starlette.staticfiles import StaticFiles

from dreamcache.api.deps import CallerDep, ServicesDep
from dreamcache.api.errors import ERROR_RESPONSES
from dreamcache.api.tenancy import NamespaceHeader, namespaces_of, request_namespace

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).resolve().parent / "static"
DOCS_ASSETS = "/docs-assets"

router = APIRouter()


@router.get("/", include_in_schema=False)
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})


@router.get("/stats", summary="Cache counters for the web page: of the calling key's namespaces (every namespace "
            "on a service without keys); the queue depth is the whole GPU queue's")
async def stats(request: Request, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    """What the page's counter shows: read from the same Metrics and worker as GET /metrics, scoped to the key's
    namespaces (another tenant's traffic is not this key's business)."""
    snapshot = services.metrics.snapshot(namespaces_of(caller))
    worker, settings = services.backend, services.settings
    return {
        "hits": int(snapshot["hits"]),
        "misses": int(snapshot["misses"]),
        "hit_ratio": round(snapshot["hit_ratio"], 4),
        "gpu_seconds_saved": round(snapshot["gpu_seconds_saved"], 3),
        "reused": int(snapshot["reused"]),
        "skipped_steps": int(snapshot["skipped_steps"]),
        "queue_depth": worker.depth,
        # The demo warms its cache in the background: how far it got (None when nothing is warming).
        "warm_up": getattr(request.app.state, "warm_up", None),
        "images_generated": int(snapshot["images_generated"]),
        "defaults": {
            "width": settings.default_width,
            "height": settings.default_height,
            "num_inference_steps": settings.default_steps,
            "guidance_scale": settings.default_guidance,
        },
    }


@router.get("/gallery", responses=ERROR_RESPONSES,
            summary="Pictures of the cache, newest or most popular first, paged (the page's first view)")
async def gallery(
    services: ServicesDep,
    caller: CallerDep,
    sort: Annotated[Literal["recent", "popular"], Query(description="recent: newest first; popular: most hits")]
    = "recent",
    limit: Annotated[int, Query(ge=1, le=60)] = 12,
    offset: Annotated[int, Query(ge=0, le=10_000)] = 0,
    namespace: NamespaceHeader = None,
) -> dict[str, Any]:
    chosen = request_namespace(namespace, caller)
    order = "created_at" if sort == "recent" else "hits"
    entries = await asyncio.to_thread(services.index.browse, chosen, order_by=order, limit=offset + limit + 1)
    page = entries[offset : offset + limit]
    return {
        "images": services.views.gallery(page),
        "sort": sort, "limit": limit, "offset": offset, "more": len(entries) > offset + limit,
    }


@router.get("/docs", include_in_schema=False)
async def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title="dreamcache - API",
        swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js", swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png",
    )


@router.get("/redoc", include_in_schema=False)
async def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url, title="dreamcache - API",
        redoc_js_url=f"{DOCS_ASSETS}/redoc.standalone.js", redoc_favicon_url=f"{DOCS_ASSETS}/favicon.png",
        with_google_fonts=False,
    )


router.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
router.mount(DOCS_ASSETS, StaticFiles(directory=DOCS_ASSETS_DIR), name="docs-assets")
