"""Prompt text helpers shared by the cache, autocomplete and the warm-up CLI."""

from __future__ import annotations

import re
import unicodedata

_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")


def normalize(prompt: str) -> str:
    """Fold case, punctuation and whitespace: `A  cat, in SPACE!` -> `a cat in space`."""
    text = unicodedata.normalize("NFKC", prompt).casefold()
    text = _PUNCT.sub(" ", text)
    return _SPACE.sub(" ", text).strip()


def clean(prompt: str) -> str:
    """Strip and collapse whitespace, keeping case and punctuation (what is stored and shown)."""
    return _SPACE.sub(" ", prompt).strip()
