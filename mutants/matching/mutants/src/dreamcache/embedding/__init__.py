"""Prompt -> vector: the embedder protocol (`base`), MiniLM on ONNX Runtime or PyTorch (`minilm`), the
generator's CLIP text encoder (`clip`), and the async front with its LRU and micro-batcher (`batching`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dreamcache.embedding.base import Embedder
from dreamcache.embedding.batching import BatchingEmbedder, EmbedderStopped, VectorCache
from dreamcache.embedding.clip import ClipEmbedder, clip_embedder_name
from dreamcache.embedding.minilm import MINILM_MAX_LENGTH, MINILM_NAME, MiniLMEmbedder, OnnxMiniLMEmbedder

if TYPE_CHECKING:
    from dreamcache.settings import Settings

__all__ = [
    "MINILM_MAX_LENGTH",
    "MINILM_NAME",
    "BatchingEmbedder",
    "ClipEmbedder",
    "Embedder",
    "EmbedderStopped",
    "MiniLMEmbedder",
    "OnnxMiniLMEmbedder",
    "VectorCache",
    "clip_embedder_name",
    "open_embedder",
]


def open_embedder(settings: Settings) -> Embedder:
    """Build the embedder that settings.embedder names (loads weights; takes seconds)."""
    if settings.embedder == "minilm" and settings.embedder_runtime == "onnx":
        return OnnxMiniLMEmbedder(threads=settings.embedder_threads)
    if settings.embedder == "minilm":
        return MiniLMEmbedder(threads=settings.embedder_threads)
    if settings.embedder == "clip":
        from dreamcache.generation.text import load_text_encoder, load_tokenizer

        tokenizer, encoder = load_tokenizer(settings.model), load_text_encoder(settings.model)
        return ClipEmbedder(tokenizer, encoder, clip_embedder_name(settings.model))
    raise ValueError(f"unknown embedder {settings.embedder!r}: expected 'minilm' or 'clip'")
