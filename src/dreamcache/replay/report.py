"""What a replay saw: per-mode counts and shares, the whole report, and its plain-text table."""

from __future__ import annotations

import functools
import resource
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dreamcache import matching


@dataclass
class Outcome:
    """What the replay decided for one request (for comparisons between indexes)."""

    kind: str  # hit-exact | hit-verified | reuse | generate | refused
    source_prompt: str = ""
    step: int = 0
    edit: str = ""


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


def _own_peak_kib() -> float:
    """This process's peak resident memory in KiB: Linux's VmHWM (its own, since its last exec), else ru_maxrss
    (which Linux carries over an exec: a replay started by a big process would report that one's size)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1])
    except OSError:
        pass
    return float(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def peak_rss_mib() -> dict[str, float]:
    """Peak resident memory of this process and of its largest (finished) child, in MiB."""
    kib = 1024.0
    return {"replay": round(_own_peak_kib() / kib, 1),
            "embedding_worker": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / kib, 1)}


def cpu_seconds() -> dict[str, float]:
    """CPU time of this process and of its (finished) children: a load-independent measure of the work."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {"replay": round(own.ru_utime + own.ru_stime, 1),
            "embedding_workers": round(children.ru_utime + children.ru_stime, 1)}


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
                 f"{s['reuse_colour_edit_max_skip']}, attribute {s['reuse_attribute_edit_max_skip']}"
                 + (f", at most {s['max_reuse']}" if s["max_reuse"] is not None else "") + f"; index {s['index']}")
    return "\n".join(lines)


def _edit_cell(mode: ModeReport, edit: str, key: str) -> str:
    value = mode.edit_shares().get(edit, {}).get(key, 0.0)
    return f"{value:.1%}"
