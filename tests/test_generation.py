"""Generation: the tiny pipeline end to end, DeepCache integration, fingerprints, the tiny tokenizer."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from DeepCache import DeepCacheSDHelper
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_pndm import PNDMScheduler

from dreamcache.generation import (
    BatchShape,
    PromptItem,
    deepcache_active,
    pipeline_fingerprint,
    resolve_device,
)
from dreamcache.generation.pipeline import Generator, load_generator
from dreamcache.generation.spec import SAMPLERS, tiny_corpus_text
from dreamcache.generation.text import (
    _train_clip_vocab,
    count_prompt_tokens,
    load_text_encoder,
    load_tokenizer,
)
from dreamcache.generation.tiny import SD_SCHEDULER_CONFIG, tiny_components
from dreamcache.settings import Settings

SMALL = BatchShape(width=64, height=64, steps=6, guidance_scale=7.5)
CAT = PromptItem(prompt="a photo of a cat sitting on a windowsill", negative_prompt="", seed=7)


def tiny_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for the tiny model, on the CPU unless told otherwise."""
    return Settings(**{"model": "tiny", "data_dir": data_dir, "device": "cpu", **overrides})


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="module")
def generator(data_dir: Path) -> Generator:
    return load_generator(tiny_settings(data_dir))


@pytest.fixture(scope="module")
def deepcache_generator(data_dir: Path) -> Generator:
    return load_generator(tiny_settings(data_dir, deepcache_on_cpu=True))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    """Largest per-pixel difference between two uint8 images."""
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


# --- the tiny pipeline --------------------------------------------------------------------------


def test_tiny_generator_describes_itself(generator: Generator, data_dir: Path) -> None:
    assert generator.model == "tiny"
    assert generator.device == "cpu"
    assert generator.fingerprint == pipeline_fingerprint(tiny_settings(data_dir), "cpu")
    assert isinstance(generator.pipeline.scheduler, DPMSolverMultistepScheduler)
    assert generator.pipeline.scheduler.config.algorithm_type == "dpmsolver++"


@pytest.mark.parametrize(("width", "height"), [(64, 64), (128, 64), (64, 96), (512, 512)])
def test_generate_returns_rgb_uint8_of_the_requested_size(
    generator: Generator, width: int, height: int
) -> None:
    steps = 25 if width == 512 else 4
    images = generator.generate(BatchShape(width, height, steps, 7.5), [CAT])
    assert len(images) == 1
    assert images[0].shape == (height, width, 3)
    assert images[0].dtype == np.uint8
    assert images[0].std() > 0  # not a blank frame


def test_generate_is_deterministic_per_seed(generator: Generator) -> None:
    first = generator.generate(SMALL, [CAT])[0]
    again = generator.generate(SMALL, [CAT])[0]
    other_seed = generator.generate(SMALL, [PromptItem(CAT.prompt, "", seed=8)])[0]
    other_prompt = generator.generate(SMALL, [PromptItem("a castle on a hill at sunset", "", CAT.seed)])[0]
    assert np.array_equal(first, again)
    assert max_diff(first, other_seed) > 10
    assert max_diff(first, other_prompt) > 0  # the text conditioning reaches the pixels


def test_item_image_does_not_depend_on_its_batch_mates(generator: Generator) -> None:
    alone = generator.generate(SMALL, [CAT])[0]
    batch = generator.generate(
        SMALL,
        [
            PromptItem("an owl perched on a branch at night", "blurry", 1),
            CAT,
            PromptItem("a red sports car on a mountain road", "low quality, watermark", 123456),
        ],
    )
    assert len(batch) == 3
    assert max_diff(alone, batch[1]) <= 2  # fp32 batched kernels may round differently
    assert max_diff(batch[0], batch[1]) > 10


def test_on_step_reports_every_denoising_step(generator: Generator) -> None:
    calls: list[tuple[int, int]] = []
    generator.generate(SMALL, [CAT, CAT], on_step=lambda step, total: calls.append((step, total)))
    assert calls == [(step, SMALL.steps) for step in range(1, SMALL.steps + 1)]


def test_errors_propagate_to_the_caller(generator: Generator) -> None:
    def cancel(step: int, total: int) -> None:
        raise RuntimeError(f"canceled at {step}/{total}")

    with pytest.raises(RuntimeError, match="canceled at 1/6"):
        generator.generate(SMALL, [CAT], on_step=cancel)
    with pytest.raises(ValueError, match="divisible by 8"):
        generator.generate(BatchShape(60, 64, 2, 7.5), [CAT])
    with pytest.raises(ValueError, match="empty"):
        generator.generate(SMALL, [])


@pytest.mark.parametrize(
    ("scheduler", "expected"), [("ddim", DDIMScheduler), ("default", PNDMScheduler)]
)
def test_scheduler_setting_picks_the_sampler(data_dir: Path, scheduler: str, expected: type) -> None:
    gen = load_generator(tiny_settings(data_dir, scheduler=scheduler))
    assert type(gen.pipeline.scheduler) is expected
    calls: list[tuple[int, int]] = []
    images = gen.generate(SMALL, [CAT], on_step=lambda step, total: calls.append((step, total)))
    assert images[0].shape == (64, 64, 3)
    total = calls[-1][1]  # PNDM runs one step more than asked
    assert total >= SMALL.steps
    assert calls == [(step, total) for step in range(1, total + 1)]


def test_a_batch_may_name_its_sampler_and_the_configured_one_comes_back(generator: Generator) -> None:
    dog = PromptItem(prompt="a dog on a beach", negative_prompt="", seed=3)
    configured = generator.generate(SMALL, [CAT])[0]
    pictures = {}
    for name in SAMPLERS:
        shape = replace(SMALL, scheduler=name)
        alone, (_, with_mate) = generator.generate(shape, [CAT])[0], generator.generate(shape, [dog, CAT])
        assert max_diff(alone, with_mate) <= 1  # seeded per picture, the stochastic Euler a too
        pictures[name] = alone
        assert type(generator.pipeline.scheduler) is DPMSolverMultistepScheduler  # put back after the batch
    assert max_diff(pictures["dpm-solver++"], configured) == 0  # the configured sampler by name: the same picture
    assert len({p.tobytes() for p in pictures.values()}) == len(SAMPLERS)


def test_tiny_unet_has_the_sd_block_layout() -> None:
    components = tiny_components()
    unet = components["unet"]
    assert [type(b).__name__ for b in unet.down_blocks] == ["CrossAttnDownBlock2D", "DownBlock2D"]
    assert [type(b).__name__ for b in unet.up_blocks] == ["UpBlock2D", "CrossAttnUpBlock2D"]
    assert unet.down_blocks[0].downsamplers is not None and unet.down_blocks[-1].downsamplers is None
    assert unet.up_blocks[0].upsamplers is not None and unet.up_blocks[-1].upsamplers is None
    assert unet.mid_block is not None
    pipe = StableDiffusionPipeline(**components, requires_safety_checker=False)
    assert pipe.vae_scale_factor == 8


def test_tiny_components_are_seeded_and_leave_the_global_rng_alone() -> None:
    torch.manual_seed(1234)
    expected_next = torch.rand(1)
    torch.manual_seed(1234)
    first, second, other = tiny_components(0), tiny_components(0), tiny_components(1)
    assert torch.equal(torch.rand(1), expected_next)
    for name in ("unet", "vae", "text_encoder"):
        a, b, c = (parts[name].state_dict() for parts in (first, second, other))
        assert all(torch.equal(a[key], b[key]) for key in a), name
        assert not all(torch.equal(a[key], c[key]) for key in a), name


# --- DeepCache ----------------------------------------------------------------------------------


def test_deepcache_matches_the_helper_applied_by_hand(
    generator: Generator, deepcache_generator: Generator
) -> None:
    shape = BatchShape(64, 64, 10, 7.5)
    items = [CAT, PromptItem("a dragon flying over a forest", "blurry", 99)]
    assert deepcache_generator.fingerprint != generator.fingerprint
    ours = deepcache_generator.generate(shape, items)
    plain = generator.generate(shape, items)

    pipe = deepcache_generator.pipeline
    helper = DeepCacheSDHelper(pipe=pipe)
    helper.set_params(cache_interval=3, cache_branch_id=0)
    helper.enable()
    try:
        with torch.inference_mode():
            by_hand = pipe(
                prompt=[item.prompt for item in items],
                negative_prompt=[item.negative_prompt for item in items],
                width=shape.width,
                height=shape.height,
                num_inference_steps=shape.steps,
                guidance_scale=shape.guidance_scale,
                generator=[torch.Generator("cpu").manual_seed(item.seed) for item in items],
                output_type="np",
            ).images
    finally:
        helper.disable()
    by_hand_pixels = (by_hand * 255).round().astype(np.uint8)

    for mine, theirs, without in zip(ours, by_hand_pixels, plain, strict=True):
        assert max_diff(mine, theirs) <= 1
        assert max_diff(mine, without) > 0  # DeepCache really skipped work


def test_deepcache_state_does_not_leak_between_batches(deepcache_generator: Generator) -> None:
    first = deepcache_generator.generate(SMALL, [CAT])[0]
    deepcache_generator.generate(BatchShape(96, 64, 7, 3.0), [PromptItem("a fox", "", 3)] * 2)
    def fail_midway(step: int, total: int) -> None:
        if step == 4:
            raise RuntimeError("worker shutting down")

    with pytest.raises(RuntimeError, match="shutting down"):
        deepcache_generator.generate(SMALL, [CAT], on_step=fail_midway)
    assert np.array_equal(deepcache_generator.generate(SMALL, [CAT])[0], first)


def test_deepcache_unwraps_the_unet_after_each_batch(
    generator: Generator, deepcache_generator: Generator
) -> None:
    deepcache_generator.generate(SMALL, [CAT])
    with torch.inference_mode():
        direct = deepcache_generator.pipeline(
            prompt=CAT.prompt,
            negative_prompt=CAT.negative_prompt,
            width=SMALL.width,
            height=SMALL.height,
            num_inference_steps=SMALL.steps,
            guidance_scale=SMALL.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(CAT.seed),
            output_type="np",
        ).images[0]
    plain = generator.generate(SMALL, [CAT])[0]
    assert max_diff((direct * 255).round().astype(np.uint8), plain) == 0


# --- loading a checkpoint from disk -------------------------------------------------------------


def test_load_generator_from_a_local_checkpoint(
    tmp_path: Path, generator: Generator, caplog: pytest.LogCaptureFixture
) -> None:
    checkpoint = tmp_path / "checkpoint"
    StableDiffusionPipeline(**tiny_components(), requires_safety_checker=False).save_pretrained(checkpoint)
    # save_pretrained writes every scheduler default out; a real SD v1.5 checkpoint does not, and
    # from_config treats missing and explicit keys differently: ship the real file.
    (checkpoint / "scheduler" / "scheduler_config.json").write_text(json.dumps(SD_SCHEDULER_CONFIG))
    with caplog.at_level(logging.WARNING, logger="dreamcache.generation.pipeline"):
        loaded = load_generator(tiny_settings(tmp_path, model=str(checkpoint)))
    assert "no CUDA device: generation will run in fp32 on the CPU and be slow" in caplog.text
    assert loaded.model == str(checkpoint)
    assert loaded.pipeline.dtype == torch.float32
    assert isinstance(loaded.pipeline.scheduler, DPMSolverMultistepScheduler)
    assert loaded.fingerprint != generator.fingerprint
    assert np.array_equal(loaded.generate(SMALL, [CAT])[0], generator.generate(SMALL, [CAT])[0])
    # The text side loads from the same checkpoint's subfolders (the CLIP embedder uses them).
    tokenizer = load_tokenizer(str(checkpoint))
    assert tokenizer(CAT.prompt)["input_ids"] == load_tokenizer("tiny")(CAT.prompt)["input_ids"]
    encoder, expected = load_text_encoder(str(checkpoint)), load_text_encoder("tiny")
    assert encoder.dtype == torch.float32 and not encoder.training
    assert all(torch.equal(a, b) for a, b in zip(encoder.parameters(), expected.parameters(), strict=True))


@pytest.mark.without_cuda
def test_device_cuda_without_cuda_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="no CUDA device"):
        load_generator(tiny_settings(tmp_path, device="cuda"))


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_tiny_on_cuda_runs_fp16_with_deepcache(tmp_path: Path) -> None:
    gen = load_generator(tiny_settings(tmp_path, device="cuda"))
    assert gen.device == "cuda" and gen.pipeline.dtype == torch.float16
    assert gen.fingerprint == pipeline_fingerprint(tiny_settings(tmp_path, device="cuda"), "cuda")
    shape = BatchShape(512, 512, 25, 7.5)
    calls: list[int] = []
    images = gen.generate(shape, [CAT, PromptItem("a fox", "", 1)], on_step=lambda step, total: calls.append(step))
    assert [image.shape for image in images] == [(512, 512, 3)] * 2
    assert calls == list(range(1, 26))
    assert np.array_equal(gen.generate(shape, [CAT])[0], gen.generate(shape, [CAT])[0])


# --- spec: device, DeepCache switch, fingerprint ------------------------------------------------


def test_resolve_device(tmp_path: Path) -> None:
    assert resolve_device(tiny_settings(tmp_path)) == "cpu"
    assert resolve_device(tiny_settings(tmp_path, device="cuda")) == "cuda"
    auto = resolve_device(tiny_settings(tmp_path, device="auto"))
    assert auto == ("cuda" if torch.cuda.is_available() else "cpu")


def test_deepcache_active(tmp_path: Path) -> None:
    def active(device: str, **overrides: Any) -> bool:
        return deepcache_active(tiny_settings(tmp_path, **overrides), device)

    assert active("cuda")
    assert not active("cpu")
    assert active("cpu", deepcache_on_cpu=True)
    assert not active("cuda", deepcache=False)
    assert not active("cpu", deepcache=False, deepcache_on_cpu=True)
    assert not active("cuda", deepcache_interval=1)  # every step is a full step: plain diffusion


def test_fingerprint_is_stable_and_tracks_what_changes_pixels(tmp_path: Path) -> None:
    def fingerprint(device: str = "cpu", **overrides: Any) -> str:
        return pipeline_fingerprint(tiny_settings(tmp_path, **overrides), device)

    base = fingerprint()
    assert len(base) == 16 and int(base, 16) >= 0
    assert fingerprint() == base
    # Settings that do not touch the pixels on this device leave it alone.
    assert fingerprint(fp16=False) == base  # fp16 only applies on CUDA
    assert fingerprint(deepcache_interval=5, deepcache_branch=2) == base  # DeepCache is off on CPU
    assert fingerprint(max_batch_size=9, similarity_threshold=0.5) == base
    assert pipeline_fingerprint(tiny_settings(tmp_path / "elsewhere"), "cpu") == base

    changed = {
        "model": pipeline_fingerprint(tiny_settings(tmp_path, model="some/other-model"), "cpu"),
        "scheduler ddim": fingerprint(scheduler="ddim"),
        "scheduler default": fingerprint(scheduler="default"),
        "deepcache on cpu": fingerprint(deepcache_on_cpu=True),
        "deepcache interval": fingerprint(deepcache_on_cpu=True, deepcache_interval=2),
        "deepcache branch": fingerprint(deepcache_on_cpu=True, deepcache_branch=1),
        "cuda": fingerprint("cuda"),
        "cuda fp32": fingerprint("cuda", fp16=False),
        "cuda no deepcache": fingerprint("cuda", deepcache=False),
    }
    values = [base, *changed.values()]
    assert len(set(values)) == len(values), changed


def test_spec_is_diffusers_free_and_stable_across_processes(tmp_path: Path) -> None:
    """The web process imports dreamcache.generation; another process must agree on fingerprints."""
    script = textwrap.dedent(
        f"""
        import sys
        from dreamcache.generation import pipeline_fingerprint
        from dreamcache.settings import Settings
        heavy = sorted(m for m in ("torch", "diffusers", "transformers", "DeepCache") if m in sys.modules)
        assert not heavy, heavy
        print(pipeline_fingerprint(Settings(model="tiny", data_dir={str(tmp_path)!r}, device="cpu"), "cpu"))
        from dreamcache.generation import text
        assert "diffusers" not in sys.modules
        print(repr(text._train_clip_vocab(text.tiny_corpus_text())))
        """
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True, timeout=120
    )
    fingerprint_line, vocab_line = result.stdout.strip().splitlines()[-2:]
    assert fingerprint_line == pipeline_fingerprint(tiny_settings(tmp_path), "cpu")
    # The vocabulary is trained on first use in each machine's cache: it must not depend on the process.
    assert vocab_line == repr(_train_clip_vocab(tiny_corpus_text()))


# --- text side ----------------------------------------------------------------------------------


def test_tiny_tokenizer_loads_offline_and_counts_tokens() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    tokenizer = load_tokenizer("tiny")
    assert load_tokenizer("tiny") is tokenizer
    assert tokenizer.model_max_length == 77
    assert count_prompt_tokens(tokenizer, "a photo of a cat") == 7  # BOS + 5 known words + EOS
    long_prompt = " ".join(["a watercolor painting of a quiet harbor"] * 15)  # 105 words
    assert count_prompt_tokens(tokenizer, long_prompt) > tokenizer.model_max_length
    ids = tokenizer("a zyxqv café 🐱, 8k")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id and ids[-1] == tokenizer.eos_token_id
    assert tokenizer.eos_token_id not in ids[1:-1]  # byte-level: nothing falls back to unk (= EOS)
    decoded = tokenizer.decode(ids, skip_special_tokens=True)
    assert isinstance(decoded, str) and decoded.replace(" ", "") == "azyxqvcafé🐱,8k"


def test_tiny_text_encoder_is_the_pipelines_own() -> None:
    encoder = load_text_encoder("tiny")
    pipeline_encoder = tiny_components()["text_encoder"]
    state, expected = encoder.state_dict(), pipeline_encoder.state_dict()
    assert state.keys() == expected.keys()
    assert all(torch.equal(state[key], expected[key]) for key in state)
    tokenizer = load_tokenizer("tiny")
    batch = tokenizer(["a cute dog", "a castle at night"], padding="max_length", return_tensors="pt")
    with torch.inference_mode():
        pooled = encoder(input_ids=batch["input_ids"]).pooler_output
    assert pooled.shape == (2, encoder.config.hidden_size)
    assert not torch.allclose(pooled[0], pooled[1])


def test_a_model_without_a_tokenizer_fails_clearly(tmp_path: Path) -> None:
    """An id or path with no tokenizer files must not yield an empty tokenizer that accepts any prompt."""
    from dreamcache.generation.text import load_tokenizer

    (tmp_path / "tokenizer").mkdir()
    with pytest.raises((RuntimeError, OSError), match="tokenizer|vocab"):
        load_tokenizer(str(tmp_path))


def test_cuda_is_detected_without_torch_as_torch_detects_it() -> None:
    from dreamcache.generation.spec import cuda_available

    # The web process asks the driver (no torch import); the worker's torch must agree, or fingerprints differ.
    assert cuda_available() == torch.cuda.is_available()
