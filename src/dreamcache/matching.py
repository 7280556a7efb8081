"""The hit decision beyond cosine: a text verifier that vetoes a candidate whose picture would differ.

MiniLM cosine measures shared wording: "a dog chasing a cat" and "a cat chasing a dog" score about
0.97, and "a red fox" vs "a brown fox" barely moves it. So a retrieved candidate is a hit only when
`verify` says its picture satisfies the request, and the cosine reaches the threshold:

- both prompts are reduced to content tokens: case, spacing and punctuation folded (apostrophes and
  hyphens joined: `close-up` == `closeup`, `that's` == `thats`), a light deterministic stemmer
  (`sleeps`/`sleeping`/`slept`-style suffixes, plurals, `is/are/was/were` as one token, a small table of
  irregular plurals), and only the articles "a", "an", "the", the neutral possessive "its" and the copula
  (`is/are/was/were`) dropped;
- within each comma-separated tag the token *sequence* must be equal (order matters: swapped roles or
  attributes veto); across tags the *multiset* of tags must be equal (moving a whole tag is harmless),
  or else the whole token sequence must be equal in order (the same words with other separators);
- negations, numbers and number words, prepositions, colours, style, artist and medium words are
  ordinary tokens: any change in them vetoes.

A candidate that equals the request up to case, spacing, punctuation (spaced or deleted: `black/white` ==
`blackwhite`) and the order of whole tags is always accepted, whatever its cosine (moving a tag can cost
MiniLM 0.03). Measured on public data in docs/cache-quality.md
(`make eval`).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from functools import lru_cache

from dreamcache.prompts import normalize

_TAG_SEPARATORS = re.compile(r"[,;|\n]+")
_JOINERS = re.compile(r"(?<=\w)['\u2019\u2018`\-\u2010\u2011](?=\w)")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")

#: Tokens dropped before comparing: articles, the neutral possessive "its" and, after stemming, the copula
#: ("a dog is sitting" == "a dog sitting"). Everything else, negations and counts included, is content.
IGNORED = frozenset({"a", "an", "the", "its"})
IGNORED_STEMS = frozenset({"be"})
_COPULA = frozenset({"is", "are", "was", "were", "be", "been", "being", "am"})
_IRREGULAR = {
    "children": "child", "men": "man", "women": "woman", "people": "person", "persons": "person",
    "mice": "mouse", "feet": "foot", "teeth": "tooth", "geese": "goose", "oxen": "ox", "sheep": "sheep",
    "knives": "knife", "wives": "wife", "leaves": "leaf", "loaves": "loaf", "shelves": "shelf",
    "wolves": "wolf", "calves": "calf", "halves": "half", "lives": "life", "scarves": "scarf",
    "has": "have", "had": "have", "having": "have", "does": "do", "did": "do", "doing": "do",
    "lying": "lie", "lies": "lie", "dying": "die", "tying": "tie",
    "bus": "bus", "glass": "glass", "grass": "grass", "this": "this", "his": "his", "gas": "gas",
}
_VOWELS = set("aeiouy")
_ES_AFTER = ("ss", "sh", "ch", "x", "z", "zz")


def _has_vowel(text: str) -> bool:
    return any(ch in _VOWELS for ch in text)


def _undouble(stem: str) -> str:
    """`runn` -> `run`, `stopp` -> `stop` (a doubled final consonant left by -ing/-ed)."""
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "aeiouslz":
        return stem[:-1]
    return stem


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    """A light, deterministic stemmer: both spellings of one word map to one token, nothing more."""
    if word in _COPULA:
        return "be"
    if word in _IRREGULAR:
        base = _IRREGULAR[word]
        return base if base == word else stem(base)
    if word.isdigit() or len(word) <= 3:
        return word
    w = word
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("es") and w[:-2].endswith(_ES_AFTER):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    elif w.endswith("ing") and len(w) >= 6 and _has_vowel(w[:-3]):
        w = _undouble(w[:-3])
    elif w.endswith("ied") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("ed") and len(w) >= 5 and _has_vowel(w[:-2]):
        w = _undouble(w[:-2])
    if len(w) > 3 and w.endswith("e"):  # make/making/made-less: `make` and `mak(ing)` meet at `mak`
        w = w[:-1]
    return w


def _fold(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()


def tags(prompt: str) -> list[str]:
    """The prompt's comma-separated parts, normalised, in order (empty parts dropped)."""
    return [part for part in (normalize(piece) for piece in _TAG_SEPARATORS.split(prompt)) if part]


@lru_cache(maxsize=16384)
def content(prompt: str) -> tuple[tuple[str, ...], ...]:
    """Per comma-separated tag, the sequence of stemmed content tokens (tags left empty are dropped)."""
    out = []
    for piece in _TAG_SEPARATORS.split(prompt):
        stems = (stem(w) for w in _fold(piece).split() if w not in IGNORED)
        tokens = tuple(s for s in stems if s not in IGNORED_STEMS)
        if tokens:
            out.append(tokens)
    return tuple(out)


def _stripped(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = _PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return _SPACE.sub(" ", text).strip()


def _surface(prompt: str) -> dict[str, str]:
    """Stem -> the first word of prompt that has it (to name differences in words a user wrote)."""
    out: dict[str, str] = {}
    for word in _fold(prompt).split():
        out.setdefault(stem(word), word)
    return out


def _joined_tags(prompt: str) -> list[str]:
    return sorted(t for t in (_stripped(p) for p in _TAG_SEPARATORS.split(prompt)) if t)


def same_words_reordered(query: str, candidate: str) -> bool:
    """True when both use exactly the same words but not just as reordered tags (a swap of roles)."""
    q, c = normalize(query), normalize(candidate)
    if q == c or sorted(q.split()) != sorted(c.split()):
        return False
    return sorted(tags(query)) != sorted(tags(candidate))


SAME_TEXT = "same text"  # the reason `decide` gives for a candidate that is the request re-typed


def same_tags(query: str, candidate: str) -> bool:
    """True when both are the same text up to case, punctuation, spacing and the order of whole tags."""
    if normalize(query) == normalize(candidate) or sorted(tags(query)) == sorted(tags(candidate)):
        return True
    return _stripped(query) == _stripped(candidate) or _joined_tags(query) == _joined_tags(candidate)


def reason(query: str, candidate: str) -> str | None:
    """Why the candidate's picture would not satisfy the request, or None when it would."""
    q, c = content(query), content(candidate)
    if Counter(q) == Counter(c):
        return None
    flat_q = [t for tag in q for t in tag]
    flat_c = [t for tag in c for t in tag]
    if flat_q == flat_c:
        return None
    if sorted(flat_q) == sorted(flat_c):
        return "same words in another order"
    words = _surface(query) | _surface(candidate)
    missing = sorted(words.get(t, t) for t in set(flat_q) - set(flat_c))
    extra = sorted(words.get(t, t) for t in set(flat_c) - set(flat_q))
    if missing or extra:
        return f"different words: request only {missing}, candidate only {extra}"
    return "different word counts"


def verify(query: str, candidate: str) -> bool:
    """True when the candidate's picture would satisfy the request, judged on the text alone."""
    return reason(query, candidate) is None


def decide(query: str, candidate: str, similarity: float, threshold: float) -> tuple[bool, str]:
    """The hit decision with its reason: `same text`, `verified`, `below threshold` or the verifier's veto."""
    if same_tags(query, candidate):
        return True, SAME_TEXT
    why = reason(query, candidate)
    if why is not None:
        return False, why
    if similarity < threshold:
        return False, f"similarity {similarity:.3f} below threshold {threshold:.2f}"
    return True, "verified"


def accept(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The service's hit rule for one retrieved candidate."""
    return decide(query, candidate, similarity, threshold)[0]
