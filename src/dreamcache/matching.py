"""The hit decision beyond cosine: cheap text checks that veto a candidate cosine would accept.

MiniLM cosine measures shared wording: "a dog chasing a cat" and "a cat chasing a dog" score about
0.97. The word-order guard rejects a candidate made of exactly the same words as the request in a
different order, unless only whole comma-separated tags moved (tag order is harmless in Stable
Diffusion prompts). A candidate that is the request up to case, punctuation, spacing and tag order
is always accepted, whatever its cosine (moving a tag can cost MiniLM 0.03).
Measured on public data in docs/cache-quality.md (`make eval`).
"""

from __future__ import annotations

import re

from dreamcache.prompts import normalize

_TAG_SEPARATORS = re.compile(r"[,;|\n]+")


def tags(prompt: str) -> list[str]:
    """The prompt's comma-separated parts, normalised, in order (empty parts dropped)."""
    return [part for part in (normalize(piece) for piece in _TAG_SEPARATORS.split(prompt)) if part]


def same_words_reordered(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


def same_tags(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing and the order of whole tags."""
    return normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate))


def accept(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    if same_tags(query, candidate):
        return True
    return similarity >= threshold and not same_words_reordered(query, candidate)
