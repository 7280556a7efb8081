"""All configuration of dreamcache: one pydantic-settings class, environment prefix DREAMCACHE_."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TINY_MODEL = "tiny"
DEFAULT_MODEL = "stable-diffusion-v1-5/stable-diffusion-v1-5"


#: The settings by concern, in the order `Settings` declares them (a test keeps the two in step). Each setting
#: `name` is read from the environment variable `DREAMCACHE_<NAME>`, whatever its group.
GROUPS: dict[str, tuple[str, ...]] = {
    "storage": (
        "data_dir", "s3_bucket", "s3_endpoint_url", "s3_region", "s3_access_key_id", "s3_secret_access_key",
        "s3_prefix", "s3_presign_expiry_s", "s3_public_base_url", "public_base_url", "min_free_disk_mb",
    ),
    "generation": (
        "model", "device", "fp16", "scheduler", "deepcache", "deepcache_on_cpu", "deepcache_interval",
        "deepcache_branch", "compile_unet", "compile_on_cpu", "warmup_batch_sizes",
    ),
    "worker": (
        "queue_size", "max_batch_size", "batch_wait_ms", "worker_nice", "worker_threads", "worker_start_timeout_s",
    ),
    "requests": (
        "default_width", "default_height", "default_steps", "default_guidance", "min_side", "max_side", "max_steps",
        "max_prompt_chars",
    ),
    "embedding": (
        "embedder", "embedder_runtime", "embedder_threads", "embedding_cache_size", "embed_batch_size",
        "embed_batch_wait_ms",
    ),
    "decision": ("similarity_threshold", "min_similarity_floor",),
    "reuse": (
        "reuse", "checkpoint_fractions", "reuse_schedule", "reuse_layout_edit_max_skip", "reuse_colour_edit_max_skip",
        "reuse_attribute_edit_max_skip",
    ),
    "index": ("qdrant_url", "qdrant_api_key", "qdrant_collection", "index_optimize_on_start", "qdrant_local_path",),
    "jobs": ("default_wait_s", "max_wait_s", "job_ttl_s", "max_jobs", "retry_after_s",),
    "access": ("keys_file", "metrics_public", "image_url_expiry_s",),
    "limits": (
        "request_rate_per_s", "request_burst", "generation_rate_per_s", "generation_burst", "max_queued_per_client",
    ),
    "http": (
        "host", "port", "max_body_bytes", "body_timeout_s", "body_total_timeout_s", "header_timeout_s",
        "max_connections", "keep_alive_s", "http_parser", "forwarded_allow_ips", "event_loop",
    ),
    "retention": ("retention_ttl_s", "retention_max_entries", "retention_max_bytes", "retention_interval_s",),
    "webhooks": (
        "webhook_secret", "webhook_allowed_hosts", "webhook_timeout_s", "webhook_max_attempts",
        "webhook_backoff_scale",
    ),
    "cluster": ("redis_url", "worker", "redis_prefix", "redis_visibility_timeout_s", "redis_max_deliveries",),
}


class Settings(BaseSettings):
    """Every knob of the service, grouped by concern (`GROUPS`). Zero configuration gives the embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="DREAMCACHE_", env_file=".env", extra="ignore")

    # --- storage: the data directory and its disk, the image store (local or S3) -----------------------
    data_dir: Path = Field(Path("data"), description="Root of embedded state: index and local images.")
    s3_bucket: str | None = Field(None, description="S3 bucket; unset = local directory under data_dir.")
    s3_endpoint_url: str | None = Field(None, description="S3-compatible endpoint (MinIO, moto...).")
    s3_region: str = Field("us-east-1", description="S3 region.")
    s3_access_key_id: str | None = Field(None, description="S3 access key (else the boto3 default chain).")
    s3_secret_access_key: str | None = Field(None, description="S3 secret key.")
    s3_prefix: str = Field("images/", description="Key prefix inside the bucket.")
    s3_presign_expiry_s: int = Field(3600, ge=1, le=604800, description="Lifetime of presigned GET URLs.")
    s3_public_base_url: str | None = Field(None, description="If set, image URLs are base + key (no presigning).")
    public_base_url: str | None = Field(None, description="Absolute base for local image URLs (else relative).")
    min_free_disk_mb: int = Field(
        512, ge=0, description="Readiness fails when the data directory's disk has less free space (MB)."
    )

    # --- generation: the generator: model, precision, sampler, accelerations ---------------------------------
    model: str = Field(DEFAULT_MODEL, description="Hugging Face id or local path of an SD checkpoint, or `tiny`.")
    device: Literal["auto", "cuda", "cpu"] = Field("auto", description="Where the pipeline runs.")
    fp16: bool = Field(True, description="Half precision on CUDA (ignored on CPU).")
    scheduler: Literal["dpm-solver++", "ddim", "default"] = Field(
        "dpm-solver++", description="Sampler; `default` keeps the checkpoint's own."
    )
    deepcache: bool = Field(True, description="DeepCache on CUDA (ignored on CPU unless deepcache_on_cpu).")
    deepcache_on_cpu: bool = Field(False, description="Also use DeepCache on CPU (tests, experiments).")
    deepcache_interval: int = Field(3, ge=1, le=10, description="DeepCache cache interval.")
    deepcache_branch: int = Field(0, ge=0, le=11, description="DeepCache cache branch id.")
    compile_unet: bool = Field(
        False, description="Compile the UNet's full and shallow forwards (CUDA graphs on CUDA) and warm them up; on "
        "CPU only with compile_on_cpu. A failure falls back to eager (/readyz `compile`)."
    )
    compile_on_cpu: bool = Field(False, description="Also compile on CPU (inductor, no CUDA graphs; needs a C++ "
                                 "compiler): tests, experiments.")
    warmup_batch_sizes: list[int] | None = Field(
        None, description="Batch sizes compiled at start-up (default 1..max_batch_size), at the default size."
    )

    # --- worker: the GPU queue and worker process ------------------------------------------------------------
    queue_size: int = Field(64, ge=1, description="Most images waiting for the GPU; beyond it 429.")
    max_batch_size: int = Field(4, ge=1, le=64, description="Most images run as one batch (compatible jobs "
                                "together; a request of more pictures runs in consecutive batches).")
    batch_wait_ms: float = Field(10.0, ge=0.0, description="How long the dispatcher waits to fill a batch.")
    worker_nice: int = Field(10, ge=0, le=19, description="The GPU worker process runs at this lower CPU priority "
                             "(nice), so it never starves the cache hits of the web process.")
    worker_threads: int = Field(0, ge=0, le=256, description="CPU threads of the worker's torch (0: all cores but "
                                "one, so one is always left for the web process).")
    worker_start_timeout_s: float = Field(600.0, ge=1.0, description="Longest the model may take to load.")

    # --- requests: request defaults and bounds (`resolution`) ------------------------------------------------
    default_width: int = Field(512, description="Width when a request names none.")
    default_height: int = Field(512, description="Height when a request names none.")
    default_steps: int = Field(25, description="num_inference_steps when a request names none.")
    default_guidance: float = Field(7.5, description="guidance_scale when a request names none.")
    min_side: int = Field(64, description="Smallest width/height accepted.")
    max_side: int = Field(1024, description="Largest width/height accepted.")
    max_steps: int = Field(150, description="Largest num_inference_steps accepted.")
    max_prompt_chars: int = Field(1000, description="Longest prompt accepted, in characters.")

    # --- embedding: the prompt embedder ----------------------------------------------------------------------
    embedder: Literal["minilm", "clip"] = Field(
        "minilm", description="`minilm`: all-MiniLM-L6-v2 (offline package); `clip`: the generator's text encoder."
    )
    embedder_runtime: Literal["onnx", "torch"] = Field(
        "onnx", description="`minilm` on ONNX Runtime (int8-stored weights, no torch in the web process) or on "
        "PyTorch (fp32 weights); the same vector space, every hit decision of `make eval` equal."
    )
    embedder_threads: int = Field(2, ge=1, le=64, description="CPU threads of one embedding call (ONNX Runtime; 2 "
                                  "measured fastest on 2 cores, for single prompts and batches alike).")
    embedding_cache_size: int = Field(
        20_000, ge=0, description="Prompt vectors kept in memory (LRU, ~1.6 KB each): a repeated prompt skips the "
        "embedder. 0 turns it off."
    )
    embed_batch_size: int = Field(32, ge=1, description="Most prompts embedded in one micro-batch.")
    embed_batch_wait_ms: float = Field(2.0, ge=0.0, description="How long a micro-batch waits for company.")

    # --- decision: the cache decision (`decision`, `matching`) -----------------------------------------------
    similarity_threshold: float = Field(
        0.92, ge=0.0, le=1.0, description="Cosine at or above which a compatible entry is a hit (see README)."
    )
    min_similarity_floor: float = Field(
        0.90, ge=0.0, le=1.0, description="Lowest per-request min_similarity a client may ask for."
    )

    # --- reuse: near-miss reuse (NIRVANA-style approximate caching) ------------------------------------------
    reuse: bool = Field(
        True, description="Start a near-miss from a similar past generation's checkpoint (`off` to disable)."
    )
    checkpoint_fractions: list[float] = Field(
        [0.2, 0.4],
        description="Points of each generation (fractions of its steps) whose denoising state is kept for reuse.",
    )
    reuse_schedule: list[tuple[float, float]] = Field(
        [(0.90, 0.2), (0.95, 0.4)],
        description="[similarity, fraction] pairs: a neighbour at or above the similarity lets a near-miss skip "
        "up to that fraction of its steps (the largest checkpoint within it). Not measured with real weights.",
    )
    reuse_layout_edit_max_skip: float = Field(
        0.0, ge=0.0, lt=1.0,
        description="Largest share of steps a near-miss may skip when its neighbour differs in a count or number, "
        "the order of its words (swapped roles or attributes) or a subject word (`matching.edit_class`): the "
        "early steps fix the layout, so 0 (default) starts these from noise; 0.2 allows the shallowest checkpoint.",
    )
    reuse_colour_edit_max_skip: float = Field(
        0.2, ge=0.0, lt=1.0,
        description="Largest share of steps a near-miss may skip when its neighbour differs in a colour word "
        "(colours settle after the layout): the shallowest checkpoint by default. Style, medium, artist, quality "
        "and camera edits follow `reuse_schedule` alone.",
    )
    reuse_attribute_edit_max_skip: float = Field(
        0.2, ge=0.0, lt=1.0,
        description="Largest share of steps a near-miss may skip when only describing words differ (`a cat` / "
        "`a fluffy cat`: adjectives and adverbs by WordNet's dominant sense, perhaps with colours): like a "
        "colour, the things and their places stay, so the shallowest checkpoint by default.",
    )

    # --- index: the vector index (Qdrant) --------------------------------------------------------------------
    qdrant_url: str | None = Field(None, description="Qdrant server URL; unset = embedded Qdrant Edge.")
    qdrant_api_key: str | None = Field(None, description="API key for the Qdrant server.")
    qdrant_collection: str = Field("dreamcache", description="Collection name prefix (embedder name appended).")
    index_optimize_on_start: bool = Field(
        True, description="Build the embedded index's HNSW graph at start-up (Qdrant Edge never does it by itself)."
    )
    qdrant_local_path: Path | None = Field(
        None,
        description="qdrant-client local mode at this path (brute force; for comparisons, not production).",
    )

    # --- jobs: waiting for a generation: jobs, Prefer: wait --------------------------------------------------
    default_wait_s: float = Field(30.0, ge=0.0, le=600.0, description="How long POST /generate waits for a miss.")
    max_wait_s: float = Field(120.0, ge=0.0, description="Largest `Prefer: wait=N` honoured.")
    job_ttl_s: float = Field(3600.0, ge=1.0, description="How long finished jobs stay queryable.")
    max_jobs: int = Field(10_000, ge=100, description="Most jobs kept in memory; the oldest finished go first.")
    retry_after_s: int = Field(5, ge=1, description="Retry-After sent with 429.")

    # --- access: who may call: API keys, signed image URLs, metrics ------------------------------------------
    keys_file: Path | None = Field(
        None, description="API keys file (`dreamcache keys add`); unset = data_dir/keys.json. No keys file = open "
        "service; a file with no keys lets nobody in."
    )
    metrics_public: bool = Field(False, description="Serve /metrics without an admin key (e.g. to a scraper on a "
                                 "private network) when keys exist.")
    image_url_expiry_s: int = Field(
        3600, ge=1, le=604800, description="Lifetime of signed local image URLs handed out when keys exist, counted "
        "from the next 10-minute boundary (so this plus up to 600 s)."
    )

    # --- limits: fair use (per API key, or per client address when the service is open) ----------------------
    request_rate_per_s: float = Field(50.0, ge=0, description="POST /generate requests (lookups, so hits) per "
                                      "second per client; 0 = no limit. Beyond it 429.")
    request_burst: int = Field(200, ge=1, description="Requests a client may send at once before the rate applies.")
    generation_rate_per_s: float = Field(1.0, ge=0, description="Generations (misses reaching the GPU) per second "
                                         "per client; 0 = no limit. Beyond it 429.")
    generation_burst: int = Field(30, ge=1, description="Generations a client may start at once before the rate "
                                  "applies.")
    max_queued_per_client: int = Field(16, ge=1, description="Most images one client may have waiting for the GPU "
                                       "(one request of `n` larger than this is let in alone); the worker takes jobs "
                                       "round-robin across clients.")

    # --- http: serving HTTP: address, connections, parser, body and header guards ----------------------------
    host: str = Field("127.0.0.1", description="Address `dreamcache serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `dreamcache serve` listens on.")
    max_body_bytes: int = Field(65536, ge=1024, description="Largest request body accepted; beyond it 413.")
    body_timeout_s: float = Field(10.0, gt=0, description="Longest wait for the next piece of a request body (408).")
    body_total_timeout_s: float = Field(30.0, gt=0, description="Longest time a whole request body may take to "
                                        "arrive, however it is paced (408).")
    header_timeout_s: float = Field(10.0, gt=0, description="Longest wait for a request's headers; then the "
                                    "connection is closed (slow clients).")
    max_connections: int = Field(
        1000, ge=1, description="Concurrent connections and requests served at once; beyond it 503."
    )
    keep_alive_s: int = Field(5, ge=1, description="Idle keep-alive connections are closed after this long.")
    http_parser: Literal["httptools", "h11"] = Field(
        "httptools", description="HTTP/1.1 parser: `httptools` (C, fast) or `h11` (pure Python); the same guards."
    )
    forwarded_allow_ips: list[str] = Field(
        [], description="Addresses (or networks) of the reverse proxies whose X-Forwarded-For and X-Forwarded-Proto "
        "are believed; empty = nobody's, so a client cannot choose its own address (and rate-limit bucket).",
    )
    event_loop: Literal["uvloop", "asyncio"] = Field("uvloop", description="Event loop of the web process.")

    # --- retention: retention and the vanished-image check ---------------------------------------------------
    retention_ttl_s: float | None = Field(None, gt=0, description="Entries not hit (or made) for this long are "
                                          "removed; unset = kept forever.")
    retention_max_entries: int | None = Field(None, ge=1, description="Most entries kept; the least recently hit "
                                              "go first. Unset = no cap.")
    retention_max_bytes: int | None = Field(None, ge=1, description="Most bytes of images and checkpoints kept; "
                                            "the least recently hit go first. Unset = no cap.")
    retention_interval_s: float = Field(300.0, gt=0, description="How often retention and the vanished-image "
                                        "check run (in the background).")

    # --- webhooks: webhooks (Standard Webhooks signatures) ---------------------------------------------------
    webhook_secret: str | None = Field(None, description="`whsec_<base64>`: signs webhook deliveries; unset = "
                                       "webhooks are refused (403).")
    webhook_allowed_hosts: list[str] = Field(
        [], description="If set, webhooks may only go to these hosts (`.example.com` allows subdomains); listed "
        "hosts may also be loopback or private. Unset: any host with public addresses only.",
    )
    webhook_timeout_s: float = Field(5.0, gt=0, description="Timeout of one webhook delivery attempt.")
    webhook_max_attempts: int = Field(5, ge=1, le=6, description="Attempts per webhook event (backoff 1, 2, 4, 8 s).")
    webhook_backoff_scale: float = Field(1.0, gt=0, description="Multiplies the retry backoff (tests shorten it).")

    # --- cluster: many replicas and GPU workers sharing one queue, job table and limits on Redis ----------
    redis_url: str | None = Field(
        None, description="`redis://host:6379/0` (Valkey too): jobs, the GPU queue, single flight, limits and "
        "autocomplete are shared by every replica and worker on it. Unset: all of it stays in this process."
    )
    worker: Literal["local", "none"] = Field(
        "local", description="`local`: this process runs a GPU worker child (with Redis it takes part in the "
        "shared queue); `none`: a web replica without a GPU (needs redis_url)."
    )
    redis_prefix: str = Field("dreamcache", pattern=r"^[A-Za-z0-9_.-]{1,64}$",
                              description="Prefix of every Redis key (two deployments may share one Redis).")
    redis_visibility_timeout_s: float = Field(
        30.0, ge=2.0, le=3600.0, description="A job taken by a worker that stops renewing it (killed, frozen, cut "
        "off) for this long is handed to another worker."
    )
    redis_max_deliveries: int = Field(3, ge=1, le=100, description="A job whose worker died this many times fails "
                                      "with worker_crashed instead of being handed out again.")

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.worker == "none" and not self.redis_url:
            raise ValueError("worker=none (a web replica without a GPU worker) needs redis_url: the GPU workers "
                             "take its jobs from the shared queue on Redis")
        if self.webhook_secret is not None:
            import base64
            import binascii

            try:
                key = base64.b64decode(self.webhook_secret.removeprefix("whsec_"), validate=True)
            except (binascii.Error, ValueError):
                key = b""
            if len(key) < 16:
                raise ValueError("webhook_secret must be whsec_ followed by base64 of at least 16 bytes")
        for fraction in self.checkpoint_fractions:
            if not 0.0 < fraction < 1.0:
                raise ValueError(f"checkpoint_fractions must lie strictly between 0 and 1, got {fraction}")
        previous = (0.0, 0.0)
        for similarity, fraction in self.reuse_schedule:
            if not 0.0 <= similarity <= 1.0 or not 0.0 < fraction < 1.0:
                raise ValueError(f"reuse_schedule entries are [similarity in 0..1, fraction in (0, 1)], "
                                 f"got [{similarity}, {fraction}]")
            if similarity <= previous[0] or fraction < previous[1]:
                raise ValueError("reuse_schedule must rise: similarities strictly, fractions never falling")
            previous = (similarity, fraction)
        if self.min_side % 8 or self.max_side % 8:
            raise ValueError("min_side and max_side must be multiples of 8")
        for name in ("default_width", "default_height"):
            value = getattr(self, name)
            if value % 8 or not self.min_side <= value <= self.max_side:
                raise ValueError(f"{name} must be a multiple of 8 within [min_side, max_side]")
        return self

    def group(self, concern: str) -> dict[str, Any]:
        """The settings of one concern (a key of `GROUPS`), by name."""
        return {name: getattr(self, name) for name in GROUPS[concern]}

    @property
    def is_tiny(self) -> bool:
        return self.model == TINY_MODEL

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def images_dir(self) -> Path:
        return self.data_dir / "images"

    @property
    def keys_path(self) -> Path:
        return self.keys_file if self.keys_file is not None else self.data_dir / "keys.json"
