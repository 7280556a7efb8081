"""Every form of a prompt's text, in one place: what is stored, embedded, keyed, compared and reported.

- `clean`: whitespace collapsed, case and punctuation kept (what is stored and shown);
- `normalize`: case, punctuation and spacing folded (autocomplete, the cache's same-prompt checks);
- `embedding_text`: what gets embedded (the normalised text, or the cleaned one if nothing is left);
- `fold`: as `normalize`, with apostrophes and in-word hyphens joined (the verifier's words);
- `stripped`: case folded with punctuation deleted, not spaced (a user retyping without it);
- `split_tags` / `tags`: the comma-separated parts, raw or normalised;
- `canonical` / `text_key`: the text up to case, punctuation, spacing, articles and tag order, and its digest
  (retyped prompts are found by equality);
- `report_keys`: what a "wrong picture" report is filed under.

`matching` judges two prompts with these forms; nothing else defines a text form of its own.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from functools import lru_cache

PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
SPACE = re.compile(r"\s+")
TAG_SEPARATORS = re.compile(r"[,;|\n]+")
_JOINERS = re.compile(r"(?<=\w)['\u2019\u2018`\-\u2010\u2011](?=\w)")

#: Tokens dropped before comparing: articles and the neutral possessive "its" (the verifier also drops the
#: copula after stemming). Everything else, negations and counts included, is content.
IGNORED = frozenset({"a", "an", "the", "its"})


def normalize(prompt: str) -> str:
    """Fold case, punctuation and whitespace: `A  cat, in SPACE!` -> `a cat in space`."""
    text = unicodedata.normalize("NFKC", prompt).casefold()
    text = PUNCT.sub(" ", text)
    return SPACE.sub(" ", text).strip()


def clean(prompt: str) -> str:
    """Strip and collapse whitespace, keeping case and punctuation (what is stored and shown)."""
    return SPACE.sub(" ", prompt).strip()


def embedding_text(prompt: str) -> str:
    """What gets embedded: the normalised prompt (or the cleaned one if nothing is left of it)."""
    return normalize(prompt) or clean(prompt)


def fold(text: str) -> str:
    """Case folded, apostrophes and in-word hyphens joined, other punctuation and spacing collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _JOINERS.sub("", text)
    return SPACE.sub(" ", PUNCT.sub(" ", text)).strip()


def stripped(text: str) -> str:
    """Case folded with every punctuation mark deleted (not spaced): what a user retyping without it gets."""
    text = PUNCT.sub("", unicodedata.normalize("NFKC", text).casefold())
    return SPACE.sub(" ", text).strip()


def split_tags(prompt: str) -> list[str]:
    """The prompt's comma-separated parts as typed (separators: `,` `;` `|` and newlines)."""
    return TAG_SEPARATORS.split(prompt)


def tags(prompt: str) -> list[str]:
    """The prompt's comma-separated parts, normalised, in order (empty parts dropped)."""
    return [part for part in (normalize(piece) for piece in split_tags(prompt)) if part]


@lru_cache(maxsize=16384)
def canonical(prompt: str) -> str:
    """The prompt as typed, up to case, punctuation, spacing, articles and tag order; "" when nothing is left.

    Spaces are dropped inside each tag, so words split or joined differently are one text
    (`4 k` = `4k`, `chainsaw man` = `chainsawman`); tags are sorted. No stemming: two prompts with
    the same canonical text are the same request retyped, whatever their embeddings say.
    """
    parts = ("".join(w for w in fold(piece).split() if w not in IGNORED) for piece in split_tags(prompt))
    return ",".join(sorted(part for part in parts if part))


def text_key(prompt: str) -> str:
    """A short digest of `canonical(prompt)` to find retyped prompts by equality ("" when nothing is left)."""
    text = canonical(prompt)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32] if text else ""


def report_keys(prompt: str) -> tuple[str, ...]:
    """What a "wrong picture" report is filed under, so it covers the prompt's retyped variants: its text
    key (tags in any order) and its words in order whatever the separators; for a prompt that normalises
    to nothing, its own raw text (it only ever matches itself)."""
    words = "".join(w for w in fold(prompt).split() if w not in IGNORED)
    if not words:
        return ("raw:" + hashlib.sha256(clean(prompt).encode("utf-8")).hexdigest()[:28],)
    return (text_key(prompt), "flat:" + hashlib.sha256(words.encode("utf-8")).hexdigest()[:27])
