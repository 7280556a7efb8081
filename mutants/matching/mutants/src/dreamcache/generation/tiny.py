"""The `tiny` model: a miniature Stable Diffusion built from configs with seeded random weights.

Same diffusers classes and block layout as SD v1.x, so the production code path (schedulers,
DeepCache, batching, callbacks) runs unchanged on a CPU in a fraction of a second. Its images are
noise: it exists for tests, CI and the offline demo.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.schedulers.scheduling_pndm import PNDMScheduler

from dreamcache.generation.text import TINY_TEXT_HIDDEN_SIZE, build_tiny_text_encoder, load_tokenizer
from dreamcache.settings import TINY_MODEL

T = TypeVar("T")

# scheduler/scheduler_config.json of stable-diffusion-v1-5, key for key.
SD_SCHEDULER_CONFIG: dict[str, Any] = {
    "_class_name": "PNDMScheduler",
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "clip_sample": False,
    "num_train_timesteps": 1000,
    "set_alpha_to_one": False,
    "skip_prk_steps": True,
    "steps_offset": 1,
    "trained_betas": None,
}

# 512 px images have 64 px latents, as in SD v1.x: the VAE below upsamples 8x.
TINY_LATENT_SIZE = 64


def tiny_components(seed: int = 0) -> dict[str, Any]:
    """Return the keyword arguments of StableDiffusionPipeline for the tiny model."""
    return {
        "unet": _seeded(seed, _tiny_unet),
        "vae": _seeded(seed, _tiny_vae),
        "text_encoder": build_tiny_text_encoder(seed),
        "tokenizer": load_tokenizer(TINY_MODEL),
        "scheduler": _sd_scheduler(),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def _seeded(seed: int, build: Callable[[], T]) -> T:
    """Call `build` with torch's CPU RNG seeded, restoring the caller's RNG state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def _tiny_unet() -> UNet2DConditionModel:
    """SD's block layout (cross-attention down blocks, plain down block, mid, mirrored up) in miniature."""
    unet = UNet2DConditionModel(
        sample_size=TINY_LATENT_SIZE,
        in_channels=4,
        out_channels=4,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        block_out_channels=(4, 8),
        layers_per_block=1,
        norm_num_groups=2,
        attention_head_dim=1,  # one head (diffusers' legacy name for the head count)
        cross_attention_dim=TINY_TEXT_HIDDEN_SIZE,
        # Self-attention over the 64x64 latent of a 512 px image costs seconds per image on a CPU:
        # the transformer blocks attend to the 77 text tokens only, and the mid block is SD's
        # minus its attention. The module layout DeepCache wraps stays the same.
        only_cross_attention=True,
        mid_block_type="UNetMidBlock2D",
    )
    return unet.eval()


def _tiny_vae() -> AutoencoderKL:
    """A four-level VAE (8x up/down sampling, like SD's) with four channels per level."""
    vae = AutoencoderKL(
        sample_size=TINY_LATENT_SIZE * 8,
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(4, 4, 4, 4),
        layers_per_block=1,
        norm_num_groups=2,
        # Same reason as the UNet: self-attention over 64x64 latents is the one slow part.
        mid_block_add_attention=False,
    )
    return vae.eval()


def _sd_scheduler() -> PNDMScheduler:
    """The scheduler SD v1.5 ships with, built from its config as a checkpoint load would."""
    # from_config marks the keys it did not get as defaults, which later from_config calls (our
    # scheduler swap) skip; building it like this keeps the tiny swap identical to a real one.
    scheduler: PNDMScheduler = PNDMScheduler.from_config(SD_SCHEDULER_CONFIG)
    return scheduler
