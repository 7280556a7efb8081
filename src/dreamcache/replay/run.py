"""`replay`: the stream through both modes in one pass, with its progress bar and resource figures."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence

import numpy as np

from dreamcache.generation.spec import capture_steps, resolve_device
from dreamcache.index import Index
from dreamcache.index.memory import MemoryIndex, VectorTable
from dreamcache.replay.mode import ModeReplay, capped_settings
from dreamcache.replay.report import ReplayReport, cpu_seconds, peak_rss_mib
from dreamcache.replay.stream import StreamItem
from dreamcache.replay.vectors import VectorSource, embedded_chunks
from dreamcache.settings import Settings


def replay(
    items: Iterable[StreamItem],
    settings: Settings,
    embed: Callable[[Sequence[str]], np.ndarray] | None = None,
    *,
    skipped_lines: int = 0,
    device: str | None = None,
    progress: bool | Callable[[int], None] = False,
    workers: int | None = None,
    exact: bool = False,
    max_reuse: float | None = None,
    indexes: Callable[[VectorTable], tuple[Index, Index]] | None = None,
    record: bool = False,
) -> ReplayReport:
    """Replay the stream with and without client identities, in one pass over it.

    `embed`: the embedder's function, called in this process; None starts `workers` embedding processes
    (default: one per core) with the configured embedder. Both modes share one `VectorTable` (the vectors
    are stored once); `exact` scans it whole instead of probing its IVF lists. `indexes` builds the two
    modes' indexes instead of `MemoryIndex` (tests compare with Qdrant Edge). `progress`: True for a bar
    on stderr, or a function called with the prompts done. `record`: keep every decision (`outcomes`).
    """
    started = time.monotonic()
    device = device or resolve_device(settings)
    settings = capped_settings(settings, max_reuse)
    source = VectorSource(embed, settings, workers=workers or os.cpu_count() or 1)
    table: VectorTable | None = None
    modes: dict[str, ModeReplay] = {}
    bar = _progress_bar(items, progress)
    try:
        for chunk, vectors in embedded_chunks(items, source):
            if table is None:
                table = VectorTable(len(vectors[0]), exact=exact)
                with_identity, anonymous = indexes(table) if indexes else (MemoryIndex(table), MemoryIndex(table))
                modes = {
                    "with_identity": ModeReplay(settings, with_identity, identities=True, device=device,
                                                record=record),
                    "anonymous": ModeReplay(settings, anonymous, identities=False, device=device, record=record),
                }
            for item, vector in zip(chunk, vectors, strict=True):
                for mode in modes.values():
                    mode.step(item, vector)
            bar(len(chunk))
    finally:
        source.close()
        bar(0, close=True)
        for mode in modes.values():
            mode.index.close()
    report = ReplayReport(
        prompts=max((m.report.prompts + m.report.refused for m in modes.values()), default=0),
        skipped_lines=skipped_lines,
        settings={
            "similarity_threshold": settings.similarity_threshold,
            "reuse": settings.reuse,
            "reuse_schedule": [list(pair) for pair in settings.reuse_schedule],
            "reuse_layout_edit_max_skip": settings.reuse_layout_edit_max_skip,
            "reuse_colour_edit_max_skip": settings.reuse_colour_edit_max_skip,
            "reuse_attribute_edit_max_skip": settings.reuse_attribute_edit_max_skip,
            "max_reuse": max_reuse,
            "checkpoint_steps": list(capture_steps(settings, device, settings.default_steps)),
            "default_steps": settings.default_steps,
            "device": device,
            "embedder": settings.embedder,
            "index": "exact" if exact else f"ivf ({table.probes} probes)" if table else "none",
        },
        modes={name: mode.report for name, mode in modes.items()},
    )
    report.seconds = time.monotonic() - started
    report.resources = {
        "distinct_vectors": len(table) if table else 0,
        "embedded": source.embedded,
        "embedding_workers": source.workers,
        "ivf_lists": table.lists if table else 0,
        "ivf_trainings": table.trainings if table else 0,
        "vectors_scored_per_prompt": round(table.scanned / max(report.prompts, 1), 1) if table else 0,
        "peak_rss_mib": peak_rss_mib(),
        "cpu_seconds": cpu_seconds(),
    }
    if record:
        report.outcomes = {name: mode.outcomes or [] for name, mode in modes.items()}
    return report


def _progress_bar(items: Iterable[StreamItem], progress: bool | Callable[[int], None]) -> Callable[..., None]:
    """A tqdm bar on stderr: by bytes of the file when known (rate and time left), with prompts and prompts/s."""
    if callable(progress):
        return lambda done, close=False: None if close else progress(done)
    if not progress:
        return lambda done, close=False: None
    from tqdm import tqdm

    size: int | None = getattr(items, "size", None)  # a StreamReader (or a stream that carries its progress)
    position: Callable[[], int] | None = getattr(items, "position", None)
    by_bytes = size is not None and position is not None
    tty = sys.stderr.isatty()
    bar = tqdm(total=size if by_bytes else None, unit="B" if by_bytes else " prompts", unit_scale=True,
               file=sys.stderr, mininterval=0.5 if tty else 15.0, desc="replay", dynamic_ncols=True)
    started = time.monotonic()
    count = 0

    def update(done: int, close: bool = False) -> None:
        nonlocal count
        if close:
            bar.close()
            return
        count += done
        if by_bytes and position is not None:
            bar.update(position() - bar.n)
            rate = count / max(time.monotonic() - started, 1e-9)
            bar.set_postfix_str(f"{count:,} prompts, {rate:,.0f} prompts/s", refresh=False)
        else:
            bar.update(done)

    return update
