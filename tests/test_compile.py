"""torch.compile of our DeepCache forwards: on the CPU (inductor), and its fallback to eager when compiling fails.

The CUDA path differs only by its mode ("reduce-overhead": CUDA graphs); that part runs under the
`gpu` marker. On 2 CPU cores a cold inductor compile of the full and the shallow forward of the
tiny UNet takes about 40 s, so the shapes here are minimal (64x64, batch 2, 2-3 steps).
"""

from __future__ import annotations

import queue
import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from apphelpers import running_app, tiny_settings
from dreamcache.generation import BatchShape, PromptItem
from dreamcache.generation.pipeline import Generator, load_generator
from dreamcache.generation.spec import SAMPLERS, pipeline_fingerprint
from dreamcache.worker.process import BatchDone, CompileChanged, Ready, RunBatch, worker_main

CAT = PromptItem(prompt="a photo of a cat sitting on a windowsill", negative_prompt="", seed=7)
DRAGON = PromptItem(prompt="a dragon flying over a forest", negative_prompt="blurry", seed=99)
SHAPE = BatchShape(64, 64, 3, 7.5)  # interval 2: full, shallow, full
# What makes the UNet forwards compile on the CPU, with DeepCache so both forwards exist.
COMPILED = {"device": "cpu", "compile_unet": True, "compile_on_cpu": True, "deepcache_on_cpu": True,
            "deepcache_interval": 2, "warmup_batch_sizes": [2]}


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    """Largest per-pixel difference between uint8 images."""
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


@pytest.fixture(autouse=True)
def fresh_dynamo() -> Iterator[None]:
    """Compiled code is cached per function by dynamo: each test starts and leaves without any."""
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def eager_twin(data_dir: Path, **overrides: Any) -> Generator:
    """The same pipeline and DeepCache settings, not compiled (the reference)."""
    return load_generator(tiny_settings(data_dir, **{**COMPILED, "compile_unet": False, **overrides}))


def test_cpu_compile_is_opt_in(tmp_path: Path) -> None:
    asked = tiny_settings(tmp_path, device="cpu", compile_unet=True)
    assert load_generator(asked).compile_status == "off"  # compile_unet alone keeps the CPU eager
    compiled = tiny_settings(tmp_path, device="cpu", compile_unet=True, compile_on_cpu=True)
    assert pipeline_fingerprint(compiled, "cpu") != pipeline_fingerprint(asked, "cpu")
    assert pipeline_fingerprint(asked, "cpu") == pipeline_fingerprint(tiny_settings(tmp_path, device="cpu"), "cpu")


@pytest.mark.skipif(shutil.which("g++") is None, reason="inductor on the CPU needs a C++ compiler: make cxx-deps")
def test_inductor_on_cpu_compiles_both_forwards_and_matches_eager(tmp_path: Path) -> None:
    graphs_before = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    compiled = load_generator(tiny_settings(tmp_path, **COMPILED))  # warms (compiles) 64x64 at batch 2
    assert compiled.compile_status == "ok"
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] - graphs_before >= 2  # full and shallow
    mine = np.stack(compiled.generate(SHAPE, [CAT, DRAGON]))
    assert compiled.compile_status == "ok"  # no fallback hid a failure behind eager results
    reference = np.stack(eager_twin(tmp_path).generate(SHAPE, [CAT, DRAGON]))
    assert max_diff(mine, reference) <= 1  # measured: 1 (inductor's fused kernels round differently)
    assert_one_graph_per_shape_for_every_sampler(compiled)


def assert_one_graph_per_shape_for_every_sampler(compiled: Generator) -> None:
    """Per-request samplers run on the graphs compiled for the configured one: nothing recompiles (before the
    timestep entered the UNet as float32, Euler's float timesteps compiled a second full and shallow graph)."""
    graphs = torch._dynamo.utils.counters["stats"]["unique_graphs"]
    for name in SAMPLERS:
        compiled.generate(replace(SHAPE, scheduler=name), [CAT, DRAGON])
        assert torch._dynamo.utils.counters["stats"]["unique_graphs"] == graphs, name
    assert compiled.compile_status == "ok"


def failing_compile_for(width: int, real: Callable[..., Any] = torch.compile) -> Callable[..., Any]:
    """torch.compile whose backend crashes on latents `width` pixels wide (and runs the graph as is otherwise)."""

    def backend(graph: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable[..., Any]:
        if any(isinstance(t, torch.Tensor) and t.dim() == 4 and t.shape[-1] == width // 8 for t in example_inputs):
            raise RuntimeError("simulated compiler crash")
        return graph.forward

    def compile_(fn: Callable[..., Any], **kwargs: Any) -> Callable[..., Any]:
        return real(fn, backend=backend, dynamic=kwargs.get("dynamic"))

    return compile_


def test_compile_failure_at_the_first_batch_falls_back_for_that_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch, "compile", failing_compile_for(width=96))  # warm-up (64 wide) compiles fine
    # worker_main renices its process and sets torch's threads: here that process is pytest's own.
    settings = tiny_settings(tmp_path, **COMPILED, worker_nice=0, worker_threads=torch.get_num_threads())
    tasks: queue.Queue[Any] = queue.Queue()
    events: queue.Queue[Any] = queue.Queue()
    unwarmed = BatchShape(96, 64, 3, 7.5)
    tasks.put(RunBatch(1, unwarmed, [CAT]))
    tasks.put(None)
    worker_main(settings, tasks, events)  # the worker process's code, run here
    messages = [events.get_nowait() for _ in range(events.qsize())]
    ready = next(m for m in messages if isinstance(m, Ready))
    assert ready.compile == "ok"
    changed = [m.compile for m in messages if isinstance(m, CompileChanged)]
    assert len(changed) == 1 and changed[0].startswith("fell back to eager: full forward, input (2, 4, 8, 12)")
    assert "simulated compiler crash" in changed[0]
    done = next(m for m in messages if isinstance(m, BatchDone))  # the batch succeeded
    expected = eager_twin(tmp_path).generate(unwarmed, [CAT])[0]
    assert max_diff(done.results[0].pixels, expected) <= 1
    fallbacks = [r for r in caplog.records if "falling back to eager" in r.getMessage()]
    assert len(fallbacks) == 1 and fallbacks[0].levelname == "WARNING"


def test_compile_failure_at_start_up_serves_eagerly_and_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    # A real inductor failure in the spawned worker: no C++ compiler, and no cached kernels to hide it.
    monkeypatch.setenv("CXX", str(tmp_path / "no-such-g++"))
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", str(tmp_path / "inductor"))
    settings = tiny_settings(tmp_path, device="cpu", compile_unet=True, compile_on_cpu=True, warmup_batch_sizes=[1])
    with running_app(settings) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        compile_check = ready.json()["checks"]["compile"]
        assert compile_check.startswith("fell back to eager: ") and "C++ compiler" in compile_check
        made = client.post("/generate", json={"prompt": "a lighthouse on a cliff at dusk"})
        assert made.status_code == 200 and made.json()["source"] == "generated"
        image = client.get(made.json()["images"][0]["url"])
        assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
        assert re.search(r"^dreamcache_compile_fallback 1\.0$", client.get("/metrics").text, re.M)
    worker_log = capfd.readouterr().err
    assert len(re.findall(r"worker WARNING .*falling back to eager", worker_log)) == 1, worker_log


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_graphs_compile_matches_eager(tmp_path: Path) -> None:
    on_cuda = {**COMPILED, "device": "cuda", "compile_on_cpu": False}
    compiled = load_generator(tiny_settings(tmp_path, **on_cuda))
    assert compiled.compile_status == "ok" and compiled.compile_mode == "reduce-overhead"
    shape = BatchShape(64, 64, 4, 7.5)
    first = np.stack(compiled.generate(shape, [CAT, DRAGON]))
    again = np.stack(compiled.generate(shape, [CAT, DRAGON]))  # replays: outputs must not alias old ones
    assert compiled.compile_status == "ok"
    assert np.array_equal(first, again)
    reference = np.stack(eager_twin(tmp_path, device="cuda").generate(shape, [CAT, DRAGON]))
    assert max_diff(first, reference) <= 4  # fp16: compiled kernels round differently (not measured yet)
    assert_one_graph_per_shape_for_every_sampler(compiled)
