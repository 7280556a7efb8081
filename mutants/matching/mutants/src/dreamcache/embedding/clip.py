"""The generator's own CLIP text encoder as the embedder (torch in the web process)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from dreamcache.embedding.base import check_texts, normalise


class ClipEmbedder:
    """The generator's CLIP text encoder: pooled output (end-of-text token), L2-normalised."""

    def __init__(self, tokenizer: Any, text_encoder: Any, name: str) -> None:
        import torch

        self._torch = torch
        self._tokenizer = tokenizer
        self._encoder = text_encoder.eval()
        self.name = name
        self.dimension: int = int(text_encoder.config.hidden_size)
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as L2-normalised CLIPTextModel pooler_output vectors."""
        items = check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        torch = self._torch
        with self._lock, torch.inference_mode():
            # Same tokenisation as the diffusion pipeline's prompt encoding.
            batch = self._tokenizer(
                items,
                padding="max_length",
                truncation=True,
                max_length=self._tokenizer.model_max_length,
                return_tensors="pt",
            )
            device = self._encoder.device
            output = self._encoder(input_ids=batch["input_ids"].to(device))
            return normalise(output.pooler_output.float().cpu().numpy())


def clip_embedder_name(model: str) -> str:
    """Name of the CLIP vector space of a generator: `clip-tiny`, else `clip-` + a hash of the model id."""
    if model == "tiny":
        return "clip-tiny"
    return "clip-" + hashlib.sha256(model.encode("utf-8")).hexdigest()[:12]
