"""Cache management: admin routes under /admin (admin keys; everything when the service is open), and the
"wrong picture" report any user can file on a picture they were served."""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from dreamcache.api.deps import AdminDep, CallerDep, Services, ServicesDep
from dreamcache.api.errors import ERROR_RESPONSES, ApiError
from dreamcache.api.schemas import VISIBLE, non_blank_text
from dreamcache.api.tenancy import admin_namespace, namespaces_of
from dreamcache.cluster.connection import RedisUnavailable
from dreamcache.index import Entry
from dreamcache.keys import Caller
from dreamcache.management import Report

router = APIRouter()


class PromptBody(BaseModel):
    """A prompt, and for admins of several namespaces (or an open service) which namespace."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field(min_length=1, max_length=1000, description="The prompt, as typed.",
                        json_schema_extra={"pattern": VISIBLE})
    namespace: str | None = Field(None, description="Admin routes: the namespace (default: the key's first).")

    @field_validator("prompt")
    @classmethod
    def _text(cls, value: str) -> str:
        return non_blank_text(value)


class PurgeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    fingerprint: str = Field(min_length=1, max_length=64, description="Model fingerprint whose entries all go.")


_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: object) -> object:
    """Only an RFC 3339 date-time with its offset, as documented (not a number of seconds, not a naive time)."""
    if isinstance(value, str) and not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-11-01T00:00:00Z")
    return value


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
    created_after: Annotated[datetime | None, Query(description="RFC 3339"), BeforeValidator(_rfc3339)] = None,
    created_before: Annotated[datetime | None, Query(description="RFC 3339"), BeforeValidator(_rfc3339)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
) -> dict[str, Any]:
    namespaces = [admin_namespace(caller, namespace)] if namespace is not None else namespaces_of(caller)
    entries = await asyncio.to_thread(
        services.curator.entries, namespaces=namespaces, text=q,
        created_after=created_after.timestamp() if created_after else None,
        created_before=created_before.timestamp() if created_before else None, limit=limit, offset=offset,
    )
    return {"entries": [services.views.entry(e) for e in entries], "limit": limit, "offset": offset}


@router.get("/admin/entries/{entry_id}", responses=ERROR_RESPONSES, summary="One cache entry (admin)")
async def show_entry(entry_id: str, services: ServicesDep, caller: AdminDep) -> dict[str, Any]:
    return services.views.entry(await _entry_or_404(entry_id, services, caller))


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
    namespace = admin_namespace(caller, body.namespace)
    return {"deleted": await asyncio.to_thread(services.curator.delete_prompt, body.prompt, namespace)}


@router.post("/admin/purge", responses=ERROR_RESPONSES,
             summary="Delete every entry made by a model fingerprint (admin)")
async def purge(body: PurgeBody, services: ServicesDep, caller: AdminDep) -> dict[str, int]:
    return {"deleted": await asyncio.to_thread(services.curator.purge_fingerprint, body.fingerprint,
                                               namespaces_of(caller))}


@router.post("/admin/sweep", responses=ERROR_RESPONSES,
             summary="Run retention and the vanished-image check now (admin)")
async def sweep(services: ServicesDep, caller: AdminDep) -> dict[str, int]:
    return await asyncio.to_thread(services.curator.sweep)


@router.get("/admin/reports", responses=ERROR_RESPONSES, summary="Wrong-picture reports, newest first (admin)")
async def list_reports(
    services: ServicesDep, caller: AdminDep, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    try:
        reports = await services.curator.reports(namespaces_of(caller), limit)
    except RedisUnavailable as exc:
        raise _reports_unavailable(str(exc)) from None
    return {"reports": [asdict(r) for r in reports]}


@router.post("/images/{entry_id}/report", status_code=201, responses=ERROR_RESPONSES,
             summary="Report a picture as wrong for a prompt: it is never served for that prompt again")
async def report_picture(entry_id: str, body: PromptBody, services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    entry = await _entry_or_404(entry_id.removesuffix(".png"), services, caller)
    try:
        report: Report = await services.curator.report(entry, body.prompt, caller.owner)
    except RedisUnavailable as exc:  # the picture is excluded already; asking again keeps the record
        raise _reports_unavailable(str(exc)) from None
    return asdict(report)


def _reports_unavailable(message: str) -> ApiError:
    """503 while the shared reports log (Redis) does not answer."""
    return ApiError(503, "reports_unavailable", f"{message}; try again shortly", headers={"Retry-After": "5"})
