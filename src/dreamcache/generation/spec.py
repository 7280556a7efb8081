"""What a generation is, independent of diffusers: batch shapes, prompt items, device and fingerprint.

The web process imports this module, so it must not import torch or diffusers at import time.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Literal, get_args

import numpy as np

from dreamcache.generation.checkpoint import Checkpoint, checkpoint_steps
from dreamcache.settings import Settings

# Bump whenever the code changes the pixels produced for the same settings (pipeline options,
# post-processing, the tiny model's configs or seeding). Old cache entries then stop matching.
RECIPE_VERSION = 2  # 2: our DeepCache forwards; fused QKV and optional compile on CUDA

TINY_CORPUS_FILE = "tiny_corpus.txt"

Device = Literal["cuda", "cpu"]

# What the worker reports about torch.compile (Ready.compile, /readyz `compile`); a fallback adds its reason.
COMPILE_OFF = "off"
COMPILE_OK = "ok"
COMPILE_FELL_BACK = "fell back to eager"


#: The samplers a request may choose (`scheduler` on /generate, A1111's `sampler_name`): name -> what it is.
#: Each maps to one diffusers scheduler class built from the model's own scheduler config (`generation.pipeline`).
SAMPLERS: dict[str, str] = {
    "dpm-solver++": "DPM-Solver++ 2M (DPMSolverMultistepScheduler, algorithm dpmsolver++)",
    "euler-ancestral": "Euler ancestral (EulerAncestralDiscreteScheduler): stochastic, seeded per picture",
    "euler": "Euler (EulerDiscreteScheduler)",
    "ddim": "DDIM (DDIMScheduler, eta 0)",
    "unipc": "UniPC (UniPCMultistepScheduler)",
}


SamplerName = Literal["dpm-solver++", "euler-ancestral", "euler", "ddim", "unipc"]
assert set(get_args(SamplerName)) == set(SAMPLERS)


@dataclass(frozen=True)
class BatchShape:
    """Settings shared by every item of a batch: requests with equal shapes can run together."""

    width: int
    height: int
    steps: int
    guidance_scale: float
    # A sampler of `SAMPLERS` other than the service's configured one; "" = the configured one (`settings.scheduler`).
    scheduler: str = ""


@dataclass(frozen=True)
class PromptItem:
    """One image to generate inside a batch; with `resume`, it starts from that checkpoint, not from noise."""

    prompt: str
    negative_prompt: str
    seed: int
    resume: Checkpoint | None = field(default=None, compare=False, repr=False)


@dataclass
class GeneratedImage:
    """One item's image (H x W x 3 uint8 RGB), the checkpoints kept on the way, and the steps it ran."""

    pixels: np.ndarray
    checkpoints: list[Checkpoint] = field(default_factory=list)
    steps_run: int = 0
    png: bytes = b""  # the image encoded, when the worker did it (off the cores that answer cache hits)

    def encoded(self) -> bytes:
        """The image as PNG: the worker's encoding, or encoded now."""
        return self.png or encode_png(self.pixels)


def encode_png(image: np.ndarray) -> bytes:
    """An H x W x 3 uint8 RGB image as PNG (fast compression: stored once, served many times)."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def start_step(item: PromptItem) -> int:
    """The step an item's denoising starts at: its checkpoint's, or 0."""
    return item.resume.step if item.resume is not None else 0


def capture_steps(settings: Settings, device: str, steps: int) -> tuple[int, ...]:
    """Where a generation of `steps` steps keeps checkpoints (none when reuse is off)."""
    if not settings.reuse:
        return ()
    interval = settings.deepcache_interval if deepcache_active(settings, device) else 1
    return checkpoint_steps(settings.checkpoint_fractions, steps, interval)


def resolve_device(settings: Settings) -> Device:
    """Return the device the pipeline runs on: `cuda` or `cpu` (`auto`: `cuda` when `cuda_available()`)."""
    if settings.device != "auto":
        return settings.device
    return "cuda" if cuda_available() else "cpu"


@lru_cache(maxsize=1)
def cuda_available() -> bool:
    """Whether torch would find a CUDA device, asked without importing torch (the web process stays torch-free).

    Two facts decide it, as they do for torch: the installed torch is a CUDA build (its `version.py`
    names a CUDA version), and the CUDA driver reports a device (`cuInit` + `cuDeviceGetCount`, which
    honour CUDA_VISIBLE_DEVICES). The worker checks with torch itself: if the two ever disagree, its
    fingerprint differs and readiness says so.
    """
    import ctypes
    import importlib.util
    import re
    from pathlib import Path

    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    version = Path(next(iter(spec.submodule_search_locations))) / "version.py"
    try:
        built_for = re.search(r"^cuda\b.*=\s*['\"]([^'\"]+)['\"]", version.read_text(encoding="utf-8"), re.M)
    except OSError:
        return False
    if built_for is None:
        return False
    try:
        driver = ctypes.CDLL("libcuda.so.1")
        count = ctypes.c_int(0)
        return driver.cuInit(0) == 0 and driver.cuDeviceGetCount(ctypes.byref(count)) == 0 and count.value > 0
    except OSError:
        return False


def uses_fp16(settings: Settings, device: str) -> bool:
    """Return whether the pipeline runs in half precision (only on CUDA, and only if asked)."""
    return device == "cuda" and settings.fp16


def deepcache_active(settings: Settings, device: str) -> bool:
    """Return whether DeepCache wraps the UNet on this device."""
    # `deepcache` is the master switch; the CPU also needs `deepcache_on_cpu`. Interval 1 recomputes
    # every step, which is plain diffusion: not active, so it shares plain diffusion's fingerprint.
    on_device = device == "cuda" or settings.deepcache_on_cpu
    return settings.deepcache and on_device and settings.deepcache_interval > 1


def compile_active(settings: Settings, device: str) -> bool:
    """Return whether the UNet forwards are compiled on this device (asked for; the CPU also needs compile_on_cpu)."""
    return settings.compile_unet and (device == "cuda" or settings.compile_on_cpu)


@lru_cache(maxsize=1)
def tiny_corpus_text() -> str:
    """Return the text the tiny tokenizer's vocabulary is trained on (shipped with the package)."""
    return resources.files("dreamcache.generation").joinpath(TINY_CORPUS_FILE).read_text(encoding="utf-8")


def pipeline_fingerprint(settings: Settings, device: str) -> str:
    """Return a short hex digest of everything that changes the pixels for a given prompt and seed."""
    recipe: dict[str, object] = {
        "recipe": RECIPE_VERSION,
        "model": settings.model,
        # The initial noise comes from a torch.Generator on this device: CPU and CUDA draw
        # different numbers for the same seed, so the device is part of the picture.
        "device": device,
        "dtype": "float16" if uses_fp16(settings, device) else "float32",
        "scheduler": settings.scheduler,
        # Compiled kernels round fp16 differently from eager ones (a fallback to eager keeps this value).
        "compiled": compile_active(settings, device),
        "deepcache": (
            {"interval": settings.deepcache_interval, "branch": settings.deepcache_branch}
            if deepcache_active(settings, device)
            else None
        ),
    }
    if settings.is_tiny:
        recipe["tiny_corpus"] = hashlib.sha256(tiny_corpus_text().encode("utf-8")).hexdigest()
    blob = json.dumps(recipe, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:16]
