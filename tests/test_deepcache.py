"""Our DeepCache forwards: same images as the DeepCache package, plain path untouched, state per batch."""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from DeepCache import DeepCacheSDHelper
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

from dreamcache.generation import BatchShape, PromptItem
from dreamcache.generation.deepcache import CachePosition, full_forward, shallow_forward
from dreamcache.generation.pipeline import DeepCacheParams, Generator
from dreamcache.generation.tiny import tiny_components

SHAPE = BatchShape(width=64, height=64, steps=8, guidance_scale=7.5)
CAT = PromptItem(prompt="a photo of a cat sitting on a windowsill", negative_prompt="", seed=7)
DRAGON = PromptItem(prompt="a dragon flying over a forest", negative_prompt="blurry", seed=99)
REPO = Path(__file__).resolve().parents[1]


def build_pipe(scheduler: str) -> StableDiffusionPipeline:
    """The tiny pipeline in fp32 on the CPU with the scheduler the worker would use."""
    pipe = StableDiffusionPipeline(**tiny_components(), requires_safety_checker=False)
    if scheduler == "dpm-solver++":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
    else:
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


@pytest.fixture(scope="module", params=["dpm-solver++", "ddim"])
def pipe(request: pytest.FixtureRequest) -> StableDiffusionPipeline:
    return build_pipe(request.param)


def run_pipe(pipe: StableDiffusionPipeline, shape: BatchShape, items: Sequence[PromptItem]) -> np.ndarray:
    """diffusers' pipeline call as Generator.generate makes it, pixels as uint8."""
    with torch.inference_mode():
        images = pipe(
            prompt=[item.prompt for item in items],
            negative_prompt=[item.negative_prompt for item in items],
            width=shape.width,
            height=shape.height,
            num_inference_steps=shape.steps,
            guidance_scale=shape.guidance_scale,
            generator=[torch.Generator("cpu").manual_seed(item.seed) for item in items],
            output_type="np",
        ).images
    return np.asarray((images * 255).round().astype(np.uint8))


def by_package(
    pipe: StableDiffusionPipeline, shape: BatchShape, items: Sequence[PromptItem], interval: int = 3, branch: int = 0
) -> np.ndarray:
    """The DeepCache package's helper around the same pipeline call (the reference)."""
    helper = DeepCacheSDHelper(pipe=pipe)
    helper.set_params(cache_interval=interval, cache_branch_id=branch)
    helper.enable()
    try:
        return run_pipe(pipe, shape, items)
    finally:
        helper.disable()
        for module in pipe.unet.modules():  # the helper leaves bound-method attributes behind
            module.__dict__.pop("forward", None)


def ours(pipe: StableDiffusionPipeline, interval: int = 3, branch: int = 0) -> Generator:
    return Generator(pipe, model="tiny", device="cpu", fingerprint="test", deepcache=DeepCacheParams(interval, branch))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    """Largest per-pixel difference between uint8 images."""
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.mark.parametrize("guidance", [7.5, 1.0], ids=["cfg", "no-cfg"])
def test_matches_the_deepcache_package(pipe: StableDiffusionPipeline, guidance: float) -> None:
    shape = BatchShape(64, 64, 8, guidance)
    items = [CAT, DRAGON]
    mine = np.stack(ours(pipe).generate(shape, items))
    reference = by_package(pipe, shape, items)
    plain = run_pipe(pipe, shape, items)
    assert max_diff(mine, reference) <= 1  # measured: 0 (the same ops in the same order)
    assert max_diff(mine, plain) > 0  # shallow steps really reused the cached feature


@pytest.mark.parametrize("branch", [1, 3, 4])
def test_other_cache_branches_match_the_package(branch: int) -> None:
    pipe = build_pipe("dpm-solver++")
    shape = BatchShape(64, 64, 5, 7.5)
    mine = np.stack(ours(pipe, interval=2, branch=branch).generate(shape, [CAT]))
    assert max_diff(mine, by_package(pipe, shape, [CAT], interval=2, branch=branch)) <= 1


def test_branch_outside_the_unet_is_refused() -> None:
    with pytest.raises(ValueError, match="branch 2 needs 3 layers"):
        ours(build_pipe("ddim"), branch=2)  # the tiny up blocks have two layers


def test_plain_path_is_diffusers_untouched(pipe: StableDiffusionPipeline) -> None:
    plain = Generator(pipe, model="tiny", device="cpu", fingerprint="test")
    assert np.array_equal(np.stack(plain.generate(SHAPE, [CAT])), run_pipe(pipe, SHAPE, [CAT]))
    assert "forward" not in pipe.unet.__dict__


def test_full_forward_is_the_unet_forward() -> None:
    unet = tiny_components()["unet"]
    torch.manual_seed(0)
    sample, context = torch.randn(2, 4, 16, 24), torch.randn(2, 77, unet.config.cross_attention_dim)
    timestep = torch.tensor(501)
    position = CachePosition.from_branch(unet, 0)
    with torch.inference_mode():
        expected = unet(sample, timestep, context).sample
        out, feature = full_forward(unet, position, sample, timestep, context)
        again = shallow_forward(unet, position, sample, timestep, context, feature)
    assert float((out - expected).abs().max()) <= 1e-6
    # Same input, so the cached deep feature is exact and the shallow step equals the full one.
    assert float((again - expected).abs().max()) <= 1e-6


def test_interval_one_through_our_forwards_equals_plain(pipe: StableDiffusionPipeline) -> None:
    every_step_full = ours(pipe, interval=1).generate(SHAPE, [CAT])[0]
    assert max_diff(every_step_full, run_pipe(pipe, SHAPE, [CAT])[0]) == 0


def test_state_is_reset_between_batches(pipe: StableDiffusionPipeline) -> None:
    generator = ours(pipe)
    fresh = ours(build_pipe("dpm-solver++" if isinstance(pipe.scheduler, DPMSolverMultistepScheduler) else "ddim"))
    expected = fresh.generate(SHAPE, [CAT])[0]

    def abort(step: int, total: int) -> None:
        if step == 4:  # mid-interval: a shallow step with a feature from another batch was due next
            raise RuntimeError("worker shutting down")

    with pytest.raises(RuntimeError, match="shutting down"):
        generator.generate(BatchShape(64, 96, 8, 3.0), [DRAGON, DRAGON], on_step=abort)
    assert "forward" not in pipe.unet.__dict__  # the stand-in forward is removed even on errors
    assert np.array_equal(generator.generate(SHAPE, [CAT])[0], expected)


def test_batch_of_two_equals_two_batches_of_one(pipe: StableDiffusionPipeline) -> None:
    generator = ours(pipe)
    both = generator.generate(SHAPE, [CAT, DRAGON])
    alone = [generator.generate(SHAPE, [item])[0] for item in (CAT, DRAGON)]
    for together, single in zip(both, alone, strict=True):
        assert max_diff(together, single) <= 2  # fp32 batched kernels may round differently


def test_on_step_and_unwarmed_shapes_work(pipe: StableDiffusionPipeline) -> None:
    generator = ours(pipe)
    assert generator.warm_up([BatchShape(64, 64, 25, 7.5)], [1]) > 0
    calls: list[tuple[int, int]] = []
    images = generator.generate(BatchShape(96, 64, 5, 7.5), [CAT], on_step=lambda s, t: calls.append((s, t)))
    assert images[0].shape == (64, 96, 3)
    assert calls == [(step, 5) for step in range(1, 6)]


def test_gpu_bench_refuses_without_cuda_and_smokes_on_cpu(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("bench_gpu", REPO / "bench" / "bench_gpu.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    if not torch.cuda.is_available():
        assert bench.main([]) == 0
        assert "no CUDA device" in capsys.readouterr().out
    assert bench.main(["--device", "cpu", "--tiny"]) == 0
    table = capsys.readouterr().out
    assert "| ours (DeepCache + eager) |" in table and "| diffusers eager |" in table
