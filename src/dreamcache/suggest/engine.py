"""The suggestion index: past prompts in memory, answered on every keystroke without a model.

One item per normalised prompt (`prompts.normalize`: case, punctuation, whitespace folded) holds
its entries: summed hits, the newest created_at, per compat key (model, size, negative prompt) the
newest image, its spellings with how often each was asked, and one entry id whose stored vector
stands for it. Prompts under 3 words or 12 characters are not suggested.

Items that are one suggestion form a **group**, shown once, in its most popular spelling: the
retyped forms the cache treats as one text and spelling slips (`groups.py`).

The group's popularity is the sum of its hits, its recency its newest entry. Matching, by tier:

- ``prefix``: the normalised prompt continues the typed text (sorted array + bisect); a trailing
  space or punctuation marks the last word as finished;
- ``words``: every finished typed word occurs in the prompt and the unfinished one starts one of
  its words (inverted word index; a lone word needs 3 characters);
- ``typo``: as prefix or words, but typed words of 5+ letters may carry one typo (`words.py`).
  Typo matches always rank below every exact one;
- ``semantic``: with fewer groups than asked for, neighbours already computed in the background
  (`semantic.py`): of the best text match, else of the typed text's finished words. Never awaited.

Ranking within a tier (exact, then typo and semantic)::

    score = quality + 0.15 * log1p(hits) / log1p(max_hits) + 0.10 * 0.5 ** (age / 7 days)
    quality = 1.0 prefix | 0.8 words | 0.7 typo continuing the text | 0.65 typo words | 0.6 * cosine

When a prefix or word class holds more than 2,000 prompts (the first keystrokes) only its best 64 by
popularity and recency are ranked, found without building the class (`classes.py`).
"""

from __future__ import annotations

import bisect
import math
import re
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from dreamcache import prompts
from dreamcache.index import Entry, Index
from dreamcache.suggest.classes import BIG_CLASS, MatchClasses
from dreamcache.suggest.groups import Grouping
from dreamcache.suggest.semantic import Embed, SemanticCache
from dreamcache.suggest.words import TYPO_MIN_LETTERS, Vocabulary

MIN_WORDS = 3
MIN_CHARS = 12
PREFIX_QUALITY = 1.0
WORDS_QUALITY = 0.8
TYPO_PREFIX_QUALITY = 0.7
TYPO_WORDS_QUALITY = 0.65
SEMANTIC_QUALITY = 0.6
HITS_WEIGHT = 0.15
RECENCY_WEIGHT = 0.10
HALF_LIFE_S = 7 * 86400.0
RANK_POOL = 8  # candidates ranked per class: this many times the limit, by score
TYPO_CANDIDATES = 1000  # typo matching starts from at most this many prompts (else: the first keystrokes)
SEMANTIC_FLOOR = 0.5  # a neighbour below this cosine is no suggestion, just another prompt
MIN_EMBED_CHARS = 4  # finished words shorter than this are not embedded
EXACT_KINDS = ("prefix", "words")
_ENDS_WORD = re.compile(r"[^\w]$")


@dataclass
class _Item:
    norm: str
    prompt: str
    words: tuple[str, ...]  # distinct, interned: a tuple is a third of a frozenset's memory (100k prompts: ~100 MB)
    entry_id: str
    canon: str
    images: dict[str, tuple[float, str]]  # compat_key -> (created_at, image_key) of the newest image
    spellings: dict[str, tuple[float, float]]  # raw prompt -> (times asked, newest created_at)
    asked: float = 0.0  # entries + their hits: how popular this spelling of the group is


@dataclass(frozen=True)
class Suggestion:
    """One ranked suggestion; `image_key` is the thumbnail (for the requested size when instant)."""

    prompt: str
    prompt_norm: str
    score: float
    hits: int
    match: str  # prefix | words | typo | semantic
    instant: bool
    image_key: str | None


def suggestible(prompt_norm: str) -> bool:
    """True when the normalised prompt is long enough to be worth suggesting."""
    return len(prompt_norm) >= MIN_CHARS and prompt_norm.count(" ") + 1 >= MIN_WORDS


class SuggestionIndex(Grouping, MatchClasses):
    """Autocomplete over past prompts, in memory; see the module docstring for matching and ranking."""

    def __init__(
        self, index: Index | None = None, embed: Embed | None = None, *, clock: Callable[[], float] = time.time
    ) -> None:
        """`index` serves semantic neighbours and `embed` the typed text's vector (both in the background)."""
        self.clock = clock
        self.semantic = SemanticCache(index, embed)
        self._items: list[_Item] = []
        self._by_norm: dict[str, int] = {}
        self._hits = np.zeros(1024, dtype=np.float64)
        self._created = np.zeros(1024, dtype=np.float64)
        self._rep = np.zeros(1024, dtype=np.int64)  # item -> the item shown for its group
        self._group_hits = np.zeros(1024, dtype=np.float64)  # at the shown item: the group's summed hits
        self._group_created = np.zeros(1024, dtype=np.float64)  # at the shown item: the group's newest entry
        self._max_hits = 0.0
        self._sorted_norms: list[str] = []
        self._sorted_ids: list[int] = []
        self._norm_rank = np.zeros(0, dtype=np.int64)  # item -> its place in alphabetical order (ties)
        self._postings: dict[str, set[int]] = {}
        self._vocab = Vocabulary()
        self._groups: dict[str, list[int]] = {}  # group key (a canonical text) -> items
        self._group_of: list[str] = []
        self._slip_of: dict[int, int] = {}  # a misspelled prompt -> its correctly spelled twin
        self._class_cache: dict[tuple[str, str], list[int]] = {}
        self._order: np.ndarray | None = None  # items, best group first (`_popularity_order`)
        self._order_max_hits = 0.0
        self._dirty: set[int] = set()  # items whose group changed since the order was built
        self._posting_arrays: dict[str, np.ndarray] = {}
        self._bulk = False
        self._gone: set[int] = set()  # prompts whose every entry was deleted: never suggested

    def __len__(self) -> int:
        return len(self._items)

    def prompts(self) -> list[str]:
        """The stored spelling of every suggestible prompt, in insertion order."""
        return [item.prompt for item in self._items]

    def groups(self) -> int:
        """How many suggestions the prompts collapse into."""
        return len({int(self._rep[i]) for i in range(len(self._items))})

    # -- keeping it current --

    def load(self, entries: Iterable[Entry]) -> int:
        """Add every entry (start-up, e.g. `index.scroll_all()`); returns the number of entries read."""
        count = 0
        self._bulk = True
        self._vocab.bulk()
        try:
            for entry in entries:
                self.add(entry)
                count += 1
        finally:
            self._bulk = False
            self._vocab.settle()
            order = sorted(range(len(self._items)), key=lambda i: self._items[i].norm)
            self._sorted_ids = order
            self._sorted_norms = [self._items[i].norm for i in order]
            for item_id in range(len(self._items)):
                if item_id not in self._slip_of:
                    self._find_slip(item_id)
            self._groups = {}
            for item_id in range(len(self._items)):
                self._groups.setdefault(self._group_key(item_id), []).append(item_id)
            for key in self._groups:
                self._refresh_group(key)
            self._order = None
            self._changed()  # builds the popularity order at start-up, not on the first keystroke
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
            item.entry_id = entry.id
        asked, newest = item.spellings.get(entry.prompt, (0.0, 0.0))
        item.spellings[entry.prompt] = (asked + 1 + entry.hits, max(newest, entry.created_at))
        item.prompt = max(item.spellings.items(), key=lambda kv: (kv[1], kv[0]))[0]
        item.asked += 1 + entry.hits
        current = item.images.get(entry.compat_key)
        if current is None or entry.created_at >= current[0]:
            item.images[entry.compat_key] = (entry.created_at, entry.image_key)
        self._hits[item_id] += entry.hits
        if not self._bulk:
            self._refresh_group(self._group_of[item_id])
            self._changed()

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
        self._refresh_group(self._group_of[item_id])
        self.semantic.forget()
        self._changed()

    def record_hit(self, prompt_norm: str, count: int = 1) -> None:
        """Count a cache hit on an entry with this normalised prompt."""
        item_id = self._by_norm.get(prompt_norm)
        if item_id is not None:
            self._hits[item_id] += count
            self._items[item_id].asked += count
            self._refresh_group(self._group_of[item_id])
            self._changed()

    async def close(self) -> None:
        """Stop the background lookups (shutdown)."""
        await self.semantic.stop()

    def _changed(self) -> None:
        self._class_cache.clear()
        if self._order_stale():  # rebuilt here, on the change, rather than on a keystroke
            self._order = None
            self._popularity_order()

    def _ranks(self) -> np.ndarray:
        if len(self._norm_rank) != len(self._items):  # prompts were added: rebuild
            rank = np.empty(len(self._items), dtype=np.int64)
            rank[np.asarray(self._sorted_ids, dtype=np.int64)] = np.arange(len(self._sorted_ids))
            self._norm_rank = rank
        return self._norm_rank

    def _grow(self) -> None:
        for name in ("_hits", "_created", "_rep", "_group_hits", "_group_created"):
            array = getattr(self, name)
            setattr(self, name, np.concatenate([array, np.zeros_like(array)]))

    def _insert(self, norm: str, entry: Entry) -> int:
        item_id = len(self._items)
        if item_id == len(self._hits):
            self._grow()
        # Interned: a word is one string however many prompts hold it (100k prompts: ~2M words, ~50k distinct).
        words = tuple(dict.fromkeys(map(sys.intern, norm.split())))
        # The group key: the digest of the prompt's canonical text, stored with the entry (`prompts.text_key`),
        # so a start-up load does not recompute 100,000 canonical forms; computed only for entries without one.
        canon = entry.text_key or prompts.text_key(entry.prompt) or norm
        self._items.append(_Item(norm, entry.prompt, words, entry.id, canon, {}, {}))
        self._by_norm[norm] = item_id
        self._created[item_id] = entry.created_at
        self._rep[item_id] = item_id
        for word in words:
            self._postings.setdefault(word, set()).add(item_id)
            self._posting_arrays.pop(word, None)
        self._vocab.add(words)
        self._group_of.append(canon)
        if self._bulk:
            return item_id
        at = bisect.bisect_left(self._sorted_norms, norm)
        self._sorted_norms.insert(at, norm)
        self._sorted_ids.insert(at, item_id)
        if len(self._norm_rank) == item_id:  # shift the ranks rather than rebuild them from the list
            rank = self._norm_rank
            rank[rank >= at] += 1
            self._norm_rank = np.append(rank, at)
        self._find_slip(item_id)
        self._groups.setdefault(self._group_key(item_id), []).append(item_id)
        self._adopt_slips(item_id)
        return item_id

    # -- answering --

    async def suggest(self, text: str, *, compat: str, limit: int) -> list[Suggestion]:
        """Ranked suggestions for the typed text; `compat` decides which are instant. Never waits for a model."""
        return self.suggest_now(text, compat=compat, limit=limit)

    def suggest_now(self, text: str, *, compat: str, limit: int) -> list[Suggestion]:
        """`suggest` without the coroutine: what is known now, plus background lookups queued for later."""
        typed = prompts.normalize(text)
        if not typed or not self._items:
            return []
        now = self.clock()
        complete_last = bool(_ENDS_WORD.search(text))
        ranked: dict[int, tuple[int, float, str]] = {}  # shown item -> (tier, -score, match kind)
        anchor: int | None = None
        for ids, quality, kind in self._lexical(typed, complete_last):
            self._rank(ranked, ids, quality, kind, now, limit)
        if len(ranked) < limit:
            for ids, quality, kind in self._typos(typed, complete_last, ranked):
                self._rank(ranked, ids, quality, kind, now, limit)
        if ranked:
            anchor = min(ranked.items(), key=lambda kv: (kv[1][0], kv[1][1], self._items[kv[0]].norm))[0]
        if len(ranked) < limit:
            for item_id, cosine in self._semantic(typed, complete_last, anchor):
                self._rank(ranked, [item_id], SEMANTIC_QUALITY * cosine, "semantic", now, limit)
        for rep in self._gone.intersection(ranked):
            del ranked[rep]
        best = sorted(ranked.items(), key=lambda kv: (kv[1][0], kv[1][1], self._items[kv[0]].norm))[:limit]
        return [self._suggestion(rep, -neg, kind, compat) for rep, (_, neg, kind) in best]

    def _rank(self, ranked: dict[int, tuple[int, float, str]], ids: list[int], quality: float, kind: str,
              now: float, limit: int) -> None:
        """Add the best candidates to the ranking, one per group (its best match wins)."""
        if not ids:
            return
        tier = 0 if kind in EXACT_KINDS else 1
        order = np.sort(np.fromiter(ids, dtype=np.int64, count=len(ids)))  # the same answer whatever the set order
        reps = self._rep[order]
        scores = self._scores(reps, quality, now)
        keep = RANK_POOL * limit
        if len(reps) > keep:  # only the best can make the answer (groups merge a few candidates at most)
            # Ties go to the alphabetically first prompt, as in the final order (never to an arbitrary one).
            top = np.lexsort((self._ranks()[reps], -scores))[:keep]
            reps, scores = reps[top], scores[top]
        for rep, score in zip(reps.tolist(), scores.tolist(), strict=True):
            current = ranked.get(rep)
            if current is None or (tier, -score) < current[:2]:
                ranked[rep] = (tier, -score, kind)

    def _suggestion(self, rep: int, score: float, kind: str, compat: str) -> Suggestion:
        item = self._items[rep]
        same_text = [m for m in self._groups.get(self._group_of[rep], [rep])
                     if self._items[m].canon == item.canon and m not in self._gone] or [rep]
        images = [self._items[m].images[compat] for m in same_text if compat in self._items[m].images]
        instant = bool(images)
        image = max(images) if images else max(item.images.values(), default=None)
        return Suggestion(
            prompt=item.prompt,
            prompt_norm=item.norm,
            score=round(float(score), 6),
            hits=int(self._group_hits[rep]),
            match=kind,
            instant=instant,
            image_key=image[1] if image else None,
        )

    def _scores(self, reps: np.ndarray, quality: float, now: float) -> np.ndarray:
        """The blend of match quality, popularity and recency for these groups (by their shown items)."""
        popularity = np.log1p(self._group_hits[reps]) / math.log1p(self._max_hits) if self._max_hits > 0 else 0.0
        age = np.maximum(now - self._group_created[reps], 0.0)
        recency = np.exp2(-age / HALF_LIFE_S)
        return np.asarray(quality + HITS_WEIGHT * popularity + RECENCY_WEIGHT * recency, dtype=np.float64)

    def _lexical(self, typed: str, complete_last: bool) -> list[tuple[list[int], float, str]]:
        """Prefix and word candidates (ids), with their match quality and kind."""
        prefix_ids, word_ids = self._classes(typed, complete_last)
        return [(prefix_ids, PREFIX_QUALITY, "prefix"), (word_ids, WORDS_QUALITY, "words")]

    def _typos(self, typed: str, complete_last: bool, ranked: dict[int, tuple[int, float, str]]
               ) -> list[tuple[list[int], float, str]]:
        """Candidates when typed words of 5+ letters carry one typo each (none when no word is that long)."""
        tokens = typed.split()
        partial = None if complete_last else tokens.pop()
        allowed = [frozenset((word, *self._vocab.typos(word))) for word in tokens]
        partial_typos = frozenset(self._vocab.prefix_typos(partial)) if partial else frozenset()
        if all(len(a) == 1 for a in allowed) and not partial_typos:
            return []
        if not tokens and partial is not None and len(partial) < 3:
            return []
        # Start from the most selective typed word, then check the rest on each candidate's words.
        sizes = [sum(self._vocab.df(w) for w in a) for a in allowed]
        if partial is not None:
            sizes.append(sum(self._vocab.df(w) for w in (*partial_typos, *self._vocab.starting(partial)))
                         if len(partial) >= TYPO_MIN_LETTERS else BIG_CLASS * 100)
        start = min(range(len(sizes)), key=sizes.__getitem__)
        if sizes[start] > TYPO_CANDIDATES:
            return []  # the first keystrokes: too broad for typo matching, and exact matches abound
        candidates: set[int] = set()
        if start < len(allowed):
            for word in allowed[start]:
                candidates |= self._postings.get(word, set())
        else:
            assert partial is not None
            candidates = self._words_starting(partial)
            for word in partial_typos:
                candidates |= self._postings.get(word, set())
        found = [i for i in sorted(candidates) if int(self._rep[i]) not in ranked
                 and self._fits(self._items[i].words, allowed, partial, partial_typos)]
        continuing = [i for i in found if self._continues(self._items[i].norm.split(), allowed, partial, partial_typos)]
        rest = sorted(set(found) - set(continuing))
        return [(continuing, TYPO_PREFIX_QUALITY, "typo"), (rest, TYPO_WORDS_QUALITY, "typo")]

    @staticmethod
    def _fits(words: tuple[str, ...], allowed: list[frozenset[str]], partial: str | None,
              partial_typos: frozenset[str]) -> bool:
        if any(a.isdisjoint(words) for a in allowed):
            return False
        if partial is None:
            return True
        return not partial_typos.isdisjoint(words) or any(w.startswith(partial) for w in words)

    @staticmethod
    def _continues(tokens: list[str], allowed: list[frozenset[str]], partial: str | None,
                   partial_typos: frozenset[str]) -> bool:
        """The prompt's words start with the typed ones (up to the typos)."""
        if len(tokens) < len(allowed) + (partial is not None):
            return False
        if any(tokens[i] not in a for i, a in enumerate(allowed)):
            return False
        if partial is None:
            return True
        nxt = tokens[len(allowed)]
        return nxt.startswith(partial) or nxt in partial_typos

    def _semantic(self, typed: str, complete_last: bool, anchor: int | None) -> list[tuple[int, float]]:
        """Neighbours known now (of the best text match, else of the typed finished words); queue what is not."""
        if anchor is not None:
            entry_id = self._items[anchor].entry_id
            found = self.semantic.known("entry", entry_id)
            if found is None:
                self.semantic.want("entry", entry_id)
        else:
            tokens = typed.split()
            if not complete_last:
                tokens.pop()
            found = None
            for end in range(len(tokens), 0, -1):  # the last finished words that have a result
                words = " ".join(tokens[:end])
                if len(words) < MIN_EMBED_CHARS:
                    break
                found = self.semantic.known("text", words)
                if found is not None:
                    break
            finished = " ".join(tokens)
            if len(finished) >= MIN_EMBED_CHARS and self.semantic.known("text", finished) is None:
                self.semantic.want("text", finished)
        out: list[tuple[int, float]] = []
        for norm, cosine in found or []:
            item_id = self._by_norm.get(norm)
            if item_id is not None and cosine >= SEMANTIC_FLOOR:
                out.append((item_id, cosine))
        return out
