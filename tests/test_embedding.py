"""Embedders on real weights (MiniLM offline packages on ONNX Runtime and PyTorch, seeded tiny CLIP), the
prompt -> vector LRU and the async micro-batcher."""

from __future__ import annotations

import asyncio
import importlib.util
import string
import threading
from collections.abc import Sequence

import numpy as np
import pytest
import torch
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from dreamcache.embedding import (
    BatchingEmbedder,
    ClipEmbedder,
    Embedder,
    EmbedderStopped,
    MiniLMEmbedder,
    OnnxMiniLMEmbedder,
    VectorCache,
    clip_embedder_name,
    open_embedder,
)
from dreamcache.settings import Settings

TEXTS = [
    "a cat",
    "an astronaut riding a horse on the moon, highly detailed digital painting",
    "A bowl of ramen with a soft boiled egg, studio lighting, 35mm photograph, shallow depth of field",
    "red car",
]


RUNTIMES = {"onnx": OnnxMiniLMEmbedder, "torch": MiniLMEmbedder}


@pytest.fixture(scope="module", params=list(RUNTIMES))
def minilm(request: pytest.FixtureRequest) -> Embedder:
    """The real all-MiniLM-L6-v2 on each runtime, loaded once per module through open_embedder."""
    embedder = open_embedder(Settings(embedder="minilm", embedder_runtime=request.param, model="tiny"))
    assert isinstance(embedder, RUNTIMES[request.param])
    return embedder


def test_onnx_is_the_default_and_agrees_with_fp32() -> None:
    onnx = open_embedder(Settings(model="tiny"))
    assert isinstance(onnx, OnnxMiniLMEmbedder) and onnx.threads == 2
    fp32 = open_embedder(Settings(model="tiny", embedder_runtime="torch"))
    assert onnx.name == fp32.name == "minilm"  # one vector space: an existing index stays valid
    texts = [*TEXTS, "a red f", "Portrait of an old fisherman, dramatic light, 85mm"]
    agreement = np.einsum("ij,ij->i", onnx.embed(texts), fp32.embed(texts))
    assert agreement.min() > 0.998, agreement  # measured >= 0.9989 over 19,262 evaluation texts


def test_vector_cache_is_an_lru_per_vector_space() -> None:
    cache = VectorCache(2)
    a, b, c = (np.full(3, value, dtype=np.float32) for value in (1.0, 2.0, 3.0))
    cache.put("minilm", "a cat", a)
    assert cache.get("clip-tiny", "a cat") is None  # another model's space is never served
    assert cache.get("minilm", "A cat") is None  # only the exact text that was embedded
    a[:] = 9.0  # the caller's array is not what is cached
    stored = cache.get("minilm", "a cat")
    assert stored is not None and stored[0] == 1.0 and not stored.flags.writeable
    cache.put("minilm", "b", b)
    cache.get("minilm", "a cat")  # used: "b" is now the least recently used
    cache.put("minilm", "c", c)
    assert cache.get("minilm", "b") is None and cache.get("minilm", "a cat") is not None and len(cache) == 2
    off = VectorCache(0)
    off.put("minilm", "a cat", a)
    assert off.get("minilm", "a cat") is None and len(off) == 0


def test_a_repeated_prompt_is_not_embedded_again(minilm: Embedder) -> None:
    async def scenario() -> tuple[np.ndarray, np.ndarray, int, int]:
        batcher = BatchingEmbedder(minilm, max_batch=8, max_wait_ms=1, cache=VectorCache(100))
        await batcher.start()
        try:
            first = await batcher.embed("a lighthouse in a storm")
            again = await batcher.embed("a lighthouse in a storm")
            both = await batcher.embed_many(["a lighthouse in a storm", "a lighthouse in the storm"])
        finally:
            await batcher.stop()
        return first, again, batcher.texts_embedded, len(both)

    first, again, embedded, count = asyncio.run(scenario())
    np.testing.assert_array_equal(first, again)
    assert embedded == 2 and count == 2  # the repeats came from the LRU; the other text was embedded


def cos(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine of two unit vectors."""
    return float(np.dot(a, b))


def test_minilm_shape_dtype_and_unit_norm(minilm: Embedder) -> None:
    vectors = minilm.embed(TEXTS)
    assert minilm.name == "minilm"
    assert minilm.dimension == 384
    assert vectors.shape == (len(TEXTS), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert isinstance(minilm, Embedder)


def test_minilm_empty_input_and_bare_string(minilm: Embedder) -> None:
    assert minilm.embed([]).shape == (0, 384)
    with pytest.raises(TypeError, match="not a single str"):
        minilm.embed("a cat")


def test_minilm_paraphrase_beats_unrelated(minilm: Embedder) -> None:
    base, paraphrase, unrelated = minilm.embed(
        ["a photo of a cat sleeping on a sofa", "a cat asleep on a couch", "a spaceship landing on mars"]
    )
    assert cos(base, paraphrase) > 0.7
    assert cos(base, paraphrase) > cos(base, unrelated) + 0.4


def test_minilm_identical_text_scores_one(minilm: Embedder) -> None:
    a, b = minilm.embed(["a castle in the clouds", "a castle in the clouds"])
    (c,) = minilm.embed(["a castle in the clouds"])
    assert cos(a, b) == pytest.approx(1.0, abs=1e-5)
    assert cos(a, c) == pytest.approx(1.0, abs=1e-5)


def test_minilm_batch_equals_one_at_a_time(minilm: Embedder) -> None:
    # Texts of very different lengths: padding in the batch must not change any row.
    batched = minilm.embed(TEXTS)
    single = np.vstack([minilm.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(batched, single, atol=1e-5)


def test_minilm_truncates_long_text(minilm: Embedder) -> None:
    long_text = "a very long prompt " * 300  # far beyond 256 tokens
    (vector,) = minilm.embed([long_text])
    assert vector.shape == (384,)
    assert np.linalg.norm(vector) == pytest.approx(1.0, abs=1e-5)


def tiny_clip(seed: int = 0) -> tuple[CLIPTokenizer, CLIPTextModel]:
    """A character-level CLIP tokenizer and a seeded random two-layer CLIP text encoder."""
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    symbols = string.ascii_lowercase + string.digits + string.punctuation
    for suffix in ("", "</w>"):
        for char in symbols:
            vocab[char + suffix] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    torch.manual_seed(seed)
    config = CLIPTextConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        intermediate_size=37,
        num_attention_heads=4,
        num_hidden_layers=2,
        max_position_embeddings=77,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return tokenizer, CLIPTextModel(config)


def test_clip_embedder_pooled_output_normalised_and_batch_invariant() -> None:
    tokenizer, encoder = tiny_clip()
    embedder = ClipEmbedder(tokenizer, encoder, "clip-test")
    vectors = embedder.embed(TEXTS)
    assert (embedder.name, embedder.dimension) == ("clip-test", 32)
    assert vectors.shape == (len(TEXTS), 32) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    single = np.vstack([embedder.embed([text]) for text in TEXTS])
    np.testing.assert_allclose(vectors, single, atol=1e-5)
    # The vector is the encoder's pooled output, normalised.
    with torch.inference_mode():
        ids = tokenizer(["a cat"], padding="max_length", max_length=77, return_tensors="pt")["input_ids"]
        pooled = encoder(input_ids=ids).pooler_output[0].numpy()
    np.testing.assert_allclose(vectors[0], pooled / np.linalg.norm(pooled), atol=1e-5)
    assert embedder.embed([]).shape == (0, 32)


def test_clip_embedder_name_identifies_the_model() -> None:
    assert clip_embedder_name("tiny") == "clip-tiny"
    sd15 = clip_embedder_name("stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert sd15.startswith("clip-")
    assert sd15 == clip_embedder_name("stable-diffusion-v1-5/stable-diffusion-v1-5")
    assert sd15 != clip_embedder_name("stabilityai/stable-diffusion-2-1")


@pytest.mark.skipif(
    importlib.util.find_spec("dreamcache.generation.text") is None,
    reason="dreamcache.generation.text not written yet",
)
def test_open_embedder_clip_tiny_is_seeded() -> None:
    settings = Settings(embedder="clip", model="tiny")
    first, second = open_embedder(settings), open_embedder(settings)
    assert isinstance(first, ClipEmbedder)
    assert first.name == "clip-tiny"
    a, b = first.embed(TEXTS), second.embed(TEXTS)
    assert a.shape == (len(TEXTS), first.dimension)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    # Same vector space across restarts: the index collection "clip-tiny" stays valid.
    np.testing.assert_allclose(a, b, atol=1e-6)


class GatedEmbedder:
    """A real embedder whose embed() waits until the test opens a gate (to hold a batch in flight)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension
        self.gate = threading.Event()
        self.entered = threading.Event()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.entered.set()
        self.gate.wait(timeout=30)
        return self.inner.embed(texts)


class FailingEmbedder:
    """A real embedder that refuses one text, as a model might refuse bad input."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimension = inner.dimension

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if "boom" in texts:
            raise ValueError("cannot embed 'boom'")
        return self.inner.embed(texts)


def test_batching_embedder_batches_concurrent_callers(minilm: Embedder) -> None:
    texts = [f"prompt number {i}: a {'very ' * (i % 7)}small robot painting a landscape" for i in range(32)]
    direct = minilm.embed(texts)

    async def scenario() -> tuple[list[np.ndarray], int, int]:
        batcher = BatchingEmbedder(minilm, max_batch=16, max_wait_ms=20)
        await batcher.start()
        try:
            vectors = await asyncio.gather(*(batcher.embed(text) for text in texts))
        finally:
            await batcher.stop()
        return vectors, batcher.batches_run, batcher.texts_embedded

    vectors, batches_run, texts_embedded = asyncio.run(scenario())
    assert batches_run < 32
    assert batches_run >= 2  # max_batch=16 splits 32 texts
    assert texts_embedded == 32
    assert all(v.shape == (384,) and v.dtype == np.float32 for v in vectors)
    np.testing.assert_allclose(np.vstack(vectors), direct, atol=1e-5)


def test_batching_embedder_embed_many_and_duplicates(minilm: Embedder) -> None:
    async def scenario() -> tuple[np.ndarray, np.ndarray, int]:
        batcher = BatchingEmbedder(minilm, max_batch=8, max_wait_ms=5)
        await batcher.start()
        try:
            many = await batcher.embed_many(["a cat", "a dog", "a cat"])
            empty = await batcher.embed_many([])
        finally:
            await batcher.stop()
        return many, empty, batcher.texts_embedded

    many, empty, texts_embedded = asyncio.run(scenario())
    assert many.shape == (3, 384)
    np.testing.assert_allclose(many[0], many[2])
    np.testing.assert_allclose(many, minilm.embed(["a cat", "a dog", "a cat"]), atol=1e-5)
    assert empty.shape == (0, 384)
    assert texts_embedded == 2  # the repeated text was embedded once


def test_batching_embedder_error_reaches_callers_and_loop_survives(minilm: Embedder) -> None:
    async def scenario() -> np.ndarray:
        batcher = BatchingEmbedder(FailingEmbedder(minilm), max_batch=4, max_wait_ms=1)
        await batcher.start()
        try:
            with pytest.raises(ValueError, match="cannot embed"):
                await batcher.embed("boom")
            return await batcher.embed("a lighthouse at dusk")
        finally:
            await batcher.stop()

    vector = asyncio.run(scenario())
    np.testing.assert_allclose(vector, minilm.embed(["a lighthouse at dusk"])[0], atol=1e-5)


def test_batching_embedder_stop_fails_pending_callers(minilm: Embedder) -> None:
    gated = GatedEmbedder(minilm)

    async def scenario() -> list[BaseException | np.ndarray]:
        batcher = BatchingEmbedder(gated, max_batch=1, max_wait_ms=0)
        await batcher.start()
        callers = [asyncio.create_task(batcher.embed(f"prompt {i}")) for i in range(5)]
        try:
            # One batch is held in the worker thread, four texts wait in the queue.
            assert await asyncio.to_thread(gated.entered.wait, 10)
            await asyncio.wait_for(batcher.stop(), timeout=5)
            results = await asyncio.wait_for(asyncio.gather(*callers, return_exceptions=True), timeout=5)
            with pytest.raises(EmbedderStopped):
                await batcher.embed("after stop")
            return results
        finally:
            gated.gate.set()  # let the worker thread finish so the loop's executor can shut down

    results = asyncio.run(scenario())
    assert len(results) == 5
    assert all(isinstance(result, EmbedderStopped) for result in results)


def test_batching_embedder_requires_start_and_valid_limits(minilm: Embedder) -> None:
    with pytest.raises(ValueError, match="max_batch"):
        BatchingEmbedder(minilm, max_batch=0, max_wait_ms=1)
    with pytest.raises(ValueError, match="max_wait_ms"):
        BatchingEmbedder(minilm, max_batch=1, max_wait_ms=-1)

    async def scenario() -> None:
        batcher = BatchingEmbedder(minilm, max_batch=4, max_wait_ms=1)
        with pytest.raises(EmbedderStopped, match="start"):
            await batcher.embed("a cat")
        await batcher.stop()  # stopping a never-started batcher is harmless

    asyncio.run(scenario())
