"""`dreamcache replay FILE`: what the cache would save on a real prompt stream, without generating anything.

Each prompt goes, in order, through the service's own decision path: the configured embedder,
a temporary Qdrant Edge index, `decision.Decider` (the verifier in `matching`, the threshold,
the reuse schedule). A hit saves every step of the request; a near-miss that may resume from a
neighbour's checkpoint at step K saves K of N; anything else is "generated": its entry (with the
checkpoints the settings would keep) is written to the temporary index, so later prompts can hit
or reuse it.

The stream is replayed twice: once with `user` as the client identity (`X-Dreamcache-Client`: a
person asking again gets pictures they have not seen, then a new sample, as the service does) and
once anonymously (everyone shares every picture).

Input: plain text (one prompt a line) or JSON lines with `prompt` and optional `user`, `width`,
`height`, `seed`, `num_inference_steps`, `guidance_scale`; an `args` field with Discord-bot flags
(`-W`, `-H`, `-s`, `-C`, `-S`) is read too. `.gz` files are read as gzip.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from dreamcache import matching, prompts
from dreamcache.decision import (
    CacheRequest,
    Decider,
    compat_key,
    embedding_text,
    exact_key,
    resume_key,
    reused_exact_key,
    viewer_hash,
)
from dreamcache.generation.spec import BatchShape, capture_steps, pipeline_fingerprint, resolve_device
from dreamcache.index import EdgeIndex, Entry
from dreamcache.settings import Settings

EMBED_BATCH = 64
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

    def to_json(self) -> dict[str, Any]:
        return {
            "prompts": self.prompts,
            "skipped_lines": self.skipped_lines,
            "settings": self.settings,
            "seconds": round(self.seconds, 1),
            "modes": {name: {**asdict(m), **{k: round(v, 6) for k, v in m.shares().items()}}
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


class Progress:
    """A one-line progress bar on stderr (count, rate, time left); silent when disabled."""

    def __init__(self, label: str, total: int, enabled: bool, stream: IO[str] | None = None) -> None:
        self.label, self.total, self.enabled = label, total, enabled
        self.stream = stream or sys.stderr
        self.started = time.monotonic()
        self._shown = 0.0

    def update(self, done: int) -> None:
        now = time.monotonic()
        # A terminal gets a live bar; a log file a line every 15 seconds.
        tty = self.stream.isatty()
        if not self.enabled or (now - self._shown < (0.2 if tty else 15.0) and done < self.total):
            return
        self._shown = now
        rate = done / max(now - self.started, 1e-9)
        left = (self.total - done) / rate if rate else 0.0
        width = 30
        filled = int(width * done / max(self.total, 1))
        bar = "#" * filled + "." * (width - filled)
        self.stream.write(f"\r{self.label:<12} [{bar}] {done}/{self.total} {rate:,.0f}/s ~{left:,.0f}s left ")
        if done >= self.total or not tty:
            self.stream.write("\n")
        self.stream.flush()


def _shape(item: StreamItem, settings: Settings) -> BatchShape | None:
    """The request's settings with the service's defaults, or None when the service would refuse them."""
    width = item.width or settings.default_width
    height = item.height or settings.default_height
    steps = item.steps or settings.default_steps
    guidance = item.guidance if item.guidance is not None else settings.default_guidance
    for side in (width, height):
        if side % 8 or not settings.min_side <= side <= settings.max_side:
            return None
    if not 1 <= steps <= settings.max_steps:
        return None
    return BatchShape(width, height, steps, float(guidance))


def embed_all(
    texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray], progress: bool
) -> dict[str, np.ndarray]:
    """Every distinct text's vector, embedded in batches of similar length (little padding)."""
    unique = sorted(set(texts), key=lambda text: (len(text), text))
    bar = Progress("embedding", len(unique), progress)
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(unique), EMBED_BATCH):
        chunk = unique[start : start + EMBED_BATCH]
        for text, vector in zip(chunk, embed(chunk), strict=True):
            vectors[text] = np.asarray(vector, dtype=np.float32)
        bar.update(len(vectors))
    bar.update(len(unique))
    return vectors


def replay_mode(
    items: Sequence[StreamItem],
    vectors: dict[str, np.ndarray],
    settings: Settings,
    *,
    identities: bool,
    device: str,
    progress: bool = False,
) -> ModeReport:
    """Replay the stream once over a fresh temporary index; `identities` names clients by `user`."""
    report = ModeReport()
    fingerprint = pipeline_fingerprint(settings, device)
    dimension = len(next(iter(vectors.values()))) if vectors else 1
    owners: dict[str, str | None] = {}  # entry id -> the user whose prompt made it
    label = "identities" if identities else "anonymous"
    bar = Progress(label, len(items), progress)
    with tempfile.TemporaryDirectory(prefix="dreamcache-replay-") as tmp:
        index = EdgeIndex(Path(tmp) / "index", dimension)
        try:
            decider = Decider(settings, index)
            for number, item in enumerate(items, start=1):
                shape = _shape(item, settings)
                if shape is None:
                    report.refused += 1
                else:
                    _replay_one(item, shape, vectors, settings, decider, index, report, owners,
                                fingerprint, device, identities)
                bar.update(number)
        finally:
            index.close()
    return report


def _replay_one(
    item: StreamItem, shape: BatchShape, vectors: dict[str, np.ndarray], settings: Settings, decider: Decider,
    index: EdgeIndex, report: ModeReport, owners: dict[str, str | None], fingerprint: str, device: str,
    identities: bool,
) -> None:
    viewer = viewer_hash(item.user) if identities and item.user is not None else None
    request = CacheRequest(
        prompt=item.prompt, negative_prompt="", shape=shape, seed=item.seed, n=1, mode="auto",
        min_similarity=settings.similarity_threshold, viewer=viewer if item.seed is None else None,
    )
    vector = vectors[embedding_text(item.prompt)]
    compat = compat_key(fingerprint, shape, "")
    report.prompts += 1
    report.steps_total += shape.steps
    matches, kinds = decider.lookup(request, compat, vector)
    if matches:
        entry = matches[0].entry
        if kinds[0] == "exact":
            report.hits_exact += 1
        else:
            report.hits_verified += 1
        owner = owners.get(entry.id)
        if item.user is not None and owner == item.user:
            report.hits_same_user += 1
        elif item.user is not None and owner is not None:
            report.hits_cross_user += 1
        report.steps_saved += shape.steps
        if request.viewer is not None:
            index.mark_shown(entry.id, request.viewer)
        return
    options = decider.reuse_options(request, compat, vector)
    reused = options[0] if options else None
    if reused is not None:
        report.reused += 1
        report.skipped_steps += reused.step
        report.steps_saved += reused.step
        report.skipped_share_sum += reused.step / shape.steps
    entry_id = str(uuid.uuid4())
    seed = item.seed if item.seed is not None else 0
    checkpoints = tuple(step for step in capture_steps(settings, device, shape.steps)
                        if reused is None or step > reused.step)
    entry = Entry(
        id=entry_id, prompt=item.prompt, negative_prompt="", width=shape.width, height=shape.height,
        steps=shape.steps, guidance_scale=shape.guidance_scale, seed=seed, model=settings.model,
        fingerprint=fingerprint, image_key=f"{entry_id}.png", created_at=time.time(), compat_key=compat,
        exact_key=(exact_key(compat, item.prompt, shape, seed) if reused is None
                   else reused_exact_key(compat, item.prompt, shape, reused.match.entry.id)),
        prompt_norm=prompts.normalize(item.prompt), text_key=matching.text_key(item.prompt),
        checkpoints=checkpoints, resume_key=resume_key(compat, shape) if checkpoints else "",
        reused_from=reused.match.entry.id if reused is not None else "",
        skipped_steps=reused.step if reused is not None else 0,
    )
    index.upsert(entry, vector)
    owners[entry_id] = item.user
    if request.viewer is not None:
        index.mark_shown(entry_id, request.viewer)


def replay(
    items: Sequence[StreamItem],
    settings: Settings,
    embed: Callable[[Sequence[str]], np.ndarray],
    *,
    skipped_lines: int = 0,
    device: str | None = None,
    progress: bool = False,
    parallel: bool = False,
) -> ReplayReport:
    """Replay the stream with and without client identities (`parallel`: the two at once, in two processes)."""
    started = time.monotonic()
    device = device or resolve_device(settings)
    vectors = embed_all([embedding_text(item.prompt) for item in items], embed, progress)
    report = ReplayReport(
        prompts=len(items),
        skipped_lines=skipped_lines,
        settings={
            "similarity_threshold": settings.similarity_threshold,
            "reuse": settings.reuse,
            "reuse_schedule": [list(pair) for pair in settings.reuse_schedule],
            "checkpoint_steps": list(capture_steps(settings, device, settings.default_steps)),
            "default_steps": settings.default_steps,
            "device": device,
            "embedder": settings.embedder,
        },
    )
    if parallel:
        # The anonymous replay runs in a second process (the index work holds the GIL) while this one
        # replays with identities and shows the progress.
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
            anonymous = pool.submit(replay_mode, items, vectors, settings, identities=False, device=device)
            report.modes["with_identity"] = replay_mode(items, vectors, settings, identities=True, device=device,
                                                        progress=progress)
            report.modes["anonymous"] = anonymous.result()
    else:
        for name, identities in (("with_identity", True), ("anonymous", False)):
            report.modes[name] = replay_mode(items, vectors, settings, identities=identities, device=device,
                                             progress=progress)
    report.seconds = time.monotonic() - started
    return report


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
    width = max(len(label) for label, _ in rows) + 2
    lines = ["".ljust(width) + "".join(name.rjust(16) for name in names)]
    for label, cell in rows:
        lines.append(label.ljust(width) + "".join(cell(report.modes[name]).rjust(16) for name in names))
    s = report.settings
    lines.append("")
    lines.append(f"{report.prompts:,} prompts ({report.skipped_lines} lines skipped) in {report.seconds:.0f} s; "
                 f"threshold {s['similarity_threshold']}, reuse schedule {s['reuse_schedule']}, checkpoints at "
                 f"steps {s['checkpoint_steps']} of {s['default_steps']} ({s['device']}), embedder {s['embedder']}")
    return "\n".join(lines)


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
