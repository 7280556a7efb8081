"""The embedder protocol: texts -> L2-normalised float32 vectors of one named vector space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Embedder(Protocol):
    """Maps texts to L2-normalised float32 vectors of one fixed vector space."""

    name: str  # identifies the vector space (part of the index collection name)
    dimension: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return an (n, dimension) float32 array whose rows have unit L2 norm."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Scale rows to unit L2 norm (all-zero rows stay zero) as contiguous float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return np.ascontiguousarray(vectors / np.maximum(norms, 1e-12), dtype=np.float32)


def check_texts(texts: Sequence[str]) -> list[str]:
    """Reject a bare string (a common slip: it would embed each character) and non-strings."""
    if isinstance(texts, str):
        raise TypeError("embed() takes a sequence of texts, not a single str")
    items = list(texts)
    for i, text in enumerate(items):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be str, got {type(text).__name__}")
    return items
