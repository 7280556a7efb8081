"""DeepCache as two plain UNet callables (full step, shallow step), fit for torch.compile / CUDA graphs.

DeepCache (Ma et al., 2023) reuses the UNet's deep features between denoising steps: every
`interval`-th step runs the whole UNet (a *full* step) and keeps one feature map; the steps in
between run only the shallow layers around the skip connection at the cache position (a *shallow*
step) and take the deep part from that feature.

What is cached is exactly what `DeepCache.DeepCacheSDHelper` reuses for the same `cache_branch_id`
(`block = branch // 3`, `layer = branch % 3`, counted from the outermost resolution):

- shallow steps compute `conv_in`, the time embedding, the down blocks above `block` and the first
  `layer` layers (resnet + attention) of down block `block`: these give the fresh skip features;
- the deep part (the rest of the down path, the mid block and the up blocks below `block`, and the
  up layers of block `block` before the cache position) is replaced by the cached feature: the
  hidden state that enters up layer `n - 1 - layer` of that up block on the last full step;
- then that layer and the rest of the up path run, followed by `conv_norm_out`, `conv_act`, `conv_out`.

For branch 0 (SD's default) a shallow step is therefore `conv_in` + time embedding + the last
resnet/attention pair of `up_blocks[-1]` (whose skip input is `conv_in`'s output) + `conv_out`:
`DeepCacheSDHelper` also skips all of `down_blocks[0]` there, since its block wrapper sits at
layer 0.

Unlike the helper, nothing here reads tensor values on the host: the helper looks the timestep up
in `scheduler.timesteps` with `.item()` (a device sync per step); here the caller says which step
it is (a Python int), so a step is full when `step % interval == 0`. The same numbers come out for
schedulers with distinct timesteps (DPM-Solver++, DDIM); the state lives in a `DeepCacheUNet` that
is built fresh for each pipeline call, so no feature outlives its batch.

`full_forward` and `shallow_forward` are pure functions of tensors (plus the UNet's modules), so
each can be compiled as its own graph: `DeepCacheUNet(compile_mode="reduce-overhead")` wraps both
in `torch.compile(dynamic=False)`, which records one CUDA graph per input shape (batch size with
CFG doubling, latent height and width). Warm the shapes the worker batches to before serving
(`Generator.warm_up`); a shape that was not warmed still works, it compiles on first use (seconds
to a minute) and then runs from its own graph. On the CPU they run eagerly unless asked
(`compile_on_cpu`), then compiled by inductor in mode "default": no CUDA graphs (see
`pipeline.load_generator`).

Compiling is an optimisation, never a condition of serving: when a compiled call fails and the
eager one succeeds, `CompiledForwards` stays eager from then on and says why (`fallback`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import torch
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel, UNet2DConditionOutput

logger = logging.getLogger(__name__)

# Arguments of UNet2DConditionModel.forward this implementation does not model (ControlNet,
# T2I-Adapter, masks, class labels): passing one is an error rather than a silently wrong image.
_UNSUPPORTED = (
    "class_labels",
    "attention_mask",
    "encoder_attention_mask",
    "down_block_additional_residuals",
    "mid_block_additional_residual",
    "down_intrablock_additional_residuals",
)

UNetFn = Callable[..., tuple[torch.Tensor, torch.Tensor]]


@dataclass(frozen=True)
class CachePosition:
    """Where the deep feature is cached: down/up block `block` (outermost = 0), layer `layer` in it."""

    block: int
    layer: int

    @classmethod
    def from_branch(cls, unet: UNet2DConditionModel, branch: int) -> CachePosition:
        """Map DeepCache's `cache_branch_id` to a position, checking it exists in this UNet."""
        position = cls(block=branch // 3, layer=branch % 3)
        if position.block >= len(unet.up_blocks):
            raise ValueError(
                f"deepcache branch {branch} needs {position.block + 1} up blocks, the UNet has {len(unet.up_blocks)}"
            )
        up_layers = len(_layers(unet.up_blocks[-1 - position.block]))
        if position.layer >= up_layers:
            raise ValueError(
                f"deepcache branch {branch} needs {position.layer + 1} layers in up block {position.block}, "
                f"it has {up_layers}"
            )
        return position


def check_supported(unet: UNet2DConditionModel) -> None:
    """Raise unless `unet` is a plain text-to-image UNet like SD v1.x/v2.x (what the forwards model)."""
    config = unet.config
    problems = [
        name
        for name, bad in (
            ("class embeddings", unet.class_embedding is not None),
            ("addition_embed_type", config["addition_embed_type"] is not None),
            ("encoder_hid_proj", unet.encoder_hid_proj is not None),
            ("position_net (GLIGEN)", getattr(unet, "position_net", None) is not None),
        )
        if bad
    ]
    for block in unet.up_blocks:
        if all(getattr(block, key, None) for key in ("s1", "s2", "b1", "b2")):
            problems.append("FreeU")
            break
    if problems:
        raise ValueError(f"DeepCache forwards do not support this UNet: {', '.join(problems)}")


def _embed(
    unet: UNet2DConditionModel, sample: torch.Tensor, timestep: torch.Tensor, timestep_cond: torch.Tensor | None
) -> torch.Tensor:
    """The time embedding, as UNet2DConditionModel.forward computes it for a plain SD UNet."""
    emb = unet.time_embedding(unet.get_time_embed(sample=sample, timestep=timestep), timestep_cond)
    if unet.time_embed_act is not None:
        emb = unet.time_embed_act(emb)
    return emb


def _layers(block: torch.nn.Module) -> list[tuple[torch.nn.Module, torch.nn.Module | None]]:
    """The (resnet, attention or None) pairs of a down or up block, in order."""
    resnets = cast(torch.nn.ModuleList, block.resnets)
    attentions = cast(torch.nn.ModuleList | None, getattr(block, "attentions", None))
    if attentions is None:
        return [(resnet, None) for resnet in resnets]
    return list(zip(resnets, attentions, strict=True))


def _layer(
    resnet: torch.nn.Module,
    attention: torch.nn.Module | None,
    hidden: torch.Tensor,
    emb: torch.Tensor,
    context: torch.Tensor,
    cross_attention_kwargs: dict[str, Any] | None,
) -> torch.Tensor:
    """One resnet (+ transformer) layer, with the arguments the diffusers blocks pass."""
    hidden = resnet(hidden, emb)
    if attention is not None:
        hidden = attention(
            hidden, encoder_hidden_states=context, cross_attention_kwargs=cross_attention_kwargs, return_dict=False
        )[0]
    return hidden


def _forward(
    unet: UNet2DConditionModel,
    position: CachePosition,
    sample: torch.Tensor,
    timestep: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    cached: torch.Tensor | None,
    timestep_cond: torch.Tensor | None,
    cross_attention_kwargs: dict[str, Any] | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run the UNet in full (`cached` None) or shallow; return (noise prediction, deep feature)."""
    full = cached is None
    up_factor = 2**unet.num_upsamplers
    forward_upsample_size = any(dim % up_factor != 0 for dim in sample.shape[-2:])
    if unet.config["center_input_sample"]:
        sample = 2 * sample - 1.0
    emb = _embed(unet, sample, timestep, timestep_cond)
    context = encoder_hidden_states  # what process_encoder_hidden_states returns without encoder_hid_proj

    # Down path: everything on a full step; on a shallow step only what feeds the shallow up layers.
    hidden = unet.conv_in(sample)
    skips = [hidden]
    for i, block in enumerate(unet.down_blocks):
        if not full and i > position.block:
            break
        for j, (resnet, attention) in enumerate(_layers(block)):
            if not full and i == position.block and j >= position.layer:
                break
            hidden = _layer(resnet, attention, hidden, emb, context, cross_attention_kwargs)
            skips.append(hidden)
        else:
            if block.downsamplers is not None and (full or i < position.block):
                for downsampler in cast(torch.nn.ModuleList, block.downsamplers):
                    hidden = downsampler(hidden)
                skips.append(hidden)

    cache_block = len(unet.up_blocks) - 1 - position.block  # forward index of the up block
    if full:
        assert unet.mid_block is not None
        if getattr(unet.mid_block, "has_cross_attention", False):
            hidden = unet.mid_block(
                hidden, emb, encoder_hidden_states=context, cross_attention_kwargs=cross_attention_kwargs
            )
        else:
            hidden = unet.mid_block(hidden, emb)
    feature = hidden
    upsample_size = None
    for i, block in enumerate(unet.up_blocks):
        layers = _layers(block)
        first = len(layers) - 1 - position.layer  # the first layer a shallow step runs in the cache block
        if not full and i < cache_block:
            continue
        # Full steps pop this block's skips as diffusers does; shallow steps hold exactly the fresh ones.
        n_skips = len(layers) if (full or i > cache_block) else position.layer + 1
        block_skips = skips[-n_skips:]
        del skips[-n_skips:]
        if i < len(unet.up_blocks) - 1 and forward_upsample_size:
            upsample_size = skips[-1].shape[2:]
        for j, (resnet, attention) in enumerate(layers):
            if i == cache_block and j == first:
                if full:
                    feature = hidden
                else:
                    assert cached is not None
                    hidden = feature = cached
            if not full and i == cache_block and j < first:
                continue
            hidden = torch.cat([hidden, block_skips.pop()], dim=1)
            hidden = _layer(resnet, attention, hidden, emb, context, cross_attention_kwargs)
        if block.upsamplers is not None:
            for upsampler in cast(torch.nn.ModuleList, block.upsamplers):
                hidden = upsampler(hidden, upsample_size)

    if unet.conv_norm_out is not None:
        hidden = unet.conv_act(unet.conv_norm_out(hidden))
    out = unet.conv_out(hidden)
    return out, feature


def full_forward(
    unet: UNet2DConditionModel,
    position: CachePosition,
    sample: torch.Tensor,
    timestep: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    timestep_cond: torch.Tensor | None = None,
    cross_attention_kwargs: dict[str, Any] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole UNet; returns (noise prediction, the deep feature to cache at `position`)."""
    return _forward(
        unet, position, sample, timestep, encoder_hidden_states, None, timestep_cond, cross_attention_kwargs
    )


def shallow_forward(
    unet: UNet2DConditionModel,
    position: CachePosition,
    sample: torch.Tensor,
    timestep: torch.Tensor,
    encoder_hidden_states: torch.Tensor,
    cached: torch.Tensor,
    timestep_cond: torch.Tensor | None = None,
    cross_attention_kwargs: dict[str, Any] | None = None,
) -> torch.Tensor:
    """The shallow layers around `position`, with the deep part taken from `cached`; returns the noise prediction."""
    return _forward(
        unet, position, sample, timestep, encoder_hidden_states, cached, timestep_cond, cross_attention_kwargs
    )[0]


# torch.compile modes that capture CUDA graphs on CUDA tensors (their outputs live in the graph's memory pool).
CUDA_GRAPH_MODES = frozenset({"reduce-overhead", "max-autotune"})


def first_line(exc: BaseException, limit: int = 300) -> str:
    """`Type: first line of the message` of the root cause, short enough for one log line and /readyz."""
    while isinstance(getattr(exc, "inner_exception", None), BaseException):  # dynamo/inductor wrap the real error
        exc = exc.inner_exception  # type: ignore[attr-defined]
    lines = str(exc).strip().splitlines()
    text = f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")
    return text if len(text) <= limit else text[: limit - 3] + "..."


class CompiledForwards:
    """The full and shallow forwards of one UNet, compiled once per process when `compile_mode` is set.

    A failing compiled call (compiler missing, inductor or CUDA-graph error) is retried eagerly; if
    that succeeds, every later call runs eagerly too (one failure usually means an environment that
    fails every shape), and `fallback` holds the reason. If the eager call fails as well, the
    compiler was not at fault: its error propagates and compiling stays on.
    """

    def __init__(self, unet: UNet2DConditionModel, branch: int, compile_mode: str | None = None) -> None:
        check_supported(unet)
        self.unet = unet
        self.position = CachePosition.from_branch(unet, branch)
        self.compile_mode = compile_mode
        self.fallback: str | None = None
        self._compiled: tuple[Callable[..., Any], Callable[..., Any]] | None = None
        if compile_mode is not None:
            # One graph per shape (dynamic=False): CUDA graphs need static shapes anyway.
            self._compiled = (
                torch.compile(full_forward, mode=compile_mode, dynamic=False),
                torch.compile(shallow_forward, mode=compile_mode, dynamic=False),
            )

    @property
    def compiled(self) -> bool:
        """Whether calls still go through the compiled forwards (asked for and not fallen back)."""
        return self._compiled is not None and self.fallback is None

    def fall_back(self, reason: str) -> None:
        """Run eagerly from now on, logging why once."""
        if self.fallback is None and self._compiled is not None:
            self.fallback = reason
            logger.warning("torch.compile (mode %s) failed, falling back to eager: %s", self.compile_mode, reason)

    def run_full(
        self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run a full step; outputs are fresh tensors that outlive the next graph replay."""
        out, feature = self._call(0, full_forward, self.unet, self.position, sample, timestep, context, **kwargs)
        return out, feature

    def run_shallow(
        self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, cached: torch.Tensor, **kwargs: Any
    ) -> torch.Tensor:
        """Run a shallow step from `cached`."""
        out: torch.Tensor = self._call(
            1, shallow_forward, self.unet, self.position, sample, timestep, context, cached, **kwargs
        )
        return out

    def _call(self, which: int, eager: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """The compiled forward `which` (0 full, 1 shallow) when still compiled, else (or if it fails) `eager`."""
        if self._compiled is None or self.fallback is not None:
            return eager(*args, **kwargs)
        try:
            return self._replay(self._compiled[which], *args, **kwargs)
        except Exception as exc:  # judged below by whether the eager call succeeds
            failure = exc
        result = eager(*args, **kwargs)  # raises if eager fails too: then the compiler was not the cause
        sample = args[2]  # (unet, position, sample, ...)
        self.fall_back(f"{'full' if which == 0 else 'shallow'} forward, input {tuple(sample.shape)}: "
                       f"{first_line(failure)}")
        logger.debug("the compiled forward's error", exc_info=failure)
        return result

    def _replay(self, compiled: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call a compiled forward; under CUDA graphs, start a new graph step and copy the outputs out.

        This is all the CUDA-graph path does differently: a replay overwrites the previous replay's
        outputs in the graph's memory pool, and the scheduler and the cached deep feature hold them
        across steps.
        """
        if self.compile_mode not in CUDA_GRAPH_MODES:
            return compiled(*args, **kwargs)
        torch.compiler.cudagraph_mark_step_begin()
        result = compiled(*args, **kwargs)
        return tuple(t.clone() for t in result) if isinstance(result, tuple) else result.clone()


class DeepCacheUNet:
    """Stands in for `unet.forward` during one pipeline call: counts steps, caches, dispatches.

    One instance per call (fresh state); interval 1 makes every step a full step (plain diffusion
    through the compiled full forward). A resumed batch starts counting at its first step, and
    `reset()` forces a full step when items join mid-run (their rows have no cached feature).
    Assumes one UNet call per denoising step, which holds for
    StableDiffusionPipeline (CFG is batched into that one call) with DPM-Solver++ and DDIM.
    """

    def __init__(self, forwards: CompiledForwards, interval: int, first_step: int = 0) -> None:
        if interval < 1:
            raise ValueError(f"deepcache interval must be >= 1, got {interval}")
        self.forwards = forwards
        self.interval = interval
        # A resumed batch starts at its checkpoint's step, so full steps fall where the original run had them.
        self.step = first_step
        self.cached: torch.Tensor | None = None

    def reset(self) -> None:
        """Forget the cached feature: the next step is a full step (the batch changed its members)."""
        self.cached = None

    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor,
        *,
        timestep_cond: torch.Tensor | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        added_cond_kwargs: dict[str, torch.Tensor] | None = None,
        return_dict: bool = True,
        **unsupported: Any,
    ) -> UNet2DConditionOutput | tuple[torch.Tensor]:
        """Same signature as UNet2DConditionModel.forward for what SD pipelines pass."""
        given = sorted(name for name, value in unsupported.items() if value is not None)
        if given or added_cond_kwargs:
            raise ValueError(f"DeepCache forwards do not support: {', '.join(given or ['added_cond_kwargs'])}")
        if not torch.is_tensor(timestep):
            timestep = torch.tensor(timestep, device=sample.device)
        # One dtype for every sampler (DPM-Solver++ and DDIM step on int64 timesteps, Euler and UniPC on float32): a
        # compiled graph is specialised on its inputs' dtypes, so this keeps one graph per shape whatever the
        # sampler. The UNet's time embedding computes in float32 anyway: the pictures do not change.
        timestep = timestep.to(torch.float32)
        kwargs = {"timestep_cond": timestep_cond, "cross_attention_kwargs": cross_attention_kwargs}
        if self.cached is None or self.step % self.interval == 0:
            out, feature = self.forwards.run_full(sample, timestep, encoder_hidden_states, **kwargs)
            self.cached = feature if self.interval > 1 else None
        else:
            out = self.forwards.run_shallow(sample, timestep, encoder_hidden_states, self.cached, **kwargs)
        self.step += 1
        return UNet2DConditionOutput(sample=out) if return_dict else (out,)
