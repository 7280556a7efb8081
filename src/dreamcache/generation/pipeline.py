"""Loading the diffusers pipeline and running one batch of prompts through it (worker process only)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from DeepCache import DeepCacheSDHelper

# Concrete module paths: the package's lazy top level resolves to untyped placeholders for mypy.
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

from dreamcache.generation.spec import (
    BatchShape,
    PromptItem,
    deepcache_active,
    pipeline_fingerprint,
    resolve_device,
    uses_fp16,
)
from dreamcache.generation.tiny import tiny_components
from dreamcache.settings import Settings

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]


@dataclass(frozen=True)
class DeepCacheParams:
    """How DeepCache reuses the UNet's deep features: full pass every `interval` steps."""

    interval: int
    branch: int


class Generator:
    """A loaded pipeline that turns batches of prompt items into RGB images.

    Not thread-safe: one worker thread owns it (DeepCache wraps the UNet during each call).
    """

    def __init__(
        self,
        pipe: StableDiffusionPipeline,
        *,
        model: str,
        device: str,
        fingerprint: str,
        deepcache: DeepCacheParams | None = None,
    ) -> None:
        self.model = model
        self.device = device
        self.fingerprint = fingerprint
        self.deepcache = deepcache
        self._pipe = pipe
        self._helper: DeepCacheSDHelper | None = None
        if deepcache is not None:
            self._helper = DeepCacheSDHelper(pipe=pipe)
            self._helper.set_params(cache_interval=deepcache.interval, cache_branch_id=deepcache.branch)

    @property
    def pipeline(self) -> StableDiffusionPipeline:
        """Return the underlying diffusers pipeline."""
        return self._pipe

    def generate(
        self,
        shape: BatchShape,
        items: Sequence[PromptItem],
        on_step: StepCallback | None = None,
    ) -> list[np.ndarray]:
        """Generate one HxWx3 uint8 RGB image per item, in order, in a single pipeline call."""
        if not items:
            raise ValueError("items must not be empty")
        # One generator per item: an item's initial noise depends on its own seed only.
        generators = [torch.Generator(device=self.device).manual_seed(item.seed) for item in items]
        with self._deepcache_for_one_call(), torch.inference_mode():
            output = self._pipe(
                prompt=[item.prompt for item in items],
                negative_prompt=[item.negative_prompt for item in items],
                width=shape.width,
                height=shape.height,
                num_inference_steps=shape.steps,
                guidance_scale=shape.guidance_scale,
                generator=generators,
                output_type="np",
                callback_on_step_end=_step_callback(on_step) if on_step is not None else None,
            )
        images = np.asarray(output.images)  # float in [0, 1], N x H x W x 3
        # Same rounding as diffusers' numpy_to_pil, so our arrays equal the pipeline's PIL output.
        pixels = (images * 255).round().astype(np.uint8)
        return list(pixels)

    @contextmanager
    def _deepcache_for_one_call(self) -> Iterator[None]:
        """Wrap the UNet with DeepCache for one pipeline call, with fresh state, then unwrap it."""
        if self._helper is None:
            yield
            return
        self._helper.enable()  # resets the cached features: nothing leaks from one batch into the next
        try:
            yield
        finally:
            self._helper.disable()


def _step_callback(on_step: StepCallback) -> Callable[..., dict[str, Any]]:
    """Adapt `on_step(step, total)` (1-based) to diffusers' callback_on_step_end."""

    def callback(
        pipe: StableDiffusionPipeline, step_index: int, timestep: Any, tensors: dict[str, Any]
    ) -> dict[str, Any]:
        # num_timesteps, not the requested steps: some schedulers (PNDM) run one extra step.
        on_step(step_index + 1, pipe.num_timesteps)
        return {}

    return callback


def load_generator(settings: Settings) -> Generator:
    """Load the pipeline `settings` describe (weights from a local path or the HF cache/hub)."""
    device = resolve_device(settings)
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("settings.device is 'cuda' but torch finds no CUDA device")
    dtype = torch.float16 if uses_fp16(settings, device) else torch.float32

    if settings.is_tiny:
        pipe = StableDiffusionPipeline(**tiny_components(), requires_safety_checker=False)
    else:
        if device != "cuda":
            logger.warning("no CUDA device: generation will run in fp32 on the CPU and be slow")
        pipe = StableDiffusionPipeline.from_pretrained(
            settings.model, dtype=dtype, safety_checker=None, requires_safety_checker=False
        )

    if settings.scheduler == "dpm-solver++":
        pipe.scheduler = DPMSolverMultistepScheduler.from_config(
            pipe.scheduler.config, algorithm_type="dpmsolver++"
        )
    elif settings.scheduler == "ddim":
        pipe.scheduler = DDIMScheduler.from_config(pipe.scheduler.config)

    # from_pretrained already loaded the weights in `dtype`; the tiny model is built in fp32.
    pipe = pipe.to(device) if pipe.dtype == dtype else pipe.to(device=device, dtype=dtype)
    if device == "cuda":
        pipe.unet.to(memory_format=torch.channels_last)
    pipe.set_progress_bar_config(disable=True)

    deepcache = (
        DeepCacheParams(interval=settings.deepcache_interval, branch=settings.deepcache_branch)
        if deepcache_active(settings, device)
        else None
    )
    generator = Generator(
        pipe,
        model=settings.model,
        device=device,
        fingerprint=pipeline_fingerprint(settings, device),
        deepcache=deepcache,
    )
    logger.info(
        "generator ready: model=%s device=%s dtype=%s scheduler=%s deepcache=%s fingerprint=%s",
        settings.model,
        device,
        dtype,
        type(pipe.scheduler).__name__,
        deepcache,
        generator.fingerprint,
    )
    return generator
