"""Near-miss reuse on the CPU: a full tiny generation next to ones resumed from a checkpoint, and checkpoint sizes.

    python bench/bench_reuse.py [--size 512] [--steps 25] [--repeats 5] [--threads 1]

The tiny pipeline (real diffusers classes, seeded random weights) at the given size, DPM-Solver++,
CFG 7.5, in one process: each row runs `repeats` times, the median is reported. The resumed rows
start a *different* prompt from the first prompt's checkpoint, as a near-miss would. Checkpoint
sizes are the bytes `Checkpoint.to_bytes()` stores, per checkpoint, for this size and for SD v1.5's
512x512 latents in fp16 (what a CUDA deployment stores).
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from dataclasses import replace

import numpy as np
import torch
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion import StableDiffusionPipeline
from diffusers.schedulers.scheduling_dpmsolver_multistep import DPMSolverMultistepScheduler

from dreamcache.generation import BatchShape, PromptItem
from dreamcache.generation.checkpoint import Checkpoint, checkpoint_steps
from dreamcache.generation.pipeline import Generator
from dreamcache.generation.tiny import tiny_components

SOURCE = PromptItem("a red fox sleeping in fresh snow, oil painting", "", seed=7)
EDIT = PromptItem("a red fox sleeping in fresh snow, oil painting, by monet", "", seed=8)


def median_seconds(run: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=25)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    pipe = StableDiffusionPipeline(**tiny_components(), requires_safety_checker=False)
    pipe.scheduler = DPMSolverMultistepScheduler.from_config(pipe.scheduler.config, algorithm_type="dpmsolver++")
    pipe.set_progress_bar_config(disable=True)
    generator = Generator(pipe, model="tiny", device="cpu", fingerprint="bench")
    shape = BatchShape(args.size, args.size, args.steps, 7.5)
    capture = checkpoint_steps([0.2, 0.4, 0.6], args.steps)
    generator.run(shape, [SOURCE], capture=capture)  # warm-up
    [source] = generator.run(shape, [SOURCE], capture=capture)
    full = median_seconds(lambda: generator.run(shape, [EDIT]), args.repeats)
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} torch thread(s), torch {torch.__version__}; "
          f"tiny pipeline {args.size}x{args.size}, {args.steps} DPM-Solver++ steps, median of {args.repeats}")
    print()
    print("| run | steps run | seconds | vs full |")
    print("|---|---:|---:|---:|")
    print(f"| full generation | {args.steps} | {full:.3f} | 100% |")
    for checkpoint in source.checkpoints:
        item = replace(EDIT, resume=Checkpoint.from_bytes(checkpoint.to_bytes()))
        seconds = median_seconds(lambda item=item: generator.run(shape, [item]), args.repeats)
        print(f"| resumed at step {checkpoint.step} ({checkpoint.step / args.steps:.0%}) | "
              f"{args.steps - checkpoint.step} | {seconds:.3f} | {seconds / full:.0%} |")
    print()
    print("| checkpoint | dtype | bytes stored |")
    print("|---|---|---:|")
    for checkpoint in source.checkpoints[:1]:
        print(f"| tiny {args.size}x{args.size} (latents {checkpoint.latents.shape}) | "
              f"{checkpoint.latents.dtype} | {len(checkpoint.to_bytes()):,} |")
    sd = Checkpoint(5, 25, "DPMSolverMultistepScheduler", np.zeros((4, 64, 64), np.float16),
                    (np.zeros((4, 64, 64), np.float16),), 2)
    print(f"| SD v1.5 512x512 on CUDA (latents (4, 64, 64)) | float16 | {len(sd.to_bytes()):,} |")
    sd32 = replace(sd, latents=sd.latents.astype(np.float32), history=(sd.latents.astype(np.float32),))
    print(f"| SD v1.5 512x512 on the CPU | float32 | {len(sd32.to_bytes()):,} |")


if __name__ == "__main__":
    main()
