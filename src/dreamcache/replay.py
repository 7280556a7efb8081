"""`dreamcache replay FILE`: what the cache would save on a real prompt stream, without generating anything.

Each prompt goes, in order, through the service's own decision path: the configured embedder,
`decision.Decider` (the verifier in `matching`, the threshold, the reuse schedule and its limits
by kind of edit) over a scratch index. A hit saves every step of the request; a near-miss that may
resume from a neighbour's checkpoint at step K saves K of N; anything else is "generated": its entry
(with the checkpoints the settings would keep) is written to the scratch index, so later prompts
can hit or reuse it.

The stream is replayed twice, side by side in one pass: once with `user` as the client identity
(`X-Dreamcache-Client`: a person asking again gets pictures they have not seen, then a new sample,
as the service does) and once anonymously (everyone shares every picture).

Built for logs of any size: the file is read lazily in chunks (never whole in memory), each chunk
is embedded in batches by one process per core while the previous one is replayed, and the scratch
index is `index.memory` (an IVF vector table both modes share, entries in compact columns), so time
per prompt does not grow with the log. Its approximate search changes few decisions:
`bench/bench_replay.py` counts them against an exact scan, and a test checks that a replay decides
the same on it as on the service's Qdrant Edge index.

Input: plain text (one prompt a line) or JSON lines with `prompt` and optional `user`, `width`,
`height`, `seed`, `num_inference_steps`, `guidance_scale`; an `args` field with Discord-bot flags
(`-W`, `-H`, `-s`, `-C`, `-S`) is read too. `.gz` files are read as gzip.
"""

from __future__ import annotations

import functools
import gzip
import io
import itertools
import json
import multiprocessing
import os
import re
import resource
import sys
import time
import uuid
from array import array
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from dreamcache import matching, prompts
from dreamcache.decision import Decider
from dreamcache.generation.spec import BatchShape, capture_steps, pipeline_fingerprint, resolve_device
from dreamcache.index import Index
from dreamcache.index.memory import MemoryIndex, VectorTable
from dreamcache.prompts import embedding_text
from dreamcache.resolution import CacheRequest, InvalidField, RequestKeys, build_entry, resolve_shape, viewer_hash
from dreamcache.settings import Settings

EMBED_BATCH = 64
CHUNK = 2048  # requests read, embedded and replayed together
VECTOR_CACHE = 100_000  # vectors of recent prompt texts kept for repeats (~1.6 KB each)
_FLAG = re.compile(r"(?:^|\s)-([WHsCS])\s*(\d+(?:\.\d+)?)")
_FLAG_FIELDS = {"W": "width", "H": "height", "s": "num_inference_steps", "C": "guidance_scale", "S": "seed"}


class ReplayInputError(ValueError):
    """The stream cannot be read at all (the message names the file and why)."""


@dataclass(frozen=True)
class StreamItem:
    """One request of the stream."""

    prompt: str
    user: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None


@dataclass
class EditReuse:
    """The reuses whose neighbour differed by one kind of edit."""

    reused: int = 0
    skipped_steps: int = 0
    skipped_share_sum: float = 0.0


@dataclass
class ModeReport:
    """What one replay saw: counts, and the shares derived from them."""

    prompts: int = 0  # replayed (the service would accept their settings)
    refused: int = 0  # settings the service answers with 422 (size or steps out of bounds): not counted above
    hits_exact: int = 0
    hits_verified: int = 0
    hits_same_user: int = 0  # the picture came from the requester's own earlier prompt
    hits_cross_user: int = 0  # from another (known) user
    reused: int = 0
    skipped_steps: int = 0
    steps_total: int = 0  # steps every request would cost without the cache
    steps_saved: int = 0  # all steps of a hit, K of a reuse
    skipped_share_sum: float = 0.0  # sum over reuses of K / N
    reuse_by_edit: dict[str, EditReuse] = field(default_factory=dict)  # `matching.edit_class` -> its reuses

    def count_reuse(self, edit: str, step: int, steps: int) -> None:
        self.reused += 1
        self.skipped_steps += step
        self.steps_saved += step
        self.skipped_share_sum += step / steps
        kind = self.reuse_by_edit.setdefault(edit, EditReuse())
        kind.reused += 1
        kind.skipped_steps += step
        kind.skipped_share_sum += step / steps

    def edit_shares(self) -> dict[str, dict[str, float]]:
        """Per kind of edit: its share of the reuses, the mean share of steps its reuses skip, and the share of
        all step time its reuses save."""
        return {
            edit: {
                "reuses": kind.reused,
                "share_of_reuses": round(kind.reused / self.reused, 6) if self.reused else 0.0,
                "mean_skipped_share": round(kind.skipped_share_sum / kind.reused, 6),
                "step_time_saved": round(kind.skipped_steps / self.steps_total, 6) if self.steps_total else 0.0,
            }
            for edit, kind in sorted(self.reuse_by_edit.items(), key=lambda pair: -pair[1].reused)
        }

    @property
    def hits(self) -> int:
        return self.hits_exact + self.hits_verified

    def shares(self) -> dict[str, float]:
        """Rates over all prompts (hit, cross-user, reuse), over hits (same user) and over reuses (steps)."""
        n = max(self.prompts, 1)
        return {
            "hit_rate": self.hits / n,
            "exact_hit_rate": self.hits_exact / n,
            "verified_hit_rate": self.hits_verified / n,
            "same_user_share_of_hits": self.hits_same_user / self.hits if self.hits else 0.0,
            "cross_user_hit_rate": self.hits_cross_user / n,
            "reuse_rate": self.reused / n,
            "mean_skipped_share_of_reuses": (self.skipped_share_sum / self.reused) if self.reused else 0.0,
            "step_time_saved": self.steps_saved / self.steps_total if self.steps_total else 0.0,
        }


@dataclass
class ReplayReport:
    """Both modes, and what they were run with."""

    prompts: int
    skipped_lines: int
    settings: dict[str, Any]
    modes: dict[str, ModeReport] = field(default_factory=dict)
    seconds: float = 0.0
    resources: dict[str, Any] = field(default_factory=dict)  # memory, vectors, embedding
    outcomes: dict[str, list[Outcome]] = field(default_factory=dict)  # per request, when recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "skipped_lines": self.skipped_lines,
            "settings": self.settings,
            "seconds": round(self.seconds, 1),
            "prompts_per_s": round(self.prompts / self.seconds, 1) if self.seconds else 0.0,
            "resources": self.resources,
            "modes": {name: {**{k: v for k, v in asdict(m).items() if k != "reuse_by_edit"},
                             **{k: round(v, 6) for k, v in m.shares().items()},
                             "reuse_by_edit": m.edit_shares()}
                      for name, m in self.modes.items()},
        }


# --- reading the stream -------------------------------------------------------------------------


def open_stream(path: Path) -> IO[str]:
    """The file as text (gzip when it ends in .gz); `-` is stdin."""
    if str(path) == "-":
        return sys.stdin
    try:
        if path.suffix == ".gz":
            return gzip.open(path, "rt", encoding="utf-8")
        return path.open(encoding="utf-8")
    except OSError as exc:
        raise ReplayInputError(f"cannot read {path}: {exc.strerror or exc}") from None


def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def parse_line(line: str, *, honour_seeds: bool = True) -> StreamItem | None:
    """One stream line as a request, or None for a blank line, a comment or a line without a prompt."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if not text.startswith("{"):
        return StreamItem(prompts.clean(text))
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("prompt"), str) or not value["prompt"].strip():
        return None
    fields: dict[str, Any] = {}
    if isinstance(value.get("args"), str):
        for flag, number in _FLAG.findall(value["args"]):
            fields[_FLAG_FIELDS[flag]] = number
    for name in ("width", "height", "num_inference_steps", "guidance_scale", "seed"):
        if value.get(name) is not None:
            fields[name] = value[name]
    user = value.get("user")
    return StreamItem(
        prompt=prompts.clean(value["prompt"]),
        user=str(user) if user is not None else None,
        width=_number(fields.get("width"), int),
        height=_number(fields.get("height"), int),
        steps=_number(fields.get("num_inference_steps"), int),
        guidance=_number(fields.get("guidance_scale"), float),
        seed=_number(fields.get("seed"), int) if honour_seeds else None,
    )


def read_stream(lines: Iterable[str], *, honour_seeds: bool = True, limit: int | None = None
                ) -> tuple[list[StreamItem], int]:
    """The requests of a stream, in order, and how many non-blank lines were skipped."""
    items: list[StreamItem] = []
    skipped = 0
    for line in lines:
        item = parse_line(line, honour_seeds=honour_seeds)
        if item is None:
            skipped += bool(line.strip()) and not line.strip().startswith("#")
            continue
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    return items, skipped


# --- the replay ---------------------------------------------------------------------------------


class StreamReader:
    """The requests of a stream file, read lazily (never the whole log in memory), with its progress in bytes."""

    def __init__(self, path: Path, *, honour_seeds: bool = True, limit: int | None = None) -> None:
        self.path, self.honour_seeds, self.limit = path, honour_seeds, limit
        self.skipped = 0  # non-blank lines without a usable prompt
        self.read = 0  # requests yielded so far
        self._raw: IO[bytes] | None = None
        self.size = path.stat().st_size if str(path) != "-" and path.is_file() else None

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for .gz): the progress bar's measure."""
        try:
            return self._raw.tell() if self._raw is not None else 0
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[StreamItem]:
        if str(self.path) == "-":
            yield from self._items(sys.stdin)
            return
        try:
            self._raw = self.path.open("rb")
        except OSError as exc:
            raise ReplayInputError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        with self._raw:
            binary = gzip.GzipFile(fileobj=self._raw) if self.path.suffix == ".gz" else self._raw
            text = io.TextIOWrapper(binary, encoding="utf-8")  # type: ignore[arg-type]
            try:
                yield from self._items(text)
            except (OSError, EOFError, UnicodeDecodeError) as exc:
                raise ReplayInputError(f"cannot read {self.path}: {exc}") from None

    def _items(self, lines: Iterable[str]) -> Iterator[StreamItem]:
        for line in lines:
            item = parse_line(line, honour_seeds=self.honour_seeds)
            if item is None:
                self.skipped += bool(line.strip()) and not line.strip().startswith("#")
                continue
            self.read += 1
            yield item
            if self.limit is not None and self.read >= self.limit:
                return


def _shape(item: StreamItem, settings: Settings) -> BatchShape | None:
    """The request's settings with the service's defaults, or None when the service would refuse them."""
    try:
        return resolve_shape(item.width or None, item.height or None, item.steps or None, item.guidance, settings)
    except InvalidField:
        return None


# -- embedding: in batches, on every core, a chunk ahead of the replay --

_worker_embed: Callable[[Sequence[str]], np.ndarray] | None = None


def _start_worker(settings: Settings) -> None:
    global _worker_embed
    from dreamcache.embedding import open_embedder

    _worker_embed = open_embedder(settings.model_copy(update={"embedder_threads": 1})).embed


def _embed_in_worker(texts: Sequence[str]) -> np.ndarray:
    assert _worker_embed is not None
    return _embed_batches(texts, _worker_embed)


def _embed_batches(texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray]) -> np.ndarray:
    parts = [np.asarray(embed(texts[i : i + EMBED_BATCH]), dtype=np.float32) for i in range(0, len(texts), EMBED_BATCH)]
    return np.concatenate(parts) if parts else np.empty((0, 0), dtype=np.float32)


class VectorSource:
    """Prompt text -> vector: a bounded LRU of recent texts, the rest embedded in batches of similar length, in
    `workers` processes (one ONNX thread each) or with `embed` in this process."""

    def __init__(self, embed: Callable[[Sequence[str]], np.ndarray] | None, settings: Settings, *,
                 workers: int = 1, cache_size: int = VECTOR_CACHE) -> None:
        self._embed = embed
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._cache_size = cache_size
        self._inflight: set[str] = set()
        self.embedded = 0
        self._pool: ProcessPoolExecutor | None = None
        self.workers = workers if embed is None else 1
        if embed is None:
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=_start_worker, initargs=(settings,))

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def submit(self, texts: Sequence[str]) -> tuple[list[str], list[Future[np.ndarray] | np.ndarray]]:
        """Start embedding the texts not known yet (sorted by length: little padding)."""
        missing = sorted({t for t in texts if t not in self._cache and t not in self._inflight},
                         key=lambda text: (len(text), text))
        self._inflight.update(missing)
        if self._pool is None:
            assert self._embed is not None
            return missing, [_embed_batches(missing, self._embed)]
        # Interleaved slices: every worker gets short and long texts alike, each slice still sorted.
        slices = [missing[i :: self.workers] for i in range(self.workers)]
        return [t for part in slices for t in part], [self._pool.submit(_embed_in_worker, part)
                                                      for part in slices if part]

    def collect(self, job: tuple[list[str], list[Future[np.ndarray] | np.ndarray]], texts: Sequence[str]
                ) -> list[np.ndarray]:
        """The vectors of `texts` once the job that `submit` started is done."""
        missing, parts = job
        arrays = [part if isinstance(part, np.ndarray) else part.result() for part in parts]
        vectors = np.concatenate([a for a in arrays if a.size]) if missing else np.empty((0, 0), np.float32)
        for text, vector in zip(missing, vectors, strict=True):
            self._remember(text, vector)
        self._inflight.difference_update(missing)
        self.embedded += len(missing)
        out = []
        for text in texts:
            vector = self._cache[text]
            self._cache.move_to_end(text)
            out.append(vector)
        return out

    def _remember(self, text: str, vector: np.ndarray) -> None:
        self._cache[text] = vector
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)


def embedded_chunks(items: Iterable[StreamItem], source: VectorSource, chunk_size: int = CHUNK
                    ) -> Iterator[tuple[list[StreamItem], list[np.ndarray]]]:
    """The stream in chunks with their vectors; the next chunk is embedded while the caller replays this one."""
    pending: tuple[list[StreamItem], list[str], Any] | None = None
    iterator = iter(items)
    while True:
        chunk = list(itertools.islice(iterator, chunk_size))
        if chunk:
            texts = [embedding_text(item.prompt) for item in chunk]
            started = (chunk, texts, source.submit(texts))
        if pending is not None:
            yield pending[0], source.collect(pending[2], pending[1])
        if not chunk:
            return
        pending = started


# -- one mode --


@dataclass
class Outcome:
    """What the replay decided for one request (for comparisons between indexes)."""

    kind: str  # hit-exact | hit-verified | reuse | generate | refused
    source_prompt: str = ""
    step: int = 0
    edit: str = ""


class ModeReplay:
    """One mode's replay state: its index, the owners of its entries, its report."""

    def __init__(self, settings: Settings, index: Index, *, identities: bool, device: str,
                 record: bool = False) -> None:
        self.settings, self.index, self.identities, self.device = settings, index, identities, device
        self.decider = Decider(settings, index)
        self.fingerprint = pipeline_fingerprint(settings, device)
        self.report = ModeReport()
        self.users: dict[str, int] = {}
        self.owners = array("i")  # entry number -> its user (-1: none); entry ids are UUIDs of their number
        self.outcomes: list[Outcome] | None = [] if record else None

    def step(self, item: StreamItem, vector: np.ndarray) -> None:
        shape = _shape(item, self.settings)
        if shape is None:
            self.report.refused += 1
            self._record(Outcome("refused"))
            return
        report = self.report
        viewer = viewer_hash(item.user) if self.identities and item.user is not None else None
        request = CacheRequest(
            prompt=item.prompt, negative_prompt="", shape=shape, seed=item.seed, n=1, mode="auto",
            min_similarity=self.settings.similarity_threshold, viewer=viewer if item.seed is None else None,
        )
        keys = RequestKeys.of(request, self.fingerprint)
        compat = keys.compat
        report.prompts += 1
        report.steps_total += shape.steps
        user = self.users.setdefault(item.user, len(self.users)) if item.user is not None else -1
        matches, kinds = self.decider.lookup(request, compat, vector)
        if matches:
            entry = matches[0].entry
            if kinds[0] == "exact":
                report.hits_exact += 1
            else:
                report.hits_verified += 1
            owner = self.owners[uuid.UUID(entry.id).int]
            if user != -1 and owner == user:
                report.hits_same_user += 1
            elif user != -1 and owner != -1:
                report.hits_cross_user += 1
            report.steps_saved += shape.steps
            if request.viewer is not None:
                self.index.mark_shown(entry.id, request.viewer)
            self._record(Outcome(f"hit-{kinds[0]}", entry.prompt))
            return
        options = self.decider.reuse_options(request, compat, vector)
        reused = options[0] if options else None
        if reused is not None:
            report.count_reuse(reused.edit, reused.step, shape.steps)
            self._record(Outcome("reuse", reused.match.entry.prompt, reused.step, reused.edit))
        else:
            self._record(Outcome("generate"))
        entry_id = str(uuid.UUID(int=len(self.owners)))
        seed = item.seed if item.seed is not None else 0
        checkpoints = tuple(step for step in capture_steps(self.settings, self.device, shape.steps)
                            if reused is None or step > reused.step)
        entry = build_entry(
            keys, entry_id=entry_id, prompt=item.prompt, negative_prompt="", seed=seed, model=self.settings.model,
            fingerprint=self.fingerprint,
            exact=keys.exact(seed) if reused is None else keys.reused_exact(reused.match.entry.id),
            checkpoints=checkpoints, reused_from=reused.match.entry.id if reused is not None else "",
            skipped_steps=reused.step if reused is not None else 0,
        )
        self.index.upsert(entry, vector)
        self.owners.append(user)
        if request.viewer is not None:
            self.index.mark_shown(entry_id, request.viewer)

    def _record(self, outcome: Outcome) -> None:
        if self.outcomes is not None:
            self.outcomes.append(outcome)


def capped_settings(settings: Settings, max_reuse: float | None) -> Settings:
    """The settings with every reuse limited to `max_reuse` of the steps (0: no reuse at all)."""
    if max_reuse is None:
        return settings
    if not 0.0 <= max_reuse < 1.0:
        raise ValueError(f"max_reuse must be in [0, 1), got {max_reuse}")
    if max_reuse == 0.0:
        return settings.model_copy(update={"reuse": False})
    schedule = [(similarity, min(fraction, max_reuse)) for similarity, fraction in settings.reuse_schedule]
    return settings.model_copy(update={"reuse_schedule": schedule})


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


def peak_rss_mib() -> dict[str, float]:
    """Peak resident memory of this process and of its largest (finished) child, in MiB."""
    kib = 1024.0
    return {"replay": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / kib, 1),
            "embedding_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib, 1)}


def cpu_seconds() -> dict[str, float]:
    """CPU time of this process and of its (finished) children: a load-independent measure of the work."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"replay": round(own.ru_utime + own.ru_stime, 1),
            "embedding_workers": round(children.ru_utime + children.ru_stime, 1)}


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


def format_table(report: ReplayReport) -> str:
    """The report as a plain-text table (one column per mode)."""
    names = list(report.modes)
    rows: list[tuple[str, Callable[[ModeReport], str]]] = [
        ("prompts", lambda m: f"{m.prompts:,}"),
        ("refused (422: size, steps)", lambda m: f"{m.refused:,}"),
        ("hit rate", lambda m: f"{m.shares()['hit_rate']:.1%}"),
        ("  exact", lambda m: f"{m.shares()['exact_hit_rate']:.1%}"),
        ("  verified", lambda m: f"{m.shares()['verified_hit_rate']:.1%}"),
        ("hits from the same user", lambda m: f"{m.shares()['same_user_share_of_hits']:.1%}"),
        ("cross-user hit rate", lambda m: f"{m.shares()['cross_user_hit_rate']:.2%}"),
        ("reuse rate (near-misses)", lambda m: f"{m.shares()['reuse_rate']:.1%}"),
        ("mean steps skipped per reuse", lambda m: f"{m.shares()['mean_skipped_share_of_reuses']:.1%}"),
        ("step time saved", lambda m: f"{m.shares()['step_time_saved']:.1%}"),
    ]
    edits = [edit for edit in matching.EDIT_CLASSES if any(edit in m.reuse_by_edit for m in report.modes.values())]
    for edit in edits:
        rows += [(f"  {edit} edits: share of reuses", functools.partial(_edit_cell, edit=edit, key="share_of_reuses")),
                 ("    mean steps skipped", functools.partial(_edit_cell, edit=edit, key="mean_skipped_share")),
                 ("    step time saved", functools.partial(_edit_cell, edit=edit, key="step_time_saved"))]
    width = max(len(label) for label, _ in rows) + 2
    lines = ["".ljust(width) + "".join(name.rjust(16) for name in names)]
    for label, cell in rows:
        lines.append(label.ljust(width) + "".join(cell(report.modes[name]).rjust(16) for name in names))
    s = report.settings
    lines.append("")
    lines.append(f"{report.prompts:,} prompts ({report.skipped_lines} lines skipped) in {report.seconds:.0f} s; "
                 f"threshold {s['similarity_threshold']}, reuse schedule {s['reuse_schedule']}, checkpoints at "
                 f"steps {s['checkpoint_steps']} of {s['default_steps']} ({s['device']}), embedder {s['embedder']}; "
                 f"reuse limits by edit: layout {s['reuse_layout_edit_max_skip']}, colour "
                 f"{s['reuse_colour_edit_max_skip']}" + (f", at most {s['max_reuse']}" if s["max_reuse"] is not None
                                                          else "") + f"; index {s['index']}")
    return "\n".join(lines)


def _edit_cell(mode: ModeReport, edit: str, key: str) -> str:
    value = mode.edit_shares().get(edit, {}).get(key, 0.0)
    return f"{value:.1%}"


def iter_lines(path: Path) -> Iterator[str]:
    """The lines of a stream file (gzip or plain); ReplayInputError if it cannot be read."""
    stream = open_stream(path)
    try:
        yield from stream
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise ReplayInputError(f"cannot read {path}: {exc}") from None
    finally:
        if stream is not sys.stdin:
            stream.close()
