"""Prompt autocomplete: an in-memory suggestion index, one item per normalised prompt.

Called on every keystroke, so the common path never embeds text and never touches Qdrant: it is
a few dictionary, bisect and set operations on the app's own memory. The index is loaded from the
vector index at start-up (`load`) and kept current by the cache service (`add` on every
write-back, `record_hit` on every cache hit).

One item per normalised prompt (`prompts.normalize`: case, punctuation, whitespace folded)
aggregates its entries: summed hits, newest created_at, for each compat key (model, size,
negative prompt) the newest image, and the id of one entry whose stored vector stands for it.
Prompts whose normalised form has fewer than 3 words or 12 characters are not suggested.

Candidates, by match kind:

- ``prefix``: the normalised prompt starts with the normalised typed text (a sorted list and
  bisect). If the typed text ends with a space or punctuation its last word is complete.
- ``words``: every complete typed word occurs in the prompt, in any order, and (unless the text
  ends with a space) the last typed word is a prefix of one of its words (an inverted index from
  word to items; a single typed word needs at least 3 characters to match this way).
- ``semantic``: when fewer than `limit` lexical candidates exist, the nearest stored prompts of the
  best lexical candidate, by its stored vector (Qdrant nearest; cached per item for 5 minutes, so
  a prompt's neighbours cost one index query per 5 minutes). The keystroke waits for that query,
  so the same text and cache always give the same suggestions (a bound of 2 s only cuts off a
  stuck index). With no lexical candidate at all, the typed text itself is embedded. Neighbours
  below cosine 0.5 are never offered: they are other prompts, not suggestions.

Ranking (documented in the README, section "Autocomplete")::

    score = quality + 0.15 * log1p(hits) / log1p(max_hits) + 0.10 * 0.5 ** (age / 7 days)
    quality = 1.0 (prefix) | 0.8 (words) | 0.6 * cosine (semantic)

so a continuation of the typed text always ranks above a mere word match, and popularity and
recency order suggestions within a kind. When a prefix or word class holds more than 2,000
prompts (the first one or two keystrokes) its best 64 by popularity and recency are cached for
2 seconds, which keeps the first keystrokes as cheap as the later ones.
"""

from __future__ import annotations

import asyncio
import bisect
import functools
import logging
import math
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from dreamcache import prompts
from dreamcache.index import Entry, Index

log = logging.getLogger(__name__)

MIN_WORDS = 3
MIN_CHARS = 12
PREFIX_QUALITY = 1.0
WORDS_QUALITY = 0.8
SEMANTIC_QUALITY = 0.6
HITS_WEIGHT = 0.15
RECENCY_WEIGHT = 0.10
HALF_LIFE_S = 7 * 86400.0
BIG_CLASS = 2000  # above this many candidates in a class, rank a cached pre-selection
POOL = 64  # candidates kept per class when pre-selecting
CLASS_CACHE_TTL_S = 2.0
CLASS_CACHE_MAX = 4096
NEIGHBOURS = 24
NEIGHBOURS_TTL_S = 300.0
# The same text and the same cache give the same suggestions: semantic lookups are awaited (these bounds only
# cut off a stuck embedder or index), not raced against a latency budget that made answers depend on timing.
EMBED_BUDGET_S = 2.0
SEMANTIC_BUDGET_S = 2.0
SEMANTIC_FLOOR = 0.5  # a neighbour below this cosine is no suggestion, just another prompt
_LAST = chr(0x10FFFF)
_ENDS_WORD = re.compile(r"[^\w]$")

Embed = Callable[[str], Awaitable[Any]]


@dataclass
class _Item:
    norm: str
    prompt: str
    words: tuple[str, ...]
    entry_id: str
    images: dict[str, tuple[float, str]]  # compat_key -> (created_at, image_key) of the newest image
    neighbours: list[tuple[int, float]] | None = None
    neighbours_at: float = 0.0
    pending: asyncio.Future[list[tuple[int, float]]] | None = None


@dataclass(frozen=True)
class Suggestion:
    """One ranked suggestion; `image_key` is the thumbnail (for the requested size when instant)."""

    prompt: str
    prompt_norm: str
    score: float
    hits: int
    match: str  # prefix | words | semantic
    instant: bool
    image_key: str | None


@dataclass
class _Cached:
    at: float
    ids: list[int] = field(default_factory=list)


def suggestible(prompt_norm: str) -> bool:
    """True when the normalised prompt is long enough to be worth suggesting."""
    return len(prompt_norm) >= MIN_CHARS and prompt_norm.count(" ") + 1 >= MIN_WORDS


class SuggestionIndex:
    """Autocomplete over past prompts, in memory; see the module docstring for matching and ranking."""

    def __init__(
        self,
        index: Index | None = None,
        embed: Embed | None = None,
        *,
        clock: Callable[[], float] = time.time,
        embed_budget_s: float = EMBED_BUDGET_S,
        semantic_budget_s: float = SEMANTIC_BUDGET_S,
    ) -> None:
        """`index` serves semantic neighbours and `embed` the no-lexical-match fallback; both optional."""
        self.index = index
        self.embed = embed
        self.clock = clock
        self.embed_budget_s = embed_budget_s
        self.semantic_budget_s = semantic_budget_s
        self._items: list[_Item] = []
        self._by_norm: dict[str, int] = {}
        self._hits = np.zeros(1024, dtype=np.float64)
        self._created = np.zeros(1024, dtype=np.float64)
        self._max_hits = 0.0
        self._sorted_norms: list[str] = []
        self._sorted_ids: list[int] = []
        self._postings: dict[str, set[int]] = {}
        self._vocab: list[str] = []
        self._class_cache: dict[tuple[str, str], _Cached] = {}
        self._sorting = True
        self._gone: set[int] = set()  # prompts whose every entry was deleted: never suggested

    def __len__(self) -> int:
        return len(self._items)

    def prompts(self) -> list[str]:
        """The shown spelling of every suggestible prompt, in insertion order."""
        return [item.prompt for item in self._items]

    # -- keeping it current --

    def load(self, entries: Iterable[Entry]) -> int:
        """Add every entry (start-up, e.g. `index.scroll_all()`); returns the number of entries read."""
        count = 0
        self._sorting = False  # sort once at the end instead of one insertion at a time
        try:
            for entry in entries:
                self.add(entry)
                count += 1
        finally:
            self._sorting = True
            order = sorted(range(len(self._items)), key=lambda i: self._items[i].norm)
            self._sorted_ids = order
            self._sorted_norms = [self._items[i].norm for i in order]
            self._vocab = sorted(self._postings)
            self._class_cache.clear()
        return count

    def add(self, entry: Entry) -> None:
        """Account for one stored entry (a write-back or a start-up load)."""
        norm = entry.prompt_norm or prompts.normalize(entry.prompt)
        if not suggestible(norm):
            return
        item_id = self._by_norm.get(norm)
        if item_id is None:
            item_id = self._insert(norm, entry)
        self._gone.discard(item_id)
        item = self._items[item_id]
        if entry.created_at >= self._created[item_id]:
            self._created[item_id] = entry.created_at
            item.prompt = entry.prompt
            item.entry_id = entry.id
        current = item.images.get(entry.compat_key)
        if current is None or entry.created_at >= current[0]:
            item.images[entry.compat_key] = (entry.created_at, entry.image_key)
        if entry.hits:
            self._bump(item_id, entry.hits)

    def remove(self, entry: Entry, remaining: Iterable[Entry]) -> None:
        """Forget a deleted entry: its prompt keeps the pictures of `remaining` (the prompt's other entries),
        and is no longer suggested when none is left."""
        norm = entry.prompt_norm or prompts.normalize(entry.prompt)
        item_id = self._by_norm.get(norm)
        if item_id is None:
            return
        item = self._items[item_id]
        item.images = {}
        for other in remaining:
            if other.id != entry.id:
                current = item.images.get(other.compat_key)
                if current is None or other.created_at >= current[0]:
                    item.images[other.compat_key] = (other.created_at, other.image_key)
        if item.images:
            self._gone.discard(item_id)
        else:
            self._gone.add(item_id)
        self._class_cache.clear()

    def record_hit(self, prompt_norm: str, count: int = 1) -> None:
        """Count a cache hit on an entry with this normalised prompt."""
        item_id = self._by_norm.get(prompt_norm)
        if item_id is not None:
            self._bump(item_id, count)

    def _bump(self, item_id: int, count: int) -> None:
        self._hits[item_id] += count
        self._max_hits = max(self._max_hits, float(self._hits[item_id]))

    def _insert(self, norm: str, entry: Entry) -> int:
        item_id = len(self._items)
        if item_id == len(self._hits):
            self._hits = np.concatenate([self._hits, np.zeros_like(self._hits)])
            self._created = np.concatenate([self._created, np.zeros_like(self._created)])
        words = tuple(dict.fromkeys(norm.split()))
        self._items.append(_Item(norm, entry.prompt, words, entry.id, {}))
        self._by_norm[norm] = item_id
        self._created[item_id] = entry.created_at
        if self._sorting:
            at = bisect.bisect_left(self._sorted_norms, norm)
            self._sorted_norms.insert(at, norm)
            self._sorted_ids.insert(at, item_id)
        for word in words:
            posting = self._postings.get(word)
            if posting is None:
                self._postings[word] = posting = set()
                if self._sorting:
                    bisect.insort(self._vocab, word)
            posting.add(item_id)
        self._class_cache.clear()
        return item_id

    # -- answering --

    async def suggest(self, text: str, *, compat: str, limit: int) -> list[Suggestion]:
        """Ranked suggestions for the typed text; `compat` decides which are instant."""
        typed = prompts.normalize(text)
        if not typed or not self._items:
            return []
        now = self.clock()
        complete_last = bool(_ENDS_WORD.search(text))
        ranked: dict[int, tuple[float, str, float]] = {}  # item -> (score, match, quality)
        for ids, quality, kind in self._lexical(typed, complete_last, now):
            for item_id, score in zip(ids, self._scores(ids, quality, now), strict=True):
                if item_id not in ranked:
                    ranked[item_id] = (score, kind, quality)
        if len(ranked) < limit:
            for item_id, cosine in await self._semantic(ranked, typed):
                if item_id not in ranked and cosine >= SEMANTIC_FLOOR:
                    quality = SEMANTIC_QUALITY * max(cosine, 0.0)
                    ranked[item_id] = (float(self._scores([item_id], quality, now)[0]), "semantic", quality)
        for item_id in self._gone.intersection(ranked):
            del ranked[item_id]
        best = sorted(ranked.items(), key=lambda kv: kv[1][0], reverse=True)[:limit]
        return [self._suggestion(item_id, score, kind, compat) for item_id, (score, kind, _) in best]

    def _suggestion(self, item_id: int, score: float, kind: str, compat: str) -> Suggestion:
        item = self._items[item_id]
        image = item.images.get(compat)
        instant = image is not None
        if image is None and item.images:
            image = max(item.images.values())
        return Suggestion(
            prompt=item.prompt,
            prompt_norm=item.norm,
            score=round(float(score), 6),
            hits=int(self._hits[item_id]),
            match=kind,
            instant=instant,
            image_key=image[1] if image else None,
        )

    def _scores(self, ids: list[int], quality: float, now: float) -> np.ndarray:
        """The blend of match quality, popularity and recency for these items."""
        index = np.asarray(ids, dtype=np.int64)
        popularity = np.log1p(self._hits[index]) / math.log1p(self._max_hits) if self._max_hits > 0 else 0.0
        age = np.maximum(now - self._created[index], 0.0)
        recency = np.exp2(-age / HALF_LIFE_S)
        return np.asarray(quality + HITS_WEIGHT * popularity + RECENCY_WEIGHT * recency, dtype=np.float64)

    def _preselect(self, key: tuple[str, str], make: Callable[[], list[int]], now: float) -> list[int]:
        """All candidates of a small class; the best POOL (cached briefly) of a big one."""
        cached = self._class_cache.get(key)
        if cached is not None and now - cached.at < CLASS_CACHE_TTL_S:
            return cached.ids
        ids = make()
        if len(ids) <= BIG_CLASS:
            return ids
        scores = self._scores(ids, 0.0, now)
        top = np.argpartition(-scores, POOL)[:POOL]
        chosen = [ids[i] for i in top.tolist()]
        if len(self._class_cache) >= CLASS_CACHE_MAX:
            self._class_cache.clear()
        self._class_cache[key] = _Cached(now, chosen)
        return chosen

    def _lexical(self, typed: str, complete_last: bool, now: float) -> list[tuple[list[int], float, str]]:
        """Prefix and word candidates (ids), with their match quality and kind."""
        prefix_ids = self._preselect(("prefix", typed + (" " if complete_last else "")),
                                     lambda: self._prefix_ids(typed, complete_last), now)
        word_ids = self._preselect(("words", typed + (" " if complete_last else "")),
                                   lambda: self._word_ids(typed, complete_last), now)
        return [(prefix_ids, PREFIX_QUALITY, "prefix"), (word_ids, WORDS_QUALITY, "words")]

    def _prefix_ids(self, typed: str, complete_last: bool) -> list[int]:
        ids: list[int] = []
        key = typed + " " if complete_last else typed
        if complete_last and typed in self._by_norm:
            ids.append(self._by_norm[typed])
        lo = bisect.bisect_left(self._sorted_norms, key)
        hi = bisect.bisect_left(self._sorted_norms, key + _LAST, lo)
        return ids + self._sorted_ids[lo:hi]

    def _word_ids(self, typed: str, complete_last: bool) -> list[int]:
        words = list(dict.fromkeys(typed.split()))
        partial = None if complete_last else words.pop()
        if not words and (partial is None or len(partial) < 3):
            return []
        if words:
            postings = sorted((self._postings.get(word, set()) for word in words), key=len)
            candidates = set(postings[0])
            for posting in postings[1:]:
                candidates &= posting
                if not candidates:
                    return []
            if partial is None:
                return list(candidates)
            if len(candidates) <= BIG_CLASS:
                return [i for i in candidates if any(w.startswith(partial) for w in self._items[i].words)]
            return list(candidates & self._words_starting(partial))
        assert partial is not None
        return list(self._words_starting(partial))

    def _words_starting(self, partial: str) -> set[int]:
        """Items with a word starting with `partial`."""
        lo = bisect.bisect_left(self._vocab, partial)
        hi = bisect.bisect_left(self._vocab, partial + _LAST, lo)
        found: set[int] = set()
        for word in self._vocab[lo:hi]:
            found |= self._postings[word]
        return found

    async def _semantic(self, ranked: dict[int, tuple[float, str, float]], typed: str) -> list[tuple[int, float]]:
        """Nearest stored prompts of the best lexical candidate, else of the typed text (time-boxed)."""
        if self.index is None:
            return []
        if ranked:
            anchor = max(ranked.items(), key=lambda kv: kv[1][0])[0]
            item = self._items[anchor]
            if item.neighbours is not None and self.clock() - item.neighbours_at <= NEIGHBOURS_TTL_S:
                return item.neighbours
            if item.pending is None:
                item.pending = asyncio.ensure_future(asyncio.to_thread(self._neighbours_of, item.entry_id))
                item.pending.add_done_callback(functools.partial(self._settle, item))
            try:
                # Wait a little; if Qdrant is slower the answer goes without neighbours and the
                # lookup finishes in the background for the next keystroke.
                return await asyncio.wait_for(asyncio.shield(item.pending), self.semantic_budget_s)
            except TimeoutError:
                return []
            except Exception:
                return []
        if self.embed is None:
            return []
        try:
            vector = await asyncio.wait_for(self.embed(typed), self.embed_budget_s)
        except TimeoutError:
            return []
        return await asyncio.to_thread(self._nearest, np.asarray(vector, dtype=np.float32).tolist())

    def _settle(self, item: _Item, task: asyncio.Future[list[tuple[int, float]]]) -> None:
        """Keep a finished neighbour lookup (an empty list after an error, retried after the TTL)."""
        item.pending = None
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            log.warning("autocomplete neighbours of %r failed: %s", item.norm, error)
        item.neighbours = [] if error is not None else task.result()
        item.neighbours_at = self.clock()

    def _neighbours_of(self, entry_id: str) -> list[tuple[int, float]]:
        """Nearest items of a stored entry, by its stored vector (one thread hop for both index calls)."""
        assert self.index is not None
        vector = self.index.vector(entry_id)
        return self._nearest(vector) if vector is not None else []

    def _nearest(self, vector: list[float]) -> list[tuple[int, float]]:
        assert self.index is not None
        found: list[tuple[int, float]] = []
        for match in self.index.nearest(vector, limit=NEIGHBOURS):
            item_id = self._by_norm.get(match.entry.prompt_norm)
            if item_id is not None and all(item_id != seen for seen, _ in found):
                found.append((item_id, match.score))
        return found


def load_timed(suggestions: SuggestionIndex, index: Index) -> tuple[int, float]:
    """Load every entry and return (entries read, seconds taken)."""
    started = time.perf_counter()
    count = suggestions.load(index.scroll_all())
    return count, time.perf_counter() - started


def extend(suggestions: SuggestionIndex, entries: Iterable[Entry]) -> None:
    """Add many entries (tests and benchmarks)."""
    for entry in entries:
        suggestions.add(entry)
