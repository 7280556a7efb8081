"""Retention (`management.Curator.sweep`) on real components, without an app: a qdrant-client index in memory, a
local image store in a temporary directory and the autocomplete index. The entries carry chosen creation times,
last hits and sizes, so each rule is pinned exactly and the whole file runs in about a second. The background
sweeper of a running service is tested end to end in test_management."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from qdrant_client import QdrantClient

from dreamcache import prompts
from dreamcache.generation.checkpoint import checkpoint_key
from dreamcache.index import Entry, QdrantServerIndex
from dreamcache.management import Curator
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage.local import LocalStore
from dreamcache.suggest import SuggestionIndex

DIM = 4
NOW = 600.0
# name: (created_at, last_hit_at; 0 = never hit). Least recently *hit* order (never hit: by creation) is
# B (200), C (310), A (400), D (500); oldest first would be A, B, C, D; last hit alone (never hit first) B, D, C, A.
AGES = {"A": (100.0, 400.0), "B": (200.0, 0.0), "C": (300.0, 310.0), "D": (500.0, 0.0)}
BYTES = 100  # stored_bytes of each entry


@dataclass
class Pool:
    curator: Curator
    index: QdrantServerIndex
    store: LocalStore
    suggestions: SuggestionIndex
    entries: dict[str, Entry]

    def kept(self) -> set[str]:
        return {name for name, entry in self.entries.items() if self.index.get(entry.id) is not None}

    def files(self, name: str) -> list[bool]:
        entry = self.entries[name]
        keys = [entry.image_key, *(checkpoint_key(entry.id, step) for step in entry.checkpoints)]
        return [self.store.exists(key) for key in keys]


def make_entry(name: str, created_at: float, last_hit_at: float) -> Entry:
    entry_id = str(uuid.uuid4())
    prompt = f"a retention picture of a lighthouse called {name}"
    return Entry(
        id=entry_id, prompt=prompt, negative_prompt="", width=64, height=64, steps=10, guidance_scale=7.5, seed=1,
        model="tiny", fingerprint="fp", image_key=f"{entry_id}.png", created_at=created_at, compat_key="compat",
        exact_key=f"exact-{name}", prompt_norm=prompts.normalize(prompt), hits=int(last_hit_at > 0),
        checkpoints=(3, 6), last_hit_at=last_hit_at, stored_bytes=BYTES,
    )


@pytest.fixture
def stocked(tmp_path: Path) -> Iterator[Callable[..., Pool]]:
    """A curator over the four entries of AGES, each with its image and two checkpoints in the store, under
    the retention settings given."""
    made: list[QdrantServerIndex] = []

    def build(**retention: Any) -> Pool:
        index = QdrantServerIndex(QdrantClient(location=":memory:"), "entries", DIM)
        made.append(index)
        store = LocalStore(tmp_path / f"images{len(made)}")
        suggestions = SuggestionIndex()
        entries = {name: make_entry(name, *times) for name, times in AGES.items()}
        for row, entry in enumerate(entries.values()):
            index.upsert(entry, np.eye(DIM, dtype=np.float32)[row])
            for key in (entry.image_key, *(checkpoint_key(entry.id, step) for step in entry.checkpoints)):
                store.put(key, b"stored bytes")
            suggestions.add(entry)
        settings = Settings(data_dir=tmp_path, **retention)
        curator = Curator(settings, index, store, Metrics(), lambda namespace: suggestions)
        return Pool(curator, index, store, suggestions, entries)

    yield build
    for index in made:
        index.close()


def test_the_entry_cap_evicts_the_least_recently_hit_not_the_oldest(stocked: Callable[..., Pool]) -> None:
    pool = stocked(retention_max_entries=2)
    counts = pool.curator.sweep(now=NOW)
    assert pool.kept() == {"A", "D"}  # A is the oldest, but was hit lately; C was hit, but long ago
    assert counts == {"evicted": 2, "vanished": 0, "entries": 2}
    assert pool.files("B") == [False, False, False] and pool.files("C") == [False, False, False]
    assert pool.files("A") == [True, True, True] and pool.files("D") == [True, True, True]
    assert pool.curator.sweep(now=NOW)["evicted"] == 0  # the cap holds: nothing more goes


def test_the_byte_cap_evicts_the_least_recently_hit_until_the_total_fits(stocked: Callable[..., Pool]) -> None:
    pool = stocked(retention_max_bytes=2 * BYTES + 1)
    assert pool.curator.sweep(now=NOW)["evicted"] == 2
    assert pool.kept() == {"A", "D"}
    exactly = stocked(retention_max_bytes=3 * BYTES)  # a total equal to the cap fits
    assert exactly.curator.sweep(now=NOW)["evicted"] == 1 and exactly.kept() == {"A", "C", "D"}
    under = stocked(retention_max_bytes=3 * BYTES - 1)
    assert under.curator.sweep(now=NOW)["evicted"] == 2 and under.kept() == {"A", "D"}


def test_the_ttl_counts_from_the_last_hit(stocked: Callable[..., Pool]) -> None:
    # 290 s: B (idle 400 s) goes; C, idle exactly 290 s, stays; A, made 500 s ago but hit 200 s ago, stays.
    pool = stocked(retention_ttl_s=290.0)
    assert pool.curator.sweep(now=NOW) == {"evicted": 1, "vanished": 0, "entries": 3}
    assert pool.kept() == {"A", "C", "D"}


def test_an_evicted_prompt_is_no_longer_suggested(stocked: Callable[..., Pool]) -> None:
    pool = stocked(retention_max_entries=3)
    before = [s.prompt for s in pool.suggestions.suggest_now("a retention picture", compat="compat", limit=10)]
    assert pool.entries["B"].prompt in before
    pool.curator.sweep(now=NOW)
    after = [s.prompt for s in pool.suggestions.suggest_now("a retention picture", compat="compat", limit=10)]
    assert pool.entries["B"].prompt not in after and pool.entries["C"].prompt in after


def test_without_retention_settings_nothing_is_evicted(stocked: Callable[..., Pool]) -> None:
    pool = stocked()
    assert pool.curator.sweep(now=NOW + 10**9)["evicted"] == 0 and pool.kept() == set(AGES)
