"""Near-duplicate groups of the suggestion index (`engine.SuggestionIndex`): the rules that merge prompts.

Items that are one suggestion form a **group**, shown once, in its most popular spelling:

- the retyped forms the cache treats as one text (`matching.canonical`: articles, tag order,
  words split or joined differently);
- a **spelling slip**: the same text but one word (4+ letters) that is rare in the index (in at
  most 10 prompts) and one typo away (first letter kept) from a word in at least twice as many
  prompts: "fresh snwo" joins "fresh snow". The slip is never the group's shown spelling; two
  common words ("horse", "house") are never slips of each other.

The group's popularity is the sum of its hits, its recency its newest entry; `_refresh_group` keeps
both at the shown item. `Grouping` holds the rules; `engine.SuggestionIndex` (which owns the items,
the word postings and the vocabulary they read) mixes it in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from dreamcache.suggest.words import Vocabulary, one_typo_apart

if TYPE_CHECKING:
    from dreamcache.suggest.engine import _Item

SLIP_MIN_LETTERS = 4  # a word this long can be a spelling slip of another
SLIP_MAX_PROMPTS = 10  # a slip is a rare word: in at most this many prompts ...
SLIP_RATIO = 2  # ... and its twin's word in at least twice as many
SLIP_CANDIDATES = 500  # prompts sharing the two rarest other words; more: a template, not a retyped prompt


class Grouping:
    """Groups of a suggestion index: retyped forms (one canonical text) and spelling slips."""

    # The index's state these rules read and keep current (set by `SuggestionIndex.__init__`).
    _items: list[_Item]
    _vocab: Vocabulary
    _postings: dict[str, set[int]]
    _gone: set[int]  # prompts whose every entry was deleted
    _hits: np.ndarray
    _created: np.ndarray
    _rep: np.ndarray  # item -> the item shown for its group
    _group_hits: np.ndarray  # at the shown item: the group's summed hits
    _group_created: np.ndarray  # at the shown item: the group's newest entry
    _max_hits: float
    _groups: dict[str, list[int]]  # group key (a canonical text) -> items
    _group_of: list[str]
    _slip_of: dict[int, int]  # a misspelled prompt -> its correctly spelled twin
    _dirty: set[int]  # items whose group's shown item or stats changed (the popularity order is stale for them)

    def _group_key(self, item_id: int) -> str:
        twin = self._slip_of.get(item_id)
        key = self._items[twin if twin is not None else item_id].canon
        self._group_of[item_id] = key
        return key

    def _twins(self, item_id: int, rare_only: bool) -> list[tuple[int, str, str]]:
        """Stored prompts equal to this one but for one word (4+ letters) one typo away: (item, its word, ours)."""
        norm = self._items[item_id].norm
        tokens = norm.split()
        found: list[tuple[int, str, str]] = []
        ranked: list[str] | None = None  # the prompt's distinct words, rarest first (sorted once, when needed)
        for at, word in enumerate(tokens):
            if len(word) < SLIP_MIN_LETTERS or (rare_only and self._vocab.df(word) > SLIP_MAX_PROMPTS):
                continue
            if ranked is None:
                ranked = sorted(set(tokens), key=lambda w: (self._vocab.df(w), w))
            # The two rarest words of the others (this word too if it appears elsewhere in the prompt).
            others = [w for w in ranked if w != word or tokens.count(word) > 1][:2]
            if not others:
                continue
            candidates = self._postings.get(others[0], set())
            if len(others) > 1:
                candidates = candidates & self._postings.get(others[1], set())
            if len(candidates) > SLIP_CANDIDATES:
                continue
            for other in sorted(candidates):
                their_norm = self._items[other].norm
                if abs(len(their_norm) - len(norm)) > 1:
                    continue  # one typo in one word changes the length by one character at most
                theirs = their_norm.split()
                if (other != item_id and len(theirs) == len(tokens) and theirs[:at] == tokens[:at]
                        and theirs[at + 1:] == tokens[at + 1:] and one_typo_apart(word, theirs[at])):
                    found.append((other, theirs[at], word))
        return found

    def _is_slip(self, word: str, of: str) -> bool:
        """`word` is rare and the other spelling at least twice as common: a slip, not another word."""
        df = self._vocab.df(word)
        return df <= SLIP_MAX_PROMPTS and self._vocab.df(of) >= SLIP_RATIO * df

    def _find_slip(self, item_id: int) -> None:
        """Mark the item a slip of a stored prompt that differs in one rare word, one typo away."""
        for other, theirs, ours in self._twins(item_id, rare_only=True):
            if other not in self._slip_of and self._is_slip(ours, theirs):
                self._slip_of[item_id] = other
                return

    def _adopt_slips(self, item_id: int) -> None:
        """A new prompt is a slip of a stored twin, or stored prompts are slips of it: group them."""
        for other, theirs, ours in self._twins(item_id, rare_only=False):
            if item_id in self._slip_of or other in self._slip_of or not self._is_slip(theirs, ours):
                continue
            self._slip_of[other] = item_id
            self._regroup(other)
        # Its words are now in more prompts: a rare spelling of one of them may have become a slip.
        for word in self._items[item_id].words:
            if len(word) < SLIP_MIN_LETTERS:
                continue
            for rare in self._vocab.rare_variants(word, SLIP_MAX_PROMPTS):
                for other in sorted(self._postings.get(rare, ())):
                    if other == item_id or other in self._slip_of:
                        continue
                    self._find_slip(other)
                    if other in self._slip_of:
                        self._regroup(other)
        self._refresh_group(self._group_of[item_id])

    def _regroup(self, item_id: int) -> None:
        """Move an item that just became a slip into its twin's group."""
        old = self._group_of[item_id]
        self._groups[old].remove(item_id)
        self._groups.setdefault(self._group_key(item_id), []).append(item_id)
        self._refresh_group(old)
        self._refresh_group(self._group_of[item_id])

    def _refresh_group(self, key: str) -> None:
        """Choose the group's shown item (live, correctly spelled, most asked, newest) and sum its stats."""
        members = self._groups.get(key)
        if not members:
            self._groups.pop(key, None)
            return
        live = [m for m in members if m not in self._gone] or members
        spelled = [m for m in live if m not in self._slip_of] or live
        rep = max(spelled, key=lambda m: (self._items[m].asked, self._created[m], -m))
        index = np.asarray(members, dtype=np.int64)
        self._rep[index] = rep
        self._group_hits[rep] = float(self._hits[index].sum())
        self._group_created[rep] = float(self._created[index].max())
        self._max_hits = max(self._max_hits, float(self._group_hits[rep]))
        self._dirty.update(members)
