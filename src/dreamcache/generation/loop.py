"""Our own denoising loop: diffusers' StableDiffusionPipeline loop, plus resuming and checkpoints.

For items that all start from noise this is the pipeline's `__call__` step for step (same prompt
encoding, per-item seeded noise, scheduler calls, CFG and VAE decode), so the images equal
diffusers' own. Two things are added:

- **checkpoints**: at the requested steps, each item's scheduler state (`Checkpoint`) is copied
  to the host, so a later, similar prompt can start from it;
- **resuming**: an item may start at step K from a checkpoint instead of from noise. Items of one
  batch share the schedule (same steps), so the batch is aligned by its *end*: the loop runs from
  the smallest start step and an item joins when the loop reaches its own start step. At any step
  every active item is at the same step index, so one scheduler instance serves them all: a
  joiner's latents are appended to the batch and its history to the scheduler's. Items starting
  later therefore never run the steps they skip, and the UNet batch is smaller until they join.

DeepCache: when items join, the cached deep feature does not cover them, so that step is a full
step (checkpoints sit on multiples of the DeepCache interval, where the original run had a full
step as well, which keeps a resumed run equal to the original).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import torch
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import (
    StableDiffusionPipeline,
    retrieve_timesteps,
)
from diffusers.utils.torch_utils import randn_tensor

from dreamcache.generation.checkpoint import RESUMABLE_SCHEDULERS, Checkpoint, check_fits
from dreamcache.generation.spec import BatchShape, GeneratedImage, PromptItem

StepCallback = Callable[[int, int], None]


class BatchMember(Protocol):
    """What the loop needs from a DeepCache stand-in (None when the UNet runs plainly)."""

    def reset(self) -> None: ...


def scheduler_name(pipe: StableDiffusionPipeline) -> str:
    return type(pipe.scheduler).__name__


def can_checkpoint(pipe: StableDiffusionPipeline) -> bool:
    """Whether this pipeline's scheduler state can be saved and restored."""
    return scheduler_name(pipe) in RESUMABLE_SCHEDULERS


def denoise(
    pipe: StableDiffusionPipeline,
    device: str,
    shape: BatchShape,
    items: Sequence[PromptItem],
    *,
    capture: Sequence[int] = (),
    on_step: StepCallback | None = None,
    deepcache: BatchMember | None = None,
) -> list[GeneratedImage]:
    """Run one batch; items with `resume` start at their checkpoint's step. Call inside inference_mode."""
    if not items:
        raise ValueError("items must not be empty")
    if shape.height % 8 or shape.width % 8:
        raise ValueError(f"height and width have to be divisible by 8 but are {shape.height} and {shape.width}")
    name = scheduler_name(pipe)
    starts = [item.resume.step if item.resume is not None else 0 for item in items]
    if (any(starts) or capture) and name not in RESUMABLE_SCHEDULERS:
        raise ValueError(f"checkpoints need one of {sorted(RESUMABLE_SCHEDULERS)}, the scheduler is {name}")
    for item in items:
        if item.resume is not None:
            check_fits(item.resume, steps=shape.steps, width=shape.width, height=shape.height, scheduler=name,
                       vae_scale=pipe.vae_scale_factor)

    scheduler: Any = pipe.scheduler
    cfg = shape.guidance_scale > 1 and pipe.unet.config.time_cond_proj_dim is None
    prompt_embeds, negative_embeds = pipe.encode_prompt(
        [item.prompt for item in items], device, 1, cfg, [item.negative_prompt for item in items]
    )
    timesteps, steps = retrieve_timesteps(scheduler, shape.steps, device)
    dtype = prompt_embeds.dtype
    latent_shape = (1, pipe.unet.config.in_channels, shape.height // pipe.vae_scale_factor,
                    shape.width // pipe.vae_scale_factor)
    extra = _extra_step_kwargs(scheduler)
    first = min(starts)
    if first > 0 and hasattr(scheduler, "set_begin_index"):
        scheduler.set_begin_index(first)

    active: list[int] = []  # item indices, in batch row order
    # Per item, the generator its noise came from: a stochastic sampler (Euler ancestral) keeps drawing from it,
    # as diffusers' pipeline does with a list of generators, so a seed names one picture whatever the batch.
    noise_sources: dict[int, torch.Generator] = {}
    stochastic = "generator" in inspect.signature(scheduler.step).parameters and not any(starts)
    latents: torch.Tensor | None = None
    checkpoints: list[list[Checkpoint]] = [[] for _ in items]
    capture_at = set(capture)
    for k in range(first, steps):
        joiners = [i for i, start in enumerate(starts) if start == k]
        if joiners:
            fresh = torch.cat([_start_latents(pipe, items[i], latent_shape, device, dtype, noise_sources, i)
                               for i in joiners])
            _join_history(scheduler, [items[i].resume for i in joiners], has_rows=latents is not None,
                          device=device)
            latents = fresh if latents is None else torch.cat([latents, fresh])
            active += joiners
            if deepcache is not None:
                deepcache.reset()
        assert latents is not None  # the first iteration always has joiners (k == first)
        if k in capture_at:
            for row, i in enumerate(active):
                if starts[i] < k:  # at its own start step an item's state is its source's
                    checkpoints[i].append(_snapshot(scheduler, name, latents, row, k, steps))
        t = timesteps[k]
        rows = torch.tensor(active, device=prompt_embeds.device)
        context = prompt_embeds.index_select(0, rows)
        if cfg:
            context = torch.cat([negative_embeds.index_select(0, rows), context])
        model_input = torch.cat([latents] * 2) if cfg else latents
        model_input = scheduler.scale_model_input(model_input, t)
        timestep_cond = _timestep_cond(pipe, shape, len(active), device, latents.dtype)
        noise = pipe.unet(model_input, t, encoder_hidden_states=context, timestep_cond=timestep_cond,
                          return_dict=False)[0]
        if cfg:
            uncond, text = noise.chunk(2)
            noise = uncond + shape.guidance_scale * (text - uncond)
        if stochastic:
            extra["generator"] = [noise_sources[i] for i in active]
        latents = scheduler.step(noise, t, latents, **extra, return_dict=False)[0]
        if on_step is not None:
            on_step(k + 1, steps)

    assert latents is not None
    image = pipe.vae.decode(latents / pipe.vae.config.scaling_factor, return_dict=False)[0]
    decoded = pipe.image_processor.postprocess(image, output_type="np", do_denormalize=[True] * len(active))
    # Same rounding as diffusers' numpy_to_pil, so our arrays equal the pipeline's PIL output.
    pixels = (np.asarray(decoded) * 255).round().astype(np.uint8)
    results: list[GeneratedImage | None] = [None] * len(items)
    for row, i in enumerate(active):
        results[i] = GeneratedImage(pixels[row], checkpoints[i], steps - starts[i])
    return [result for result in results if result is not None]


def _start_latents(
    pipe: StableDiffusionPipeline, item: PromptItem, shape: tuple[int, ...], device: str, dtype: torch.dtype,
    noise_sources: dict[int, torch.Generator], index: int,
) -> torch.Tensor:
    """The item's initial noise (as prepare_latents draws it, per item; its generator kept in `noise_sources`)
    or its checkpoint's latents."""
    if item.resume is None:
        generator = torch.Generator(device=device).manual_seed(item.seed)
        noise_sources[index] = generator
        noise = randn_tensor(shape, generator=generator, device=torch.device(device), dtype=dtype)
        return noise * pipe.scheduler.init_noise_sigma
    stored = torch.from_numpy(item.resume.latents).to(device)
    if tuple(stored.shape) != shape[1:]:
        raise ValueError(f"checkpoint latents have shape {tuple(stored.shape)}, the batch needs {shape[1:]}")
    return stored.unsqueeze(0)


def _snapshot(scheduler: Any, name: str, latents: torch.Tensor, row: int, step: int, steps: int) -> Checkpoint:
    """One row's state entering `step`, copied to host memory in its own dtype."""

    def host(tensor: torch.Tensor) -> np.ndarray:
        return np.ascontiguousarray(tensor[row].detach().to("cpu").numpy())

    history: tuple[np.ndarray | None, ...] = ()
    lower_order = 0
    if name == "DPMSolverMultistepScheduler":
        # The next step shifts the oldest slot out: only the newest `order - 1` slots are ever read again.
        slots = scheduler.model_outputs[1:]
        history = tuple(host(slot) if slot is not None else None for slot in slots)
        lower_order = int(scheduler.lower_order_nums)
    return Checkpoint(step, steps, name, host(latents), history, lower_order)


def _join_history(scheduler: Any, resumed: Sequence[Checkpoint | None], *, has_rows: bool, device: str) -> None:
    """Append the joiners' multistep history to the scheduler's (fresh items only join at step 0)."""
    if not hasattr(scheduler, "model_outputs"):  # DDIM: stateless between steps
        return
    if all(checkpoint is None for checkpoint in resumed):
        return
    if any(checkpoint is None for checkpoint in resumed):  # cannot happen: start steps differ
        raise ValueError("items joining at one step must all be resumed or all be fresh")
    checkpoints = [checkpoint for checkpoint in resumed if checkpoint is not None]
    orders = {checkpoint.lower_order for checkpoint in checkpoints}
    if len(orders) != 1 or (has_rows and orders != {int(scheduler.lower_order_nums)}):
        raise ValueError("resumed items disagree on the solver's history length")
    newest = len(scheduler.model_outputs) - 1
    joined: list[torch.Tensor | None] = []
    for slot in range(newest):
        arrays = [checkpoint.history[slot] if slot < len(checkpoint.history) else None for checkpoint in checkpoints]
        present = [array is not None for array in arrays]
        if not any(present):
            rows = None
        elif all(present):
            rows = torch.from_numpy(np.stack([a for a in arrays if a is not None])).to(device)
        else:
            raise ValueError("resumed items disagree on the solver's history")
        current = scheduler.model_outputs[slot + 1] if has_rows else None
        if has_rows and (current is None) != (rows is None):
            raise ValueError("a resumed item's history does not fit the running batch")
        joined.append(rows if current is None else torch.cat([current, rows]) if rows is not None else current)
    scheduler.model_outputs = [None, *joined]
    scheduler.lower_order_nums = orders.pop()


def _extra_step_kwargs(scheduler: Any) -> dict[str, Any]:
    """eta=0 where the scheduler takes it (DDIM), as the pipeline passes by default (noise generators: `denoise`)."""
    accepts = set(inspect.signature(scheduler.step).parameters)
    return {"eta": 0.0} if "eta" in accepts else {}


def _timestep_cond(
    pipe: StableDiffusionPipeline, shape: BatchShape, rows: int, device: str, dtype: torch.dtype
) -> torch.Tensor | None:
    """The guidance embedding of LCM-style UNets (None for SD v1.x/v2.x)."""
    dim = pipe.unet.config.time_cond_proj_dim
    if dim is None:
        return None
    scale = torch.tensor(shape.guidance_scale - 1).repeat(rows)
    return pipe.get_guidance_scale_embedding(scale, embedding_dim=dim).to(device=device, dtype=dtype)
