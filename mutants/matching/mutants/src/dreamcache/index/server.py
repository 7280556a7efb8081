"""A Qdrant server (or qdrant-client local mode in tests), shared by every app replica."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from qdrant_client import QdrantClient
from qdrant_client import models as qm

from dreamcache.index.base import (
    SCROLL_BATCH,
    SHOWN_TO,
    UPSERT_BATCH,
    VECTOR_NAME,
    Entry,
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
            "text_key": qm.PayloadSchemaType.KEYWORD,
            "resume_key": qm.PayloadSchemaType.KEYWORD,
            "namespace": qm.PayloadSchemaType.KEYWORD,
            "fingerprint": qm.PayloadSchemaType.KEYWORD,
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
    def _match(conditions: dict[str, str], unseen_by: str | None = None) -> qm.Filter:
        must_not: list[Any] | None = (
            [qm.FieldCondition(key=SHOWN_TO, match=qm.MatchValue(value=unseen_by))] if unseen_by else None
        )
        must: list[Any] = [
            qm.FieldCondition(key=key, match=qm.MatchValue(value=value)) for key, value in conditions.items()
        ]
        return qm.Filter(must=must, must_not=must_not)

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
        return [_entry(p.id, p.payload) for p in self._scroll_points(flt, order_key, limit, False)]

    def _scroll_vectors(self, flt: qm.Filter | None, order_key: str, limit: int) -> list[tuple[Entry, Any]]:
        points = self._scroll_points(flt, order_key, limit, True)
        return [(_entry(p.id, p.payload), _stored_array(p.vector)) for p in points]

    def _scroll_points(self, flt: qm.Filter | None, order_key: str, limit: int, with_vectors: bool) -> list[Any]:
        _check_limit(limit)
        points, _ = self.client.scroll(
            self.collection,
            scroll_filter=flt,
            limit=limit,
            order_by=qm.OrderBy(key=order_key, direction=qm.Direction.DESC),
            with_payload=True,
            with_vectors=[VECTOR_NAME] if with_vectors else False,
        )
        return list(points)

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

    def record_hit(self, entry_id: str, count: int = 1) -> None:
        """Add `count` to the hit counter and set the last hit time (read-modify-write: replicas may lose some)."""
        self._change(entry_id, ["hits"], hit_change(count))

    def report(self, entry_id: str, text_key: str) -> bool:
        """Add the text key to the entry's `reported` list (read-modify-write, like record_hit)."""
        return self._change(entry_id, ["reported"], report_change(text_key))

    def mark_shown(self, entry_id: str, viewer: str) -> None:
        """Add the viewer to the entry's `shown_to` list (read-modify-write, like record_hit)."""
        self._change(entry_id, [SHOWN_TO], shown_change(viewer))

    def _change(self, entry_id: str, fields: list[str], change: PayloadChange) -> bool:
        """Read-modify-write one entry's payload: exact within this process, best effort across replicas."""
        point_id = _lookup_id(entry_id)
        if point_id is None:
            return False
        with self._mutex:
            records = self.client.retrieve(self.collection, [point_id], with_payload=fields, with_vectors=False)
            if not records:
                return False
            update = change(records[0].payload or {})
            if update:
                self.client.set_payload(self.collection, payload=update, points=[point_id], wait=True)
            return True

    def delete(self, entry_id: str) -> None:
        """Remove the entry; a missing entry is not an error."""
        self.delete_many([entry_id])

    def delete_many(self, entry_ids: Sequence[str]) -> None:
        """Remove entries in one request."""
        point_ids: list[Any] = [pid for pid in (_lookup_id(e) for e in entry_ids) if pid is not None]
        if point_ids:
            self.client.delete(self.collection, points_selector=qm.PointIdsList(points=point_ids), wait=True)

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


