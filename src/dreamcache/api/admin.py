"""Cache management: admin routes under /admin (admin keys; everything when the service is open), and the
"wrong picture" report any user can file on a picture they were served."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dreamcache.api.deps import AdminDep, CallerDep, Services, ServicesDep
from dreamcache.api.errors import ERROR_RESPONSES, ApiError
from dreamcache.api.schemas import non_blank_text
from dreamcache.index import Entry
from dreamcache.keys import Caller
from dreamcache.management import Report

router = APIRouter()


class PromptBody(BaseModel):
    """A prompt, and for admins of several namespaces (or an open service) which namespace."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=1000, description="The prompt, as typed.")
    namespace: str | None = Field(None, description="Admin routes: the namespace (default: the key's first).")

    @field_validator("prompt")
    @classmethod
    def _text(cls, value: str) -> str:
        return non_blank_text(value)


class PurgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str = Field(min_length=1, max_length=64, description="Model fingerprint whose entries all go.")


def _namespace_for(caller: Caller, namespace: str | None) -> str:
    if namespace is None:
        return caller.key.namespaces[0] if caller.key is not None and caller.key.namespaces else ""
    if not caller.may_read(namespace):
        raise ApiError(403, "forbidden_namespace", f"this key does not manage namespace {namespace!r}", "namespace")
    return namespace


def _view(entry: Entry, services: Services) -> dict[str, Any]:
    view = asdict(entry)
    view["url"] = services.cache.image_url(entry.image_key)
    return view


async def _entry_or_404(entry_id: str, services: Services, caller: Caller) -> Entry:
    entry = await asyncio.to_thread(services.index.get, entry_id)
    if entry is None or not caller.may_read(entry.namespace):
        raise ApiError(404, "not_found", f"no entry with id {entry_id!r}", "entry_id")
    return entry


@router.get("/admin/entries", responses=ERROR_RESPONSES, summary="List and search cache entries (admin)")
async def list_entries(
    services: ServicesDep,
    caller: AdminDep,
    q: Annotated[str, Query(max_length=1000, description="Text the prompt contains (after normalisation)")] = "",
    namespace: Annotated[str | None, Query(description="Only this namespace")] = None,
    created_after: Annotated[datetime | None, Query(description="RFC 3339")] = None,
    created_before: Annotated[datetime | None, Query(description="RFC 3339")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    namespaces = [_namespace_for(caller, namespace)] if namespace is not None else caller.scope
    entries = await asyncio.to_thread(
        services.curator.entries, namespaces=namespaces, text=q,
        created_after=created_after.timestamp() if created_after else None,
        created_before=created_before.timestamp() if created_before else None, limit=limit, offset=offset,
    )
    return {"entries": [_view(e, services) for e in entries], "limit": limit, "offset": offset}


@router.get("/admin/entries/{entry_id}", responses=ERROR_RESPONSES, summary="One cache entry (admin)")
async def show_entry(entry_id: str, services: ServicesDep, caller: AdminDep) -> dict[str, Any]:
    return _view(await _entry_or_404(entry_id, services, caller), services)


@router.delete("/admin/entries/{entry_id}", responses=ERROR_RESPONSES,
               summary="Delete an entry: vector, autocomplete, image, checkpoints (admin; idempotent)")
async def delete_entry(entry_id: str, services: ServicesDep, caller: AdminDep) -> dict[str, int]:
    entry = await asyncio.to_thread(services.index.get, entry_id)
    if entry is None or not caller.may_read(entry.namespace):
        return {"deleted": 0}  # already gone (or never visible to this key): nothing to do
    await asyncio.to_thread(services.curator.delete, entry)
    return {"deleted": 1}


@router.post("/admin/entries/delete-prompt", responses=ERROR_RESPONSES,
             summary="Delete every entry of a prompt, after normalisation (admin)")
async def delete_prompt(body: PromptBody, services: ServicesDep, caller: AdminDep) -> dict[str, int]:
    namespace = _namespace_for(caller, body.namespace)
    return {"deleted": await asyncio.to_thread(services.curator.delete_prompt, body.prompt, namespace)}


@router.post("/admin/purge", responses=ERROR_RESPONSES,
             summary="Delete every entry made by a model fingerprint (admin)")
async def purge(body: PurgeBody, services: ServicesDep, caller: AdminDep) -> dict[str, int]:
    return {"deleted": await asyncio.to_thread(services.curator.purge_fingerprint, body.fingerprint,
                                               caller.scope)}


@router.post("/admin/sweep", responses=ERROR_RESPONSES,
             summary="Run retention and the vanished-image check now (admin)")
async def sweep(services: ServicesDep, caller: AdminDep) -> dict[str, int]:
    return await asyncio.to_thread(services.curator.sweep)


@router.get("/admin/reports", responses=ERROR_RESPONSES, summary="Wrong-picture reports, newest first (admin)")
async def list_reports(
    services: ServicesDep, caller: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    reports = await asyncio.to_thread(services.curator.reports, caller.scope, limit)
    return {"reports": [asdict(r) for r in reports]}


@router.post("/images/{entry_id}/report", status_code=201, responses=ERROR_RESPONSES,
             summary="Report a picture as wrong for a prompt: it is never served for that prompt again")
async def report_picture(entry_id: str, body: PromptBody, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    entry = await _entry_or_404(entry_id.removesuffix(".png"), services, caller)
    report: Report = await asyncio.to_thread(services.curator.report, entry, body.prompt, caller.owner)
    return asdict(report)
