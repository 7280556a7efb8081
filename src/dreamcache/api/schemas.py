"""Request and response bodies of the HTTP API."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from dreamcache.generation.spec import SAMPLERS, SamplerName
from dreamcache.resolution import MAX_SEED


def unicode_text(value: str) -> str:
    """The value if it is valid Unicode text; JSON can smuggle in lone UTF-16 surrogates ("\\ud800")."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"must be valid Unicode text: a lone surrogate {value[exc.start]!r} at character "
                         f"{exc.start} is not a character") from None
    return value


# A visible character: not white space, not a control or format character (zero-width space and joiners, the
# byte order mark, bidirectional marks). The schemas' `pattern` and the check below are this same expression.
VISIBLE = r"[^\s\x00-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]"
_VISIBLE = re.compile(VISIBLE)


def non_blank_text(value: str) -> str:
    """The value if it has a visible character and is valid Unicode text."""
    if not _VISIBLE.search(value):
        raise ValueError("must not be blank (white space and invisible characters such as zero-width spaces "
                         "do not count)")
    return unicode_text(value)


# What a webhook URL may look like, exactly as the service parses it (schema and runtime share it): http(s), an
# optional user, a host name of LDH labels of 1-63 characters (no lookarounds: pydantic's regex engine has none),
# an IPv4 address or a bracketed IPv6 one without zone, a port 0-65535, then a path, query or fragment.
_H16 = "[0-9A-Fa-f]{1,4}"
_V4_PART = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_V4 = rf"{_V4_PART}(?:\.{_V4_PART}){{3}}"
_V6 = "|".join([
    rf"(?:{_H16}:){{7}}{_H16}", rf"(?:{_H16}:){{1,7}}:", rf"(?:{_H16}:){{1,6}}:{_H16}",
    rf"(?:{_H16}:){{1,5}}(?::{_H16}){{1,2}}", rf"(?:{_H16}:){{1,4}}(?::{_H16}){{1,3}}",
    rf"(?:{_H16}:){{1,3}}(?::{_H16}){{1,4}}", rf"(?:{_H16}:){{1,2}}(?::{_H16}){{1,5}}",
    rf"{_H16}:(?::{_H16}){{1,6}}", rf":(?:(?::{_H16}){{1,7}}|:)", rf"(?:{_H16}:){{6}}{_V4}",
    rf"::(?:[Ff]{{4}}(?::0{{1,4}})?:)?{_V4}",
])
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PORT = r"(?:6553[0-5]|655[0-2]\d|65[0-4]\d\d|6[0-4]\d{3}|[1-5]\d{4}|[1-9]\d{0,3}|0)"
WEBHOOK_URL = (rf"^https?://(?:[^\s/?#@\[\]]+@)?(?:{_LABEL}(?:\.{_LABEL})*\.?|\[(?:{_V6})\])(?::{_PORT})?"
               r"(?:[/?#]\S*)?$")
_WEBHOOK_URL = re.compile(WEBHOOK_URL)


class CacheMode(StrEnum):
    AUTO = "auto"
    REFRESH = "refresh"
    ONLY = "only"


def _n_and_max_results_equal(k: int) -> JsonValue:
    return {"properties": {"n": {"const": k}, "max_results": {"const": k}}}


_N_ALIAS_RULE: list[JsonValue] = [
    {"not": {"required": ["n", "max_results"]}}, *[_n_and_max_results_equal(k) for k in range(1, 10)],
]


class GenerateRequest(BaseModel):
    """POST /generate. Omitted generation settings take the service's defaults."""

    # `max_results` is an alias of `n`: given together, their values must be equal (the rule the service checks,
    # stated in the schema so that clients and schema-driven tests know it).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"anyOf": _N_ALIAS_RULE})

    # The documented bounds are the defaults (DREAMCACHE_MIN_SIDE, _MAX_SIDE, _MAX_STEPS, _MAX_PROMPT_CHARS); the
    # service checks the configured ones and answers 422 naming the field.
    prompt: str = Field(description="What to draw. Not blank; within the CLIP token limit (77 with BOS/EOS).",
                        json_schema_extra={"minLength": 1, "maxLength": 1000, "pattern": VISIBLE})
    negative_prompt: str = Field("", description="What to avoid. Part of the cache key.",
                                 json_schema_extra={"maxLength": 1000})
    width: int | None = Field(None, multiple_of=8, description="Pixels, a multiple of 8 (64-1024 by default).",
                              json_schema_extra={"minimum": 64, "maximum": 1024})
    height: int | None = Field(None, multiple_of=8, description="Pixels, a multiple of 8 (64-1024 by default).",
                               json_schema_extra={"minimum": 64, "maximum": 1024})
    num_inference_steps: int | None = Field(None, ge=1, description="Denoising steps (1-150 by default).",
                                            json_schema_extra={"maximum": 150})
    guidance_scale: float | None = Field(None, ge=0.0, le=30.0, description="Classifier-free guidance scale.")
    seed: int | None = Field(
        None, ge=0, le=MAX_SEED, description="Asks for one exact picture: only an exact match is a hit. At most "
        "2**53 - 1: the largest integer every JSON client holds exactly (a larger one may arrive rounded)."
    )
    n: int = Field(1, ge=1, le=9, description="Pictures wanted. Cached ones come first; when fewer are cached, "
                   "the missing ones are generated together (each image's `source` says which). With a `seed`, "
                   "the pictures' seeds are seed, seed + 1, ... With `cache: only`, the cached ones there are.")
    max_results: int | None = Field(None, ge=1, le=9, deprecated=True,
                                    description="Deprecated alias of `n` (give one of them, or equal values).")
    cache: CacheMode = Field(CacheMode.AUTO, description="auto: look up, else generate; refresh: always generate; "
                                                          "only: never generate (404 on a miss).")
    min_similarity: float | None = Field(
        None, le=1.0, description="Cosine needed for a hit; bounded below by the service's floor (0.90 by default).",
        json_schema_extra={"minimum": 0.9},
    )
    reuse: bool = Field(
        True, description="On a miss, allow starting from a similar past generation's checkpoint (skipping its "
        "first steps). Never done for an explicit seed, a prompt asked again, or `cache: refresh`.",
    )
    response_format: Literal["url", "b64_json"] = Field(
        "url", description="`url`: images as URLs; `b64_json`: the PNG bytes inline, base64 (as OpenAI's images API)."
    )
    webhook: str | None = Field(None, max_length=2048, json_schema_extra={"pattern": WEBHOOK_URL},
                                description="URL that receives this request's events, signed (Standard Webhooks). "
                                "An ASCII host name (IDN as punycode), IPv4 or bracketed IPv6 address, port "
                                "0-65535. Public http(s) hosts only, unless allowlisted (else 403 webhook_refused).")
    webhook_events_filter: list[Literal["start", "progress", "completed"]] = Field(
        ["completed"], max_length=3, description="Which events go to `webhook` (progress at most once a second)."
    )

    scheduler: SamplerName | None = Field(
        None, description="The sampler: " + "; ".join(f"`{name}`: {what}" for name, what in SAMPLERS.items())
        + ". Absent: the service's (DREAMCACHE_SCHEDULER, `dpm-solver++` by default). Part of the cache key: a "
        "picture made with another sampler is another picture. Near-miss reuse only with `dpm-solver++` and `ddim` "
        "(their state resumes exactly).",
    )

    @field_validator("prompt")
    @classmethod
    def _prompt_is_text(cls, value: str) -> str:
        return non_blank_text(value)

    @field_validator("webhook")
    @classmethod
    def _webhook_is_a_url(cls, value: str | None) -> str | None:
        if value is not None and not _WEBHOOK_URL.match(value):
            raise ValueError("must be an http:// or https:// URL: a host name of letters, digits, '-' and '.' (labels "
                             "of 1-63 characters, IDN as punycode), an IPv4 or a bracketed IPv6 address, a port "
                             "0-65535, no spaces")
        return value

    @field_validator("negative_prompt")
    @classmethod
    def _negative_is_text(cls, value: str) -> str:
        return unicode_text(value)


class ReuseOut(BaseModel):
    """How a generated image saved work: it started from another entry's denoising checkpoint."""

    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="Id of the entry whose checkpoint this image started from.")
    skipped_steps: int = Field(description="Denoising steps not run (the checkpoint's step).")
    similarity: float = Field(description="Cosine between this prompt and the source entry's prompt.")


class ImageOut(BaseModel):
    id: str
    source: Literal["cache", "generated"] = Field(
        description="Where this picture comes from: an answer of `n` pictures can hold cached and generated ones."
    )
    match: Literal["exact", "verified"] | None = Field(
        None, description="On a hit: `exact` (same text up to case, punctuation, spacing and tag order, or the "
        "exact seed) or `verified` (passed the verifier and the similarity bar). Null for a generated image."
    )
    reuse: ReuseOut | None = Field(
        None, description="Set on a generated image that reused a similar entry's denoising work; null otherwise."
    )
    url: str | None = Field(description="Where to fetch the PNG (null with `response_format: b64_json`).")
    b64_json: str | None = Field(None, description="The PNG itself, base64 (with `response_format: b64_json`).")
    prompt: str
    negative_prompt: str
    similarity: float | None = Field(description="On a hit: cosine between the request's prompt and this image's "
                                     "prompt. Null for a generated image (and in the gallery).")
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    seed: int
    created_at: datetime


class Timings(BaseModel):
    embed_ms: float | None = None
    lookup_ms: float | None = None
    reuse_ms: float | None = None
    queue_ms: float | None = None
    generate_ms: float | None = None
    total_ms: float


class GenerateResponse(BaseModel):
    source: Literal["cache", "generated"] = Field(
        description="`cache`: every picture was cached (a hit); `generated`: the GPU made some or all of them."
    )
    images: list[ImageOut]
    job_id: str | None = None
    timings: Timings


class Progress(BaseModel):
    step: int
    total: int


class ErrorDetail(BaseModel):
    type: str
    message: str
    field: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


class JobView(BaseModel):
    job_id: str = Field(description="This request's job: what /jobs/{job_id} takes (the same name as in a 200 body).")
    status: Literal["queued", "running", "succeeded", "failed", "canceled"]
    queue_position: int | None = Field(None, description="0 = next to run; null once it left the queue.")
    progress: Progress
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    result: GenerateResponse | None = None
    error: ErrorDetail | None = None


class RecommendRequest(BaseModel):
    """GET /recommend (query parameters) or POST /recommend (JSON body)."""

    model_config = ConfigDict(extra="forbid")

    q: str = Field(min_length=1, max_length=1000, description="What the user has typed so far (from 1 character).",
                   json_schema_extra={"pattern": VISIBLE})
    limit: int = Field(5, ge=1, le=20, description="Most suggestions returned.")
    width: int | None = Field(None, multiple_of=8, json_schema_extra={"minimum": 64, "maximum": 1024},
                              description="Image width the user will ask for "
                                                                    "(decides `instant`); default: the service's.")
    height: int | None = Field(None, multiple_of=8, json_schema_extra={"minimum": 64, "maximum": 1024},
                               description="Image height the user will ask for "
                                                                     "(decides `instant`); default: the service's.")

    @field_validator("q")
    @classmethod
    def _q_not_blank(cls, value: str) -> str:
        return non_blank_text(value)


class Suggestion(BaseModel):
    """One past prompt offered as a completion."""

    prompt: str
    score: float = Field(description="Ranking score: match quality (prefix 1.0, words 0.8, typo 0.7 continuing the "
                                     "text or 0.65, semantic 0.6 x cosine) + 0.15 x popularity + 0.1 x recency "
                                     "(half-life 7 days). Typo and semantic matches always rank below exact ones.")
    hits: int = Field(description="Cache hits on this prompt and its near-duplicates (all sizes and models).")
    match: Literal["prefix", "words", "typo", "semantic"] = Field(
        description="prefix: continues the typed text; words: contains the typed words; typo: either, with one "
                    "typo in typed words of 5+ letters; semantic: a near neighbour of the best text match (or of the "
                    "typed text's finished words), computed in the background."
    )
    instant: bool = Field(description="An image of this prompt is cached for the requested size and this model: "
                                      "choosing it is answered from the cache.")
    thumbnail_url: str | None = Field(None, description="A stored image of this prompt (of the requested size "
                                                        "when instant).")


class RecommendTimings(BaseModel):
    total_ms: float


class RecommendResponse(BaseModel):
    query: str
    suggestions: list[Suggestion]
    timings: RecommendTimings


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str] = Field(description="generator, index, store, disk: `ok` or what is wrong (each one not "
                                   "`ok` makes it not ready). Details that do not: `compile`, and with Redis `redis` "
                                   "(`ok` or `unreachable: ...`; hits are still served)")
    error: ErrorDetail | None = None
