"""Measure the cache's hit decision on public caption data (MiniLM): the service's rule next to cosine alone.

The service embeds `dreamcache.prompts.normalize(prompt)` for the request and for every stored entry, and a
retrieved candidate is a hit when `dreamcache.matching.accept(request, stored, cosine, threshold)` says so
(the same text up to case, punctuation, spacing and tag order always hits; otherwise the text verifier
`matching.verify` must pass and cosine >= threshold). This script calls that very function on every
evaluated pair and every threshold, and also reports, for comparison, the previous decision (cosine >=
threshold and not the same words reordered, no verifier) and the older rule, cosine alone on the texts as
written. It also times the verifier per candidate.

Positives: every pair of different human captions of the same COCO image ("same picture").
Exact repeats: a COCO caption retyped with other case, whitespace and punctuation, against the original.
Hard negatives: SugarCrepe pairs, a caption and a minimally edited caption of a different picture.
STS-B caption pairs: cosine per human-score band and Spearman correlation.

    python bench/eval_threshold.py [--data ../shared/data] [--out docs/cache-quality.md]

The data is third-party and read in place, never copied into the repository; without it the script says
so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import shlex
import string
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from dreamcache import matching, prompts
from dreamcache.prompts import clean, normalize

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
COCO_FILE = "coco_captions_dev.jsonl"
SUGARCREPE_FILE = "sugarcrepe_hard_negatives_dev.jsonl"
STSB_FILE = "stsb_captions_ccbysa.tsv"
DATA_FILES = (COCO_FILE, SUGARCREPE_FILE, STSB_FILE)
SUGARCREPE_TYPES = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
STS_BANDS = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (4.0, 5.0))
STS_HIT_THRESHOLDS = (0.80, 0.85, 0.90, 0.95, 0.98)
SIDE_BY_SIDE_THRESHOLDS = (0.85, 0.90, 0.95, 0.96, 0.97, 0.98, 0.99)
MODEL = "all-MiniLM-L6-v2"
KEEP_MARKER = "<!-- below this line: written by other tools (`make replay`); `make eval` keeps it -->"
PREVIOUS_DEFAULT = 0.98  # the default threshold of the previous decision, for the per-type comparison

Rule = Literal["cosine", "previous", "service"]
COSINE: Rule = "cosine"  # cosine of the texts as written >= threshold (the oldest rule)
PREVIOUS: Rule = "previous"  # the decision before the verifier: normalised cosine + word-order guard
SERVICE: Rule = "service"  # matching.accept on normalize(text) vectors (what the service decides)


def thresholds() -> list[float]:
    """The main grid: 0.70 .. 0.98 in steps of 0.02, plus 0.85, 0.95 and 0.99."""
    grid = {round(0.70 + 0.02 * i, 2) for i in range(15)} | {0.80, 0.85, 0.90, 0.95, 0.99}
    return sorted(grid)


def all_thresholds() -> list[float]:
    """Every threshold some table or the recommendation needs."""
    return sorted(set(thresholds()) | set(SIDE_BY_SIDE_THRESHOLDS) | set(STS_HIT_THRESHOLDS))


@dataclass
class Dataset:
    """The three evaluation sets, parsed."""

    coco: list[list[str]]  # captions per image
    sugarcrepe: list[tuple[str, str, str]]  # (type, caption, negative caption)
    stsb: list[tuple[float, str, str]]  # (score 0-5, sentence1, sentence2)


@dataclass
class PairSet:
    """One set of (request, stored prompt) pairs with both rules' inputs and the service's decisions."""

    pairs: list[tuple[str, str]]
    written: np.ndarray  # cosine of the texts as written
    served: np.ndarray  # cosine of the normalize(text) vectors, the similarity the service sees
    decisions: dict[float, np.ndarray]  # threshold -> matching.accept() per pair
    previous: dict[float, np.ndarray] = field(default_factory=dict)  # threshold -> previous_accept() per pair

    def hits(self, rule: Rule, threshold: float) -> np.ndarray:
        """Which pairs hit under rule at threshold."""
        if rule == COSINE:
            return self.written >= threshold
        if rule == PREVIOUS:
            return self.previous[threshold]
        return self.decisions[threshold]

    def rate(self, rule: Rule, threshold: float) -> float:
        """Share of pairs that hit; nan for no pairs."""
        return hit_rate([self], rule, threshold)


@dataclass
class Results:
    """Every evaluated pair set."""

    coco: PairSet
    repeats: PairSet
    sugarcrepe: dict[str, PairSet]
    sts_scores: np.ndarray
    sts: PairSet
    counts: dict[str, float] = field(default_factory=dict)
    reordered: dict[str, int] = field(default_factory=dict)  # SugarCrepe pairs the word-order guard vetoes
    vetoed: dict[str, int] = field(default_factory=dict)  # SugarCrepe pairs matching.verify rejects, per type
    timing_ms: dict[str, float] = field(default_factory=dict)  # verifier time per candidate: p50, p99, max

    @property
    def kinds(self) -> list[str]:
        """SugarCrepe types present, in the usual order."""
        known = [k for k in SUGARCREPE_TYPES if k in self.sugarcrepe]
        return known + sorted(set(self.sugarcrepe) - set(SUGARCREPE_TYPES))

    def false_hits(self, rule: Rule, threshold: float) -> float:
        """Overall SugarCrepe false-hit rate, every type together."""
        return hit_rate([self.sugarcrepe[k] for k in self.kinds], rule, threshold)

    def worst_type(self, rule: Rule, threshold: float) -> tuple[str, float]:
        """The SugarCrepe type with the highest false-hit rate, and that rate."""
        if not self.sugarcrepe:
            return "", float("nan")
        kind = max(self.kinds, key=lambda k: self.sugarcrepe[k].rate(rule, threshold))
        return kind, self.sugarcrepe[kind].rate(rule, threshold)

    def negatives(self, attribute: str) -> np.ndarray:
        """One cosine array (`written` or `served`) over every SugarCrepe type."""
        arrays = [getattr(self.sugarcrepe[k], attribute) for k in self.kinds]
        return np.concatenate(arrays) if arrays else np.empty(0)


def hit_rate(sets: Sequence[PairSet], rule: Rule, threshold: float) -> float:
    """Share of all pairs of sets that hit under rule at threshold; nan for no pairs."""
    hits = [s.hits(rule, threshold) for s in sets]
    total = sum(len(h) for h in hits)
    return float(sum(int(h.sum()) for h in hits) / total) if total else float("nan")


def missing_files(data_dir: Path) -> list[str]:
    """Names of the data files not present under data_dir."""
    return [name for name in DATA_FILES if not (data_dir / name).is_file()]


def load(data_dir: Path) -> Dataset:
    """Read the COCO, SugarCrepe and STS-B files from data_dir."""
    with (data_dir / COCO_FILE).open(encoding="utf-8") as f:
        coco = [[c.strip() for c in json.loads(line)["captions"] if c.strip()] for line in f if line.strip()]
    with (data_dir / SUGARCREPE_FILE).open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    sugarcrepe = [(r["type"], r["caption"].strip(), r["negative_caption"].strip()) for r in rows]
    with (data_dir / STSB_FILE).open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f, delimiter="\t")
        stsb = [(float(r["score"]), r["sentence1"].strip(), r["sentence2"].strip()) for r in reader]
    return Dataset(coco=coco, sugarcrepe=sugarcrepe, stsb=stsb)


def perturb(text: str, rng: random.Random) -> str:
    """The same caption as a user might retype it: other case, whitespace and punctuation."""
    case = rng.choice([str.lower, str.upper, str.capitalize, str.title])
    out = case(text)
    punct = rng.choice(["strip", "period", "bang", "comma-free"])
    if punct == "strip":
        out = out.translate(str.maketrans("", "", string.punctuation))
    elif punct == "period":
        out = out.rstrip(string.punctuation + " ") + "."
    elif punct == "bang":
        out = out.rstrip(string.punctuation + " ") + "!"
    else:
        out = out.replace(",", "")
    out = rng.choice(["  ", " ", "   "]).join(out.split())
    out = rng.choice(["", " ", "\t"]) + out + rng.choice(["", " ", "\n"])
    if out == text:  # guarantee a real change
        out = " " + text.lower() + " "
    return out


def coco_pairs(coco: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    """All pairs of different captions of the same image."""
    pairs = []
    for captions in coco:
        for i in range(len(captions)):
            for j in range(i + 1, len(captions)):
                pairs.append((captions[i], captions[j]))
    return pairs


def embed_all(
    texts: Sequence[str], embed: Callable[[Sequence[str]], np.ndarray], batch_size: int
) -> dict[str, np.ndarray]:
    """Embed unique texts in length-sorted batches (less padding), reporting progress on stderr."""
    unique = sorted(set(texts), key=lambda t: (len(t), t))
    vectors: dict[str, np.ndarray] = {}
    started = time.perf_counter()
    for start in range(0, len(unique), batch_size):
        chunk = unique[start : start + batch_size]
        for text, vector in zip(chunk, embed(chunk), strict=True):
            vectors[text] = vector
        done = start + len(chunk)
        if done == len(unique) or (start // batch_size) % 10 == 0:
            rate = done / max(time.perf_counter() - started, 1e-9)
            print(f"embedded {done}/{len(unique)} texts ({rate:.0f}/s)", file=sys.stderr, flush=True)
    return vectors


def cosines(pairs: Sequence[tuple[str, str]], vectors: dict[str, np.ndarray]) -> np.ndarray:
    """Cosine of each pair of unit vectors, as float64 (the service compares Python floats)."""
    if not pairs:
        return np.empty(0, dtype=np.float64)
    a = np.stack([vectors[x] for x, _ in pairs])
    b = np.stack([vectors[y] for _, y in pairs])
    return np.einsum("ij,ij->i", a, b).astype(np.float64)


def previous_accept(query: str, candidate: str, similarity: float, threshold: float) -> bool:
    """The hit decision before the verifier, kept here for comparison only (not used by the service)."""
    if normalize(query) == normalize(candidate) or sorted(prompts.tags(query)) == sorted(prompts.tags(candidate)):
        return True
    return similarity >= threshold and not matching.same_words_reordered(query, candidate)


def time_verifier(pairs: Sequence[tuple[str, str]], limit: int = 5000) -> dict[str, float]:
    """Milliseconds per candidate of `matching.decide` (text checks + verifier), caches emptied each time."""
    step = max(1, len(pairs) // limit)
    sample = list(pairs[::step])[:limit]
    times = []
    for query, candidate in sample:
        matching.tokens.cache_clear()
        matching.analyse.cache_clear()
        prompts.canonical.cache_clear()
        started = time.perf_counter()
        matching.decide(query, clean(candidate), 1.0, 0.0)
        times.append((time.perf_counter() - started) * 1000.0)
    if not times:
        return {}
    p50, p99 = np.percentile(times, [50, 99])
    return {"n": float(len(times)), "p50": float(p50), "p99": float(p99), "max": float(max(times))}


def service_decisions(
    pairs: Sequence[tuple[str, str]], served: np.ndarray, grid: Sequence[float]
) -> dict[float, np.ndarray]:
    """matching.accept for every pair at every threshold, called as the service calls it.

    The service passes the request as typed and the stored entry's prompt, which it keeps as
    `prompts.clean(prompt)` (whitespace collapsed), with the cosine of the normalize() vectors.
    """
    stored = [(request, clean(prompt)) for request, prompt in pairs]
    scored = list(zip(stored, served.tolist(), strict=True))
    return {
        t: np.array([matching.accept(request, prompt, s, t) for (request, prompt), s in scored], dtype=bool)
        for t in grid
    }


def pair_set(pairs: list[tuple[str, str]], vectors: dict[str, np.ndarray], grid: Sequence[float]) -> PairSet:
    """Every rule's similarities and decisions for one set of pairs."""
    served = cosines([(normalize(a), normalize(b)) for a, b in pairs], vectors)
    stored = [(request, clean(prompt)) for request, prompt in pairs]
    previous = {
        t: np.array([previous_accept(a, b, s, t) for (a, b), s in zip(stored, served.tolist(), strict=True)], bool)
        for t in grid
    }
    return PairSet(pairs, cosines(pairs, vectors), served, service_decisions(pairs, served, grid), previous)


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks starting at 1, ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), dtype=np.float64)
    sorted_values = values[order]
    i = 0
    while i < len(values):
        j = i
        while j + 1 < len(values) and sorted_values[j + 1] == sorted_values[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson correlation of average ranks)."""
    if len(x) < 2:
        return float("nan")
    rx, ry = rankdata(np.asarray(x, dtype=np.float64)), rankdata(np.asarray(y, dtype=np.float64))
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = float(np.sqrt((rx * rx).sum() * (ry * ry).sum()))
    return float((rx * ry).sum() / denominator) if denominator else float("nan")


def rate_at(values: np.ndarray, threshold: float) -> float:
    """Share of cosines at or above threshold; nan for no data."""
    return float(np.mean(values >= threshold)) if len(values) else float("nan")


def evaluate(
    data: Dataset,
    embed: Callable[[Sequence[str]], np.ndarray],
    batch_size: int,
    grid: Sequence[float] | None = None,
) -> Results:
    """Embed every text as written and normalised (each unique text once), then score every pair both ways."""
    grid = all_thresholds() if grid is None else list(grid)
    rng = random.Random(0)
    positives = coco_pairs(data.coco)
    # (request, stored): a user retypes a prompt that is already in the cache.
    repeats = [(perturb(captions[0], rng), captions[0]) for captions in data.coco if captions]
    negatives: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for kind, caption, negative in data.sugarcrepe:
        negatives[kind].append((caption, negative))
    sts_pairs = [(s1, s2) for _, s1, s2 in data.stsb]
    texts = {t for pair in [*positives, *repeats, *sts_pairs] for t in pair}
    texts |= {t for pairs in negatives.values() for pair in pairs for t in pair}
    normalised = {normalize(t) for t in texts}
    started = time.perf_counter()
    vectors = embed_all([*texts, *normalised], embed, batch_size)
    embedded = time.perf_counter()
    results = Results(
        coco=pair_set(positives, vectors, grid),
        repeats=pair_set(repeats, vectors, grid),
        sugarcrepe={kind: pair_set(pairs, vectors, grid) for kind, pairs in sorted(negatives.items())},
        sts_scores=np.array([score for score, _, _ in data.stsb], dtype=np.float64),
        sts=pair_set(sts_pairs, vectors, grid),
    )
    results.reordered = {
        kind: sum(matching.same_words_reordered(a, clean(b)) for a, b in pairs) for kind, pairs in negatives.items()
    }
    results.vetoed = {
        kind: sum(not matching.verify(a, clean(b)) for a, b in pairs) for kind, pairs in negatives.items()
    }
    results.timing_ms = time_verifier([*positives, *(p for pairs in negatives.values() for p in pairs)])
    results.counts = {
        "images": len(data.coco),
        "repeats_equal": sum(normalize(a) == normalize(b) for a, b in repeats),
        "texts": len(texts),
        "normalised_texts": len(normalised),
        "unique_texts": len(vectors),
        "embed_s": embedded - started,
        "decide_s": time.perf_counter() - embedded,
    }
    return results


def pct(value: float) -> str:
    """A rate as a percentage with one decimal."""
    return "n/a" if np.isnan(value) else f"{100 * value:.1f}%"


def quantiles(values: np.ndarray) -> list[str]:
    """p10, median and p90 of values as table cells."""
    if not len(values):
        return ["", "", ""]
    return [f"{v:.3f}" for v in np.percentile(values, [10, 50, 90])]


def passes(results: Results, rule: Rule, threshold: float, max_false_hit: float, min_repeat_recall: float) -> bool:
    """Whether rule at threshold keeps every SugarCrepe type's false hits <= max_false_hit and repeats hit enough."""
    worst = results.worst_type(rule, threshold)[1]
    return bool(worst <= max_false_hit and results.repeats.rate(rule, threshold) >= min_repeat_recall)


def lowest_passing(
    results: Results, rule: Rule, max_false_hit: float, min_repeat_recall: float, grid: Sequence[float]
) -> float | None:
    """Lowest threshold of grid where rule keeps every type's false hits <= max_false_hit and repeat recall."""
    for t in grid:
        if passes(results, rule, t, max_false_hit, min_repeat_recall):
            return t
    return None


def sts_same_meaning(results: Results, rule: Rule, threshold: float) -> float:
    """Share of STS-B pairs with a human score >= 4 (same meaning) that hit; nan for none."""
    band = results.sts_scores >= 4.0
    return float(results.sts.hits(rule, threshold)[band].mean()) if band.any() else float("nan")


def operating_point(
    results: Results, max_false_hit: float, min_repeat_recall: float, grid: Sequence[float]
) -> float | None:
    """Among grid thresholds where the service meets both bounds: most COCO recall, then most STS-B hits
    among same-meaning pairs, then the highest threshold (cosine as the strictest backstop that costs nothing)."""
    passing = [t for t in grid if passes(results, SERVICE, t, max_false_hit, min_repeat_recall)]
    if not passing:
        return None

    def key(t: float) -> tuple[float, float, float]:
        sts = sts_same_meaning(results, SERVICE, t)
        return (results.coco.rate(SERVICE, t), 0.0 if np.isnan(sts) else sts, t)

    return max(passing, key=key)


def recommend(results: Results, max_false_hit: float, min_repeat_recall: float) -> tuple[float | None, str]:
    """The operating point of the main grid for the service decision, explained."""
    grid = thresholds()
    if not results.sugarcrepe or not len(results.repeats.pairs):
        return None, "No hard negatives or no repeats: no recommendation."
    targets = (
        f"false hits <= {pct(max_false_hit)} on every SugarCrepe type and exact-repeat recall "
        f">= {pct(min_repeat_recall)}"
    )
    chosen = operating_point(results, max_false_hit, min_repeat_recall, grid)
    if chosen is None:
        top = grid[-1]
        kind, worst = results.worst_type(SERVICE, top)
        return None, (
            f"No threshold in the grid gives the service decision {targets}. At {top:.2f} it has "
            f"{pct(results.false_hits(SERVICE, top))} false hits (worst {kind} {pct(worst)}), exact-repeat "
            f"recall {pct(results.repeats.rate(SERVICE, top))} and COCO same-image recall "
            f"{pct(results.coco.rate(SERVICE, top))}; no default is recommended from this data."
        )
    t = chosen
    lowest = lowest_passing(results, SERVICE, max_false_hit, min_repeat_recall, grid)
    per_type = ", ".join(f"{k} {pct(results.sugarcrepe[k].rate(SERVICE, t))}" for k in results.kinds)
    previous_kind, previous_worst = results.worst_type(PREVIOUS, t)
    lines = [
        f"**Recommended default threshold: {t:.2f}**: of the main-grid thresholds at which the service "
        f"decision keeps {targets}, the one with the highest COCO same-image recall, then the most hits on "
        "STS-B pairs humans scored 4-5, then the highest threshold (the cosine backstop as strict as it can "
        f"be for free). The bounds hold from {lowest:.2f} up.",
        "",
        f"- COCO same-image recall: **{pct(results.coco.rate(SERVICE, t))}**, "
        f"{int(results.coco.hits(SERVICE, t).sum())} of {len(results.coco.pairs)} pairs (two independent captions "
        f"of the same photo hit that often; {pct(results.coco.rate(SERVICE, grid[0]))} at {grid[0]:.2f}).",
        f"- Exact repeats: {pct(results.repeats.rate(SERVICE, t))} hit.",
        f"- SugarCrepe false hits: {pct(results.false_hits(SERVICE, t))} overall; per type: {per_type}.",
        f"- STS-B pairs scored 4-5 by humans: {pct(sts_same_meaning(results, SERVICE, t))} hit.",
        f"- The previous decision (no verifier) at {t:.2f}: false hits {pct(results.false_hits(PREVIOUS, t))} "
        f"(worst {previous_kind} {pct(previous_worst)}), "
        f"exact-repeat recall {pct(results.repeats.rate(PREVIOUS, t))}, COCO recall "
        f"{pct(results.coco.rate(PREVIOUS, t))}.",
        f"- Cosine alone on the texts as written at {t:.2f}: false hits "
        f"{pct(results.false_hits(COSINE, t))}, exact-repeat recall {pct(results.repeats.rate(COSINE, t))}, "
        f"COCO recall {pct(results.coco.rate(COSINE, t))}.",
    ]
    for name, rule in (("The previous decision", PREVIOUS), ("Cosine alone", COSINE)):
        first = lowest_passing(results, rule, max_false_hit, min_repeat_recall, grid)
        if first is None:
            lines.append(f"- {name} meets both bounds at no threshold of the grid.")
        else:
            lines.append(
                f"- {name} would first meet both bounds at {first:.2f}, with COCO recall "
                f"{pct(results.coco.rate(rule, first))}."
            )
    return t, "\n".join(lines)


def machine() -> str:
    """A one-line description of the machine that ran the evaluation."""
    try:
        import torch

        threads = f", torch {torch.get_num_threads()} threads"
    except ImportError:  # pragma: no cover - torch ships with the project
        threads = ""
    return f"{os.cpu_count()} CPU cores, {platform.system()} {platform.machine()}, CPU only{threads}"


def report(
    results: Results,
    *,
    data_dir: str,
    command: str,
    host: str,
    run_s: float,
    max_false_hit: float,
    min_repeat_recall: float,
) -> str:
    """The whole evaluation as a markdown document."""
    kinds = results.kinds
    counts = results.counts
    n_neg = sum(len(s.pairs) for s in results.sugarcrepe.values())
    threshold, recommendation = recommend(results, max_false_hit, min_repeat_recall)
    lines = [
        "# Cache quality: the hit threshold on public caption data",
        "",
        f"Machine: {host}. Command: `{command}`. Run time {run_s:.0f} s, of which {counts['embed_s']:.0f} s "
        f"embedding {counts['unique_texts']:.0f} unique texts with {MODEL}. The error classes found by auditing "
        "hits on a real prompt stream are measured in [cache-audit.md](cache-audit.md) (same `make eval`).",
        "",
        "The cache answers a request from a stored image when a stored prompt is close enough. The service "
        "embeds `dreamcache.prompts.normalize(prompt)` (case, punctuation and whitespace folded) for the "
        "request and for every stored entry, and a retrieved entry is a hit when "
        "`dreamcache.matching.accept(request, stored, cosine, threshold)` holds: prompts equal up to case, "
        "punctuation, spacing and the order of whole comma-separated tags always hit; otherwise the text "
        "verifier `matching.verify` must say the stored prompt's picture satisfies the request (the same "
        "stemmed content words, articles aside, in the same order within each tag; the same tags up to their "
        "order) and the cosine must reach the threshold. This document measures that decision (**service**; "
        "the script calls `matching.accept` itself on every pair) and, for comparison, the **previous** "
        "decision (cosine on normalised text plus a word-order guard, no verifier) and the oldest rule, "
        "**cosine alone** of the texts as written.",
        "",
        "## Data",
        "",
        f"- **COCO captions** (MS-COCO val2017, CC BY 4.0, COCO Consortium): 5-7 independent human captions "
        f'per photo. Every pair of different captions of one image is a positive ("same picture"): '
        f"{counts['images']:.0f} images, {len(results.coco.pairs)} pairs. *COCO same-image recall* is the "
        "share that hits, i.e. how often a paraphrase of a cached prompt is served from the cache.",
        f"- **Exact repeats** (derived from COCO): the first caption of each image retyped with other case, "
        f"whitespace and punctuation, against the original, {len(results.repeats.pairs)} pairs. A cache must "
        "hit these.",
        f"- **SugarCrepe hard negatives** (MIT; the captions are COCO's, CC BY 4.0): a caption and a "
        f"minimally edited caption of a *different* picture (an added, replaced or swapped object, attribute "
        f"or relation), {n_neg} pairs. *False hits* is the share that hits: a wrong picture served.",
        f"- **STS-B caption pairs** (STS Benchmark, CC BY-SA 4.0): {len(results.sts.pairs)} pairs with a 0-5 "
        "human similarity score, to see how similarity and hits follow human judgement.",
        "",
        f"The data is read in place from `{data_dir}` and never copied into the repository; this document "
        "holds only aggregate numbers.",
        "",
        "## Recommendation",
        "",
        recommendation,
        "",
        "## Service decision vs cosine alone",
        "",
        "Cosine alone = cosine of the texts as written >= threshold. Service = `matching.accept` on the "
        "normalised-text vectors.",
        "",
        "| threshold | COCO recall, cosine | COCO recall, service | repeats, cosine | repeats, service "
        "| false hits, cosine | false hits, service | worst type, cosine | worst type, service |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    for t in SIDE_BY_SIDE_THRESHOLDS:
        cells = [f"**{t:.2f}**" if t == threshold else f"{t:.2f}"]
        for rate in (results.coco.rate, results.repeats.rate, results.false_hits):
            cells += [pct(rate(COSINE, t)), pct(rate(SERVICE, t))]
        for rule in (COSINE, SERVICE):
            kind, worst = results.worst_type(rule, t)
            cells.append(f"{kind} {pct(worst)}")
        lines.append("| " + " | ".join(cells) + " |")
    if threshold is not None:
        t = threshold
        lines += [
            "",
            f"## False hits per SugarCrepe type at {t:.2f}",
            "",
            f"Cosine alone, the previous decision and the service at {t:.2f}, and the previous decision at its "
            f"default {PREVIOUS_DEFAULT:.2f}. Vetoed by the verifier: pairs `matching.verify` rejects whatever "
            "their cosine.",
            "",
            f"| type | pairs | cosine alone | previous decision | previous decision at {PREVIOUS_DEFAULT:.2f} "
            "| service | vetoed by the verifier |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        columns = ((COSINE, t), (PREVIOUS, t), (PREVIOUS, PREVIOUS_DEFAULT), (SERVICE, t))
        for k in kinds:
            pairs = results.sugarcrepe[k]
            cells = [k, str(len(pairs.pairs)), *(pct(pairs.rate(rule, x)) for rule, x in columns)]
            vetoed = results.vetoed.get(k, 0)
            cells.append(f"{vetoed} ({pct(vetoed / len(pairs.pairs)) if pairs.pairs else 'n/a'})")
            lines.append("| " + " | ".join(cells) + " |")
        all_rates = [pct(results.false_hits(rule, x)) for rule, x in columns]
        lines.append(f"| all types | {n_neg} | " + " | ".join(all_rates) + f" | {sum(results.vetoed.values())} |")
        lines.append(
            f"| COCO same-image recall | {len(results.coco.pairs)} | "
            + " | ".join(pct(results.coco.rate(rule, x)) for rule, x in columns)
            + " | |"
        )
        lines.append(
            f"| exact repeats hit | {len(results.repeats.pairs)} | "
            + " | ".join(pct(results.repeats.rate(rule, x)) for rule, x in columns)
            + " | |"
        )
    timing = results.timing_ms
    if timing:
        lines += [
            "",
            f"Verifier time (`matching.decide`, text checks and verifier, caches emptied before each call, "
            f"{timing['n']:.0f} COCO and SugarCrepe candidates): p50 {timing['p50']:.3f} ms, p99 "
            f"{timing['p99']:.3f} ms, max {timing['max']:.3f} ms per candidate on this machine.",
        ]
    lines += [
        "",
        "## Service decision by threshold",
        "",
        "| threshold | COCO same-image recall | exact-repeat recall | SugarCrepe false hits | "
        + " | ".join(kinds)
        + " |",
        "|---:|---:|---:|---:|" + "---:|" * len(kinds),
    ]
    for t in thresholds():
        cells = [
            f"**{t:.2f}**" if t == threshold else f"{t:.2f}",
            pct(results.coco.rate(SERVICE, t)),
            pct(results.repeats.rate(SERVICE, t)),
            pct(results.false_hits(SERVICE, t)),
            *(pct(results.sugarcrepe[k].rate(SERVICE, t)) for k in kinds),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## Cosine distributions",
        "",
        "Cosine of the texts as written, and of the normalised texts (the similarity the service compares).",
        "",
        "| pairs | n | p10 written | median written | p90 written | p10 normalised | median normalised "
        "| p90 normalised |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    named = [("COCO same image", results.coco), ("exact repeat", results.repeats)]
    named += [(f"SugarCrepe {k}", results.sugarcrepe[k]) for k in kinds]
    rows = [(name, s.written, s.served) for name, s in named]
    rows.insert(2, ("SugarCrepe, all types", results.negatives("written"), results.negatives("served")))
    for name, written, served in rows:
        lines.append(f"| {name} | {len(written)} | " + " | ".join(quantiles(written) + quantiles(served)) + " |")
    scores = results.sts_scores
    lines += [
        "",
        "## STS-B caption pairs",
        "",
        f"Spearman correlation of cosine with the human score: {spearman(scores, results.sts.written):.3f} "
        f"as written, {spearman(scores, results.sts.served):.3f} normalised. Hits are the service decision.",
        "",
        "| human score | n | mean cosine (normalised) | "
        + " | ".join(f"hits at {t:.2f}" for t in STS_HIT_THRESHOLDS)
        + " |",
        "|---|---:|---:|" + "---:|" * len(STS_HIT_THRESHOLDS),
    ]
    for low, high in STS_BANDS:
        last = high == STS_BANDS[-1][1]
        band = (scores >= low) & ((scores <= high) if last else (scores < high))
        label = f"{low:.0f}-{high:.0f}" + ("" if last else " (excl.)")
        n = int(band.sum())
        mean = f"{results.sts.served[band].mean():.3f}" if n else ""
        hits = [pct(float(results.sts.decisions[t][band].mean())) if n else "" for t in STS_HIT_THRESHOLDS]
        lines.append(f"| {label} | {n} | {mean} | " + " | ".join(hits) + " |")
    coco_median = float(np.median(results.coco.served)) if len(results.coco.served) else float("nan")
    neg_served = results.negatives("served")
    neg_median = float(np.median(neg_served)) if len(neg_served) else float("nan")
    n_repeats, n_equal = len(results.repeats.pairs), int(counts.get("repeats_equal", 0))
    swaps = [k for k in kinds if k.startswith("swap")]
    guarded = ", ".join(f"{results.reordered.get(k, 0)} of {len(results.sugarcrepe[k].pairs)} {k}" for k in swaps)
    paragraphs = [
        f"Median cosine (normalised texts) is {coco_median:.3f} for two captions of the same photo and "
        f"{neg_median:.3f} for a hard-negative pair: MiniLM cosine measures shared wording, not the same "
        "picture, so no threshold both catches paraphrases and rejects small edits.",
        f"Normalisation makes {n_equal} of {n_repeats} retyped prompts identical to the stored one, a hit at "
        f"any threshold; the other {n_repeats - n_equal} lost a punctuation mark inside a word when retyped "
        "(`that's` -> `thats`, `close-up` -> `closeup`, `black/white` -> `blackwhite`), which the same-text "
        "check also folds (punctuation deleted as well as spaced), so they hit at any threshold too.",
    ]
    if swaps:
        paragraphs.append(
            f"The previous decision's word-order guard alone vetoes {guarded} pairs (exactly the same words in "
            "another order); the other swaps also change a word form (`is` -> `are`, `child` -> `children`) "
            "and passed it. The verifier stems both forms to one token and compares the token sequence within "
            "each tag, so it rejects "
            + ", ".join(f"{results.vetoed.get(k, 0)} of {len(results.sugarcrepe[k].pairs)} {k}" for k in swaps)
            + " pairs; added and replaced words change the content words and are rejected the same way."
        )
    if threshold is not None:
        paragraphs.append(
            "The verifier, not the threshold, now keeps false hits down: a stored prompt must have the request's "
            "content words, so the cache remains a near-duplicate detector (retyped prompts, reordered tags and "
            "changes of article, copula or word form hit), and two independent captions of the same photo hit "
            f"{pct(results.coco.rate(SERVICE, threshold))} of the time at {threshold:.2f}. The cosine stays as a "
            "backstop for what the verifier cannot see (a stemmer collision, a prompt in another language)."
        )
    lines += ["", "## Reading the numbers", ""]
    for paragraph in paragraphs:
        lines += [paragraph, ""]
    return "\n".join(lines)


def command_line(argv: Sequence[str]) -> str:
    """The command that ran this script, with paths relative to the working directory where possible."""

    def short(path: str) -> str:
        relative = os.path.relpath(path)
        return path if relative.startswith("..") else relative

    script = sys.argv[0] if sys.argv and sys.argv[0].endswith(".py") else str(Path(__file__))
    return shlex.join([short(sys.executable), short(script), *argv])


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of the evaluation data")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    parser.add_argument("--batch-size", type=int, default=128, help="texts per embedding batch")
    parser.add_argument(
        "--max-false-hit", type=float, default=0.02, help="largest false-hit rate of any SugarCrepe type"
    )
    parser.add_argument(
        "--min-repeat-recall", type=float, default=1.0, help="smallest exact-repeat recall to recommend"
    )
    args = parser.parse_args(argv)
    argv_used = list(sys.argv[1:] if argv is None else argv)

    if not args.data.is_dir() or (missing := missing_files(args.data)) == list(DATA_FILES):
        print(f"skipped: data not found at {args.data}", file=sys.stderr)
        return 0
    if missing:
        print(f"skipped: data not found: {', '.join(missing)} missing in {args.data}", file=sys.stderr)
        return 0

    from dreamcache.embedding import MiniLMEmbedder

    print(f"loading data from {args.data}", file=sys.stderr)
    data = load(args.data)
    embedder = MiniLMEmbedder()
    results = evaluate(data, embedder.embed, args.batch_size)
    markdown = report(
        results,
        data_dir=str(args.data),
        command=command_line(argv_used),
        host=machine(),
        run_s=time.perf_counter() - started,
        max_false_hit=args.max_false_hit,
        min_repeat_recall=args.min_repeat_recall,
    )
    print(markdown)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.exists():  # sections other tools write (the replay figures) survive a new run
            previous = args.out.read_text(encoding="utf-8")
            if KEEP_MARKER in previous:
                markdown = markdown.rstrip("\n") + "\n\n" + KEEP_MARKER + previous.split(KEEP_MARKER, 1)[1]
        args.out.write_text(markdown, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    print(f"done in {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
