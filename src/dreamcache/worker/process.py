"""The worker process: loads the pipeline once, runs one batch at a time, and talks to the web process
through the small messages defined here."""

from __future__ import annotations

import contextlib
import logging
import os
import queue as queue_mod
import signal
import threading
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

from dreamcache.generation.spec import COMPILE_OFF, BatchShape, GeneratedImage, PromptItem, capture_steps
from dreamcache.settings import Settings

log = logging.getLogger(__name__)


# --- messages between the processes -----------------------------------------------------------


@dataclass
class RunBatch:
    batch_id: int
    shape: BatchShape
    items: list[PromptItem]


@dataclass
class CancelBatch:
    """Parent -> child: every job of this batch was canceled; stop at the next denoising step."""

    batch_id: int


class BatchCanceled(Exception):
    """Raised inside the denoising loop when the running batch was canceled."""


@dataclass
class Ready:
    fingerprint: str
    device: str
    load_seconds: float
    compile: str = COMPILE_OFF  # `off`, `ok` or `fell back to eager: <reason>` (generation.spec)


@dataclass
class CompileChanged:
    """Child -> parent: a batch made the compiled UNet fall back to eager (it still succeeded)."""

    compile: str


@dataclass
class LoadFailed:
    message: str


@dataclass
class Step:
    batch_id: int
    step: int
    total: int


@dataclass
class BatchDone:
    batch_id: int
    results: list[GeneratedImage]
    seconds: float


@dataclass
class BatchFailed:
    batch_id: int
    error_type: str
    message: str


# --- the child process ------------------------------------------------------------------------


PARENT_CHECK_S = 1.0


def _exit_with_parent(parent_pid: int) -> None:
    """End this process when its parent is gone (a `kill -9` of the server must not leave the GPU held).

    The worker holds its own ends of the pipes, so it would never see end-of-file: it watches its
    parent id instead (re-parenting changes it).
    """
    while True:
        time.sleep(PARENT_CHECK_S)
        if os.getppid() != parent_pid:
            os._exit(3)


def _check_canceled(controls: Any, batch_id: int) -> None:
    """Raise BatchCanceled if the parent canceled this batch (cancels of earlier batches are dropped)."""
    while True:
        try:
            message = controls.get_nowait()
        except queue_mod.Empty:
            return
        if isinstance(message, CancelBatch) and message.batch_id == batch_id:
            raise BatchCanceled()


def _yield_cpu_to_hits(settings: Settings) -> None:
    """Lower this process's CPU priority and bound its threads, so cache hits in the web process are never
    starved by a generation (image encoding, tokenisation, and on CPU the whole pipeline)."""
    if settings.worker_nice:
        with contextlib.suppress(OSError):
            os.nice(settings.worker_nice)
    threads = settings.worker_threads or max(1, (os.cpu_count() or 2) - 1)
    with contextlib.suppress(Exception):
        import torch

        torch.set_num_threads(threads)
    log.info("worker: nice +%d, %d CPU threads", settings.worker_nice, threads)


def worker_main(
    settings: Settings, tasks: Any, events: Any, parent_pid: int | None = None, controls: Any = None
) -> None:
    """Entry point of the worker process: load the pipeline, then run batches until told to stop."""
    # Ctrl+C in a terminal reaches the whole process group: the server shuts down and stops this process
    # (or `_exit_with_parent` does); a KeyboardInterrupt here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s worker %(levelname)s %(message)s")
    if parent_pid is not None:
        threading.Thread(target=_exit_with_parent, args=(parent_pid,), name="parent-watch", daemon=True).start()
    _yield_cpu_to_hits(settings)
    started = time.perf_counter()
    try:
        from dreamcache.generation.pipeline import load_generator

        generator = load_generator(settings)
    except Exception as exc:  # a bad model id or path must reach the operator, not hang readiness
        log.exception("pipeline failed to load")
        events.put(LoadFailed(f"{type(exc).__name__}: {exc}"))
        return
    compile_status = generator.compile_status
    events.put(Ready(generator.fingerprint, generator.device, time.perf_counter() - started, compile_status))
    while True:
        task = tasks.get()
        if task is None:
            return
        began = time.perf_counter()

        def on_step(step: int, total: int, batch_id: int = task.batch_id) -> None:
            events.put(Step(batch_id, step, total))
            if controls is not None:
                _check_canceled(controls, batch_id)

        capture = capture_steps(settings, generator.device, task.shape.steps)
        try:
            try:
                results = generator.run(task.shape, task.items, on_step, capture)
            except BatchCanceled:
                raise
            except Exception:
                if not any(item.resume is not None for item in task.items):
                    raise
                # A checkpoint that does not fit must never fail the batch: run every item from noise.
                log.warning("batch %s failed with resumed items; running it from scratch: %s", task.batch_id,
                            traceback.format_exc())
                _free_accelerator_memory()
                items = [replace(item, resume=None) for item in task.items]
                results = generator.run(task.shape, items, on_step, capture)
        except BatchCanceled:
            log.info("batch %s canceled by its clients", task.batch_id)
            events.put(BatchFailed(task.batch_id, "canceled", "canceled by every client waiting for it"))
            continue
        except Exception as exc:
            log.error("batch %s failed: %s", task.batch_id, traceback.format_exc())
            events.put(BatchFailed(task.batch_id, error_type(exc), f"{type(exc).__name__}: {exc}"))
            _free_accelerator_memory()
            continue
        finally:
            if generator.compile_status != compile_status:  # fell back during this batch
                compile_status = generator.compile_status
                events.put(CompileChanged(compile_status))
        seconds = time.perf_counter() - began
        # Encoded here, at this process's lower priority: the web process's cores answer cache hits.
        results = [replace(result, png=result.encoded()) for result in results]
        events.put(BatchDone(task.batch_id, results, seconds))


# How torch words a refused allocation: CUDA and MPS say "out of memory" (CUDA's is torch.OutOfMemoryError), the
# CPU allocator raises a plain RuntimeError ("DefaultCPUAllocator: can't allocate memory" / "not enough memory").
_OUT_OF_MEMORY_WORDS = ("out of memory", "can't allocate memory", "not enough memory")


def error_type(exc: BaseException) -> str:
    """The failure type clients see for a batch that raised: `out_of_memory` when the device (GPU or, on a CPU
    worker, the host) refused an allocation, else `generation_failed`."""
    if "OutOfMemory" in type(exc).__name__:
        return "out_of_memory"
    text = str(exc).lower()
    return "out_of_memory" if any(words in text for words in _OUT_OF_MEMORY_WORDS) else "generation_failed"


def _free_accelerator_memory() -> None:
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
