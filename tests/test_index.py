"""Contract tests for the vector index: one suite, run against Qdrant Edge and qdrant-client local mode."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient

from dreamcache.index import (
    EdgeIndex,
    Entry,
    Index,
    IndexInUse,
    IndexUnavailable,
    QdrantServerIndex,
    open_index,
)
from dreamcache.prompts import normalize
from dreamcache.settings import Settings

DIM = 16
BACKENDS = ["edge", "qdrant"]

Opener = Callable[..., Index]


def make_entry(prompt: str = "A cat in space", **overrides: object) -> Entry:
    """An entry with realistic, distinct values; overrides replace any field."""
    entry_id = str(uuid.uuid4())
    values: dict[str, object] = {
        "id": entry_id,
        "prompt": prompt,
        "negative_prompt": "blurry, low quality",
        "width": 512,
        "height": 768,
        "steps": 25,
        "guidance_scale": 7.5,
        "seed": 1234567890123,
        "model": "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "fingerprint": "fp-0001",
        "image_key": f"{entry_id}.png",
        "created_at": 1_760_000_000.25,
        "compat_key": "compat-a",
        "exact_key": "exact-a",
        "prompt_norm": normalize(prompt),
        "hits": 0,
    }
    values.update(overrides)
    return Entry(**values)  # type: ignore[arg-type]


def unit(rng: np.random.Generator, dim: int = DIM) -> np.ndarray:
    """A random L2-normalised float32 vector."""
    v = rng.normal(size=dim).astype(np.float32)
    return v / np.linalg.norm(v)


def at_cosine(query: np.ndarray, cosine: float, rng: np.random.Generator) -> np.ndarray:
    """A unit vector whose cosine similarity to the unit query is exactly `cosine`."""
    other = unit(rng, query.shape[0])
    other = other - float(other @ query) * query
    other /= np.linalg.norm(other)
    return (cosine * query + np.sqrt(1.0 - cosine**2) * other).astype(np.float32)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which implementation a test runs against."""
    return str(request.param)


@pytest.fixture
def opener(backend: str, tmp_path: Path) -> Iterator[Opener]:
    """Opens an index of the backend on disk; every call reopens the same storage."""
    opened: list[Index] = []

    def open_(dimension: int = DIM, **edge_options: int) -> Index:
        index: Index
        if backend == "edge":
            index = EdgeIndex(tmp_path / "edge", dimension, **edge_options)
        else:
            index = QdrantServerIndex(QdrantClient(path=str(tmp_path / "qdrant")), "entries", dimension)
        opened.append(index)
        return index

    yield open_
    for index in opened:
        index.close()


@pytest.fixture(scope="module")
def empty_edge_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty Edge index made once: creating its payload indexes costs dozens of fsyncs."""
    path = tmp_path_factory.mktemp("template") / "edge"
    EdgeIndex(path, DIM).close()
    return path


@pytest.fixture
def index(backend: str, tmp_path: Path, empty_edge_dir: Path) -> Iterator[Index]:
    """A fresh index: Qdrant Edge in a temp dir, or qdrant-client in memory standing in for a server."""
    idx: Index
    if backend == "edge":
        shutil.copytree(empty_edge_dir, tmp_path / "edge")
        idx = EdgeIndex(tmp_path / "edge", DIM)
    else:
        idx = QdrantServerIndex(QdrantClient(location=":memory:"), "entries", DIM)
    yield idx
    idx.close()


def test_implements_protocol(index: Index) -> None:
    assert isinstance(index, Index)
    assert index.name in {"edge", "qdrant"}
    assert index.dimension == DIM


def test_upsert_get_roundtrip_keeps_every_field_and_type(index: Index) -> None:
    rng = np.random.default_rng(0)
    entry = make_entry(
        "Ünïcode: a 🐱 in SPACE!",
        width=640,
        height=384,
        steps=31,
        guidance_scale=7.0,
        seed=2**40 + 3,
        created_at=1_760_000_123.5,
        hits=4,
    )
    index.upsert(entry, unit(rng))
    got = index.get(entry.id)
    assert got == entry
    assert got is not None
    for name in ("width", "height", "steps", "seed", "hits"):
        assert type(getattr(got, name)) is int, name
    for name in ("guidance_scale", "created_at"):
        assert type(getattr(got, name)) is float, name
    assert index.get(str(uuid.uuid4())) is None
    assert index.get("not-a-uuid") is None


def test_upsert_same_id_replaces(index: Index) -> None:
    rng = np.random.default_rng(1)
    entry = make_entry()
    index.upsert(entry, unit(rng))
    changed = replace(entry, prompt="a dog", prompt_norm="a dog", hits=2)
    index.upsert(changed, unit(rng))
    assert index.count() == 1
    assert index.get(entry.id) == changed


def test_search_respects_compat_key_min_score_and_order(index: Index) -> None:
    rng = np.random.default_rng(2)
    query = unit(rng)
    cosines = [0.5, 0.95, 0.8, 0.9]
    same = [make_entry(f"prompt {c}", compat_key="compat-a") for c in cosines]
    index.upsert_many([(e, at_cosine(query, c, rng)) for e, c in zip(same, cosines, strict=True)])
    other = make_entry("closest but incompatible", compat_key="compat-b")
    index.upsert(other, at_cosine(query, 0.99, rng))

    found = index.search(query, compat_key="compat-a", limit=10)
    expected = sorted(zip(cosines, same, strict=True), key=lambda pair: -pair[0])
    assert [m.entry for m in found] == [e for _, e in expected]
    assert [m.score for m in found] == pytest.approx([c for c, _ in expected], abs=1e-5)

    assert [m.score for m in index.search(query, compat_key="compat-a", limit=2)] == pytest.approx(
        [0.95, 0.9], abs=1e-5
    )
    above = index.search(query, compat_key="compat-a", limit=10, min_score=0.85)
    assert [m.entry.id for m in above] == [same[1].id, same[3].id]
    assert index.search(query, compat_key="compat-a", limit=10, min_score=0.999) == []
    assert [m.entry for m in index.search(query, compat_key="compat-b", limit=10)] == [other]
    assert index.search(query, compat_key="compat-z", limit=10) == []


def test_filtered_search_is_exact_when_few_points_match(backend: str, tmp_path: Path) -> None:
    """2,000 points, 20 match: HNSW alone loses them, the keyword payload index must find them."""
    dim, n, rare = 32, 2000, 20
    index: Index
    if backend == "edge":  # force an HNSW index on this small shard (defaults keep an exact scan)
        index = EdgeIndex(tmp_path / "edge", dim, indexing_threshold_kb=1, full_scan_threshold_kb=1)
    else:
        index = QdrantServerIndex(QdrantClient(location=":memory:"), "entries", dim)
    try:
        _check_rare_filter(index, dim, n, rare)
    finally:
        index.close()


def _check_rare_filter(index: Index, dim: int, n: int, rare: int) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    matching = set(rng.choice(n, rare, replace=False).tolist())
    entries = [
        make_entry(f"p{i}", compat_key="rare" if i in matching else f"common-{i % 3}") for i in range(n)
    ]
    index.upsert_many(list(zip(entries, vectors, strict=True)))
    if isinstance(index, EdgeIndex):
        index.optimize()
        assert index.stats()["indexed_vectors"] == n  # the search below really runs on HNSW

    rare_ids = np.array(sorted(matching))
    for _ in range(50):
        query = unit(rng, dim)
        scores = vectors[rare_ids] @ query
        best = rare_ids[np.argsort(-scores)[:5]]
        found = index.search(query, compat_key="rare", limit=5)
        assert [m.entry.id for m in found] == [entries[i].id for i in best]
        assert [m.score for m in found] == pytest.approx(np.sort(scores)[::-1][:5].tolist(), abs=1e-5)


def test_find_exact_newest_first(index: Index) -> None:
    rng = np.random.default_rng(4)
    older = make_entry(exact_key="exact-x", created_at=1000.0)
    newest = make_entry(exact_key="exact-x", created_at=3000.0)
    middle = make_entry(exact_key="exact-x", created_at=2000.0)
    unrelated = make_entry(exact_key="exact-y", created_at=4000.0)
    index.upsert_many([(e, unit(rng)) for e in (older, newest, middle, unrelated)])
    assert index.find_exact("exact-x") == [newest, middle, older]
    assert index.find_exact("exact-x", limit=2) == [newest, middle]
    assert index.find_exact("exact-none") == []


def test_nearest_ignores_compat_key(index: Index) -> None:
    rng = np.random.default_rng(5)
    query = unit(rng)
    a = make_entry("a", compat_key="compat-a")
    b = make_entry("b", compat_key="compat-b")
    c = make_entry("c", compat_key="compat-c")
    index.upsert_many(
        [(a, at_cosine(query, 0.7, rng)), (b, at_cosine(query, 0.9, rng)), (c, at_cosine(query, 0.2, rng))]
    )
    found = index.nearest(query, limit=2)
    assert [m.entry.id for m in found] == [b.id, a.id]
    assert [m.score for m in found] == pytest.approx([0.9, 0.7], abs=1e-5)


def test_record_hit_increments(index: Index) -> None:
    rng = np.random.default_rng(7)
    entry = make_entry(hits=0)
    index.upsert(entry, unit(rng))
    index.record_hit(entry.id)
    index.record_hit(entry.id)
    got = index.get(entry.id)
    assert got is not None and got.hits == 2
    assert got.last_hit_at > 0  # retention's "least recently hit" needs it
    assert replace(got, hits=0, last_hit_at=0.0) == entry  # nothing else changed
    index.record_hit(str(uuid.uuid4()))  # unknown: no error, nothing created
    index.record_hit("not-a-uuid")
    assert index.count() == 1


def test_delete_removes_from_every_query(index: Index) -> None:
    rng = np.random.default_rng(8)
    query = unit(rng)
    keep, gone = make_entry("keep"), make_entry("gone")
    index.upsert_many([(keep, at_cosine(query, 0.5, rng)), (gone, at_cosine(query, 0.9, rng))])
    assert index.count() == 2
    index.delete(gone.id)
    assert index.count() == 1
    assert index.get(gone.id) is None
    assert [m.entry.id for m in index.search(query, compat_key="compat-a", limit=5)] == [keep.id]
    assert [m.entry.id for m in index.nearest(query, limit=5)] == [keep.id]
    assert index.find_exact("exact-a") == [keep]
    index.delete(gone.id)  # idempotent
    index.delete("not-a-uuid")
    assert index.count() == 1


def test_count(index: Index) -> None:
    rng = np.random.default_rng(9)
    assert index.count() == 0
    index.upsert_many([(make_entry(f"p{i}"), unit(rng)) for i in range(7)])
    assert index.count() == 7


def test_rejects_invalid_input(index: Index) -> None:
    rng = np.random.default_rng(10)
    with pytest.raises(ValueError, match=r"shape \(16,\)"):
        index.upsert(make_entry(), unit(rng, DIM + 1))
    with pytest.raises(ValueError, match="NaN"):
        index.upsert(make_entry(), np.full(DIM, np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="UUID"):
        index.upsert(make_entry(id="entry-1"), unit(rng))
    with pytest.raises(ValueError, match="canonical"):
        index.upsert(make_entry(id=str(uuid.uuid4()).upper()), unit(rng))
    with pytest.raises(ValueError, match="limit"):
        index.search(unit(rng), compat_key="compat-a", limit=0)
    with pytest.raises(ValueError, match="shape"):
        index.nearest(unit(rng, 3), limit=1)
    assert index.count() == 0


def test_check_passes_until_closed(index: Index) -> None:
    index.check()
    index.close()
    with pytest.raises(IndexUnavailable, match="closed"):
        index.check()
    index.close()  # idempotent


def test_persists_across_close_and_reopen(opener: Opener) -> None:
    rng = np.random.default_rng(11)
    query = unit(rng)
    first = opener()
    entry = make_entry()
    first.upsert(entry, at_cosine(query, 0.9, rng))
    first.record_hit(entry.id)
    first.close()

    second = opener()
    assert second.count() == 1
    reopened = second.get(entry.id)
    assert reopened is not None and reopened.last_hit_at > 0
    assert replace(reopened, last_hit_at=0.0) == replace(entry, hits=1)
    found = second.search(query, compat_key="compat-a", limit=1)
    assert [m.entry.id for m in found] == [entry.id]
    assert found[0].score == pytest.approx(0.9, abs=1e-5)


def test_edge_reopen_with_other_dimension_fails_clearly(tmp_path: Path) -> None:
    EdgeIndex(tmp_path / "idx", DIM).close()
    with pytest.raises(RuntimeError, match=f"{tmp_path / 'idx'}.*vector size"):
        EdgeIndex(tmp_path / "idx", DIM * 2)


def test_edge_second_open_in_same_process_is_refused(tmp_path: Path) -> None:
    first = EdgeIndex(tmp_path / "idx", DIM)
    with pytest.raises(IndexInUse, match=f"index directory {tmp_path / 'idx'} is in use by another process"):
        EdgeIndex(tmp_path / "idx", DIM)
    first.upsert(make_entry(), unit(np.random.default_rng(12)))  # the refused open did not disturb it
    first.close()
    again = EdgeIndex(tmp_path / "idx", DIM)  # the lock is released on close
    assert again.count() == 1
    again.close()


CHILD = textwrap.dedent(
    """
    import os, sys
    import numpy as np
    from dreamcache.index import EdgeIndex, Entry

    entry = Entry(id=sys.argv[2], prompt="a cat", negative_prompt="", width=512, height=512, steps=25,
                  guidance_scale=7.5, seed=1, model="tiny", fingerprint="fp", image_key="k.png",
                  created_at=1.0, compat_key="c", exact_key="e", prompt_norm="a cat")
    index = EdgeIndex(sys.argv[1], 16)
    vector = np.zeros(16, dtype=np.float32)
    vector[0] = 1.0
    index.upsert(entry, vector)
    index.record_hit(entry.id)  # written to the WAL only, never flushed
    print("ready", flush=True)
    sys.stdin.readline()
    os._exit(0)  # a crash: no flush, no close
    """
)


def test_edge_other_process_holds_the_lock_and_a_crash_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "idx"
    entry_id = str(uuid.uuid4())
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), entry_id],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdin is not None
        assert child.stdout.readline().strip() == "ready"
        with pytest.raises(IndexInUse, match=f"index directory {path} is in use by another process"):
            EdgeIndex(path, DIM)
        child.stdin.write("exit\n")
        child.stdin.flush()
        assert child.wait(timeout=30) == 0
    finally:
        if child.poll() is None:
            child.kill()
    reopened = EdgeIndex(path, DIM)
    got = reopened.get(entry_id)
    reopened.close()
    assert got is not None and got.prompt == "a cat" and got.hits == 1


def test_open_index_names_the_store_after_embedder_and_dimension(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, qdrant_collection="dc")
    index = open_index(settings, embedder_name="minilm", dimension=DIM)
    try:
        assert isinstance(index, EdgeIndex)
        assert index.path == tmp_path / "index" / "dc-minilm-16"
    finally:
        index.close()
    other = open_index(settings, embedder_name="clip", dimension=DIM * 48)
    other.close()
    assert sorted(p.name for p in (tmp_path / "index").iterdir()) == ["dc-clip-768", "dc-minilm-16"]


def test_open_index_qdrant_local_path_uses_qdrant_client(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, qdrant_collection="dc", qdrant_local_path=tmp_path / "local")
    index = open_index(settings, embedder_name="minilm", dimension=DIM)
    try:
        assert isinstance(index, QdrantServerIndex)
        assert index.collection == "dc-minilm-16"
        index.upsert(make_entry(), unit(np.random.default_rng(15)))
        assert index.count() == 1
    finally:
        index.close()
    assert not (tmp_path / "index").exists()


def test_edge_and_qdrant_client_agree(tmp_path: Path) -> None:
    """Congruence: the same data and a few hundred random queries give the same answers."""
    dim, n = 24, 600
    rng = np.random.default_rng(13)
    words = ["a", "cat", "dog", "in", "space", "red", "castle", "the", "sea"]
    entries, vectors = [], []
    for i in range(n):
        prompt = " ".join(rng.choice(words, size=3))
        entries.append(
            make_entry(
                prompt,
                compat_key=str(rng.choice(["big", "mid", "small"], p=[0.75, 0.2, 0.05])),
                exact_key=f"exact-{i % 150}",
                created_at=float(1000 + i),
                hits=int(rng.integers(0, 1_000_000)),  # distinct with high probability: stable order
            )
        )
        vectors.append(unit(rng, dim))
    edge_index = EdgeIndex(tmp_path / "edge", dim)
    server_index = QdrantServerIndex(QdrantClient(location=":memory:"), "entries", dim)
    try:
        for idx in (edge_index, server_index):
            idx.upsert_many(list(zip(entries, vectors, strict=True)))
        assert edge_index.count() == server_index.count() == n

        for k in range(300):
            query = unit(rng, dim)
            compat = ["big", "mid", "small"][k % 3]
            min_score = [None, 0.0, 0.3][k % 4 % 3]
            _assert_same_matches(
                edge_index.search(query, compat_key=compat, limit=9, min_score=min_score),
                server_index.search(query, compat_key=compat, limit=9, min_score=min_score),
            )
            _assert_same_matches(edge_index.nearest(query, limit=5), server_index.nearest(query, limit=5))

        for key in ("exact-0", "exact-7", "exact-149"):
            assert edge_index.find_exact(key) == server_index.find_exact(key)
    finally:
        edge_index.close()
        server_index.close()


def _assert_same_matches(left: list, right: list) -> None:
    assert len(left) == len(right)
    assert [m.score for m in left] == pytest.approx([m.score for m in right], abs=1e-5)
    for a, b in zip(left, right, strict=True):
        if a.entry != b.entry:  # only a near-tie may swap places
            assert a.score == pytest.approx(b.score, abs=1e-5)


def test_unseen_by_skips_entries_shown_to_that_viewer(index: Index) -> None:
    rng = np.random.default_rng(11)
    query = unit(rng)
    near, far = make_entry("a cat on a mat"), make_entry("a cat on a rug")
    index.upsert_many([(near, at_cosine(query, 0.95, rng)), (far, at_cosine(query, 0.9, rng))])
    index.mark_shown(near.id, "viewer-1")
    index.mark_shown(near.id, "viewer-1")  # idempotent
    ids = [m.entry.id for m in index.search(query, compat_key=near.compat_key, limit=5, unseen_by="viewer-1")]
    assert ids == [far.id]
    ids = [m.entry.id for m in index.search(query, compat_key=near.compat_key, limit=5, unseen_by="viewer-2")]
    assert ids == [near.id, far.id]
    index.record_hit(near.id)  # counting a hit keeps the viewers
    ids = [m.entry.id for m in index.search(query, compat_key=near.compat_key, limit=5, unseen_by="viewer-1")]
    assert ids == [far.id]
    got = index.get(near.id)
    assert got is not None and replace(got, last_hit_at=0.0) == replace(near, hits=1)
    index.mark_shown("not-a-uuid", "viewer-1")  # unknown ids are ignored


def test_checkpoint_fields_round_trip(index: Index) -> None:
    rng = np.random.default_rng(5)
    entry = make_entry(checkpoints=(5, 10), resume_key="resume-a", text_key="text-a", reused_from="x", skipped_steps=5)
    index.upsert(entry, unit(rng))
    assert index.get(entry.id) == entry
    old = make_entry("older data")  # written before checkpoints existed: the defaults
    index.upsert(old, unit(rng))
    found = index.get(old.id)
    assert found is not None and found.checkpoints == () and found.resume_key == ""


def test_reusable_finds_only_entries_with_this_resume_key(index: Index) -> None:
    rng = np.random.default_rng(6)
    query = unit(rng)
    near = make_entry("near", checkpoints=(5,), resume_key="r1")
    nearer_without = make_entry("nearest, no checkpoints")
    other_key = make_entry("other steps", checkpoints=(5,), resume_key="r2")
    far = make_entry("far", checkpoints=(5,), resume_key="r1")
    index.upsert_many([
        (near, at_cosine(query, 0.95, rng)), (nearer_without, at_cosine(query, 0.99, rng)),
        (other_key, at_cosine(query, 0.98, rng)), (far, at_cosine(query, 0.5, rng)),
    ])
    found = index.reusable(query, resume_key="r1", limit=5, min_score=0.9)
    assert [m.entry.id for m in found] == [near.id]
    assert found[0].score == pytest.approx(0.95, abs=1e-4)


def test_find_text_finds_retyped_prompts_whatever_their_vectors(index: Index) -> None:
    rng = np.random.default_rng(7)
    a = make_entry("a dog", text_key="t-dog", created_at=1.0)
    b = make_entry("Dog", text_key="t-dog", created_at=2.0)
    elsewhere = make_entry("dog", text_key="t-dog", compat_key="compat-b")
    index.upsert_many([(a, unit(rng)), (b, unit(rng)), (elsewhere, unit(rng))])
    assert [e.id for e in index.find_text("t-dog", compat_key="compat-a", limit=5)] == [b.id, a.id]
    index.mark_shown(b.id, "viewer-1")
    assert [e.id for e in index.find_text("t-dog", compat_key="compat-a", limit=5, unseen_by="viewer-1")] == [a.id]
    assert index.find_text("", compat_key="compat-a", limit=5) == []


def test_reports_and_finds_by_payload_fields(index: Index) -> None:
    rng = np.random.default_rng(8)
    a = make_entry("a", namespace="t1", fingerprint="fp-1")
    b = make_entry("b", namespace="t2", fingerprint="fp-1")
    index.upsert_many([(a, unit(rng)), (b, unit(rng))])
    assert [e.id for e in index.find(10, namespace="t1")] == [a.id]
    assert {e.id for e in index.find(10, fingerprint="fp-1")} == {a.id, b.id}
    assert index.report(a.id, "key-1") and index.report(a.id, "key-1") and index.report(a.id, "key-2")
    got = index.get(a.id)
    assert got is not None and got.reported == ("key-1", "key-2")
    assert not index.report(str(uuid.uuid4()), "key-1") and not index.report("not-a-uuid", "key-1")
