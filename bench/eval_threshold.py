"""Measure what a cosine similarity threshold means for the cache, on public caption data (MiniLM).

Positives: every pair of different human captions of the same COCO image ("same picture").
Exact repeats: a COCO caption against itself with changed case, whitespace and punctuation.
Hard negatives: SugarCrepe pairs, a caption and a minimally edited caption of a different picture.
STS-B caption pairs: mean cosine per human-score band and Spearman correlation.

    python bench/eval_threshold.py [--data ../shared/data] [--out report.md]

The data is third-party and never copied into the repository; without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import string
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
COCO_FILE = "coco_captions_dev.jsonl"
SUGARCREPE_FILE = "sugarcrepe_hard_negatives_dev.jsonl"
STSB_FILE = "stsb_captions_ccbysa.tsv"
DATA_FILES = (COCO_FILE, SUGARCREPE_FILE, STSB_FILE)
SUGARCREPE_TYPES = ("add_att", "add_obj", "replace_att", "replace_obj", "replace_rel", "swap_att", "swap_obj")
STS_BANDS = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 4.0), (4.0, 5.0))
STS_HIT_THRESHOLDS = (0.80, 0.85, 0.90, 0.95, 0.98)


def thresholds() -> list[float]:
    """0.70 .. 0.98 in steps of 0.02, plus 0.85, 0.95 and 0.99."""
    grid = {round(0.70 + 0.02 * i, 2) for i in range(15)} | {0.80, 0.85, 0.90, 0.95, 0.99}
    return sorted(grid)


@dataclass
class Dataset:
    """The three evaluation sets, parsed."""

    coco: list[list[str]]  # captions per image
    sugarcrepe: list[tuple[str, str, str]]  # (type, caption, negative caption)
    stsb: list[tuple[float, str, str]]  # (score 0-5, sentence1, sentence2)


@dataclass
class Results:
    """Cosine similarities of every evaluated pair."""

    coco: np.ndarray
    repeats: np.ndarray
    sugarcrepe: dict[str, np.ndarray]
    sts_scores: np.ndarray
    sts_cosines: np.ndarray
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def sugarcrepe_all(self) -> np.ndarray:
        """All hard-negative cosines, every type together."""
        return np.concatenate([self.sugarcrepe[t] for t in sorted(self.sugarcrepe)])


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
    unique = sorted(set(texts), key=len)
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
    """Cosine of each pair of unit vectors."""
    if not pairs:
        return np.empty(0, dtype=np.float32)
    a = np.stack([vectors[x] for x, _ in pairs])
    b = np.stack([vectors[y] for _, y in pairs])
    return np.einsum("ij,ij->i", a, b)


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
    """Share of cosines at or above threshold (the cache's hit rule); nan for no data."""
    return float(np.mean(values >= threshold)) if len(values) else float("nan")


def evaluate(data: Dataset, embed: Callable[[Sequence[str]], np.ndarray], batch_size: int) -> Results:
    """Embed every text once and compute the cosine of every evaluated pair."""
    rng = random.Random(0)
    positives = coco_pairs(data.coco)
    repeats = [(captions[0], perturb(captions[0], rng)) for captions in data.coco if captions]
    negatives: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for kind, caption, negative in data.sugarcrepe:
        negatives[kind].append((caption, negative))
    sts_pairs = [(s1, s2) for _, s1, s2 in data.stsb]
    texts = [t for pair in [*positives, *repeats, *sts_pairs] for t in pair]
    texts += [t for pairs in negatives.values() for pair in pairs for t in pair]
    started = time.perf_counter()
    vectors = embed_all(texts, embed, batch_size)
    elapsed = time.perf_counter() - started
    return Results(
        coco=cosines(positives, vectors),
        repeats=cosines(repeats, vectors),
        sugarcrepe={kind: cosines(pairs, vectors) for kind, pairs in sorted(negatives.items())},
        sts_scores=np.array([score for score, _, _ in data.stsb], dtype=np.float64),
        sts_cosines=cosines(sts_pairs, vectors),
        counts={
            "images": len(data.coco),
            "unique_texts": len(vectors),
            "embed_ms": round(elapsed * 1000),
        },
    )


def pct(value: float) -> str:
    """A rate as a percentage with one decimal."""
    return "n/a" if np.isnan(value) else f"{100 * value:.1f}%"


def stats_row(name: str, values: np.ndarray) -> str:
    """A markdown row: n, p10, median, p90, mean."""
    if not len(values):
        return f"| {name} | 0 | | | | |"
    p10, p50, p90 = np.percentile(values, [10, 50, 90])
    return f"| {name} | {len(values)} | {p10:.3f} | {p50:.3f} | {p90:.3f} | {values.mean():.3f} |"


def recommend(results: Results, max_false_hit: float) -> tuple[float | None, str]:
    """Lowest grid threshold with an overall hard-negative false-hit rate <= max_false_hit, explained."""
    negatives = results.sugarcrepe_all
    if not len(negatives):
        return None, "No hard negatives: no recommendation."
    for t in thresholds():
        if rate_at(negatives, t) <= max_false_hit:
            worst_kind = max(results.sugarcrepe, key=lambda k: rate_at(results.sugarcrepe[k], t))
            text = (
                f"Recommended default threshold: **{t:.2f}**, the lowest threshold in the grid whose overall "
                f"SugarCrepe false-hit rate is <= {pct(max_false_hit)} ({pct(rate_at(negatives, t))}; worst "
                f"type {worst_kind} at {pct(rate_at(results.sugarcrepe[worst_kind], t))}). "
                f"Its cost: COCO same-image recall {pct(rate_at(results.coco, t))} and exact-repeat recall "
                f"{pct(rate_at(results.repeats, t))}. "
            )
            return t, text
    top = thresholds()[-1]
    return top, (
        f"No threshold in the grid keeps the overall SugarCrepe false-hit rate <= {pct(max_false_hit)}; at "
        f"{top:.2f} it is {pct(rate_at(negatives, top))}, with COCO same-image recall "
        f"{pct(rate_at(results.coco, top))} and exact-repeat recall {pct(rate_at(results.repeats, top))}. "
        f"Recommended default: **{top:.2f}** (near-duplicates only). "
    )


def report(results: Results, model: str, max_false_hit: float, normalized: bool = False) -> str:
    """The whole evaluation as markdown."""
    negatives = results.sugarcrepe_all
    kinds = [k for k in SUGARCREPE_TYPES if k in results.sugarcrepe] + sorted(
        set(results.sugarcrepe) - set(SUGARCREPE_TYPES)
    )
    counts = results.counts
    lines = [
        f"# Cache threshold evaluation ({model})",
        "",
        f"Cosine of L2-normalised {model} vectors; a request is a hit when cosine >= threshold.",
        "Texts embedded as `dreamcache.prompts.normalize(text)` (case, punctuation and whitespace folded)."
        if normalized
        else "Texts embedded as written.",
        f"{counts['unique_texts']} unique texts embedded in {counts['embed_ms'] / 1000:.1f} s.",
        "",
        f"- COCO same-image pairs (positives): all pairs of different captions of each image, "
        f"{counts['images']} images, {len(results.coco)} pairs. Recall = share of pairs that would hit.",
        f"- Exact repeats: the first caption of each image against itself with other case, whitespace and "
        f"punctuation, {len(results.repeats)} pairs.",
        f"- SugarCrepe hard negatives: {len(negatives)} pairs (caption vs minimally edited caption of a "
        "different picture). False-hit rate = share of pairs that would hit.",
        f"- STS-B caption pairs (all splits): {len(results.sts_scores)} pairs with 0-5 human similarity.",
        "",
        "## Cosine distributions",
        "",
        "| pairs | n | p10 | median | p90 | mean |",
        "|---|---:|---:|---:|---:|---:|",
        stats_row("COCO same image", results.coco),
        stats_row("exact repeat", results.repeats),
        stats_row("SugarCrepe, all types", negatives),
        *(stats_row(f"SugarCrepe {k}", results.sugarcrepe[k]) for k in kinds),
        "",
        "## Hit rates by threshold",
        "",
        "| threshold | COCO same-image recall | exact-repeat recall | SugarCrepe false hits | "
        + " | ".join(kinds)
        + " |",
        "|---:|---:|---:|---:|" + "---:|" * len(kinds),
    ]
    for t in thresholds():
        cells = [
            f"{t:.2f}",
            pct(rate_at(results.coco, t)),
            pct(rate_at(results.repeats, t)),
            pct(rate_at(negatives, t)),
            *(pct(rate_at(results.sugarcrepe[k], t)) for k in kinds),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "## STS-B caption pairs",
        "",
        f"Spearman correlation of cosine with the human score: "
        f"**{spearman(results.sts_scores, results.sts_cosines):.3f}**.",
        "",
        "| human score | n | mean cosine | median cosine | "
        + " | ".join(f"hits at {t:.2f}" for t in STS_HIT_THRESHOLDS)
        + " |",
        "|---|---:|---:|---:|" + "---:|" * len(STS_HIT_THRESHOLDS),
    ]
    for low, high in STS_BANDS:
        last = high == STS_BANDS[-1][1]
        scores = results.sts_scores
        values = results.sts_cosines[(scores >= low) & ((scores <= high) if last else (scores < high))]
        label = f"{low:.0f}-{high:.0f}" + ("" if last else " (excl.)")
        if len(values):
            hits = " | ".join(pct(rate_at(values, t)) for t in STS_HIT_THRESHOLDS)
            mean, median = values.mean(), np.median(values)
            lines.append(f"| {label} | {len(values)} | {mean:.3f} | {median:.3f} | {hits} |")
        else:
            lines.append(f"| {label} | 0 | | | " + " | ".join("" for _ in STS_HIT_THRESHOLDS) + " |")
    threshold, recommendation = recommend(results, max_false_hit)
    p95 = float(np.percentile(negatives, 95)) if len(negatives) else float("nan")
    paragraph = (
        recommendation + f"The 95th percentile of hard-negative cosine is {p95:.3f}. Median cosine is "
        f"{np.median(results.coco):.3f} for two captions of the same image and {np.median(negatives):.3f} "
        "for a hard-negative pair: cosine alone measures shared wording, not the same picture, so no "
        "threshold both catches paraphrases and rejects small edits (swapped or replaced objects and "
        "attributes). A high threshold turns the cache into a near-duplicate detector: paraphrases miss, "
        "and the false hits left come mostly from swapped words."
    )
    if threshold is not None and rate_at(results.repeats, threshold) < 0.95:
        paragraph += (
            f" At {threshold:.2f}, {pct(1 - rate_at(results.repeats, threshold))} of retyped prompts "
            "(other case, whitespace, punctuation) miss"
            + (
                "."
                if normalized
                else ": embedding `prompts.normalize(text)` instead fixes that (see --normalize)."
            )
        )
    lines += ["", "## Recommendation", "", paragraph, ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of the evaluation data")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    parser.add_argument("--batch-size", type=int, default=128, help="texts per embedding batch")
    parser.add_argument(
        "--normalize", action="store_true", help="embed dreamcache.prompts.normalize(text), not the text"
    )
    parser.add_argument(
        "--max-false-hit", type=float, default=0.05, help="largest SugarCrepe false-hit rate to recommend"
    )
    args = parser.parse_args(argv)

    if not args.data.is_dir() or (missing := missing_files(args.data)) == list(DATA_FILES):
        print(f"skipped: data not found at {args.data}", file=sys.stderr)
        return 0
    if missing:
        print(f"skipped: data not found: {', '.join(missing)} missing in {args.data}", file=sys.stderr)
        return 0

    from dreamcache.embedding import MiniLMEmbedder
    from dreamcache.prompts import normalize

    print(f"loading data from {args.data}", file=sys.stderr)
    data = load(args.data)
    embedder = MiniLMEmbedder()
    embed = embedder.embed
    if args.normalize:

        def embed(texts: Sequence[str]) -> np.ndarray:
            return embedder.embed([normalize(text) for text in texts])

    results = evaluate(data, embed, args.batch_size)
    markdown = report(results, "all-MiniLM-L6-v2", args.max_false_hit, normalized=args.normalize)
    print(markdown)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(markdown, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
