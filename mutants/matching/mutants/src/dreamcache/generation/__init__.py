"""Image generation: what a batch is (here, diffusers-free) and how it runs (`pipeline`, worker only).

Import `dreamcache.generation.pipeline` only where images are made: it imports torch and diffusers.
"""

from dreamcache.generation.spec import (
    RECIPE_VERSION,
    BatchShape,
    PromptItem,
    deepcache_active,
    pipeline_fingerprint,
    resolve_device,
    uses_fp16,
)

__all__ = [
    "RECIPE_VERSION",
    "BatchShape",
    "PromptItem",
    "deepcache_active",
    "pipeline_fingerprint",
    "resolve_device",
    "uses_fp16",
]
