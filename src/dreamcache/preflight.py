"""Before serving: are the model's weights here, or can they be fetched? Fail in seconds, in words, if not.

Without this, a missing checkpoint on a machine that cannot reach the Hugging Face Hub meant minutes
of retries and a 30-line traceback naming neither `DREAMCACHE_MODEL=tiny` nor how to get the weights.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import httpx

from dreamcache.settings import Settings

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 5.0
MODEL_INDEX = "model_index.json"


class ModelUnavailable(RuntimeError):
    """The configured model cannot be loaded; the message is one paragraph for the operator."""


def looks_like_path(model: str) -> bool:
    """Whether the model names a local folder rather than a Hub id (`org/name`)."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def _advice(model: str, problem: str) -> str:
    if looks_like_path(model):  # a folder: downloading it from the Hub makes no sense
        return (
            f"dreamcache cannot load the model {model!r}: {problem}. DREAMCACHE_MODEL names a local folder: point "
            f"it at a diffusers folder (one with {MODEL_INDEX}), or at a Hugging Face id such as "
            f"stable-diffusion-v1-5/stable-diffusion-v1-5 to use the Hub. To try dreamcache offline without "
            f"weights, run with DREAMCACHE_MODEL=tiny (`make demo` does)."
        )
    return (
        f"dreamcache cannot load the model {model!r}: {problem}. "
        f"Looked for it as a local folder and in the Hugging Face cache "
        f"({os.environ.get('HF_HOME', '~/.cache/huggingface')}). To get the weights, run "
        f"`hf download {model}` on a machine with internet access (copy the cache over if this one "
        f"has none), or point DREAMCACHE_MODEL at a local diffusers folder (one with {MODEL_INDEX}). "
        f"To try dreamcache offline without weights, run with DREAMCACHE_MODEL=tiny (`make demo` does)."
    )


def check_model(settings: Settings, timeout_s: float = PROBE_TIMEOUT_S) -> None:
    """Return when the model is local, cached or fetchable; else raise ModelUnavailable (never retries)."""
    model = settings.model
    if settings.is_tiny:
        return
    local = Path(model).expanduser()
    if local.exists():
        if not (local / MODEL_INDEX).is_file():
            raise ModelUnavailable(_advice(model, f"the folder has no {MODEL_INDEX}, so it is not a diffusers model"))
        return
    if looks_like_path(model):
        raise ModelUnavailable(_advice(model, "no such folder"))
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(model, MODEL_INDEX)
    except Exception as exc:  # a malformed id
        log.debug("cache lookup of %s failed", model, exc_info=True)
        raise ModelUnavailable(_advice(model, f"it is neither a folder nor a valid Hub id ({exc})")) from None
    if isinstance(cached, str):
        return
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        raise ModelUnavailable(_advice(model, "it is not in the local cache and HF_HUB_OFFLINE is set"))
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co").rstrip("/")
    try:
        response = httpx.get(f"{endpoint}/api/models/{model}", timeout=timeout_s)
    except httpx.HTTPError as exc:
        log.debug("probing %s failed", endpoint, exc_info=True)
        raise ModelUnavailable(_advice(model, f"it is not in the local cache and the Hub ({endpoint}) cannot "
                                              f"be reached ({type(exc).__name__})")) from None
    if response.status_code in (401, 403, 404):
        raise ModelUnavailable(_advice(model, f"the Hub answered {response.status_code} (no such model, or a "
                                              "gated one: log in with `hf auth login`)"))
