"""Resuming a generation from a checkpoint reproduces the full run: the mechanism behind near-miss reuse."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from dreamcache.generation import BatchShape, PromptItem
from dreamcache.generation.checkpoint import Checkpoint, CheckpointError, checkpoint_key, checkpoint_steps
from dreamcache.generation.pipeline import DeepCacheParams, Generator
from test_deepcache import build_pipe, max_diff

SHAPE = BatchShape(width=64, height=64, steps=9, guidance_scale=7.5)
CAPTURE = (3, 6)  # multiples of the DeepCache interval, as checkpoint_steps picks them
CAT = PromptItem("a photo of a cat sitting on a windowsill", "", seed=7)
DRAGON = PromptItem("a dragon flying over a forest", "blurry", seed=99)


@pytest.fixture(scope="module", params=["dpm-solver++", "ddim"])
def scheduler(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module", params=[None, 3], ids=["plain", "deepcache"])
def generator(request: pytest.FixtureRequest, scheduler: str) -> Generator:
    deepcache = DeepCacheParams(request.param, 0) if request.param else None
    return Generator(build_pipe(scheduler), model="tiny", device="cpu", fingerprint="test", deepcache=deepcache)


def test_a_full_run_keeps_checkpoints_at_the_requested_steps(generator: Generator) -> None:
    [result] = generator.run(SHAPE, [CAT], capture=CAPTURE)
    assert [c.step for c in result.checkpoints] == list(CAPTURE)
    assert result.steps_run == SHAPE.steps
    for checkpoint in result.checkpoints:
        assert checkpoint.steps == SHAPE.steps
        assert checkpoint.latents.shape == (4, 8, 8) and checkpoint.latents.dtype == np.float32
        assert checkpoint.scheduler == type(generator.pipeline.scheduler).__name__
    # Checkpoints change nothing in the picture.
    assert max_diff(result.pixels, generator.generate(SHAPE, [CAT])[0]) == 0


@pytest.mark.parametrize("at", CAPTURE)
def test_resuming_from_its_own_checkpoint_reproduces_the_full_run(generator: Generator, at: int) -> None:
    """Exactly, with tolerance 0: in fp32 on the CPU a resumed run does the same arithmetic on the same numbers as
    the full run, so its state entering the last step (latents and the solver's history) is equal bit for bit,
    and so are the pixels. A 1% error in the restored latents or a lost solver history shows here."""
    last = SHAPE.steps - 1
    [full] = generator.run(SHAPE, [CAT], capture=(*CAPTURE, last))
    checkpoint = next(c for c in full.checkpoints if c.step == at)
    restored = Checkpoint.from_bytes(checkpoint.to_bytes())  # through the bytes that go to the store
    [resumed] = generator.run(SHAPE, [replace(CAT, resume=restored)], capture=(last,))
    assert resumed.steps_run == SHAPE.steps - at
    expected, got = full.checkpoints[-1], resumed.checkpoints[-1]
    assert expected.step == got.step == last
    assert got.latents.dtype == np.float32 and np.array_equal(got.latents, expected.latents)
    assert got.lower_order == expected.lower_order and len(got.history) == len(expected.history)
    if expected.scheduler == "DPMSolverMultistepScheduler":  # a multistep solver: there is a history to compare
        assert expected.history and all(slot is not None for slot in expected.history)
    for mine, theirs in zip(got.history, expected.history, strict=True):
        assert (mine is None) == (theirs is None)
        assert mine is None or theirs is None or np.array_equal(mine, theirs)
    assert np.array_equal(resumed.pixels, full.pixels)


def test_a_batch_mixing_fresh_and_resumed_jobs_gives_each_its_own_picture(generator: Generator) -> None:
    [cat_full] = generator.run(SHAPE, [CAT], capture=CAPTURE)
    [dragon_full] = generator.run(SHAPE, [DRAGON], capture=CAPTURE)
    cat_at_3, dragon_at_6 = cat_full.checkpoints[0], dragon_full.checkpoints[1]
    fresh = PromptItem("a lighthouse in a storm", "", seed=3)
    fresh_alone = generator.generate(SHAPE, [fresh])
    steps_seen: list[int] = []
    results = generator.run(
        SHAPE,
        [replace(DRAGON, resume=dragon_at_6), fresh, replace(CAT, resume=cat_at_3)],
        on_step=lambda k, n: steps_seen.append(k),
    )
    assert max_diff(results[0].pixels, dragon_full.pixels) <= 1
    assert max_diff(results[1].pixels, fresh_alone[0]) <= 1
    assert max_diff(results[2].pixels, cat_full.pixels) <= 1
    assert [r.steps_run for r in results] == [3, 9, 6]
    assert steps_seen == list(range(1, 10))


def test_a_batch_of_resumed_jobs_runs_only_the_remaining_steps(generator: Generator) -> None:
    [full] = generator.run(SHAPE, [CAT], capture=CAPTURE)
    steps_seen: list[int] = []
    generator.run(SHAPE, [replace(CAT, resume=full.checkpoints[1])], on_step=lambda k, n: steps_seen.append(k))
    assert steps_seen == [7, 8, 9]


def test_a_resumed_run_keeps_only_checkpoints_after_its_start(generator: Generator) -> None:
    [full] = generator.run(SHAPE, [CAT], capture=CAPTURE)
    [resumed] = generator.run(SHAPE, [replace(DRAGON, resume=full.checkpoints[0])], capture=CAPTURE)
    assert [c.step for c in resumed.checkpoints] == [6]


def test_a_checkpoint_of_another_length_or_scheduler_is_refused(generator: Generator) -> None:
    [full] = generator.run(SHAPE, [CAT], capture=CAPTURE)
    with pytest.raises(ValueError, match="checkpoint is for 9 steps"):
        generator.run(replace(SHAPE, steps=12), [replace(CAT, resume=full.checkpoints[0])])
    other = replace(full.checkpoints[0], scheduler="PNDMScheduler")
    with pytest.raises(ValueError, match="checkpoint is for PNDMScheduler"):
        generator.run(SHAPE, [replace(CAT, resume=other)])
    small = replace(full.checkpoints[0], latents=np.zeros((4, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="latents have shape"):
        generator.run(SHAPE, [replace(CAT, resume=small)])


def test_a_scheduler_without_saveable_state_simply_keeps_no_checkpoints() -> None:
    pipe = build_pipe("dpm-solver++")
    from dreamcache.generation.tiny import tiny_components

    pipe.scheduler = tiny_components()["scheduler"]  # PNDM: its history is not modelled
    generator = Generator(pipe, model="tiny", device="cpu", fingerprint="test")
    [result] = generator.run(replace(SHAPE, steps=4), [CAT], capture=(2,))
    assert result.checkpoints == [] and result.pixels.shape == (64, 64, 3)


def test_checkpoint_bytes_round_trip_and_reject_garbage() -> None:
    checkpoint = Checkpoint(
        5, 25, "DPMSolverMultistepScheduler", np.arange(48, dtype=np.float16).reshape(3, 4, 4),
        (np.ones((3, 4, 4), dtype=np.float16), None), 2,
    )
    back = Checkpoint.from_bytes(checkpoint.to_bytes())
    assert back.step == 5 and back.steps == 25 and back.lower_order == 2
    assert back.latents.dtype == np.float16 and np.array_equal(back.latents, checkpoint.latents)
    assert back.history[1] is None and np.array_equal(back.history[0], checkpoint.history[0])  # type: ignore[arg-type]
    assert checkpoint.nbytes == 2 * 48 * 2
    for garbage in (b"", b"not a zip", checkpoint.to_bytes()[:50]):
        with pytest.raises(CheckpointError, match="not a dreamcache checkpoint"):
            Checkpoint.from_bytes(garbage)
    with pytest.raises(CheckpointError, match="outside"):
        Checkpoint.from_bytes(replace(checkpoint, step=25).to_bytes())


def test_checkpoint_steps_round_to_the_deepcache_interval() -> None:
    assert checkpoint_steps([0.2, 0.4, 0.6], 25) == (5, 10, 15)
    assert checkpoint_steps([0.2, 0.4, 0.6], 25, interval=3) == (3, 9, 15)  # never past the fraction
    assert checkpoint_steps([0.2, 0.4], 4) == (1,)
    assert checkpoint_steps([0.2, 0.4], 10) == (2, 4)
    assert checkpoint_steps([0.2], 2, interval=3) == ()  # nothing between the first and the last step
    assert checkpoint_steps([0.0, 1.0], 25) == ()
    assert checkpoint_key("abc", 6) == "abc.step6.ckpt"


def test_resumed_generation_is_cheaper_on_the_cpu() -> None:
    """Not a timing assertion: counts UNet calls, which is what the time follows."""
    generator = Generator(build_pipe("dpm-solver++"), model="tiny", device="cpu", fingerprint="test")
    calls = 0
    unet = generator.pipeline.unet

    def count(module: torch.nn.Module, args: object) -> None:
        nonlocal calls
        calls += 1

    [full] = generator.run(SHAPE, [CAT], capture=CAPTURE)
    handle = unet.register_forward_pre_hook(count)
    try:
        generator.run(SHAPE, [replace(DRAGON, resume=full.checkpoints[1])])
    finally:
        handle.remove()
    assert calls == SHAPE.steps - 6
