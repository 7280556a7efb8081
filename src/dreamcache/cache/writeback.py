"""Write-back of a generated picture: image and checkpoints into the store (`PictureWriter`, run by the
generation backend where the picture was made), then its entry, vector and suggestion into the index
(`WriteBack`, run by the service when the backend reports the generation done).

Order: image, then checkpoints, then the vector: a vector never points at a missing image.
"""

from __future__ import annotations

import asyncio
import logging
import uuid

from dreamcache.backend import StoredPicture
from dreamcache.cache.autocomplete import Suggestions
from dreamcache.generation.checkpoint import CONTENT_TYPE as CHECKPOINT_CONTENT_TYPE
from dreamcache.generation.checkpoint import checkpoint_key
from dreamcache.generation.spec import GeneratedImage
from dreamcache.index import Entry, Index
from dreamcache.jobs import GenerationTask
from dreamcache.metrics import Metrics
from dreamcache.resolution import RequestKeys, build_entry
from dreamcache.settings import Settings
from dreamcache.storage import ImageStore

log = logging.getLogger(__name__)


def picture_id(job_id: str, index: int) -> str:
    """The entry id (a UUID) of a job's `index`-th picture."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"dreamcache:{job_id}/{index}"))


class PictureWriter:
    """Stores generated pictures: each image, then its checkpoints (blocking: call in a thread)."""

    def __init__(self, store: ImageStore, metrics: Metrics) -> None:
        self.store = store
        self.metrics = metrics

    def store_all(self, job_id: str, images: list[GeneratedImage]) -> list[StoredPicture]:
        """Every picture of one generation, in order; raises when an image cannot be stored. The entry ids follow
        from the job's id: a generation run again (a worker died after storing) overwrites, never duplicates."""
        return [self.store_one(image, picture_id(job_id, i)) for i, image in enumerate(images)]

    def store_one(self, image: GeneratedImage, entry_id: str | None = None) -> StoredPicture:
        entry_id = entry_id or str(uuid.uuid4())
        key = f"{entry_id}.png"
        png = image.png or image.encoded()
        self.store.put(key, png)
        steps, checkpoint_bytes = self._store_checkpoints(entry_id, image)
        return StoredPicture(entry_id, key, steps, len(png) + checkpoint_bytes)

    def _store_checkpoints(self, entry_id: str, image: GeneratedImage) -> tuple[tuple[int, ...], int]:
        """Store what can be stored (steps and bytes); a checkpoint that fails only makes the entry less reusable."""
        stored: list[int] = []
        size = 0
        for checkpoint in image.checkpoints:
            data = checkpoint.to_bytes()
            try:
                self.store.put(checkpoint_key(entry_id, checkpoint.step), data, CHECKPOINT_CONTENT_TYPE)
            except Exception:
                log.exception("storing checkpoint at step %d of entry %s failed", checkpoint.step, entry_id)
                continue
            self.metrics.checkpoint_bytes.observe(len(data))
            stored.append(checkpoint.step)
            size += len(data)
        return tuple(stored), size


class WriteBack:
    """Turns stored pictures into index entries: the vector, the autocomplete suggestion, shown-to marks."""

    def __init__(self, settings: Settings, index: Index, suggestions: Suggestions, fingerprint: str) -> None:
        self.settings = settings
        self.index = index
        self.suggestions = suggestions
        self.fingerprint = fingerprint

    async def index_pictures(self, job_id: str, task: GenerationTask, pictures: tuple[StoredPicture, ...]
                             ) -> list[Entry]:
        """The entries of a generation's pictures, each indexed (an indexing failure only costs the cache)."""
        return [await self._index_one(job_id, task, i, picture) for i, picture in enumerate(pictures)]

    async def _index_one(self, job_id: str, task: GenerationTask, index: int, picture: StoredPicture) -> Entry:
        item = task.items[index]
        reuse = task.reuse if index == 0 else None  # only the first picture of a job may resume a checkpoint
        keys = RequestKeys(item.prompt, task.shape, task.compat_key, task.text_key, task.resume_key)
        entry = build_entry(
            keys, entry_id=picture.entry_id, prompt=item.prompt, negative_prompt=item.negative_prompt, seed=item.seed,
            exact=task.exact_keys[index], model=self.settings.model, fingerprint=self.fingerprint,
            namespace=task.namespace, checkpoints=picture.checkpoints,
            reused_from=reuse.source if reuse is not None else "",
            skipped_steps=reuse.skipped_steps if reuse is not None else 0, stored_bytes=picture.stored_bytes,
        )
        try:
            await asyncio.to_thread(self.index.upsert, entry, task.vector)
        except Exception:
            # The picture exists and the client gets it; only the cache missed this one (an orphan image).
            log.exception("indexing image %s of job %s failed", picture.image_key, job_id)
        else:
            self.suggestions.of(entry.namespace).add(entry)
            if task.viewer is not None:
                await asyncio.to_thread(self.index.mark_shown, entry.id, task.viewer)
        return entry
