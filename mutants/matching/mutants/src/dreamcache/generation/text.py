"""The generator's text side: CLIP tokenizer and text encoder, real or tiny (transformers only).

The web process counts prompt tokens with the tokenizer and must not import torch for it: the
text encoder's imports (torch, CLIPTextModel) happen inside the functions that build one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from tokenizers import Tokenizer
from tokenizers.pre_tokenizers import ByteLevel
from transformers import CLIPTokenizer

from dreamcache.generation.spec import tiny_corpus_text
from dreamcache.settings import TINY_MODEL

if TYPE_CHECKING:
    from transformers import CLIPTextModel

MAX_PROMPT_TOKENS = 77
END_OF_WORD = "</w>"
BOS_TOKEN = "<|startoftext|>"
EOS_TOKEN = "<|endoftext|>"

# Part of the cache key of the trained vocabulary: bump when the training procedure changes.
_TRAINER_VERSION = 1
# Pairs seen fewer times than this stay unmerged, so rare words split into sub-words as in CLIP.
_MIN_PAIR_COUNT = 2
_MAX_MERGES = 4000

# Tiny text encoder: small enough to be instant, big enough to give prompts distinct embeddings.
TINY_TEXT_HIDDEN_SIZE = 32


@lru_cache(maxsize=4)
def load_tokenizer(model: str) -> CLIPTokenizer:
    """Return the CLIP tokenizer of `model`, shared in-process (`tiny`: a locally trained vocabulary)."""
    if model == TINY_MODEL:
        return CLIPTokenizer.from_pretrained(str(_tiny_tokenizer_dir()), model_max_length=MAX_PROMPT_TOKENS)
    tokenizer = CLIPTokenizer.from_pretrained(model, subfolder="tokenizer")
    # transformers may hand back an empty tokenizer when the files are missing (offline, not cached):
    # counting tokens with it would silently accept prompts of any length.
    if len(tokenizer) < 1000 or tokenizer.model_max_length > MAX_PROMPT_TOKENS * 100:
        raise RuntimeError(
            f"cannot load the CLIP tokenizer of {model!r} (no vocabulary found: is the model id right, "
            "and is it in the local Hugging Face cache or is the Hub reachable?)"
        )
    return tokenizer


def load_text_encoder(model: str) -> CLIPTextModel:
    """Return the CLIP text encoder of `model` in eval mode (`tiny`: the tiny pipeline's own)."""
    import torch
    from transformers import CLIPTextModel

    if model == TINY_MODEL:
        return build_tiny_text_encoder()
    # fp32 whatever the checkpoint stores: the encoder runs on the CPU of the web process.
    encoder: CLIPTextModel = CLIPTextModel.from_pretrained(
        model, subfolder="text_encoder", dtype=torch.float32
    )
    return encoder.eval()


def count_prompt_tokens(tokenizer: CLIPTokenizer, prompt: str) -> int:
    """Return how many tokens `prompt` takes, BOS and EOS included (compare with model_max_length).

    On the hit path: counted by a private copy of the fast tokenizer's Rust backend (without
    transformers' Python layers around it), with an LRU of recent prompts.
    """
    return _token_counter(tokenizer)(prompt)


@lru_cache(maxsize=8)
def _token_counter(tokenizer: CLIPTokenizer) -> Callable[[str], int]:
    # A copy: transformers switches truncation and padding on the shared backend per call (other threads).
    backend = Tokenizer.from_str(tokenizer.backend_tokenizer.to_str())
    backend.no_truncation()
    backend.no_padding()

    @lru_cache(maxsize=8192)
    def count(prompt: str) -> int:
        return len(backend.encode(prompt, add_special_tokens=True).ids)

    return count


def build_tiny_text_encoder(seed: int = 0) -> CLIPTextModel:
    """Build the tiny CLIP text encoder with weights drawn from `seed`."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    tokenizer = load_tokenizer(TINY_MODEL)
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        hidden_size=TINY_TEXT_HIDDEN_SIZE,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_PROMPT_TOKENS,
        projection_dim=TINY_TEXT_HIDDEN_SIZE,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    with torch.random.fork_rng(devices=[]):  # seed locally: leave the caller's RNG alone
        torch.manual_seed(seed)
        encoder = CLIPTextModel(config)
    return encoder.eval()


def _tiny_tokenizer_dir() -> Path:
    """Return a directory holding the tiny vocab.json and merges.txt, training them on first use."""
    corpus = tiny_corpus_text()
    key = hashlib.sha256(f"{_TRAINER_VERSION}\n{corpus}".encode()).hexdigest()[:16]
    for root in (_user_cache_root(), Path(tempfile.gettempdir()) / "dreamcache"):
        target = root / "tiny-tokenizer" / key
        if (target / "vocab.json").is_file() and (target / "merges.txt").is_file():
            return target
        try:
            return _write_tiny_tokenizer(target, corpus)
        except OSError:
            continue  # read-only home, full disk: try the next root
    raise OSError("cannot write the tiny tokenizer vocabulary to any cache directory")


def _user_cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "dreamcache"


def _write_tiny_tokenizer(target: Path, corpus: str) -> Path:
    """Train the vocabulary and publish it at `target` atomically (concurrent processes may race)."""
    vocab, merges = _train_clip_vocab(corpus)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        (staging / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
        lines = ["#version: 0.2", *(f"{left} {right}" for left, right in merges)]
        (staging / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            if not (target / "vocab.json").is_file():  # not a lost race: a real failure
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _train_clip_vocab(corpus: str) -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a CLIP-layout BPE vocabulary on `corpus`: bytes, bytes + </w>, merges, BOS, EOS."""
    merges = _train_merges(Counter(_pre_tokenize(corpus)))
    alphabet = sorted(ByteLevel.alphabet())
    tokens = [*alphabet, *(char + END_OF_WORD for char in alphabet)]
    tokens += ["".join(pair) for pair in merges]
    tokens += [BOS_TOKEN, EOS_TOKEN]
    vocab: dict[str, int] = {}
    for token in tokens:
        vocab.setdefault(token, len(vocab))
    return vocab, merges


def _pre_tokenize(text: str) -> list[str]:
    """Split `text` into words exactly as CLIPTokenizer does before BPE (byte-level symbols)."""
    backend = CLIPTokenizer(model_max_length=MAX_PROMPT_TOKENS).backend_tokenizer
    normalized = backend.normalizer.normalize_str(text)
    return [word for word, _ in backend.pre_tokenizer.pre_tokenize_str(normalized)]


def _train_merges(word_counts: Counter[str]) -> list[tuple[str, str]]:
    """Learn BPE merges, breaking count ties by the pair itself so every run gives the same list.

    The `tokenizers` BpeTrainer breaks ties in hash-map order, which differs between processes.
    """
    words = {(*word[:-1], word[-1] + END_OF_WORD): count for word, count in sorted(word_counts.items())}
    merges: list[tuple[str, str]] = []
    while len(merges) < _MAX_MERGES:
        pairs: Counter[tuple[str, str]] = Counter()
        for symbols, count in words.items():
            for pair in zip(symbols, symbols[1:], strict=False):
                pairs[pair] += count
        if not pairs:
            break
        best, best_count = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        if best_count < _MIN_PAIR_COUNT:
            break
        merges.append(best)
        words = {_merge_pair(symbols, best): count for symbols, count in words.items()}
    return merges


def _merge_pair(symbols: Iterable[str], pair: tuple[str, str]) -> tuple[str, ...]:
    """Replace every left-to-right occurrence of `pair` in `symbols` by the joined symbol."""
    merged: list[str] = []
    for symbol in symbols:
        if merged and (merged[-1], symbol) == pair:
            merged[-1] += symbol
        else:
            merged.append(symbol)
    return tuple(merged)
