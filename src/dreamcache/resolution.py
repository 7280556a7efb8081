"""Resolving a request, in one place: defaults and bounds (`CacheRequest`), the keys it is looked up,
joined and generated under (`compat_key`, `exact_key`, `resume_key`, `flight_key`; `RequestKeys` derives
them once per request), and the `Entry` a generated picture becomes. The service (live requests) and
`dreamcache replay` (a traffic stream over a temporary index) both use it, so they cannot drift apart.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Any

from dreamcache import prompts
from dreamcache.generation.spec import SAMPLERS, BatchShape
from dreamcache.generation.text import count_prompt_tokens
from dreamcache.index import Entry
from dreamcache.settings import Settings

MAX_SEED = 2**53 - 1  # the largest integer every JSON client holds exactly (RFC 8259, section 6)


@dataclass(frozen=True)
class CacheRequest:
    """A validated request with every default filled in."""

    prompt: str
    negative_prompt: str
    shape: BatchShape
    seed: int | None  # with n > 1, the pictures' seeds are seed, seed + 1, ... (as AUTOMATIC1111's batches)
    n: int  # pictures wanted: cached ones first, the rest generated
    mode: str  # auto | refresh | only
    min_similarity: float
    namespace: str = ""  # "" = the shared pool
    viewer: str | None = None  # hash of the client identity: seedless requests get pictures it has not seen
    reuse: bool = True  # the request allows starting from a similar entry's checkpoint
    client: str = ""  # who asks (API key id, or address when open): rate limits and the GPU queue's fair share
    warm_up: bool = False  # filling the cache (`dreamcache warm`, the demo): not user traffic in the hit ratio
    api: str = "native"  # which HTTP API asked (native, openai, a1111): the metrics' label, nothing else


class InvalidField(ValueError):
    """A request the service refuses: `field` names the field, the message says the rule."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def resolve_size(width: int | None, height: int | None, settings: Settings) -> tuple[int, int]:
    """Width and height with the defaults filled in, within the service's side limits (else InvalidField)."""
    width = width if width is not None else settings.default_width
    height = height if height is not None else settings.default_height
    for field, value in (("width", width), ("height", height)):
        if value % 8:
            raise InvalidField(field, f"must be a multiple of 8, got {value}")
        if not settings.min_side <= value <= settings.max_side:
            raise InvalidField(field, f"must be between {settings.min_side} and {settings.max_side} pixels, "
                               f"got {value}")
    return width, height


def resolve_scheduler(scheduler: str | None, settings: Settings) -> str:
    """A sampler of `SAMPLERS` as a shape stores it: "" for the service's configured one (else InvalidField)."""
    if scheduler is None or scheduler == settings.scheduler:
        return ""
    if scheduler not in SAMPLERS:
        raise InvalidField("scheduler", f"must be one of {', '.join(SAMPLERS)}, got {scheduler!r}")
    return scheduler


def effective_scheduler(shape: BatchShape, settings: Settings) -> str:
    """The sampler a shape runs: its own, or the service's configured one."""
    return shape.scheduler or settings.scheduler


def resolve_shape(
    width: int | None, height: int | None, steps: int | None, guidance: float | None, settings: Settings,
    scheduler: str | None = None,
) -> BatchShape:
    """The generation settings with the service's defaults, within its bounds (else InvalidField)."""
    width, height = resolve_size(width, height, settings)
    steps = steps if steps is not None else settings.default_steps
    if not 1 <= steps <= settings.max_steps:
        raise InvalidField("num_inference_steps", f"must be between 1 and {settings.max_steps}, got {steps}")
    guidance = guidance if guidance is not None else settings.default_guidance
    return BatchShape(width, height, steps, float(guidance), resolve_scheduler(scheduler, settings))


def check_prompt(field: str, text: str, settings: Settings, tokenizer: Any | None) -> None:
    """A prompt within the character limit and (given the model's tokenizer) the CLIP token limit."""
    if len(text) > settings.max_prompt_chars:
        raise InvalidField(field, f"must be at most {settings.max_prompt_chars} characters, got {len(text)}")
    if tokenizer is not None:
        limit = tokenizer.model_max_length
        tokens = count_prompt_tokens(tokenizer, text)
        if tokens > limit:
            raise InvalidField(field, f"is {tokens} CLIP tokens long (with start/end tokens); the limit is {limit}")


def resolve_request(
    settings: Settings,
    *,
    prompt: str,
    negative_prompt: str = "",
    width: int | None = None,
    height: int | None = None,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
    n: int = 1,
    max_results: int | None = None,
    n_given: bool = False,
    mode: str = "auto",
    min_similarity: float | None = None,
    namespace: str = "",
    viewer: str | None = None,
    reuse: bool = True,
    client: str = "",
    warm_up: bool = False,
    tokenizer: Any | None = None,
    scheduler: str | None = None,
    api: str = "native",
) -> CacheRequest:
    """A request with every default filled in and every settings-dependent rule checked (else InvalidField)."""
    for field, text in (("prompt", prompt), ("negative_prompt", negative_prompt)):
        check_prompt(field, text, settings, tokenizer)
    shape = resolve_shape(width, height, steps, guidance, settings, scheduler)
    threshold = min_similarity if min_similarity is not None else settings.similarity_threshold
    if threshold < settings.min_similarity_floor:
        raise InvalidField("min_similarity",
                           f"must be between {settings.min_similarity_floor} and 1.0, got {threshold}")
    if max_results is not None:  # the deprecated alias of n
        if n_given and n != max_results:
            raise InvalidField("max_results", f"is an alias of n: give one of them, or equal values (n={n}, "
                               f"max_results={max_results})")
        n = max_results
    if seed is not None and seed + n - 1 > MAX_SEED:
        raise InvalidField("seed", f"with n={n} pictures (seeds seed .. seed + n - 1), must be at most 2**53 - {n}")
    return CacheRequest(
        prompt=prompt,
        negative_prompt=negative_prompt,
        shape=shape,
        seed=seed,
        n=n,
        mode=mode,
        min_similarity=threshold,
        namespace=namespace,
        viewer=viewer if seed is None else None,  # a seed names one exact picture: no variety
        reuse=reuse,
        client=client,
        warm_up=warm_up,
        api=api,
    )


# --- the keys: which entries may answer, repeat, continue or join which requests ----------------------------


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:32]


def compat_key(fingerprint: str, shape: BatchShape, negative_prompt: str, namespace: str = "") -> str:
    """Entries with equal compat keys may answer each other's requests (model, size, negative prompt, namespace,
    sampler).

    A private namespace is part of the key, so its entries never match another namespace's requests;
    the shared pool ("") keeps the key it always had. So does the configured sampler (the fingerprint names it);
    a picture made with another sampler is another picture: its name is part of the key.
    """
    parts: tuple[object, ...] = ("compat", fingerprint, shape.width, shape.height, prompts.clean(negative_prompt))
    if shape.scheduler:
        parts = (*parts, "sampler", shape.scheduler)
    return _digest(*parts, "ns", namespace) if namespace else _digest(*parts)


def exact_key(compat: str, prompt: str, shape: BatchShape, seed: int) -> str:
    """Identifies one exact picture: prompt, every setting and the seed."""
    return _digest("exact", compat, prompts.clean(prompt), shape.steps, float(shape.guidance_scale), seed)


def reused_exact_key(compat: str, prompt: str, shape: BatchShape, source_id: str) -> str:
    """A reused picture's exact key: not that of any seed, so no seeded request is ever answered with it."""
    return _digest("reused", compat, prompts.clean(prompt), shape.steps, float(shape.guidance_scale), source_id)


def resume_key(compat: str, shape: BatchShape) -> str:
    """Entries with equal resume keys can continue each other's denoising: compat key, steps and guidance."""
    return _digest("resume", compat, shape.steps, float(shape.guidance_scale))


def flight_key(
    compat: str, prompt: str, shape: BatchShape, seed: int | None, count: int = 1, cached: tuple[str, ...] = ()
) -> str:
    """Concurrent misses with equal flight keys share one generation: `count` pictures to generate, after the
    `cached` ones (entry ids) the answer holds already."""
    parts = (compat, prompts.clean(prompt), shape.steps, float(shape.guidance_scale), seed)
    if count == 1 and not cached:
        return _digest("flight", *parts)
    return _digest("flight", *parts, count, *cached)


def request_seeds(request: CacheRequest) -> list[int]:
    """The seeds an explicitly seeded request names: `seed` .. `seed + n - 1`."""
    assert request.seed is not None
    return [request.seed + i for i in range(request.n)]


def viewer_hash(client: str) -> str:
    """What is stored of a client identity: a salted hash, never the raw value."""
    return hashlib.sha256(f"dreamcache-client\x1f{client}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class RequestKeys:
    """Every key a request is looked up, joined and stored under, derived once (the rules: `decision`)."""

    prompt: str
    shape: BatchShape
    compat: str  # which entries may answer it (model, size, negative prompt, namespace)
    text: str  # its canonical text's digest: retyped prompts
    resume: str  # which entries' checkpoints it may continue (compat, steps, guidance)

    @classmethod
    def of(cls, request: CacheRequest, fingerprint: str) -> RequestKeys:
        compat = compat_key(fingerprint, request.shape, request.negative_prompt, request.namespace)
        return cls(request.prompt, request.shape, compat, prompts.text_key(request.prompt),
                   resume_key(compat, request.shape))

    def exact(self, seed: int) -> str:
        """The exact key of the picture of this prompt and settings with `seed`."""
        return exact_key(self.compat, self.prompt, self.shape, seed)

    def reused_exact(self, source_id: str) -> str:
        """The exact key of a picture continued from `source_id`'s checkpoint (never any seed's)."""
        return reused_exact_key(self.compat, self.prompt, self.shape, source_id)

    def flight(self, seed: int | None, count: int = 1, cached: tuple[str, ...] = ()) -> str:
        """The key concurrent identical misses share one generation under."""
        return flight_key(self.compat, self.prompt, self.shape, seed, count, cached)


def build_entry(
    keys: RequestKeys,
    *,
    entry_id: str,
    prompt: str,
    negative_prompt: str,
    seed: int,
    exact: str,
    model: str,
    fingerprint: str,
    namespace: str = "",
    checkpoints: tuple[int, ...] = (),
    reused_from: str = "",
    skipped_steps: int = 0,
    stored_bytes: int = 0,
    created_at: float | None = None,
) -> Entry:
    """The index entry of one generated picture (its image stored under `<entry_id>.png`)."""
    shape = keys.shape
    return Entry(
        id=entry_id,
        prompt=prompt,
        negative_prompt=negative_prompt,
        width=shape.width,
        height=shape.height,
        steps=shape.steps,
        guidance_scale=float(shape.guidance_scale),
        seed=seed,
        model=model,
        fingerprint=fingerprint,
        image_key=f"{entry_id}.png",
        created_at=time.time() if created_at is None else created_at,
        compat_key=keys.compat,
        exact_key=exact,
        prompt_norm=prompts.normalize(prompt),
        namespace=namespace,
        text_key=keys.text,
        checkpoints=checkpoints,
        resume_key=keys.resume if checkpoints else "",
        reused_from=reused_from,
        skipped_steps=skipped_steps,
        stored_bytes=stored_bytes,
    )
