"""Loading the diffusers pipeline and running one batch of prompts through it (worker process only)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# Concrete module paths: the package's lazy top level resolves to untyped placeholders for mypy.
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from diffusers.schedulers.scheduling_euler_ancestral_discrete import EulerAncestralDiscreteScheduler
from diffusers.schedulers.scheduling_euler_discrete import EulerDiscreteScheduler
from diffusers.schedulers.scheduling_unipc_multistep import UniPCMultistepScheduler

from dreamcache.generation.deepcache import CompiledForwards, DeepCacheUNet, first_line
from dreamcache.generation.loop import StepCallback, can_checkpoint, denoise
from dreamcache.generation.spec import (
    COMPILE_FELL_BACK,
    COMPILE_OFF,
    COMPILE_OK,
    SAMPLERS,
    BatchShape,
    GeneratedImage,
    PromptItem,
    compile_active,
    deepcache_active,
    pipeline_fingerprint,
    resolve_device,
    uses_fp16,
)
from dreamcache.generation.tiny import tiny_components
from dreamcache.settings import Settings

logger = logging.getLogger(__name__)

# torch.compile mode for the UNet forwards on CUDA: CUDA graphs, one per warmed shape.
COMPILE_MODE = "reduce-overhead"
# On the CPU (compile_on_cpu): inductor's C++ kernels, no CUDA graphs.
CPU_COMPILE_MODE = "default"


def make_scheduler(name: str, config: Any) -> Any:
    """The diffusers scheduler of sampler `name` (`spec.SAMPLERS`), built from a model's scheduler config."""
    if name == "dpm-solver++":
        return DPMSolverMultistepScheduler.from_config(config, algorithm_type="dpmsolver++")
    if name == "ddim":
        return DDIMScheduler.from_config(config)
    if name == "euler-ancestral":
        return EulerAncestralDiscreteScheduler.from_config(config)
    if name == "euler":
        return EulerDiscreteScheduler.from_config(config)
    if name == "unipc":
        return UniPCMultistepScheduler.from_config(config)
    raise ValueError(f"unknown sampler {name!r}; known: {', '.join(SAMPLERS)}")


@dataclass(frozen=True)
class DeepCacheParams:
    """How DeepCache reuses the UNet's deep features: full pass every `interval` steps."""

    interval: int
    branch: int


class Generator:
    """A loaded pipeline that turns batches of prompt items into RGB images.

    Not thread-safe: one worker thread owns it (DeepCache stands in for `unet.forward` during each call).

    With `deepcache` or `compile_mode`, the UNet runs through `generation.deepcache`'s full and
    shallow forwards (compiled when `compile_mode` is set: "reduce-overhead" on CUDA, "default" on
    the CPU); without either, the pipeline is diffusers' own, untouched.
    """

    def __init__(
        self,
        pipe: StableDiffusionPipeline,
        *,
        model: str,
        device: str,
        fingerprint: str,
        deepcache: DeepCacheParams | None = None,
        compile_mode: str | None = None,
    ) -> None:
        self.model = model
        self.device = device
        self.fingerprint = fingerprint
        self.deepcache = deepcache
        self._pipe = pipe
        self.compile_mode = compile_mode
        # Per-request samplers are built from the pipeline's scheduler config (the same betas and spacing), once
        # each; the UNet and its compiled graphs do not depend on the sampler.
        self._scheduler_config = pipe.scheduler.config
        self._samplers: dict[str, Any] = {}
        self._forwards: CompiledForwards | None = None
        if deepcache is not None or compile_mode is not None:
            branch = deepcache.branch if deepcache is not None else 0
            self._forwards = CompiledForwards(pipe.unet, branch, compile_mode)

    @property
    def pipeline(self) -> StableDiffusionPipeline:
        """Return the underlying diffusers pipeline."""
        return self._pipe

    @property
    def compile_status(self) -> str:
        """`off` (eager by choice), `ok` (compiled forwards) or `fell back to eager: <reason>` (/readyz shows it)."""
        if self._forwards is None or self.compile_mode is None:
            return COMPILE_OFF
        if self._forwards.fallback is not None:
            return f"{COMPILE_FELL_BACK}: {self._forwards.fallback}"
        return COMPILE_OK

    def generate(
        self,
        shape: BatchShape,
        items: Sequence[PromptItem],
        on_step: StepCallback | None = None,
    ) -> list[np.ndarray]:
        """Generate one HxWx3 uint8 RGB image per item, in order, in a single batch."""
        return [result.pixels for result in self.run(shape, items, on_step)]

    def run(
        self,
        shape: BatchShape,
        items: Sequence[PromptItem],
        on_step: StepCallback | None = None,
        capture: Sequence[int] = (),
    ) -> list[GeneratedImage]:
        """Generate one image per item (resumed items start at their checkpoint), keeping checkpoints at `capture`.

        `on_step(k, n)` reports that the batch finished step k of n (1-based, counted from step 0 even
        when the batch starts later).
        """
        first = min(item.resume.step if item.resume is not None else 0 for item in items) if items else 0
        with self._sampler(shape.scheduler):
            if capture and not can_checkpoint(self._pipe):
                capture = ()  # this scheduler's state cannot be saved: no checkpoints, nothing else changes
            with self._deepcache_for_one_call(first) as deepcache, torch.inference_mode():
                return denoise(
                    self._pipe, self.device, shape, items, capture=capture, on_step=on_step, deepcache=deepcache
                )

    @contextmanager
    def _sampler(self, name: str) -> Iterator[None]:
        """Run one batch with sampler `name` ("" = the configured one), then put the configured one back."""
        if not name:
            yield
            return
        if name not in self._samplers:
            self._samplers[name] = make_scheduler(name, self._scheduler_config)
        configured = self._pipe.scheduler
        self._pipe.scheduler = self._samplers[name]
        try:
            yield
        finally:
            self._pipe.scheduler = configured

    def warm_up(self, shapes: Sequence[BatchShape], batch_sizes: Sequence[int]) -> float:
        """Run every (shape, batch size) once so compiled graphs exist before serving; return seconds.

        Never raises: a failure falls back to eager (the service serves slower rather than not at all).
        """
        started = time.perf_counter()
        for shape in shapes:
            # Two steps reach both the full and the shallow graph (interval >= 2); steps do not change shapes.
            short = BatchShape(shape.width, shape.height, min(shape.steps, 2), shape.guidance_scale)
            for size in batch_sizes:
                if self._forwards is not None and self._forwards.fallback is not None:
                    return time.perf_counter() - started  # eager needs no warm-up
                try:
                    self.generate(short, [PromptItem("warm-up", "", seed) for seed in range(size)])
                except Exception as exc:
                    if self._forwards is None or self.compile_mode is None:
                        raise  # nothing to fall back from
                    # Even eager failed here (the compiled call's failures fall back by themselves).
                    where = f"warm-up at {short.width}x{short.height}, batch {size}"
                    self._forwards.fall_back(f"{where}: {first_line(exc)}")
        return time.perf_counter() - started

    @contextmanager
    def _deepcache_for_one_call(self, first_step: int = 0) -> Iterator[DeepCacheUNet | None]:
        """Let a fresh DeepCacheUNet stand in for `unet.forward` during one batch, then remove it."""
        if self._forwards is None:
            yield None
            return
        unet = self._pipe.unet
        interval = self.deepcache.interval if self.deepcache is not None else 1
        previous = unet.__dict__.get("forward")  # an instance-level forward someone else installed
        # A new instance per call: step counter and cached feature start empty for every batch.
        stand_in = DeepCacheUNet(self._forwards, interval, first_step)
        unet.forward = stand_in
        try:
            yield stand_in
        finally:
            if previous is None:
                del unet.forward
            else:
                unet.forward = previous


def _tune_for_cuda(pipe: StableDiffusionPipeline, dtype: torch.dtype) -> None:
    """CUDA-only speedups: channels_last UNet, fused QKV projections, TF32 where fp32 remains (SDPA is the default)."""
    pipe.unet.to(memory_format=torch.channels_last)
    pipe.fuse_qkv_projections()
    if dtype == torch.float32:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


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

    if settings.scheduler != "default":
        pipe.scheduler = make_scheduler(settings.scheduler, pipe.scheduler.config)

    # from_pretrained already loaded the weights in `dtype`; the tiny model is built in fp32.
    pipe = pipe.to(device) if pipe.dtype == dtype else pipe.to(device=device, dtype=dtype)
    if device == "cuda":
        _tune_for_cuda(pipe, dtype)
    pipe.set_progress_bar_config(disable=True)

    deepcache = (
        DeepCacheParams(interval=settings.deepcache_interval, branch=settings.deepcache_branch)
        if deepcache_active(settings, device)
        else None
    )
    if settings.compile_unet and not compile_active(settings, device):
        logger.info("compile_unet on %s needs compile_on_cpu: running the UNet eagerly", device)
    compile_mode = None
    if compile_active(settings, device):
        compile_mode = COMPILE_MODE if device == "cuda" else CPU_COMPILE_MODE
    if compile_mode is not None:
        # One graph per (batch size x2 for CFG, resolution) and forward: more than dynamo's default 8.
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    generator = Generator(
        pipe,
        model=settings.model,
        device=device,
        fingerprint=pipeline_fingerprint(settings, device),
        deepcache=deepcache,
        compile_mode=compile_mode,
    )
    if compile_mode is not None:
        sizes = settings.warmup_batch_sizes or list(range(1, settings.max_batch_size + 1))
        shape = BatchShape(
            settings.default_width, settings.default_height, settings.default_steps, settings.default_guidance
        )
        logger.info("compiling the UNet (%s) for %s at batch sizes %s", compile_mode, shape, sizes)
        logger.info("warm-up took %.1f s; compile: %s", generator.warm_up([shape], sizes), generator.compile_status)
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
