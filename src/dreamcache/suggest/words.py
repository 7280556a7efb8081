"""The word side of autocomplete: the vocabulary of indexed words and their one-typo variants.

Typo tolerance follows Meilisearch's and Typesense's defaults for one typo: a typed word of 5 or
more letters matches indexed words at Damerau-Levenshtein distance 1 (one insertion, deletion,
substitution or swap of two neighbours), and, as in Meilisearch, an edit of the first letter
costs two typos, so the first letter must be right. Variants are generated (not searched for):
about 70 per letter of the word, each one dictionary or bisect probe, cached per word.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable

TYPO_MIN_LETTERS = 5  # a typed word needs this many letters before one typo is forgiven
_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
_LAST = chr(0x10FFFF)
_CACHE_MAX = 8192


def one_typo(word: str) -> set[str]:
    """Every string at Damerau-Levenshtein distance 1 from `word` that keeps its first letter."""
    head, n = word[:1], len(word)
    out: set[str] = set()
    for i in range(1, n + 1):
        left, right = word[:i], word[i:]
        if right:
            out.add(left + right[1:])  # delete word[i]
            if len(right) > 1:
                out.add(left + right[1] + right[0] + right[2:])  # swap word[i], word[i+1]
            for ch in _ALPHABET:
                if ch != right[0]:
                    out.add(left + ch + right[1:])  # substitute word[i]
        for ch in _ALPHABET:
            out.add(left + ch + right)  # insert after word[i-1]
    out.discard(word)
    return {variant for variant in out if variant.startswith(head)}


def one_typo_apart(a: str, b: str) -> bool:
    """True when `b` is `a` with one insertion, deletion, substitution or swap of neighbours, first letter kept."""
    if a == b or a[:1] != b[:1] or abs(len(a) - len(b)) > 1:
        return False
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:] or (a[i:i + 2] == b[i:i + 2][::-1] and a[i + 2:] == b[i + 2:])
    return a[i + 1:] == b[i:] if len(a) > len(b) else a[i:] == b[i + 1:]


class Vocabulary:
    """Indexed words with their document frequency (how many prompts hold them), sorted for prefix probes."""

    def __init__(self) -> None:
        self._df: dict[str, int] = {}
        self._sorted: list[str] = []
        self._sorting = True
        self._typos: dict[str, tuple[str, ...]] = {}
        self._prefix_typos: dict[str, tuple[str, ...]] = {}

    def __contains__(self, word: str) -> bool:
        return word in self._df

    def __len__(self) -> int:
        return len(self._df)

    def df(self, word: str) -> int:
        """How many prompts hold the word (0 when none)."""
        return self._df.get(word, 0)

    def add(self, words: Iterable[str]) -> None:
        """Count one prompt's distinct words."""
        for word in words:
            count = self._df.get(word)
            if count is None:
                self._df[word] = 1
                if self._sorting:
                    bisect.insort(self._sorted, word)
                self._typos.clear()
                self._prefix_typos.clear()
            else:
                self._df[word] = count + 1

    def bulk(self) -> None:
        """Stop keeping the sorted list while many prompts are added (`settle` sorts once)."""
        self._sorting = False

    def settle(self) -> None:
        """Sort once after `bulk` adds."""
        self._sorting = True
        self._sorted = sorted(self._df)
        self._typos.clear()
        self._prefix_typos.clear()

    def starting(self, prefix: str) -> list[str]:
        """Indexed words starting with `prefix`, in order."""
        lo = bisect.bisect_left(self._sorted, prefix)
        hi = bisect.bisect_left(self._sorted, prefix + _LAST, lo)
        return self._sorted[lo:hi]

    def typos(self, word: str) -> tuple[str, ...]:
        """Indexed words one typo away from a typed, finished word (none under TYPO_MIN_LETTERS letters)."""
        if len(word) < TYPO_MIN_LETTERS:
            return ()
        found = self._typos.get(word)
        if found is None:
            found = tuple(sorted(v for v in one_typo(word) if v in self._df))
            self._remember(self._typos, word, found)
        return found

    def prefix_typos(self, partial: str) -> tuple[str, ...]:
        """Indexed words that start with one typo of a typed, unfinished word, but not with the word itself."""
        if len(partial) < TYPO_MIN_LETTERS:
            return ()
        found = self._prefix_typos.get(partial)
        if found is None:
            words: set[str] = set()
            table = self._sorted
            for variant in one_typo(partial):
                at = bisect.bisect_left(table, variant)
                if at < len(table) and table[at].startswith(variant):
                    words.update(w for w in self.starting(variant) if not w.startswith(partial))
            found = tuple(sorted(words))
            self._remember(self._prefix_typos, partial, found)
        return found

    def rare_variants(self, word: str, most: int) -> list[str]:
        """Indexed words one typo away from `word` that are in at most `most` prompts."""
        return sorted(v for v in one_typo(word) if 0 < self._df.get(v, 0) <= most)

    @staticmethod
    def _remember(table: dict[str, tuple[str, ...]], key: str, value: tuple[str, ...]) -> None:
        if len(table) >= _CACHE_MAX:
            table.clear()
        table[key] = value
