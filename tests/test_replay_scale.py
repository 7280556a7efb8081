"""The replay's vector source keeps every vector a chunk needs, however small its cache (a log with more distinct
prompts than the cache holds once crashed at 500k prompts with a KeyError)."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from dreamcache.replay import StreamItem, VectorSource, embedded_chunks
from dreamcache.settings import Settings


def _embed(texts: Sequence[str]) -> np.ndarray:
    """A deterministic text -> unit vector (what is tested is which vector each request gets, not the model)."""
    out = [np.random.default_rng(zlib.crc32(text.encode())).standard_normal(8) for text in texts]
    return np.asarray([v / np.linalg.norm(v) for v in out], dtype=np.float32)


def test_every_request_gets_its_own_vector_with_a_cache_smaller_than_a_chunk() -> None:
    prompts = [f"prompt {i % 11}" if i % 3 else f"prompt {i}" for i in range(200)]  # repeats across chunks
    source = VectorSource(_embed, Settings(), cache_size=3)
    got = [(item.prompt, vector) for chunk, vectors in embedded_chunks((StreamItem(p) for p in prompts), source, 7)
           for item, vector in zip(chunk, vectors, strict=True)]
    assert [prompt for prompt, _ in got] == prompts
    from dreamcache.prompts import embedding_text

    for prompt, vector in got:
        assert np.array_equal(vector, _embed([embedding_text(prompt)])[0])
    assert source.embedded < len(prompts)  # repeats within reach were not embedded again
