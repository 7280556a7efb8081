"""Denoising checkpoints: the state of one image's generation after K of N steps, and its bytes.

A checkpoint holds exactly what the scheduler needs to continue: the latents entering step K and
the multistep history (DPM-Solver++ keeps the previous steps' converted model outputs and how many
it has; DDIM keeps nothing). Arrays keep the pipeline's own dtype, so a checkpoint is lossless by
construction: fp16 on CUDA (where the pipeline already rounds every step to fp16), fp32 on the CPU.

Numpy only (no torch): the web process reads and writes these next to the images in the store.
The file format is a plain `.npz` (no pickle) with a small JSON header; `FORMAT` versions it.
"""

from __future__ import annotations

import io
import json
import math
import zipfile
from dataclasses import dataclass, field

import numpy as np

FORMAT = 1
CONTENT_TYPE = "application/x-dreamcache-checkpoint"
#: The `scheduler` settings whose state `generation.loop` can save and restore, and their diffusers classes.
SCHEDULER_CLASSES = {"dpm-solver++": "DPMSolverMultistepScheduler", "ddim": "DDIMScheduler"}
RESUMABLE_SCHEDULERS = frozenset(SCHEDULER_CLASSES.values())
VAE_SCALE = 8  # latents are 1/8 of the image's side in every SD v1.x/v2.x VAE


class CheckpointError(ValueError):
    """The bytes are not a checkpoint this version can use (the message says why)."""


@dataclass(frozen=True)
class Checkpoint:
    """One image's denoising state entering step `step` of `steps` (0-based: `step` steps were run)."""

    step: int
    steps: int
    scheduler: str
    latents: np.ndarray  # C x h x w, the pipeline's dtype
    # The scheduler's multistep history, oldest first; None where a slot was still empty.
    history: tuple[np.ndarray | None, ...] = field(default=())
    lower_order: int = 0  # DPM-Solver's `lower_order_nums` at this step

    def to_bytes(self) -> bytes:
        """The checkpoint as an uncompressed .npz (latent noise does not compress)."""
        meta = {
            "format": FORMAT,
            "step": self.step,
            "steps": self.steps,
            "scheduler": self.scheduler,
            "lower_order": self.lower_order,
            "history": [slot is not None for slot in self.history],
        }
        arrays: dict[str, np.ndarray] = {"latents": self.latents, "meta": np.frombuffer(
            json.dumps(meta).encode(), dtype=np.uint8)}
        for i, slot in enumerate(self.history):
            if slot is not None:
                arrays[f"history{i}"] = slot
        buffer = io.BytesIO()
        np.savez(buffer, allow_pickle=False, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Checkpoint:
        """Parse bytes written by `to_bytes`; CheckpointError when they are anything else."""
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as archive:
                meta = json.loads(bytes(archive["meta"]).decode())
                if meta.get("format") != FORMAT:
                    raise CheckpointError(f"checkpoint format {meta.get('format')!r}, expected {FORMAT}")
                history = tuple(
                    np.array(archive[f"history{i}"]) if present else None
                    for i, present in enumerate(meta["history"])
                )
                checkpoint = cls(
                    step=int(meta["step"]),
                    steps=int(meta["steps"]),
                    scheduler=str(meta["scheduler"]),
                    latents=np.array(archive["latents"]),
                    history=history,
                    lower_order=int(meta["lower_order"]),
                )
        except CheckpointError:
            raise
        except (OSError, EOFError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise CheckpointError(f"not a dreamcache checkpoint: {type(exc).__name__}: {exc}") from None
        if not 0 < checkpoint.step < checkpoint.steps:
            raise CheckpointError(f"checkpoint step {checkpoint.step} outside 1..{checkpoint.steps - 1}")
        if checkpoint.latents.ndim != 3:
            raise CheckpointError(f"checkpoint latents must be C x h x w, got shape {checkpoint.latents.shape}")
        return checkpoint

    @property
    def nbytes(self) -> int:
        """Bytes of array data (what a checkpoint costs in the store, give or take the zip headers)."""
        return int(self.latents.nbytes + sum(slot.nbytes for slot in self.history if slot is not None))


def check_fits(
    checkpoint: Checkpoint, *, steps: int, width: int, height: int, scheduler: str, step: int | None = None,
    vae_scale: int = VAE_SCALE,
) -> None:
    """Whether a checkpoint can continue a generation of `steps` steps at this size with this scheduler class
    (and, when given, from `step`): the one rule the service (choosing a source) and the denoising loop
    (resuming it) apply. CheckpointError (a ValueError) says what differs."""
    if step is not None and checkpoint.step != step:
        raise CheckpointError(f"checkpoint is for step {checkpoint.step}, wanted step {step}")
    if checkpoint.steps != steps:
        raise CheckpointError(f"checkpoint is for {checkpoint.steps} steps, the generation runs {steps}")
    if checkpoint.scheduler != scheduler:
        raise CheckpointError(f"checkpoint is for {checkpoint.scheduler}, the pipeline runs {scheduler}")
    latent = (height // vae_scale, width // vae_scale)
    if tuple(checkpoint.latents.shape[1:]) != latent:
        raise CheckpointError(f"checkpoint latents have shape {checkpoint.latents.shape}, wanted (C, *{latent})")


def checkpoint_steps(fractions: list[float], steps: int, interval: int = 1) -> tuple[int, ...]:
    """The steps at which a generation of `steps` steps keeps checkpoints, for fractions of the run.

    Each fraction is rounded *down* to a multiple of `interval` (DeepCache's full-step interval: a
    resumed run recomputes the deep feature at its first step, which then matches the original run
    exactly), so a checkpoint never skips more than its fraction; kept only if it skips at least
    one step and leaves at least one to run.
    """
    interval = max(1, interval)
    found = set()
    for fraction in fractions:
        step = math.floor(fraction * steps / interval + 1e-9) * interval
        if 0 < step < steps:
            found.add(step)
    return tuple(sorted(found))


def checkpoint_key(entry_id: str, step: int) -> str:
    """The store key of an entry's checkpoint at `step` (beside its image `<entry_id>.png`)."""
    return f"{entry_id}.step{step}.ckpt"
