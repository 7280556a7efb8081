"""An in-memory index for `dreamcache replay`: the `Index` protocol over compact columns and an IVF vector table.

Replaying a month of traffic through the service's decision needs an index that neither scans every
stored vector per lookup (time per prompt would grow with the log) nor keeps a Python object per
entry (memory would). So:

- `VectorTable` holds each distinct prompt vector once (entries with the same vector share a row),
  shared by every `MemoryIndex` built on it (the replay's two modes: the vectors are stored once).
  Its search is an inverted file (IVF): rows are bucketed under spherical k-means centroids,
  retrained as the table grows (4x steps, about sqrt(4 N) lists), and a lookup scans the rows of
  the `probes` lists whose centroids are closest. Only scores at or above a high threshold are
  ever asked for (near-duplicates: cosine >= 0.85), and those sit in the same or a neighbouring
  list, so few decisions change; `exact=True` scans every row (the reference the replay bench
  compares against). Results are cached per query vector: the replay's two modes ask the same
  question about each prompt.
- `MemoryIndex` keeps each entry in columns (numbers in arrays, repeated settings interned) and
  answers the protocol's queries with the same filters and orders as the Qdrant backends
  (`tests/test_replay.py` checks that a replay decides the same on it as on Qdrant Edge).

Single-threaded and not persistent: a replay's scratch index, never the service's.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from dreamcache import prompts
from dreamcache.index.base import (
    SCROLL_BATCH,
    SHOWN_TO_MAX,
    Entry,
    IndexUnavailable,
    Match,
    VectorLike,
    _check_limit,
)

FIRST_TRAINING = 4096  # rows before the first k-means (a flat scan below it)
GROWTH = 4  # retrain when the table has grown this many times since the last training
KMEANS_ITERATIONS = 8
KMEANS_SAMPLE_PER_LIST = 48
DEFAULT_PROBES = 8


class VectorTable:
    """Distinct L2-normalised vectors in IVF lists; rows are numbered in insertion order."""

    def __init__(self, dimension: int, *, exact: bool = False, probes: int = DEFAULT_PROBES, seed: int = 0) -> None:
        if probes < 1:
            raise ValueError(f"probes must be at least 1, got {probes}")
        self.dimension = dimension
        self.exact = exact
        self.probes = probes
        self._rng = np.random.default_rng(seed)
        self._by_hash: dict[int, int] = {}  # hash of the vector's bytes -> its row
        self._row_list = array("i")  # row -> list number
        self._row_pos = array("i")  # row -> position in that list
        self._blocks: list[np.ndarray] = [np.empty((64, dimension), dtype=np.float32)]
        self._block_rows: list[array[int]] = [array("i")]
        self._centroids: np.ndarray | None = None
        self._next_training = FIRST_TRAINING
        self._cache_key: tuple[bytes, float] | None = None
        self._cache_rows = 0
        self._cache: list[tuple[int, float]] = []
        self.trainings = 0
        self.scanned = 0  # vectors scored by lookups (rows x lookups), for the replay's report

    def __len__(self) -> int:
        return len(self._row_list)

    @property
    def lists(self) -> int:
        return len(self._blocks)

    def nbytes(self) -> int:
        """Bytes held by the vectors (the blocks' capacity and the centroids)."""
        held = sum(block.nbytes for block in self._blocks)
        return held + (self._centroids.nbytes if self._centroids is not None else 0)

    def row(self, vector: np.ndarray) -> int:
        """The row of this vector, added if it is new."""
        key = hash(vector.tobytes())
        known = self._by_hash.get(key)
        if known is not None and np.array_equal(self.vector(known), vector):
            return known
        row = len(self._row_list)
        if known is None:
            self._by_hash[key] = row
        self._append(row, vector, self._nearest_list(vector[None, :])[0])
        if not self.exact and len(self._row_list) >= self._next_training:
            self._train()
        return row

    def vector(self, row: int) -> np.ndarray:
        return self._blocks[self._row_list[row]][self._row_pos[row]]

    def near(self, query: np.ndarray, min_score: float) -> list[tuple[int, float]]:
        """(row, cosine) of every row scoring at least `min_score` in the probed lists (every list when exact)."""
        key = (query.tobytes(), min_score)
        rows = len(self._row_list)
        if key == self._cache_key:
            if self._cache_rows < rows:  # rows added since: score just those
                fresh = list(range(self._cache_rows, rows))
                scores = np.stack([self.vector(r) for r in fresh]) @ query
                self._cache += [(r, float(s)) for r, s in zip(fresh, scores, strict=True) if s >= min_score]
                self._cache_rows = rows
            return self._cache
        found: list[tuple[int, float]] = []
        for number in self._probed(query):
            members = self._block_rows[number]
            if not members:
                continue
            scores = self._blocks[number][: len(members)] @ query
            self.scanned += len(members)
            for position in np.flatnonzero(scores >= min_score):
                found.append((members[position], float(scores[position])))
        self._cache_key, self._cache_rows, self._cache = key, rows, found
        return found

    def _probed(self, query: np.ndarray) -> Sequence[int]:
        if self._centroids is None or self.exact or self.probes >= len(self._blocks):
            return range(len(self._blocks))
        scores = self._centroids @ query
        return [int(i) for i in np.argpartition(-scores, self.probes - 1)[: self.probes]]

    def _nearest_list(self, vectors: np.ndarray) -> np.ndarray:
        if self._centroids is None:
            return np.zeros(len(vectors), dtype=np.int64)
        return np.argmax(vectors @ self._centroids.T, axis=1)

    def _append(self, row: int, vector: np.ndarray, number: int) -> None:
        members = self._block_rows[number]
        block = self._blocks[number]
        if len(members) == len(block):
            grown = np.empty((max(64, 2 * len(block)), self.dimension), dtype=np.float32)
            grown[: len(block)] = block
            self._blocks[number] = block = grown
        block[len(members)] = vector
        if row == len(self._row_list):
            self._row_list.append(number)
            self._row_pos.append(len(members))
        else:
            self._row_list[row], self._row_pos[row] = number, len(members)
        members.append(row)

    def _all_vectors(self) -> np.ndarray:
        out = np.empty((len(self._row_list), self.dimension), dtype=np.float32)
        for block, members in zip(self._blocks, self._block_rows, strict=True):
            if members:
                out[np.frombuffer(members, dtype=np.int32)] = block[: len(members)]
        return out

    def _train(self) -> None:
        """Spherical k-means on a sample, then every row into its nearest list (blocking; at 4x growth steps)."""
        vectors = self._all_vectors()
        count = len(vectors)
        lists = 2 ** round(math.log2(math.sqrt(4 * count)))
        sample_size = min(count, KMEANS_SAMPLE_PER_LIST * lists)
        sample = vectors[self._rng.choice(count, sample_size, replace=False)]
        centroids = sample[self._rng.choice(sample_size, lists, replace=False)].copy()
        for _ in range(KMEANS_ITERATIONS):
            assign = _chunked_argmax(sample, centroids)
            sums = np.zeros_like(centroids)
            np.add.at(sums, assign, sample)
            empty = np.flatnonzero(~sums.any(axis=1))
            sums[empty] = sample[self._rng.choice(sample_size, len(empty), replace=False)]
            centroids = sums / np.linalg.norm(sums, axis=1, keepdims=True)
        self._centroids = centroids.astype(np.float32)
        assign = _chunked_argmax(vectors, self._centroids)
        self._blocks = [np.empty((64, self.dimension), dtype=np.float32) for _ in range(lists)]
        self._block_rows = [array("i") for _ in range(lists)]
        for row in range(count):
            self._append(row, vectors[row], int(assign[row]))
        self._cache_key = None
        self.trainings += 1
        self._next_training = count * GROWTH


def _chunked_argmax(vectors: np.ndarray, centroids: np.ndarray, chunk: int = 16384) -> np.ndarray:
    return np.concatenate([np.argmax(vectors[i : i + chunk] @ centroids.T, axis=1)
                           for i in range(0, len(vectors), chunk)]) if len(vectors) else np.empty(0, np.int64)


@dataclass(frozen=True)
class _Shape:
    """The fields many entries share (interned once)."""

    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance_scale: float
    model: str
    fingerprint: str
    compat_key: str
    resume_key: str
    checkpoints: tuple[int, ...]
    namespace: str


class MemoryIndex:
    """The `Index` protocol in memory, over a `VectorTable` it may share with other indexes."""

    name = "memory"

    def __init__(self, table: VectorTable) -> None:
        self.table = table
        self.dimension = table.dimension
        self._open = True
        self._ids: list[str] = []
        self._position: dict[str, int] = {}
        self._prompts: list[str] = []
        self._exact: list[str] = []
        self._text_keys: list[str] = []
        self._extra: dict[int, dict[str, Any]] = {}  # fields that rarely differ from their defaults
        self._shape_ids: dict[_Shape, int] = {}
        self._shapes: list[_Shape] = []
        self._shape = array("i")
        self._row = array("i")
        self._seed = array("q")
        self._created = array("d")
        self._hits = array("i")
        self._alive = bytearray()
        self._viewer_ids: dict[str, int] = {}
        self._shown_first = array("i")  # the first viewer an entry was shown to (-1: none); the rest below
        self._shown_more: dict[int, list[int]] = {}
        # Newest-first chains: the newest entry per key, and each entry's previous one with the same key.
        self._row_head: dict[int, int] = {}
        self._row_prev = array("i")
        self._text_head: dict[str, int] = {}
        self._text_prev = array("i")
        self._exact_head: dict[str, int] = {}
        self._exact_prev = array("i")

    # -- writes --

    def upsert(self, entry: Entry, vector: VectorLike) -> None:
        self.upsert_many([(entry, vector)])

    def upsert_many(self, items: Sequence[tuple[Entry, VectorLike]]) -> None:
        self._check_open()
        for entry, vector in items:
            array_ = np.asarray(vector, dtype=np.float32)
            if array_.shape != (self.dimension,) or not np.isfinite(array_).all():
                raise ValueError(f"vector must be finite with shape ({self.dimension},), got {array_.shape}")
            if entry.id in self._position:
                self.delete(entry.id)
            self._add(entry, self.table.row(array_))

    def _add(self, entry: Entry, row: int) -> None:
        index = len(self._ids)
        shape = _Shape(entry.negative_prompt, entry.width, entry.height, entry.steps, entry.guidance_scale,
                       entry.model, entry.fingerprint, entry.compat_key, entry.resume_key, entry.checkpoints,
                       entry.namespace)
        shape_id = self._shape_ids.setdefault(shape, len(self._shapes))
        if shape_id == len(self._shapes):
            self._shapes.append(shape)
        self._ids.append(entry.id)
        self._position[entry.id] = index
        self._prompts.append(entry.prompt)
        self._exact.append(entry.exact_key)
        self._shape.append(shape_id)
        self._row.append(row)
        self._seed.append(entry.seed)
        self._created.append(entry.created_at)
        self._hits.append(entry.hits)
        self._alive.append(1)
        self._shown_first.append(-1)
        extra = {name: getattr(entry, name) for name, default in _RARE.items() if getattr(entry, name) != default}
        if entry.image_key != f"{entry.id}.png":
            extra["image_key"] = entry.image_key
        if entry.prompt_norm != prompts.normalize(entry.prompt):  # else rebuilt when read (saves ~150 bytes)
            extra["prompt_norm"] = entry.prompt_norm
        if extra:
            self._extra[index] = extra
        self._text_keys.append(entry.text_key)
        self._row_prev.append(self._row_head.get(row, -1))
        self._row_head[row] = index
        self._text_prev.append(self._text_head.get(entry.text_key, -1) if entry.text_key else -1)
        if entry.text_key:
            self._text_head[entry.text_key] = index
        self._exact_prev.append(self._exact_head.get(entry.exact_key, -1))
        self._exact_head[entry.exact_key] = index

    def mark_shown(self, entry_id: str, viewer: str) -> None:
        index = self._position.get(entry_id)
        if index is None:
            return
        viewer_id = self._viewer_ids.setdefault(viewer, len(self._viewer_ids))
        if self._shown_first[index] == -1:
            self._shown_first[index] = viewer_id
        elif not self._was_shown(index, viewer_id):
            more = self._shown_more.setdefault(index, [])
            more.append(viewer_id)
            del more[: max(0, len(more) + 1 - SHOWN_TO_MAX)]

    def record_hit(self, entry_id: str, count: int = 1) -> None:
        index = self._position.get(entry_id)
        if index is not None:
            self._hits[index] += count

    def report(self, entry_id: str, text_key: str) -> bool:
        index = self._position.get(entry_id)
        if index is None:
            return False
        extra = self._extra.setdefault(index, {})
        reported = tuple(extra.get("reported", ()))
        if text_key not in reported:
            extra["reported"] = reported + (text_key,)
        return True

    def delete(self, entry_id: str) -> None:
        index = self._position.pop(entry_id, None)
        if index is not None:
            self._alive[index] = 0

    def delete_many(self, entry_ids: Sequence[str]) -> None:
        for entry_id in entry_ids:
            self.delete(entry_id)

    # -- reads --

    def _entry(self, index: int) -> Entry:
        shape = self._shapes[self._shape[index]]
        extra = self._extra.get(index, {})
        entry_id = self._ids[index]
        return Entry(
            id=entry_id, prompt=self._prompts[index], negative_prompt=shape.negative_prompt, width=shape.width,
            height=shape.height, steps=shape.steps, guidance_scale=shape.guidance_scale, seed=self._seed[index],
            model=shape.model, fingerprint=shape.fingerprint, image_key=extra.get("image_key", f"{entry_id}.png"),
            created_at=self._created[index], compat_key=shape.compat_key, exact_key=self._exact[index],
            prompt_norm=extra.get("prompt_norm", prompts.normalize(self._prompts[index])), hits=self._hits[index],
            namespace=shape.namespace, text_key=self._text_keys[index], checkpoints=shape.checkpoints,
            resume_key=shape.resume_key,
            **{name: extra[name] for name in _RARE if name in extra},  # type: ignore[arg-type]
        )

    def _was_shown(self, index: int, viewer_id: int) -> bool:
        return self._shown_first[index] == viewer_id or viewer_id in self._shown_more.get(index, ())

    def _unseen(self, index: int, unseen_by: str | None) -> bool:
        if unseen_by is None:
            return True
        viewer_id = self._viewer_ids.get(unseen_by)
        return viewer_id is None or not self._was_shown(index, viewer_id)

    def _chain(self, head: int, prev: array[int]) -> Iterator[int]:
        index = head
        while index != -1:
            if self._alive[index]:
                yield index
            index = prev[index]

    def _nearest_entries(self, vector: VectorLike, min_score: float, field: str, value: str,
                         unseen_by: str | None, limit: int) -> list[Match]:
        self._check_open()
        _check_limit(limit)
        query = np.asarray(vector, dtype=np.float32)
        found: list[tuple[float, float, int]] = []
        for row, score in self.table.near(query, min_score):
            head = self._row_head.get(row)
            if head is None:
                continue
            for index in self._chain(head, self._row_prev):
                if getattr(self._shapes[self._shape[index]], field) == value and self._unseen(index, unseen_by):
                    found.append((score, self._created[index], index))
        found.sort(key=lambda item: (-item[0], -item[1]))
        return [Match(self._entry(index), score) for score, _, index in found[:limit]]

    def search(self, vector: VectorLike, *, compat_key: str, limit: int, min_score: float | None = None,
               unseen_by: str | None = None) -> list[Match]:
        return self._nearest_entries(vector, -1.0 if min_score is None else min_score, "compat_key", compat_key,
                                     unseen_by, limit)

    def reusable(self, vector: VectorLike, *, resume_key: str, limit: int, min_score: float) -> list[Match]:
        return self._nearest_entries(vector, min_score, "resume_key", resume_key, None, limit)

    def find_exact(self, exact_key: str, limit: int = 9) -> list[Entry]:
        self._check_open()
        _check_limit(limit)
        head = self._exact_head.get(exact_key, -1)
        return [self._entry(i) for _, i in zip(range(limit), self._chain(head, self._exact_prev), strict=False)]

    def _text_matches(self, text_key: str, compat_key: str, unseen_by: str | None) -> Iterator[int]:
        head = self._text_head.get(text_key, -1) if text_key else -1
        for index in self._chain(head, self._text_prev):
            if self._shapes[self._shape[index]].compat_key == compat_key and self._unseen(index, unseen_by):
                yield index

    def find_text(self, text_key: str, *, compat_key: str, limit: int, unseen_by: str | None = None) -> list[Entry]:
        self._check_open()
        _check_limit(limit)
        matches = self._text_matches(text_key, compat_key, unseen_by)
        return [self._entry(i) for _, i in zip(range(limit), matches, strict=False)]

    def find_text_near(self, text_key: str, vector: VectorLike, *, compat_key: str, limit: int,
                       unseen_by: str | None = None) -> list[Match]:
        self._check_open()
        _check_limit(limit)
        query = np.asarray(vector, dtype=np.float32)
        matches = self._text_matches(text_key, compat_key, unseen_by)
        return [Match(self._entry(i), float(np.dot(query, self.table.vector(self._row[i]))))
                for _, i in zip(range(limit), matches, strict=False)]

    def _scan(self) -> Iterator[int]:
        return (i for i in range(len(self._ids)) if self._alive[i])

    def find(self, limit: int, **equal: str) -> list[Entry]:
        """Entries whose fields equal the given values, newest first (a scan: not for the replay's hot path)."""
        _check_limit(limit)
        entries = [e for e in map(self._entry, self._scan()) if all(getattr(e, k) == v for k, v in equal.items())]
        return sorted(entries, key=lambda e: -e.created_at)[:limit]

    def browse(self, namespace: str, *, order_by: str, limit: int) -> list[Entry]:
        _check_limit(limit)
        entries = [e for e in map(self._entry, self._scan()) if e.namespace == namespace]
        return sorted(entries, key=lambda e: -float(getattr(e, order_by)))[:limit]

    def nearest(self, vector: VectorLike, *, limit: int) -> list[Match]:
        _check_limit(limit)
        query = np.asarray(vector, dtype=np.float32)
        found = [(score, i) for row, score in self.table.near(query, -1.0)
                 for i in self._chain(self._row_head.get(row, -1), self._row_prev)]
        found.sort(key=lambda item: -item[0])
        return [Match(self._entry(i), score) for score, i in found[:limit]]

    def get(self, entry_id: str) -> Entry | None:
        index = self._position.get(entry_id)
        return self._entry(index) if index is not None else None

    def vector(self, entry_id: str) -> list[float] | None:
        index = self._position.get(entry_id)
        return [float(x) for x in self.table.vector(self._row[index])] if index is not None else None

    def scroll_all(self, *, batch: int = SCROLL_BATCH) -> Iterator[Entry]:
        _check_limit(batch)
        return map(self._entry, self._scan())

    def count(self) -> int:
        return len(self._position)

    def check(self) -> None:
        self._check_open()

    def _check_open(self) -> None:
        if not self._open:
            raise IndexUnavailable("memory index is closed")

    def close(self) -> None:
        self._open = False


_RARE: dict[str, Any] = {"reused_from": "", "skipped_steps": 0, "last_hit_at": 0.0, "stored_bytes": 0, "reported": ()}
