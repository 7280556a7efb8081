"""Embedded index: one Qdrant Edge shard in a directory this process owns exclusively."""

from __future__ import annotations

import errno
import fcntl
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import qdrant_edge as edge

from dreamcache.index.base import (
    SCROLL_BATCH,
    SHOWN_TO,
    VECTOR_NAME,
    Entry,
    IndexInUse,
    IndexUnavailable,
    Match,
    PayloadChange,
    VectorLike,
    _check_limit,
    _entry,
    _entry_id,
    _lookup_id,
    _payload,
    _Queries,
    _stored_array,
    _stored_vector,
    _vector,
    hit_change,
    report_change,
    shown_change,
)

LOCK_FILE = ".dreamcache.lock"


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
            "text_key": edge.PayloadSchemaType.Keyword,
            "resume_key": edge.PayloadSchemaType.Keyword,
            "namespace": edge.PayloadSchemaType.Keyword,
            "fingerprint": edge.PayloadSchemaType.Keyword,
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
    def _match(conditions: dict[str, str], unseen_by: str | None = None) -> edge.Filter:
        must_not: list[Any] | None = (
            [edge.FieldCondition(SHOWN_TO, match=edge.MatchValue(unseen_by))] if unseen_by else None
        )
        must: list[Any] = [edge.FieldCondition(key, match=edge.MatchValue(value)) for key, value in conditions.items()]
        return edge.Filter(must=must, must_not=must_not)

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
        return [_entry(p.id, p.payload) for p in self._scroll_points(flt, order_key, limit, False)]

    def _scroll_vectors(self, flt: edge.Filter | None, order_key: str, limit: int) -> list[tuple[Entry, Any]]:
        points = self._scroll_points(flt, order_key, limit, True)
        return [(_entry(p.id, p.payload), _stored_array(p.vector)) for p in points]

    def _scroll_points(self, flt: edge.Filter | None, order_key: str, limit: int, with_vector: bool) -> list[Any]:
        _check_limit(limit)
        request = edge.ScrollRequest(
            limit=limit,
            filter=flt,
            with_payload=True,
            with_vector=with_vector,
            order_by=edge.OrderBy(order_key, direction=edge.Direction.Desc),
        )
        with self._mutex:
            points, _ = self._open_shard().scroll(request)
        return list(points)

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

    def record_hit(self, entry_id: str, count: int = 1) -> None:
        """Add `count` to the hit counter and set the last hit time (exact: this process owns the shard)."""
        self._change(entry_id, hit_change(count))

    def report(self, entry_id: str, text_key: str) -> bool:
        """Add the text key to the entry's `reported` list, flushed at once (a takedown must survive a crash)."""
        return self._change(entry_id, report_change(text_key), flush=True)

    def mark_shown(self, entry_id: str, viewer: str) -> None:
        """Add the viewer to the entry's `shown_to` list (exact within this process)."""
        self._change(entry_id, shown_change(viewer))

    def _change(self, entry_id: str, change: PayloadChange, *, flush: bool = False) -> bool:
        """Read-modify-write one entry's payload under the mutex; False when there is no such entry."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return False
        with self._mutex:
            shard = self._open_shard()
            records = shard.retrieve([point_id], True, False)
            if not records:
                return False
            update = change(records[0].payload or {})
            if update:
                shard.update(edge.UpdateOperation.set_payload([point_id], update))
                if flush:
                    self.flush()
                else:
                    self._wrote()
            return True

    def delete(self, entry_id: str) -> None:
        """Remove the entry, flushed at once; a missing entry is not an error."""
        self.delete_many([entry_id])

    def delete_many(self, entry_ids: Sequence[str]) -> None:
        """Remove entries in one write and one flush (a flush costs dozens of fsyncs: batch deletes)."""
        point_ids: list[Any] = [pid for pid in (_lookup_id(e) for e in entry_ids) if pid is not None]
        if not point_ids:
            return
        with self._mutex:
            self._open_shard().update(edge.UpdateOperation.delete_points(point_ids))
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


