"""Answers shaped at the edge: every response body built from domain objects (entries, jobs, suggestions),
used by /generate, /jobs (and its events and webhooks), /recommend, the gallery and the admin routes.

The shapes are the ones `schemas` declares (`ImageOut`, `GenerateResponse`, `JobView`, ...).
"""

from __future__ import annotations

import asyncio
import base64
import time
from dataclasses import asdict
from typing import Any

from dreamcache.backend import GenerationBackend
from dreamcache.cache import Hit
from dreamcache.index import Entry, Match
from dreamcache.jobs import CachedPicture, Job, JobStatus, Reuse
from dreamcache.keys import KeyStore, signing_urls_for
from dreamcache.settings import Settings
from dreamcache.storage import ImageNotFound, ImageStore
from dreamcache.suggest import Suggestion
from dreamcache.times import rfc3339

_URL_WINDOW_S = 600


def _iso(ts: float | None) -> str | None:
    return rfc3339(ts) if ts is not None else None


class Views:
    """Builds response bodies; knows how clients reach images (signed local URLs once keys exist)."""

    def __init__(self, settings: Settings, store: ImageStore, keys: KeyStore, backend: GenerationBackend) -> None:
        self.settings = settings
        self.store = store
        self.keys = keys
        self.backend = backend

    def image_url(self, key: str) -> str:
        """Where a client fetches an image: the store's URL, signed for the local store when keys exist
        (a browser's <img> cannot send a key), bound to the calling key. The expiry is the next multiple of
        10 minutes (unix time) after now, plus `image_url_expiry_s`: so a URL stays the same, and cacheable,
        for up to 10 minutes, and is valid for between `image_url_expiry_s` and that + 600 s after it is made."""
        url = self.store.url(key)
        if self.store.name != "local" or not self.keys.enabled:
            return url
        expires = (int(time.time()) // _URL_WINDOW_S + 1) * _URL_WINDOW_S + self.settings.image_url_expiry_s
        return f"{url}?exp={expires}&sig={self.keys.sign(key, expires)}"

    # -- pictures --

    def image(
        self, entry: Entry, similarity: float | None, match: str | None = None, reuse: Reuse | None = None
    ) -> dict[str, Any]:
        """One picture (`ImageOut` without `source`)."""
        return {
            "id": entry.id,
            "match": match,
            "reuse": (
                {"from": reuse.source, "skipped_steps": reuse.skipped_steps, "similarity": reuse.similarity}
                if reuse is not None else None
            ),
            "url": self.image_url(entry.image_key),
            "prompt": entry.prompt,
            "negative_prompt": entry.negative_prompt,
            "similarity": round(float(similarity), 6) if similarity is not None else None,
            "width": entry.width,
            "height": entry.height,
            "num_inference_steps": entry.steps,
            "guidance_scale": entry.guidance_scale,
            "seed": entry.seed,
            "created_at": rfc3339(entry.created_at),
        }

    def matches(self, matches: list[Match]) -> list[dict[str, Any]]:
        """Pictures found by a search (related pictures)."""
        return [self.image(m.entry, m.score) for m in matches]

    def entry(self, entry: Entry) -> dict[str, Any]:
        """An entry as the admin routes show it: every stored field and its URL."""
        view = asdict(entry)
        view["url"] = self.image_url(entry.image_key)
        return view

    def gallery(self, entries: list[Entry]) -> list[dict[str, Any]]:
        return [self.image(e, None) for e in entries]

    def _cached(self, pictures: list[CachedPicture]) -> list[dict[str, Any]]:
        return [{**self.image(p.entry, p.similarity, p.match), "source": "cache"} for p in pictures]

    # -- /generate --

    def hit(self, hit: Hit, total_ms: float) -> dict[str, Any]:
        """A cache hit (`GenerateResponse`)."""
        cached = [CachedPicture(m.entry, m.score, kind) for m, kind in zip(hit.matches, hit.kinds, strict=True)]
        return {
            "source": "cache",
            "images": self._cached(cached),
            "job_id": None,
            "timings": {**hit.timings, "total_ms": total_ms},
        }

    def generated(self, job: Job, ticket: str | None = None) -> dict[str, Any] | None:
        """A finished generation's answer (`GenerateResponse`) as waiter `ticket` sees it: the pictures that were
        cached first, then the generated ones; None before it succeeded."""
        result = job.result
        if result is None:
            return None
        finished = job.finished_at if job.finished_at is not None else time.time()
        with signing_urls_for(job.task.client):  # its URLs end with the key of who asked for it
            generated = [
                {**self.image(entry, None, reuse=job.task.reuse if i == 0 else None), "source": "generated"}
                for i, entry in enumerate(result.entries)
            ]
            images = self._cached(job.task.cached) + generated
        return {
            "source": "generated",
            "images": images,
            "job_id": ticket or job.id,
            "timings": {
                "queue_ms": ((job.started_at or job.created_at) - job.created_at) * 1000,
                "generate_ms": result.seconds * 1000,
                "total_ms": (finished - job.created_at) * 1000,
            },
        }

    async def inline_images(self, body: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
        """`response_format: b64_json`: each image's PNG inline instead of its URL; and the keys of the images
        that vanished from the store (left out of the body)."""
        images, vanished = [], []
        for image in body.get("images", []):
            key = f"{image['id']}.png"
            try:
                data = await asyncio.to_thread(self.store.get, key)
            except ImageNotFound:
                vanished.append(key)
                continue
            images.append({**image, "url": None, "b64_json": base64.b64encode(data).decode("ascii")})
        return {**body, "images": images}, vanished

    # -- /jobs --

    def job(self, job: Job, ticket: str | None = None) -> dict[str, Any]:
        """The job as one waiter sees it (`JobView`): by its ticket, and canceled once that waiter detached."""
        ticket = ticket or job.id
        error = None
        if job.error is not None:
            error = {"type": job.error.type, "message": job.error.message, "field": None}
        detached = ticket in job.detached
        status = JobStatus.CANCELED if detached else job.status
        return {
            "job_id": ticket,
            "status": status.value,
            "queue_position": self.backend.position(job.id) if status is JobStatus.QUEUED else None,
            "progress": {"step": job.step, "total": job.total_steps or job.task.shape.steps - job.task.start_step},
            "created_at": _iso(job.created_at),
            "started_at": _iso(job.started_at),
            "finished_at": _iso(job.finished_at),
            "result": self.generated(job, ticket) if not detached else None,
            "error": error,
        }

    # -- /recommend --

    def suggestion(self, suggestion: Suggestion) -> dict[str, Any]:
        return {
            "prompt": suggestion.prompt,
            "score": suggestion.score,
            "hits": suggestion.hits,
            "match": suggestion.match,
            "instant": suggestion.instant,
            "thumbnail_url": self.image_url(suggestion.image_key) if suggestion.image_key else None,
        }
