"""The exact match classes of the suggestion index (`engine.SuggestionIndex`): which prompts a keystroke's
prefix and words select, and, for a big class, its best few without building it.

- ``prefix``: the prompts whose normalised text continues the typed text: a range of the sorted prompts
  (bisect), so its size is known at once;
- ``words``: every finished typed word occurs in the prompt and the unfinished one starts one of its
  words (a lone word needs 3 characters): an intersection of word postings.

A class of more than BIG_CLASS (2,000) prompts, the first keystrokes, is ranked on its best POOL (64) by
popularity and recency only. Those are read off the **popularity order**: every prompt, best group first
(ties alphabetical, as the ranking breaks them), rebuilt when the index changes after ORDER_DIRTY_MAX (512)
changed prompts or a tenth more hits for the most popular group (never on a keystroke); prompts whose
group changed since (new prompts, new hits) are checked on their own. A
big class is marked in a boolean array (a prefix class from the sorted ranks, a word class from its
words' postings) and its first POOL prompts in that order taken: a few vectorised passes over the
prompts instead of sorting the class. A typed word so short that it starts hundreds of indexed words
("a s") makes a dense class: the order is read until POOL prompts match. The pre-selection is kept until
the index changes.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from dreamcache.suggest.words import Vocabulary

if TYPE_CHECKING:
    from dreamcache.suggest.engine import _Item

BIG_CLASS = 2000  # above this many candidates in a class, rank a pre-selection of its best
POOL = 64  # candidates kept per class when pre-selecting
CLASS_CACHE_MAX = 4096
ORDER_DIRTY_MAX = 512  # prompts changed since the popularity order was built before it is rebuilt
MARK_MAX_WORDS = 256  # an unfinished word starting more indexed words than this is matched by reading the order
SCAN_MAX = 8192  # prompts of the popularity order read for a dense class before building it whole
FEW_WORDS = 64  # an unfinished word that starts at most this many indexed words is matched through their postings
LAST = chr(0x10FFFF)


class MatchClasses:
    """Prefix and word classes of a suggestion index, and the pre-selection of the big ones."""

    # The index's state these read (set by `SuggestionIndex.__init__`; `_dirty` kept by `Grouping`).
    _items: list[_Item]
    _by_norm: dict[str, int]
    _sorted_norms: list[str]
    _sorted_ids: list[int]
    _postings: dict[str, set[int]]
    _vocab: Vocabulary
    _rep: np.ndarray
    _max_hits: float
    _class_cache: dict[tuple[str, str], list[int]]
    _order: np.ndarray | None  # the popularity order (`_popularity_order`)
    _order_max_hits: float
    _dirty: set[int]  # items whose group changed since the order was built
    _posting_arrays: dict[str, np.ndarray]  # a word's postings as an array (dropped when the word is added to)
    clock: Callable[[], float]

    def _scores(self, reps: np.ndarray, quality: float, now: float) -> np.ndarray:
        raise NotImplementedError  # `SuggestionIndex._scores`

    def _ranks(self) -> np.ndarray:
        raise NotImplementedError  # `SuggestionIndex._ranks`

    def _classes(self, typed: str, complete_last: bool) -> tuple[list[int], list[int]]:
        """The prefix and the word class of the typed text (ids; a big class's best POOL)."""
        key = typed + (" " if complete_last else "")
        prefix = self._preselect(("prefix", key), lambda: self._prefix_ids(typed, complete_last),
                                 lambda: self._big_prefix(typed, complete_last))
        words = self._preselect(("words", key), lambda: self._word_ids(typed, complete_last),
                                lambda: self._big_words(typed, complete_last))
        return prefix, words

    def _preselect(self, key: tuple[str, str], make: Callable[[], list[int]],
                   big: Callable[[], list[int] | None]) -> list[int]:
        """All candidates of a small class; the best POOL of a big one (kept until the index changes). `big`
        gives those of a class known to be big without building it (None: not known big, build it)."""
        cached = self._class_cache.get(key)
        if cached is not None:
            return cached
        chosen = big()
        if chosen is None:
            ids = make()
            if len(ids) <= BIG_CLASS:
                return ids
            order = np.sort(np.fromiter(ids, dtype=np.int64, count=len(ids)))
            scores = self._scores(self._rep[order], 0.0, self.clock())
            chosen = order[np.lexsort((self._ranks()[order], -scores))[:POOL]].tolist()
        if len(self._class_cache) >= CLASS_CACHE_MAX:
            self._class_cache.clear()
        self._class_cache[key] = chosen
        return chosen

    # -- building a class whole --

    def _prefix_ids(self, typed: str, complete_last: bool) -> list[int]:
        ids: list[int] = []
        if complete_last and typed in self._by_norm:
            ids.append(self._by_norm[typed])
        lo, hi = self._prefix_range(typed, complete_last)
        return ids + self._sorted_ids[lo:hi]

    def _prefix_range(self, typed: str, complete_last: bool) -> tuple[int, int]:
        key = typed + " " if complete_last else typed
        lo = bisect.bisect_left(self._sorted_norms, key)
        return lo, bisect.bisect_left(self._sorted_norms, key + LAST, lo)

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
            starting = self._vocab.starting(partial)
            if len(starting) <= FEW_WORDS or len(candidates) > BIG_CLASS:
                return list(candidates & self._words_starting(partial, starting))
            prefixed = frozenset(starting)
            return [i for i in candidates if not prefixed.isdisjoint(self._items[i].words)]
        assert partial is not None
        return list(self._words_starting(partial))

    def _words_starting(self, partial: str, starting: list[str] | None = None) -> set[int]:
        """Items with a word starting with `partial` (`starting`: those words, when already looked up)."""
        found: set[int] = set()
        for word in self._vocab.starting(partial) if starting is None else starting:
            found |= self._postings[word]
        return found

    # -- the best of a big class, without building it --

    def _big_prefix(self, typed: str, complete_last: bool) -> list[int] | None:
        lo, hi = self._prefix_range(typed, complete_last)
        if hi - lo <= BIG_CLASS:
            return None
        ranks = self._ranks()
        member = (ranks >= lo) & (ranks < hi)
        if complete_last and typed in self._by_norm:
            member[self._by_norm[typed]] = True
        return self._best_marked(member)

    def _big_words(self, typed: str, complete_last: bool) -> list[int] | None:
        words = list(dict.fromkeys(typed.split()))
        partial = None if complete_last else words.pop()
        if not words and (partial is None or len(partial) < 3):
            return None  # no class: a lone word needs 3 characters
        count = len(self._items)
        starting = self._vocab.starting(partial) if partial is not None else []
        if words and min(len(self._postings.get(word, ())) for word in words) <= BIG_CLASS:
            return None  # built whole from its rarest word's few prompts
        if not words and sum(self._vocab.df(w) for w in starting) <= BIG_CLASS:
            return None  # a lone unfinished word in few prompts
        member = np.ones(count, dtype=bool)
        for word in words:
            member &= self._marked([word], count)
        if len(starting) > MARK_MAX_WORDS:  # a short unfinished word ("a s"): test it on the finished words' class
            prefixed = frozenset(starting)
            items = self._items

            def starts(item_id: int) -> bool:
                return not prefixed.isdisjoint(items[item_id].words)

            return self._best_marked(member, starts) if words else self._best_read(starts)
        if partial is not None:
            member &= self._marked(starting, count)
        return self._best_marked(member)

    def _marked(self, words: list[str], count: int) -> np.ndarray:
        """The items holding any of the words, as a boolean array."""
        mark = np.zeros(count, dtype=bool)
        for word in words:
            array = self._posting_arrays.get(word)
            if array is None:
                posting = self._postings.get(word, set())
                array = self._posting_arrays[word] = np.fromiter(posting, dtype=np.int64, count=len(posting))
            mark[array] = True
        return mark

    def _best_marked(self, member: np.ndarray, test: Callable[[int], bool] | None = None) -> list[int]:
        """The best POOL marked items (that pass `test`, tried in order until POOL do) by popularity and recency."""
        order = self._popularity_order()
        dirty = np.fromiter(sorted(self._dirty), dtype=np.int64, count=len(self._dirty))
        if dirty.size:
            member_in_order = member.copy()
            member_in_order[dirty] = False
        else:
            member_in_order = member
        marked = order[member_in_order[order]]
        if test is None:
            head = marked[:POOL].tolist()
        else:
            head = []
            for start in range(0, len(marked), 1024):
                head += [i for i in marked[start : start + 1024].tolist() if test(i)]
                if len(head) >= POOL:
                    break
        changed = [i for i in dirty[member[dirty]].tolist() if test is None or test(i)]
        return self._with_changed(head[:POOL], changed)

    def _best_read(self, matches: Callable[[int], bool]) -> list[int] | None:
        """The best POOL matching items, reading the order until POOL match; None when its first SCAN_MAX items
        hold fewer (not dense after all: build the class whole)."""
        order = self._popularity_order()
        dirty = self._dirty
        found: list[int] = []
        for start in range(0, min(len(order), SCAN_MAX), 1024):
            found += [i for i in order[start : start + 1024].tolist() if i not in dirty and matches(i)]
            if len(found) >= POOL:
                break
        else:
            if len(order) > SCAN_MAX:
                return None
        return self._with_changed(found[:POOL], sorted(i for i in dirty if matches(i)))

    def _with_changed(self, head: list[int], changed: list[int]) -> list[int]:
        """The best POOL of the order's head and the changed items, by their scores now."""
        if not changed:
            return head
        pool = np.asarray(head + changed, dtype=np.int64)
        scores = self._scores(self._rep[pool], 0.0, self.clock())
        return pool[np.lexsort((self._ranks()[pool], -scores))[:POOL]].tolist()

    def _order_stale(self) -> bool:
        """Whether the popularity order must be rebuilt: ORDER_DIRTY_MAX changed items, or the most popular group's
        hits (which scale everyone's popularity against recency) grown by a tenth since it was built."""
        return (self._order is None or len(self._dirty) > ORDER_DIRTY_MAX
                or self._max_hits > 1.1 * self._order_max_hits + 1.0)

    def _popularity_order(self) -> np.ndarray:
        """Every item, best group first by popularity and recency, ties alphabetical (as `_rank` orders them).
        Changed items since it was built are in `_dirty`; `_changed` rebuilds it when stale, not a keystroke."""
        if self._order is None:
            ranks = self._ranks()
            alphabetical = np.empty(len(ranks), dtype=np.int64)
            alphabetical[ranks] = np.arange(len(ranks))
            scores = self._scores(self._rep[alphabetical], 0.0, self.clock())
            self._order = alphabetical[np.argsort(-scores, kind="stable")]  # ties stay alphabetical
            self._order_max_hits = self._max_hits
            self._dirty.clear()
        return self._order
