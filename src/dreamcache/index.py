"""The vector index of past generations: embedded Qdrant Edge or a Qdrant server, behind one protocol.

Only this module imports Qdrant. Each point is one stored image: its id is the entry's UUID, its
single named vector (``prompt``) is the L2-normalised prompt embedding (cosine distance), and its
payload holds every other `Entry` field. Keyword payload indexes on ``compat_key`` and
``exact_key`` keep filtered search exact when few points match the filter, a keyword index on
``prompt_norm`` finds every image of one prompt, and numeric indexes on ``hits`` and
``created_at`` serve ordering. Autocomplete does not query here per keystroke: it keeps its own
in-memory index (`suggest.py`), loaded with `scroll_all`.
"""

from __future__ import annotations

import errno
import fcntl
import os
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import MISSING, asdict, dataclass, fields
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
import qdrant_edge as edge
from numpy.typing import NDArray
from qdrant_client import QdrantClient
from qdrant_client import models as qm

if TYPE_CHECKING:
    from dreamcache.settings import Settings

VECTOR_NAME = "prompt"
VectorLike = Sequence[float] | NDArray[np.floating[Any]]  # L2-normalised prompt embedding
LOCK_FILE = ".dreamcache.lock"
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

    def record_hit(self, entry_id: str) -> None:
        """Add one to the entry's hit counter (best effort)."""
        ...

    def delete(self, entry_id: str) -> None:
        """Remove the entry; a missing entry is not an error."""
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

_CASTS: dict[str, Callable[[Any], Any]] = {"str": str, "int": int, "float": float}
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


# --- embedded: Qdrant Edge ---------------------------------------------------------------------


def _lock_directory(path: Path) -> IO[str]:
    """Take an exclusive advisory lock on the index directory, or raise IndexInUse."""
    handle = open(path / LOCK_FILE, "a+")  # noqa: SIM115 - held open for the life of the index
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        if exc.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
            raise IndexInUse(f"index directory {path} is in use by another process") from None
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


class _Queries:
    """The queries both backends express the same way, over their own `_query`, `_scroll` and `_match`."""

    def _query(self, vector: VectorLike, limit: int, flt: Any, min_score: float | None) -> list[Match]:
        raise NotImplementedError

    def _scroll(self, flt: Any, order_key: str, limit: int) -> list[Entry]:
        raise NotImplementedError

    @staticmethod
    def _match(key: str, value: str, unseen_by: str | None = None) -> Any:
        raise NotImplementedError

    def search(
        self, vector: VectorLike, *, compat_key: str, limit: int, min_score: float | None = None,
        unseen_by: str | None = None,
    ) -> list[Match]:
        """Nearest entries with this compat_key, best first."""
        return self._query(vector, limit, self._match("compat_key", compat_key, unseen_by), min_score)

    def find_exact(self, exact_key: str, limit: int = 9) -> list[Entry]:
        """Entries with this exact_key, newest first."""
        return self._scroll(self._match("exact_key", exact_key), "created_at", limit)

    def nearest(self, vector: VectorLike, *, limit: int) -> list[Match]:
        """Nearest entries of any settings, best first."""
        return self._query(vector, limit, None, None)


class EdgeIndex(_Queries):
    """Embedded index: one Qdrant Edge shard in a directory that this object owns exclusively.

    Durability: every write goes to the shard's write-ahead log before returning, and the WAL is
    replayed on the next open, so a restart, or a crash of this process, right after an upsert or
    a hit sees it. Segments are flushed on close, after every `flush_every` writes, and after a
    delete. A flush is not done per upsert because it costs 60-70 fsync/msync calls (5 ms to over
    100 ms depending on the disk) while holding the GIL, which would stall the event loop on every
    write-back. What a power loss can cost is the unflushed tail of the WAL: recent upserts (their
    images become orphans, a sweep's business) and hit counts; deletes are flushed at once so a
    vector never outlives its deleted image.

    The shard never indexes in the background: until `optimize()` is called, search is an exact
    scan (a few ms for 50,000 384-d vectors). `optimize()` builds HNSW, blocks, and holds the GIL
    for seconds on large shards, so run it at startup or offline, never on the request path.
    """

    name = "edge"

    def __init__(
        self,
        path: Path,
        dimension: int,
        *,
        indexing_threshold_kb: int | None = None,
        full_scan_threshold_kb: int | None = None,
        flush_every: int = 1000,
    ) -> None:
        """Create or load the shard at path; the thresholds override Qdrant's defaults (tests)."""
        if flush_every < 1:
            raise ValueError(f"flush_every must be at least 1, got {flush_every}")
        self.path = Path(path)
        self.dimension = dimension
        self._flush_every = flush_every
        self._unflushed = 0
        self._mutex = threading.RLock()
        self._shard: edge.EdgeShard | None = None
        self.path.mkdir(parents=True, exist_ok=True)
        self._lock_handle: IO[str] | None = _lock_directory(self.path)
        try:
            config = edge.EdgeConfig(
                vectors={VECTOR_NAME: edge.EdgeVectorParams(size=dimension, distance=edge.Distance.Cosine)},
                hnsw_config=(
                    edge.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=full_scan_threshold_kb)
                    if full_scan_threshold_kb is not None
                    else None
                ),
                optimizers=(
                    edge.EdgeOptimizersConfig(indexing_threshold=indexing_threshold_kb)
                    if indexing_threshold_kb is not None
                    else None
                ),
            )
            try:
                if (self.path / "edge_config.json").exists():
                    self._shard = edge.EdgeShard.load(str(self.path), config)
                else:
                    self._shard = edge.EdgeShard.create(str(self.path), config)
            except Exception as exc:
                if "WouldBlock" in str(exc):  # the shard's own WAL lock, held by a non-dreamcache process
                    raise IndexInUse(f"index directory {self.path} is in use by another process") from exc
                raise RuntimeError(f"cannot open index directory {self.path}: {exc}") from exc
            self._ensure_payload_indexes()
        except BaseException:
            shard, self._shard = self._shard, None
            if shard is not None:
                shard.close()
            self._release_lock()
            raise

    def _ensure_payload_indexes(self) -> None:
        """Create the payload indexes the queries rely on, skipping those that exist."""
        wanted: dict[str, Any] = {
            "compat_key": edge.PayloadSchemaType.Keyword,
            "exact_key": edge.PayloadSchemaType.Keyword,
            "prompt_norm": edge.KeywordIndexParams(prefix=True),
            "hits": edge.PayloadSchemaType.Integer,
            "created_at": edge.PayloadSchemaType.Float,
            SHOWN_TO: edge.PayloadSchemaType.Keyword,
        }
        shard = self._open_shard()
        missing = [name for name in wanted if name not in shard.info().payload_schema]
        for field_name in missing:
            shard.update(edge.UpdateOperation.create_field_index(field_name, wanted[field_name]))
        if missing:
            shard.flush()

    def _open_shard(self) -> edge.EdgeShard:
        if self._shard is None:
            raise IndexUnavailable(f"index {self.path} is closed")
        return self._shard

    def _release_lock(self) -> None:
        if self._lock_handle is not None:
            self._lock_handle.close()  # closing the descriptor drops the flock
            self._lock_handle = None

    @staticmethod
    def _match(key: str, value: str, unseen_by: str | None = None) -> edge.Filter:
        must_not: list[Any] | None = (
            [edge.FieldCondition(SHOWN_TO, match=edge.MatchValue(unseen_by))] if unseen_by else None
        )
        return edge.Filter(must=[edge.FieldCondition(key, match=edge.MatchValue(value))], must_not=must_not)

    def _query(
        self, vector: VectorLike, limit: int, flt: edge.Filter | None, min_score: float | None
    ) -> list[Match]:
        _check_limit(limit)
        request = edge.QueryRequest(
            limit=limit,
            query=edge.Query.Nearest(_vector(vector, self.dimension), using=VECTOR_NAME),
            filter=flt,
            score_threshold=min_score,
            with_payload=True,
            with_vector=False,
        )
        with self._mutex:
            points = self._open_shard().query(request)
        return [Match(entry=_entry(p.id, p.payload), score=float(p.score)) for p in points]

    def _scroll(self, flt: edge.Filter | None, order_key: str, limit: int) -> list[Entry]:
        _check_limit(limit)
        request = edge.ScrollRequest(
            limit=limit,
            filter=flt,
            with_payload=True,
            with_vector=False,
            order_by=edge.OrderBy(order_key, direction=edge.Direction.Desc),
        )
        with self._mutex:
            points, _ = self._open_shard().scroll(request)
        return [_entry(p.id, p.payload) for p in points]

    def upsert(self, entry: Entry, vector: VectorLike) -> None:
        """Insert or replace the entry; in the WAL (crash-safe) before returning."""
        self.upsert_many([(entry, vector)])

    def upsert_many(self, items: Sequence[tuple[Entry, VectorLike]]) -> None:
        """Insert or replace many entries in one WAL write."""
        points = [
            edge.Point(_entry_id(entry.id), {VECTOR_NAME: _vector(vector, self.dimension)}, _payload(entry))
            for entry, vector in items
        ]
        if not points:
            return
        with self._mutex:
            self._open_shard().update(edge.UpdateOperation.upsert_points(points))
            self._wrote()

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return None
        with self._mutex:
            records = self._open_shard().retrieve([point_id], True, False)
        return _entry(records[0].id, records[0].payload) if records else None

    def vector(self, entry_id: str) -> list[float] | None:
        """The stored prompt vector of the entry, or None."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return None
        with self._mutex:
            records = self._open_shard().retrieve([point_id], False, True)
        return _stored_vector(records[0].vector) if records else None

    def scroll_all(self, *, batch: int = SCROLL_BATCH) -> Iterator[Entry]:
        """Every stored entry, in pages of `batch` (the mutex is held per page, not for the whole scan)."""
        _check_limit(batch)
        offset: Any = None
        while True:
            request = edge.ScrollRequest(limit=batch, offset=offset, with_payload=True, with_vector=False)
            with self._mutex:
                points, offset = self._open_shard().scroll(request)
            for point in points:
                yield _entry(point.id, point.payload)
            if offset is None:
                return

    def record_hit(self, entry_id: str) -> None:
        """Add one to the hit counter; exact within this process (the only one that owns the shard)."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return
        with self._mutex:
            shard = self._open_shard()
            records = shard.retrieve([point_id], True, False)
            if not records:
                return
            hits = int((records[0].payload or {}).get("hits", 0)) + 1
            shard.update(edge.UpdateOperation.set_payload([point_id], {"hits": hits}))
            self._wrote()

    def mark_shown(self, entry_id: str, viewer: str) -> None:
        """Add the viewer to the entry's `shown_to` list (exact within this process)."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return
        with self._mutex:
            shard = self._open_shard()
            records = shard.retrieve([point_id], True, False)
            if not records:
                return
            shown = _with_viewer((records[0].payload or {}).get(SHOWN_TO), viewer)
            if shown is not None:
                shard.update(edge.UpdateOperation.set_payload([point_id], {SHOWN_TO: shown}))
                self._wrote()

    def delete(self, entry_id: str) -> None:
        """Remove the entry, flushed at once; a missing entry is not an error."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return
        with self._mutex:
            self._open_shard().update(edge.UpdateOperation.delete_points([point_id]))
            self.flush()

    def _wrote(self) -> None:
        """Count a WAL write and flush once enough have piled up (bounds replay time on open)."""
        self._unflushed += 1
        if self._unflushed >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        """Write pending changes into the segments on disk (slow, holds the GIL; see class doc)."""
        with self._mutex:
            self._open_shard().flush()
            self._unflushed = 0

    def count(self) -> int:
        """Number of stored entries."""
        with self._mutex:
            return int(self._open_shard().count(edge.CountRequest(exact=True)))

    def check(self) -> None:
        """Raise IndexUnavailable if the shard is closed or does not answer."""
        with self._mutex:
            try:
                self._open_shard().info()
            except IndexUnavailable:
                raise
            except Exception as exc:
                raise IndexUnavailable(f"index {self.path} does not answer: {exc}") from exc

    def optimize(self) -> bool:
        """Build HNSW and merge segments; blocking and GIL-holding, so never on the request path."""
        with self._mutex:
            return bool(self._open_shard().optimize())

    def stats(self) -> dict[str, int]:
        """Points, HNSW-indexed vectors and segments of the shard."""
        with self._mutex:
            info = self._open_shard().info()
        return {
            "points": int(info.points_count),
            "indexed_vectors": int(info.indexed_vectors_count),
            "segments": int(info.segments_count),
        }

    def close(self) -> None:
        """Flush, close the shard and release the directory lock; idempotent."""
        with self._mutex:
            shard, self._shard = self._shard, None
            try:
                if shard is not None:
                    try:
                        shard.flush()
                    finally:
                        shard.close()
            finally:
                self._release_lock()


# --- remote: Qdrant server (or qdrant-client local mode in tests) ------------------------------


@contextmanager
def _quiet_local_mode() -> Iterator[None]:
    """Silence qdrant-client local mode's warning that payload indexes have no effect there."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Payload indexes have no effect in the local Qdrant")
        yield


class QdrantServerIndex(_Queries):
    """Index in a Qdrant server collection, shared by every app replica.

    `record_hit` is a read-modify-write (Qdrant has no atomic increment): concurrent hits on the
    same entry from several replicas can lose increments. Acceptable for a popularity counter.
    """

    name = "qdrant"

    def __init__(self, client: QdrantClient, collection: str, dimension: int) -> None:
        """Use the collection, creating it and its payload indexes if missing; close() closes client."""
        self.client = client
        self.collection = collection
        self.dimension = dimension
        self._mutex = threading.Lock()
        self._closed = False
        self._ensure_collection()

    def _ensure_collection(self) -> None:
        if not self.client.collection_exists(self.collection):
            try:
                self.client.create_collection(
                    self.collection,
                    vectors_config={
                        VECTOR_NAME: qm.VectorParams(size=self.dimension, distance=qm.Distance.COSINE)
                    },
                )
            except Exception:
                if not self.client.collection_exists(self.collection):  # else another replica won the race
                    raise
        info = self.client.get_collection(self.collection)
        vectors = info.config.params.vectors
        params = vectors.get(VECTOR_NAME) if isinstance(vectors, dict) else None
        if params is None or params.size != self.dimension or params.distance != qm.Distance.COSINE:
            raise ValueError(
                f"collection {self.collection!r} exists with vectors {vectors!r}; expected a named vector "
                f"{VECTOR_NAME!r} of size {self.dimension} with cosine distance"
            )
        wanted: dict[str, Any] = {
            "compat_key": qm.PayloadSchemaType.KEYWORD,
            "exact_key": qm.PayloadSchemaType.KEYWORD,
            "prompt_norm": qm.KeywordIndexParams(type=qm.KeywordIndexType.KEYWORD, prefix=True),
            "hits": qm.PayloadSchemaType.INTEGER,
            "created_at": qm.PayloadSchemaType.FLOAT,
            SHOWN_TO: qm.PayloadSchemaType.KEYWORD,
        }
        with _quiet_local_mode():
            for field_name, schema in wanted.items():
                if field_name not in info.payload_schema:
                    self.client.create_payload_index(self.collection, field_name, schema, wait=True)

    @staticmethod
    def _match(key: str, value: str, unseen_by: str | None = None) -> qm.Filter:
        must_not: list[Any] | None = (
            [qm.FieldCondition(key=SHOWN_TO, match=qm.MatchValue(value=unseen_by))] if unseen_by else None
        )
        return qm.Filter(must=[qm.FieldCondition(key=key, match=qm.MatchValue(value=value))], must_not=must_not)

    def _query(
        self, vector: VectorLike, limit: int, flt: qm.Filter | None, min_score: float | None
    ) -> list[Match]:
        _check_limit(limit)
        response = self.client.query_points(
            self.collection,
            query=_vector(vector, self.dimension),
            using=VECTOR_NAME,
            query_filter=flt,
            limit=limit,
            score_threshold=min_score,
            with_payload=True,
            with_vectors=False,
        )
        return [Match(entry=_entry(p.id, p.payload), score=float(p.score)) for p in response.points]

    def _scroll(self, flt: qm.Filter | None, order_key: str, limit: int) -> list[Entry]:
        _check_limit(limit)
        points, _ = self.client.scroll(
            self.collection,
            scroll_filter=flt,
            limit=limit,
            order_by=qm.OrderBy(key=order_key, direction=qm.Direction.DESC),
            with_payload=True,
            with_vectors=False,
        )
        return [_entry(p.id, p.payload) for p in points]

    def upsert(self, entry: Entry, vector: VectorLike) -> None:
        """Insert or replace the entry; returns once the server has applied it."""
        self.upsert_many([(entry, vector)])

    def upsert_many(self, items: Sequence[tuple[Entry, VectorLike]]) -> None:
        """Insert or replace many entries in one request."""
        points = [
            qm.PointStruct(
                id=_entry_id(entry.id),
                vector={VECTOR_NAME: _vector(vector, self.dimension)},
                payload=_payload(entry),
            )
            for entry, vector in items
        ]
        for start in range(0, len(points), UPSERT_BATCH):  # keeps requests well under the server's size limit
            self.client.upsert(self.collection, points=points[start : start + UPSERT_BATCH], wait=True)

    def get(self, entry_id: str) -> Entry | None:
        """The entry with this id, or None."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return None
        records = self.client.retrieve(self.collection, [point_id], with_payload=True, with_vectors=False)
        return _entry(records[0].id, records[0].payload) if records else None

    def vector(self, entry_id: str) -> list[float] | None:
        """The stored prompt vector of the entry, or None."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return None
        records = self.client.retrieve(self.collection, [point_id], with_payload=False, with_vectors=[VECTOR_NAME])
        return _stored_vector(records[0].vector) if records else None

    def scroll_all(self, *, batch: int = SCROLL_BATCH) -> Iterator[Entry]:
        """Every stored entry, in pages of `batch`."""
        _check_limit(batch)
        offset: Any = None
        while True:
            points, offset = self.client.scroll(
                self.collection, limit=batch, offset=offset, with_payload=True, with_vectors=False
            )
            for point in points:
                yield _entry(point.id, point.payload)
            if offset is None:
                return

    def record_hit(self, entry_id: str) -> None:
        """Add one to the hit counter (read-modify-write: races between replicas may lose one)."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return
        with self._mutex:  # exact within this process; across replicas best effort
            records = self.client.retrieve(
                self.collection, [point_id], with_payload=["hits"], with_vectors=False
            )
            if not records:
                return
            hits = int((records[0].payload or {}).get("hits", 0)) + 1
            self.client.set_payload(self.collection, payload={"hits": hits}, points=[point_id], wait=True)

    def mark_shown(self, entry_id: str, viewer: str) -> None:
        """Add the viewer to the entry's `shown_to` list (read-modify-write, like record_hit)."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return
        with self._mutex:
            records = self.client.retrieve(
                self.collection, [point_id], with_payload=[SHOWN_TO], with_vectors=False
            )
            if not records:
                return
            shown = _with_viewer((records[0].payload or {}).get(SHOWN_TO), viewer)
            if shown is not None:
                self.client.set_payload(self.collection, payload={SHOWN_TO: shown}, points=[point_id], wait=True)

    def delete(self, entry_id: str) -> None:
        """Remove the entry; a missing entry is not an error."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return
        self.client.delete(self.collection, points_selector=qm.PointIdsList(points=[point_id]), wait=True)

    def count(self) -> int:
        """Number of stored entries."""
        return int(self.client.count(self.collection, exact=True).count)

    def check(self) -> None:
        """Raise IndexUnavailable if the server or the collection does not answer."""
        if self._closed:
            raise IndexUnavailable(f"index {self.collection!r} is closed")
        try:
            self.client.get_collection(self.collection)
        except Exception as exc:
            raise IndexUnavailable(f"qdrant collection {self.collection!r} does not answer: {exc}") from exc

    def close(self) -> None:
        """Close the client; idempotent."""
        if not self._closed:
            self._closed = True
            self.client.close()


def index_name(settings: Settings, *, embedder_name: str, dimension: int) -> str:
    """Collection or directory name: one per embedder and dimension, so vector spaces never mix."""
    return f"{settings.qdrant_collection}-{embedder_name}-{dimension}"


def open_index(settings: Settings, *, embedder_name: str, dimension: int) -> Index:
    """The configured index: Qdrant server (qdrant_url), qdrant-client local mode, or Qdrant Edge."""
    name = index_name(settings, embedder_name=embedder_name, dimension=dimension)
    client: QdrantClient | None = None
    if settings.qdrant_url:
        client = QdrantClient(url=settings.qdrant_url, api_key=settings.qdrant_api_key)
    elif settings.qdrant_local_path is not None:  # brute force, single process: comparisons only
        client = QdrantClient(path=str(settings.qdrant_local_path))
    if client is not None:
        try:
            return QdrantServerIndex(client, name, dimension)
        except BaseException:
            client.close()
            raise
    return EdgeIndex(settings.index_dir / name, dimension)
