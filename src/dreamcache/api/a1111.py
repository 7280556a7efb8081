"""AUTOMATIC1111's web UI API (`/sdapi/v1/...`) in front of the cache: txt2img, the read-only endpoints its
clients call first (sd-models, samplers, schedulers, options, scripts), progress and interrupt of the caller's own
running txt2img.

txt2img is translated into the `CacheRequest` the native `/generate` resolves and answered through the same path
(`api.answers`). A1111 clients send every field, most at their defaults: a field at its default (or one that
changes nothing without another, such as the hires-fix settings without `enable_hr`) is accepted; a field asking
for something this service does not do (hires fix, face restoration, tiling, scripts, styles, variation seeds,
override settings...) is a 422 naming the field, never silently ignored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, field_validator

from dreamcache.api.answers import Cached, answer, client_of, finished
from dreamcache.api.deps import CallerDep, Services, ServicesDep
from dreamcache.api.errors import ERROR_RESPONSES, ApiError, invalid
from dreamcache.api.schemas import non_blank_text, unicode_text
from dreamcache.api.tenancy import NamespaceHeader, request_namespace
from dreamcache.cache.waiters import NotCancelable
from dreamcache.jobs import Job
from dreamcache.keys import Caller
from dreamcache.resolution import MAX_SEED, CacheRequest, InvalidField, effective_scheduler, resolve_request

router = APIRouter(prefix="/sdapi/v1", tags=["AUTOMATIC1111 API"])

# A1111's sampler names (and aliases) -> ours (`generation.spec.SAMPLERS`). The samplers are diffusers' counterparts:
# the same method, not A1111's pixels bit for bit.
SAMPLER_NAMES: dict[str, tuple[str, tuple[str, ...]]] = {
    "DPM++ 2M": ("dpm-solver++", ("k_dpmpp_2m",)),
    "Euler a": ("euler-ancestral", ("k_euler_a", "k_euler_ancestral")),
    "Euler": ("euler", ("k_euler",)),
    "DDIM": ("ddim", ("ddim",)),
    "UniPC": ("unipc", ("unipc",)),
}
_BY_ALIAS = {alias: ours for name, (ours, aliases) in SAMPLER_NAMES.items() for alias in (name, *aliases)}
_OUR_NAMES = {ours: name for name, (ours, _) in SAMPLER_NAMES.items()}
MAX_PICTURES = 10  # batch_size x n_iter


class Txt2ImgRequest(BaseModel):
    """POST /sdapi/v1/txt2img: every field of AUTOMATIC1111's (1.10) request. Omitted `steps`, `cfg_scale`,
    `width`, `height` and `sampler_name` take the service's defaults."""

    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", description="What to draw (not blank here).")
    negative_prompt: str = ""
    styles: list[str] | None = Field(None, description="Refused unless empty (no saved styles here).")
    seed: int = Field(-1, ge=-1, le=MAX_SEED, description="-1: any picture (a cached one may answer); else one "
                      "exact picture (batches: seed, seed + 1, ...).")
    subseed: int = -1
    subseed_strength: float = Field(0.0, description="Refused unless 0 (no variation seeds).")
    seed_resize_from_h: int = -1
    seed_resize_from_w: int = -1
    sampler_name: str | None = Field(None, description="One of " + ", ".join(SAMPLER_NAMES) + " (or an alias).")
    sampler_index: str | None = Field(None, description="Older name of sampler_name (used when that is absent).")
    scheduler: str | None = Field(None, description="Only `automatic` (each sampler's own schedule).")
    batch_size: int = Field(1, ge=1, le=MAX_PICTURES)
    n_iter: int = Field(1, ge=1, le=MAX_PICTURES)
    steps: int | None = Field(None, ge=1, description="Denoising steps (1-150 by default).",
                              json_schema_extra={"maximum": 150})
    cfg_scale: float | None = Field(None, ge=0.0, le=30.0)
    distilled_cfg_scale: float | None = None
    width: int | None = Field(None, multiple_of=8, description="Pixels, a multiple of 8 (64-1024 by default).",
                              json_schema_extra={"minimum": 64, "maximum": 1024})
    height: int | None = Field(None, multiple_of=8, description="Pixels, a multiple of 8 (64-1024 by default).",
                               json_schema_extra={"minimum": 64, "maximum": 1024})
    restore_faces: bool | None = Field(None, description="Refused when true (no face restoration).")
    tiling: bool | None = Field(None, description="Refused when true.")
    do_not_save_samples: bool = False
    do_not_save_grid: bool = False
    eta: float | None = Field(None, description="Only the sampler's own: 1 for Euler a, 0 for DDIM (any value for "
                              "the others, which do not use it).")
    denoising_strength: float | None = None
    s_min_uncond: float | None = Field(None, description="Refused unless 0.")
    s_churn: float | None = Field(None, description="Refused unless 0.")
    s_tmax: float | None = None
    s_tmin: float | None = None
    s_noise: float | None = Field(None, description="Refused unless 1.")
    override_settings: dict[str, Any] | None = Field(None, description="Refused unless empty.")
    override_settings_restore_afterwards: bool = True
    refiner_checkpoint: str | None = Field(None, description="Refused when set (no refiner).")
    refiner_switch_at: float | None = None
    disable_extra_networks: bool = False
    firstpass_image: str | None = Field(None, description="Refused when set.")
    comments: dict[str, Any] | None = None
    enable_hr: bool = Field(False, description="Refused when true (no hires fix); the hr_* fields are then unused.")
    firstphase_width: int = 0
    firstphase_height: int = 0
    hr_scale: float = 2.0
    hr_upscaler: str | None = None
    hr_second_pass_steps: int = 0
    hr_resize_x: int = 0
    hr_resize_y: int = 0
    hr_checkpoint_name: str | None = None
    hr_additional_modules: list[str] | None = None
    hr_sampler_name: str | None = None
    hr_scheduler: str | None = None
    hr_prompt: str = ""
    hr_negative_prompt: str = ""
    hr_cfg: float | None = None
    hr_distilled_cfg: float | None = None
    force_task_id: str | None = None
    script_name: str | None = Field(None, description="Refused when set (no scripts).")
    script_args: list[Any] = Field(default_factory=list)
    send_images: bool = True
    save_images: bool = False
    alwayson_scripts: dict[str, Any] = Field(default_factory=dict, description="Accepted only disabled (args "
                                             "empty or [false]).")
    infotext: str | None = Field(None, description="Refused when set.")


    @field_validator("prompt")
    @classmethod
    def _prompt_is_text(cls, value: str) -> str:
        return non_blank_text(value)

    @field_validator("negative_prompt")
    @classmethod
    def _negative_is_text(cls, value: str) -> str:
        return unicode_text(value)


class Txt2ImgResponse(BaseModel):
    images: list[str] = Field(description="Base64 PNGs.")
    parameters: dict[str, Any]
    info: str = Field(description="JSON text: seeds, settings, and `dreamcache` (cache HIT or MISS, sources).")


def _refuse_unsupported(body: Txt2ImgRequest) -> None:
    """A 422 naming the first field that asks for something this service does not do."""
    refusals: list[tuple[str, bool, str]] = [
        ("enable_hr", body.enable_hr, "hires fix is not supported here: send false"),
        ("restore_faces", bool(body.restore_faces), "face restoration is not supported here: send false"),
        ("tiling", bool(body.tiling), "tiling is not supported here: send false"),
        ("styles", bool(body.styles), "saved styles are not supported here: put the text in the prompt"),
        ("script_name", body.script_name is not None, "scripts are not supported here"),
        ("subseed_strength", body.subseed_strength != 0, "variation seeds are not supported here: send 0"),
        ("seed_resize_from_h", body.seed_resize_from_h > 0, "seed resize is not supported here: send -1"),
        ("seed_resize_from_w", body.seed_resize_from_w > 0, "seed resize is not supported here: send -1"),
        ("s_min_uncond", bool(body.s_min_uncond), "must be 0 (the service skips no negative guidance)"),
        ("s_churn", bool(body.s_churn), "must be 0 (no stochastic churn)"),
        ("s_noise", body.s_noise is not None and body.s_noise != 1, "must be 1"),
        ("refiner_checkpoint", bool(body.refiner_checkpoint), "a refiner is not supported here"),
        ("firstpass_image", body.firstpass_image is not None, "is not supported here"),
        ("infotext", body.infotext is not None, "is not supported here: send the fields themselves"),
        ("scheduler", (body.scheduler or "automatic").lower() != "automatic",
         "only 'automatic' (each sampler's own noise schedule) is supported"),
    ]
    for name, refused, rule in refusals:
        if refused:
            raise invalid(name, rule)
    for key in body.override_settings or {}:
        raise invalid(f"override_settings.{key}", "override settings are not supported here: send {}")
    for name, script in body.alwayson_scripts.items():
        args = script.get("args", []) if isinstance(script, dict) else script
        if args not in ([], [False], None):
            raise invalid(f"alwayson_scripts.{name}", "scripts are not supported here (only disabled ones, args "
                          "[] or [false], are accepted)")


def _sampler(body: Txt2ImgRequest) -> str | None:
    """Our name of the requested sampler (None: the service's); a 422 listing A1111's names otherwise."""
    field_name, value = ("sampler_name", body.sampler_name) if body.sampler_name else ("sampler_index",
                                                                                       body.sampler_index)
    if not value:
        return None
    if value not in _BY_ALIAS:
        raise invalid(field_name, f"must be one of {', '.join(SAMPLER_NAMES)}, got {value!r}")
    return _BY_ALIAS[value]


def _check_eta(eta: float | None, sampler: str) -> None:
    own = {"euler-ancestral": 1.0, "ddim": 0.0}.get(sampler)
    if eta is not None and own is not None and eta != own:
        raise invalid("eta", f"{_OUR_NAMES[sampler]} runs with eta {own:g} here; got {eta:g}")


def _resolve(body: Txt2ImgRequest, services: Services, namespace: str, client: str) -> CacheRequest:
    """The native request this one means; a 422 naming the A1111 field otherwise."""
    _refuse_unsupported(body)
    sampler = _sampler(body)
    pictures = body.batch_size * body.n_iter
    if pictures > MAX_PICTURES:
        raise invalid("n_iter", f"batch_size x n_iter must be at most {MAX_PICTURES}, got {pictures}")
    names = {"num_inference_steps": "steps", "scheduler": "sampler_name"}
    try:
        request = resolve_request(
            services.settings, prompt=body.prompt, negative_prompt=body.negative_prompt, width=body.width,
            height=body.height, steps=body.steps, guidance=body.cfg_scale,
            seed=None if body.seed == -1 else body.seed, n=pictures, namespace=namespace, client=client,
            tokenizer=services.tokenizer, scheduler=sampler, api="a1111",
        )
    except InvalidField as exc:
        raise invalid(names.get(exc.field, exc.field), exc.message) from None
    _check_eta(body.eta, effective_scheduler(request.shape, services.settings))
    return request


# --- the caller's running txt2img: progress and interrupt --------------------------------------------------------


@dataclass
class Run:
    """One txt2img waiting for its generation."""

    job: Job
    ticket: str
    began: float = field(default_factory=time.time)
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)


class Runs:
    """The txt2img requests waiting for a generation, by who asked (the key, or the address on an open service)."""

    def __init__(self) -> None:
        self.by_owner: dict[str, list[Run]] = {}

    @contextlib.contextmanager
    def waiting(self, owner: str, run: Run) -> Any:
        self.by_owner.setdefault(owner, []).append(run)
        try:
            yield run
        finally:
            runs = self.by_owner.get(owner, [])
            if run in runs:
                runs.remove(run)
            if not runs:
                self.by_owner.pop(owner, None)


def _runs(http: Request) -> Runs:
    state = http.app.state
    if not hasattr(state, "a1111_runs"):
        state.a1111_runs = Runs()
    runs: Runs = state.a1111_runs
    return runs


def _owner(caller: Caller, http: Request) -> str:
    return client_of(caller, http)


# --- routes -------------------------------------------------------------------------------------------------------


def _info(body: Txt2ImgRequest, request: CacheRequest, images: list[dict[str, Any]], cache: str,
          services: Services, interrupted: bool = False) -> str:
    seeds = [image["seed"] for image in images]
    shape = request.shape
    return json.dumps({
        "prompt": request.prompt, "all_prompts": [image["prompt"] for image in images],
        "negative_prompt": request.negative_prompt, "seed": seeds[0] if seeds else body.seed, "all_seeds": seeds,
        "subseed": body.subseed, "all_subseeds": seeds, "subseed_strength": 0, "width": shape.width,
        "height": shape.height, "sampler_name": _OUR_NAMES.get(effective_scheduler(shape, services.settings)),
        "cfg_scale": shape.guidance_scale, "steps": shape.steps, "batch_size": body.batch_size,
        "restore_faces": False, "sd_model_name": services.settings.model, "index_of_first_image": 0,
        "interrupted": interrupted,
        "dreamcache": {"cache": cache, "sources": [image["source"] for image in images],
                       "ids": [image["id"] for image in images]},
    })


@router.post("/txt2img", response_model=Txt2ImgResponse, responses=ERROR_RESPONSES,
             summary="AUTOMATIC1111 txt2img: answer from the cache, or generate (X-Cache says which)")
async def txt2img(
    body: Txt2ImgRequest, services: ServicesDep, caller: CallerDep, http: Request, namespace: NamespaceHeader = None
) -> JSONResponse:
    started = time.perf_counter()
    owner = _owner(caller, http)
    request = _resolve(body, services, request_namespace(namespace, caller), owner)
    answered = await answer(request, services, inline=True, started=started)
    parameters = body.model_dump()
    if isinstance(answered, Cached):
        result, cache = answered.body, "HIT"
    else:
        run = Run(answered.job, answered.ticket or answered.job.id)
        with _runs(http).waiting(owner, run):
            ended = asyncio.ensure_future(run.job.wait(services.settings.max_wait_s))
            stopped = asyncio.ensure_future(run.interrupted.wait())
            await asyncio.wait({ended, stopped}, return_when=asyncio.FIRST_COMPLETED)
            in_time = ended.done() and ended.result()
            for task in (ended, stopped):
                task.cancel()
        if run.interrupted.is_set():  # as A1111: interrupted is not an error; nothing was finished
            info = _info(body, request, [], "MISS", services, interrupted=True)
            return JSONResponse({"images": [], "parameters": parameters, "info": info}, headers={"X-Cache": "MISS"})
        if not in_time:
            raise ApiError(503, "generation_pending", f"the pictures are still being generated after "
                           f"{services.settings.max_wait_s:g} s; ask again (the same request joins the generation)",
                           headers={"Retry-After": str(services.settings.retry_after_s)})
        result, cache = await finished(run.job, services, run.ticket, inline=True), "MISS"
    images = result["images"]
    encoded = [image["b64_json"] for image in images] if body.send_images else []
    info = _info(body, request, images, cache, services)
    return JSONResponse({"images": encoded, "parameters": parameters, "info": info}, headers={"X-Cache": cache})


@router.post("/interrupt", responses=ERROR_RESPONSES, summary="Stop the caller's own running txt2img requests")
async def interrupt(services: ServicesDep, caller: CallerDep, http: Request) -> dict[str, Any]:
    runs = list(_runs(http).by_owner.get(_owner(caller, http), []))
    for run in runs:
        with contextlib.suppress(NotCancelable):  # finished meanwhile: nothing to stop
            await services.waiters.cancel(run.job, run.ticket)
        run.interrupted.set()
    return {"interrupted": len(runs)}


@router.post("/skip", responses=ERROR_RESPONSES, summary="As interrupt (one picture at a time is not skipped here)")
async def skip(services: ServicesDep, caller: CallerDep, http: Request) -> dict[str, Any]:
    return await interrupt(services, caller, http)


@router.get("/progress", responses=ERROR_RESPONSES, summary="Progress of the caller's own running txt2img")
async def progress(services: ServicesDep, caller: CallerDep, http: Request) -> dict[str, Any]:
    runs = _runs(http).by_owner.get(_owner(caller, http), [])
    run = runs[-1] if runs else None
    state: dict[str, Any] = {"skipped": False, "interrupted": False, "stopping_generation": False,
                             "job": "", "job_count": len(runs), "job_timestamp": "0", "job_no": 0,
                             "sampling_step": 0, "sampling_steps": 0}
    fraction, eta = 0.0, 0.0
    if run is not None:
        total = run.job.total_steps or run.job.task.shape.steps
        state.update(job=run.ticket, sampling_step=run.job.step, sampling_steps=total,
                     job_timestamp=time.strftime("%Y%m%d%H%M%S", time.localtime(run.began)))
        fraction = min(1.0, run.job.step / total) if total else 0.0
        elapsed = time.time() - run.began
        eta = elapsed / fraction - elapsed if fraction > 0 else 0.0
    return {"progress": fraction, "eta_relative": eta, "state": state, "current_image": None, "textinfo": None}


def _checkpoint(services: Services) -> dict[str, Any]:
    fingerprint = services.cache.fingerprint
    model = services.settings.model
    return {"title": f"{model} [{fingerprint[:10]}]", "model_name": model, "hash": fingerprint[:10],
            "sha256": fingerprint, "filename": model, "config": None}


@router.get("/sd-models", responses=ERROR_RESPONSES, summary="The served model, as A1111 lists checkpoints")
async def sd_models(services: ServicesDep, caller: CallerDep) -> list[dict[str, Any]]:
    return [_checkpoint(services)]


@router.get("/samplers", responses=ERROR_RESPONSES, summary="The samplers a txt2img may name")
async def samplers(caller: CallerDep) -> list[dict[str, Any]]:
    return [{"name": name, "aliases": list(aliases), "options": {}} for name, (_, aliases) in SAMPLER_NAMES.items()]


@router.get("/schedulers", responses=ERROR_RESPONSES, summary="The noise schedules a txt2img may name")
async def schedulers(caller: CallerDep) -> list[dict[str, Any]]:
    return [{"name": "automatic", "label": "Automatic", "aliases": None, "default_rho": -1, "need_inner_model": False}]


@router.get("/scripts", responses=ERROR_RESPONSES, summary="Scripts: none here")
async def scripts(caller: CallerDep) -> dict[str, list[str]]:
    return {"txt2img": [], "img2img": []}


def _options(services: Services) -> dict[str, Any]:
    checkpoint = _checkpoint(services)
    return {"sd_model_checkpoint": checkpoint["title"], "sd_checkpoint_hash": checkpoint["sha256"],
            "samples_format": "png", "sd_vae": "Automatic", "CLIP_stop_at_last_layers": 1,
            "eta_ddim": 0.0, "eta_ancestral": 1.0}


@router.get("/options", responses=ERROR_RESPONSES, summary="The settings A1111 clients read (read-only here)")
async def get_options(services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    return _options(services)


@router.post("/options", responses=ERROR_RESPONSES,
             summary="Accepted only when it changes nothing (each option at its current value); else 422 naming it")
async def set_options(options: dict[str, Any], services: ServicesDep, caller: CallerDep) -> dict[str, Any]:
    current = _options(services)
    for key, value in options.items():
        if key == "sd_model_checkpoint" and value in (current[key], services.settings.model):
            continue
        if current.get(key, object()) != value:
            raise invalid(key, "the service's options are read-only here (one served model, its settings)")
    return {}
