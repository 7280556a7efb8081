"""GPU miss path: diffusers eager vs the DeepCache package vs ours (DeepCache + torch.compile/CUDA graphs).

Builds the SD 1.5 architecture from its public config values with random weights (speed does not
depend on the weights or the vocabulary), fp16 on CUDA, 512x512, CFG 7.5, 25 DPM-Solver++ steps,
and prints one markdown table: batch 1 (s per image, prompt in -> image out) and batch 8 (images/s).

    .venv/bin/python bench/bench_gpu.py                      # on a CUDA machine
    .venv/bin/python bench/bench_gpu.py --device cpu --tiny  # smoke run of the same code path
    .venv/bin/python bench/bench_gpu.py --json out.json      # also the numbers as JSON (bench/gpu_check.sh)

Without a CUDA device (and without --device cpu) it says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from DeepCache import DeepCacheSDHelper
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKL
from diffusers.models.unets.unet_2d_condition import UNet2DConditionModel
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler
from transformers import CLIPTextConfig, CLIPTextModel

from dreamcache.generation import BatchShape, PromptItem
from dreamcache.generation.pipeline import COMPILE_MODE, DeepCacheParams, Generator, _tune_for_cuda
from dreamcache.generation.text import load_tokenizer
from dreamcache.generation.tiny import SD_SCHEDULER_CONFIG, tiny_components
from dreamcache.settings import TINY_MODEL

# The figures: H100 SXM dense fp16 tensor throughput, SD 1.5 512x512 CFG 25 steps per image.
H100_FP16_TFLOPS = 790.0
TFLOP_PER_IMAGE = {"plain": 42.7, "deepcache": 20.7}  # DeepCache: interval 3, branch 0
INTERVAL, BRANCH = 3, 0

# SD 1.5 (stable-diffusion-v1-5) public configs, the values that set the cost.
SD15_UNET: dict[str, Any] = {
    "sample_size": 64,
    "in_channels": 4,
    "out_channels": 4,
    "down_block_types": ("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"),
    "block_out_channels": (320, 640, 1280, 1280),
    "layers_per_block": 2,
    "cross_attention_dim": 768,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
SD15_VAE: dict[str, Any] = {
    "sample_size": 512,
    "in_channels": 3,
    "out_channels": 3,
    "latent_channels": 4,
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (128, 256, 512, 512),
    "layers_per_block": 2,
    "norm_num_groups": 32,
}
CLIP_L14_TEXT: dict[str, Any] = {
    "hidden_size": 768,
    "intermediate_size": 3072,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": 768,
}
PROMPTS = [
    "a photo of a cat sitting on a windowsill",
    "a dragon flying over a forest at dawn",
    "a red sports car on a mountain road",
    "an owl perched on a branch at night",
]


def sd15_components(device: str) -> dict[str, Any]:
    """SD 1.5's architecture with seeded random weights, built directly on `device`."""
    tokenizer = load_tokenizer(TINY_MODEL)  # any CLIP tokenizer: cost does not depend on the vocabulary
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(**SD15_UNET)
        vae = AutoencoderKL(**SD15_VAE)
        text_encoder = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                **CLIP_L14_TEXT,
            )
        )
    return {
        "unet": unet.eval(),
        "vae": vae.eval(),
        "text_encoder": text_encoder.eval(),
        "tokenizer": tokenizer,
        "scheduler": DPMSolverMultistepScheduler.from_config(SD_SCHEDULER_CONFIG, algorithm_type="dpmsolver++"),
        "safety_checker": None,
        "feature_extractor": None,
        "image_encoder": None,
    }


def build_pipe(device: str, tiny: bool) -> StableDiffusionPipeline:
    """A fresh pipeline (fp16 on CUDA, fp32 on CPU) with DPM-Solver++."""
    components = tiny_components() if tiny else sd15_components(device)
    pipe = StableDiffusionPipeline(**components, requires_safety_checker=False)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
    dtype = torch.float16 if device == "cuda" else torch.float32
    pipe = pipe.to(device) if pipe.dtype == dtype else pipe.to(device=device, dtype=dtype)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def sync(device: str) -> None:
    """Wait for queued GPU work so wall times are real."""
    if device == "cuda":
        torch.cuda.synchronize()


def timed(device: str, run: Callable[[], object], repeats: int) -> float:
    """Median seconds of `repeats` calls (after the caller's warm-up)."""
    times = []
    for _ in range(repeats):
        sync(device)
        started = time.perf_counter()
        run()
        sync(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def items(n: int) -> list[PromptItem]:
    """`n` distinct prompts with their own seeds."""
    return [PromptItem(PROMPTS[i % len(PROMPTS)], "", seed=i) for i in range(n)]


def add_run_args(parser: argparse.ArgumentParser) -> None:
    """The arguments this script and bench_worker_gpu.py share: device, tiny, steps, size, batch, repeats, json."""
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny components (smoke test of the logic)")
    parser.add_argument("--steps", type=int, default=None, help="default: 25 (2 with --tiny)")
    parser.add_argument("--size", type=int, default=None, help="default: 512 (64 with --tiny)")
    parser.add_argument("--batch", type=int, default=None, help="large batch; default: 8 (2 with --tiny)")
    parser.add_argument("--repeats", type=int, default=None, help="timed runs; default: 3 (1 with --tiny)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")


def run_sizes(args: argparse.Namespace) -> tuple[int, int, int, int]:
    """(steps, size, large batch, repeats) with the defaults filled in (smaller with --tiny)."""
    tiny = args.tiny
    return (args.steps or (2 if tiny else 25), args.size or (64 if tiny else 512), args.batch or (2 if tiny else 8),
            args.repeats or (1 if tiny else 3))


def main(argv: list[str] | None = None) -> int:
    """Run the comparison and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_args(parser)
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print(
            "bench_gpu: no CUDA device here, nothing to measure (run it on a GPU machine; --device cpu --tiny smokes)."
        )
        return 0
    device, tiny = args.device, args.tiny
    steps, size, big, repeats = run_sizes(args)
    shape = BatchShape(size, size, steps, 7.5)
    compile_mode = COMPILE_MODE if device == "cuda" else None  # on the CPU the worker compiles only if asked

    eager_pipe = build_pipe(device, tiny)
    eager = Generator(eager_pipe, model="bench", device=device, fingerprint="bench")
    helper = DeepCacheSDHelper(pipe=eager_pipe)
    helper.set_params(cache_interval=INTERVAL, cache_branch_id=BRANCH)

    def package(batch: list[PromptItem]) -> object:
        helper.enable()
        try:
            return eager.generate(shape, batch)
        finally:
            helper.disable()

    ours_pipe = build_pipe(device, tiny)
    if device == "cuda":
        _tune_for_cuda(ours_pipe, ours_pipe.dtype)
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)
    ours = Generator(
        ours_pipe,
        model="bench",
        device=device,
        fingerprint="bench",
        deepcache=DeepCacheParams(INTERVAL, BRANCH),
        compile_mode=compile_mode,
    )
    warm_s = ours.warm_up([shape], [1, big])
    print(f"ours: warm-up/compile {warm_s:.1f} s, compile {ours.compile_status}", file=sys.stderr, flush=True)

    variants: list[tuple[str, Callable[[list[PromptItem]], object], float]] = [
        ("diffusers eager", lambda batch: eager.generate(shape, batch), TFLOP_PER_IMAGE["plain"]),
        (f"DeepCache package (interval {INTERVAL}, branch {BRANCH})", package, TFLOP_PER_IMAGE["deepcache"]),
        (
            f"ours (DeepCache + {compile_mode or 'eager'})",
            lambda batch: ours.generate(shape, batch),
            TFLOP_PER_IMAGE["deepcache"],
        ),
    ]
    rows = []
    for name, run, tflop in variants:
        one, many = items(1), items(big)
        run(one)  # warm-up (allocator, cuDNN autotuning; graphs for ours are already built)
        run(many)
        per_image = timed(device, lambda: run(one), repeats)  # noqa: B023 - called right here
        per_batch = timed(device, lambda: run(many), repeats)  # noqa: B023
        floor = tflop / H100_FP16_TFLOPS
        rows.append((name, per_image, big / per_batch, per_batch / big / floor))

    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU (smoke run, not a measurement)"
    print(
        f"\n{gpu}; {'tiny' if tiny else 'SD 1.5 architecture, random weights'}, fp{'16' if device == 'cuda' else '32'},"
    )
    print(
        f"{size}x{size}, CFG 7.5, {steps} DPM-Solver++ steps, median of {repeats}; "
        f"ours warm-up/compile {warm_s:.1f} s (batch 1 and {big}; compile: {ours.compile_status})\n"
    )
    print(f"| variant | batch 1 (s/image) | batch {big} (images/s) | batch {big} time / FLOP limit |")
    print("|---|---|---|---|")
    for name, per_image, throughput, ratio in rows:
        print(f"| {name} | {per_image:.3f} | {throughput:.2f} | {ratio:.1f}x |")
    print(
        f"\nFLOP limit (issue's figures): {H100_FP16_TFLOPS:.0f} TFLOP/s dense fp16 (H100); "
        f"{TFLOP_PER_IMAGE['plain']} TFLOP/image plain, {TFLOP_PER_IMAGE['deepcache']} with DeepCache "
        f"(interval {INTERVAL}, branch {BRANCH}) -> {TFLOP_PER_IMAGE['plain'] / H100_FP16_TFLOPS * 1000:.0f} / "
        f"{TFLOP_PER_IMAGE['deepcache'] / H100_FP16_TFLOPS * 1000:.0f} ms per image at 100% utilisation."
    )
    print(
        "Worker overhead not in these times: queueing and batching wait (batch_wait_ms), uint8 -> PNG "
        "encoding, image store write and vector upsert; times include text encoding, VAE decode and the "
        "copy of the images to host memory."
    )
    if args.json:
        results = {
            "device": gpu, "size": size, "steps": steps, "batch": big, "repeats": repeats, "tiny": tiny,
            "compile_mode": compile_mode, "compile": ours.compile_status, "warm_up_s": warm_s,
            "variants": [{"name": name, "batch1_s_per_image": one, f"batch{big}_images_per_s": rate,
                          "time_over_flop_limit": ratio} for name, one, rate, ratio in rows],
        }
        with open(args.json, "w") as out:
            json.dump(results, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
