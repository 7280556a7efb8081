"""What every index backend shares: the entry, the protocol, payload codecs and the common queries.

Each point is one stored image: its id is the entry's UUID, its single named vector (``prompt``) is
the L2-normalised prompt embedding (cosine distance), and its payload holds every other `Entry`
field. The backends (`edge.EdgeIndex`, `server.QdrantServerIndex`) differ only in how they talk to
Qdrant; `_Queries` expresses the searches once over their primitives.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import MISSING, asdict, dataclass, fields
from typing import Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

VECTOR_NAME = "prompt"
VectorLike = Sequence[float] | NDArray[np.floating[Any]]  # L2-normalised prompt embedding
UPSERT_BATCH = 256
SCROLL_BATCH = 2000


@dataclass(frozen=True)
class Entry:
    """One stored generated image and the request that produced it."""

    id: str
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    seed: int
    model: str
    fingerprint: str
    image_key: str
    created_at: float
    compat_key: str
    exact_key: str
    prompt_norm: str
    hits: int = 0
    namespace: str = ""  # "" = the shared pool; compat_key already keeps namespaces apart
    text_key: str = ""  # prompts.text_key of the prompt: finds retyped prompts whatever their cosine
    # Near-miss reuse: steps with a stored checkpoint, and the key a reusing request must share (compat key,
    # steps, guidance); both empty on entries without checkpoints (older data), which are never reused.
    checkpoints: tuple[int, ...] = ()
    resume_key: str = ""
    reused_from: str = ""  # the entry whose checkpoint this image started from, if any
    skipped_steps: int = 0
    last_hit_at: float = 0.0  # retention evicts the least recently hit (or, never hit, the oldest) first
    stored_bytes: int = 0  # image and checkpoints in the store (retention's byte cap)
    reported: tuple[str, ...] = ()  # text keys of prompts this picture was reported wrong for: never served for them


@dataclass(frozen=True)
class Match:
    """An entry found by vector search, with its cosine similarity to the query."""

    entry: Entry
    score: float


class IndexInUse(RuntimeError):
    """The embedded index directory is held by another process (or another open index)."""


class IndexUnavailable(RuntimeError):
    """The index cannot be reached or is closed (readiness fails)."""


@runtime_checkable
class Index(Protocol):
    """What the app needs from the vector index; implemented by EdgeIndex and QdrantServerIndex."""

    name: str
    dimension: int

    def upsert(self, entry: Entry, vector: VectorLike) -> None:
        """Insert or replace the entry and its prompt vector."""
        ...

    def upsert_many(self, items: Sequence[tuple[Entry, VectorLike]]) -> None:
        """Insert or replace many entries in one write (warm-up, bulk loads)."""
        ...

    def search(
        self, vector: VectorLike, *, compat_key: str, limit: int, min_score: float | None = None,
        unseen_by: str | None = None,
    ) -> list[Match]:
        """Nearest entries with this compat_key, best first, optionally only scores >= min_score and
        only entries never shown to the viewer `unseen_by` (see `mark_shown`)."""
        ...

    def mark_shown(self, entry_id: str, viewer: str) -> None:
        """Remember that this entry was shown to `viewer` (an opaque hash; at most SHOWN_TO_MAX kept)."""
        ...

    def find_exact(self, exact_key: str, limit: int = 9) -> list[Entry]:
        """Entries with this exact_key, newest first."""
        ...

    def find_text(self, text_key: str, *, compat_key: str, limit: int, unseen_by: str | None = None) -> list[Entry]:
        """Entries with this compat_key whose prompt is the same text (`prompts.text_key`), newest first."""
        ...

    def find_text_near(
        self, text_key: str, vector: VectorLike, *, compat_key: str, limit: int, unseen_by: str | None = None
    ) -> list[Match]:
        """`find_text`, each entry with its cosine to `vector` (the stored vectors come in the same call)."""
        ...

    def find(self, limit: int, **equal: str) -> list[Entry]:
        """Entries whose payload fields equal the given values (namespace, prompt_norm, fingerprint), newest first."""
        ...

    def report(self, entry_id: str, text_key: str) -> bool:
        """Never serve this entry for prompts with this text key again; False when the entry does not exist."""
        ...

    def browse(self, namespace: str, *, order_by: str, limit: int) -> list[Entry]:
        """A namespace's entries by `created_at` or `hits`, highest first (the gallery)."""
        ...

    def reusable(self, vector: VectorLike, *, resume_key: str, limit: int, min_score: float) -> list[Match]:
        """Nearest entries with checkpoints for this resume_key (same compat key, steps, guidance), best first."""
        ...

    def nearest(self, vector: VectorLike, *, limit: int) -> list[Match]:
        """Nearest entries regardless of settings, best first (autocomplete)."""
        ...

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        ...

    def vector(self, entry_id: str) -> list[float] | None:
        """The stored prompt vector of the entry, or None."""
        ...

    def scroll_all(self, *, batch: int = SCROLL_BATCH) -> Iterator[Entry]:
        """Every stored entry, in pages of `batch` (start-up loads such as autocomplete)."""
        ...

    def record_hit(self, entry_id: str, count: int = 1) -> None:
        """Add `count` to the entry's hit counter and set its last hit time (best effort)."""
        ...

    def delete(self, entry_id: str) -> None:
        """Remove the entry; a missing entry is not an error."""
        ...

    def delete_many(self, entry_ids: Sequence[str]) -> None:
        """Remove entries in one write; missing ones are not an error."""
        ...

    def count(self) -> int:
        """Number of stored entries."""
        ...

    def check(self) -> None:
        """Raise IndexUnavailable unless the index answers."""
        ...

    def close(self) -> None:
        """Persist and release the index; idempotent."""
        ...


# --- helpers shared by both backends ----------------------------------------------------------

_CASTS: dict[str, Callable[[Any], Any]] = {
    "str": str, "int": int, "float": float, "tuple[int, ...]": lambda value: tuple(int(v) for v in value),
    "tuple[str, ...]": lambda value: tuple(str(v) for v in value),
}
_ENTRY_FIELDS = [(f.name, _CASTS[str(f.type)], f.default) for f in fields(Entry) if f.name != "id"]


SHOWN_TO = "shown_to"  # payload: hashes of the clients an entry was shown to (never raw identities)
SHOWN_TO_MAX = 1000


def _with_viewer(current: Any, viewer: str) -> list[str] | None:
    """The shown_to list with the viewer added (oldest dropped past SHOWN_TO_MAX); None if already there."""
    shown = [str(v) for v in current] if isinstance(current, list) else []
    if viewer in shown:
        return None
    return (shown + [viewer])[-SHOWN_TO_MAX:]


def _payload(entry: Entry) -> dict[str, Any]:
    """The point payload of an entry: every field except the id."""
    payload = asdict(entry)
    del payload["id"]
    return payload


def _entry(point_id: Any, payload: dict[str, Any] | None) -> Entry:
    """Rebuild an Entry from a point id and payload, with the field types of Entry."""
    payload = payload or {}
    values: dict[str, Any] = {}
    for name, cast, default in _ENTRY_FIELDS:
        if name in payload:
            values[name] = cast(payload[name])
        elif default is not MISSING:
            values[name] = default
        else:
            raise ValueError(f"index point {point_id} has no payload field {name!r}")
    return Entry(id=str(point_id), **values)


def _entry_id(entry_id: str) -> str:
    """Check that the id is a canonical (lowercase, hyphenated) UUID string, as Qdrant stores it."""
    try:
        canonical = str(uuid.UUID(entry_id))
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"entry id must be a UUID string, got {entry_id!r}") from None
    if canonical != entry_id:
        raise ValueError(
            f"entry id must be a canonical lowercase UUID string ({canonical}), got {entry_id!r}"
        )
    return canonical


def _lookup_id(entry_id: str) -> str | None:
    """The canonical UUID for a lookup, or None when the string cannot be an entry id."""
    try:
        return str(uuid.UUID(entry_id))
    except (ValueError, TypeError, AttributeError):
        return None


def _stored_array(vectors: Any) -> np.ndarray | None:
    """The prompt vector out of a retrieved record's vectors, as float32 (no Python float per component)."""
    value = vectors.get(VECTOR_NAME) if isinstance(vectors, dict) else vectors
    return np.asarray(value, dtype=np.float32) if value is not None else None


def _stored_vector(vectors: Any) -> list[float] | None:
    """The prompt vector out of a retrieved record's vectors (a dict of named vectors)."""
    if isinstance(vectors, dict):
        value = vectors.get(VECTOR_NAME)
        return [float(x) for x in value] if value is not None else None
    return [float(x) for x in vectors] if vectors is not None else None


def _check_limit(limit: int) -> None:
    if not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit must be a positive integer, got {limit!r}")


def _vector(vector: VectorLike, dimension: int) -> list[float]:
    """The vector as a list of float32 values, checked for dimension and finiteness."""
    array = np.asarray(vector, dtype=np.float32)
    if array.shape != (dimension,):
        raise ValueError(f"vector must have shape ({dimension},), got {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError("vector contains NaN or infinity")
    return array.tolist()


class _Queries:
    """The queries both backends express the same way, over their own `_query`, `_scroll` and `_match`."""

    def _query(self, vector: VectorLike, limit: int, flt: Any, min_score: float | None) -> list[Match]:
        raise NotImplementedError

    def _scroll(self, flt: Any, order_key: str, limit: int) -> list[Entry]:
        raise NotImplementedError

    def _scroll_vectors(self, flt: Any, order_key: str, limit: int) -> list[tuple[Entry, np.ndarray | None]]:
        raise NotImplementedError

    @staticmethod
    def _match(conditions: dict[str, str], unseen_by: str | None = None) -> Any:
        raise NotImplementedError

    def search(
        self, vector: VectorLike, *, compat_key: str, limit: int, min_score: float | None = None,
        unseen_by: str | None = None,
    ) -> list[Match]:
        """Nearest entries with this compat_key, best first."""
        return self._query(vector, limit, self._match({"compat_key": compat_key}, unseen_by), min_score)

    def find_exact(self, exact_key: str, limit: int = 9) -> list[Entry]:
        """Entries with this exact_key, newest first."""
        return self._scroll(self._match({"exact_key": exact_key}), "created_at", limit)

    def find_text(self, text_key: str, *, compat_key: str, limit: int, unseen_by: str | None = None) -> list[Entry]:
        """Entries with this compat_key whose prompt is the same text (`prompts.text_key`), newest first."""
        if not text_key:
            return []
        flt = self._match({"compat_key": compat_key, "text_key": text_key}, unseen_by)
        return self._scroll(flt, "created_at", limit)

    def find_text_near(
        self, text_key: str, vector: VectorLike, *, compat_key: str, limit: int, unseen_by: str | None = None
    ) -> list[Match]:
        """`find_text`, each entry with its cosine to `vector` (the stored vectors come in the same call)."""
        if not text_key:
            return []
        flt = self._match({"compat_key": compat_key, "text_key": text_key}, unseen_by)
        query = np.asarray(vector, dtype=np.float32)
        return [
            Match(entry, float(np.dot(query, stored)) if stored is not None else 0.0)
            for entry, stored in self._scroll_vectors(flt, "created_at", limit)
        ]

    def reusable(self, vector: VectorLike, *, resume_key: str, limit: int, min_score: float) -> list[Match]:
        """Nearest entries with checkpoints for this resume_key (same compat key, steps, guidance), best first."""
        return self._query(vector, limit, self._match({"resume_key": resume_key}), min_score)

    def find(self, limit: int, **equal: str) -> list[Entry]:
        """Entries whose payload fields equal the given values (namespace, prompt_norm, fingerprint), newest first."""
        return self._scroll(self._match(equal) if equal else None, "created_at", limit)

    def browse(self, namespace: str, *, order_by: str, limit: int) -> list[Entry]:
        """A namespace's entries by `created_at` or `hits`, highest first (the gallery)."""
        return self._scroll(self._match({"namespace": namespace}), order_by, limit)

    def nearest(self, vector: VectorLike, *, limit: int) -> list[Match]:
        """Nearest entries of any settings, best first."""
        return self._query(vector, limit, None, None)



REPORTED_MAX = 100  # text keys kept per entry


def with_report(current: Any, text_key: str) -> list[str] | None:
    """The reported list with the key added (oldest dropped past REPORTED_MAX); None if already there."""
    keys = [str(k) for k in current] if isinstance(current, list) else []
    if text_key in keys:
        return None
    return (keys + [text_key])[-REPORTED_MAX:]


PayloadChange = Callable[[dict[str, Any]], dict[str, Any] | None]  # current payload -> fields to set, or None


def hit_change(count: int = 1) -> PayloadChange:
    """`count` more hits, the last one now."""

    def change(payload: dict[str, Any]) -> dict[str, Any]:
        return {"hits": int(payload.get("hits", 0)) + count, "last_hit_at": time.time()}

    return change


def shown_change(viewer: str) -> PayloadChange:
    """Add the viewer to `shown_to` (nothing to set if already there)."""

    def change(payload: dict[str, Any]) -> dict[str, Any] | None:
        shown = _with_viewer(payload.get(SHOWN_TO), viewer)
        return {SHOWN_TO: shown} if shown is not None else None

    return change


def report_change(text_key: str) -> PayloadChange:
    """Add the text key to `reported` (nothing to set if already there)."""

    def change(payload: dict[str, Any]) -> dict[str, Any] | None:
        keys = with_report(payload.get("reported"), text_key)
        return {"reported": keys} if keys is not None else None

    return change
