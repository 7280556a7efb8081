"""Does the ONNX MiniLM change any cache decision? The fp32 PyTorch MiniLM and the ONNX one, side by side.

Embeds every evaluation pair of `bench/eval_threshold.py` (COCO paraphrases, retyped repeats,
SugarCrepe hard negatives, STS-B) with both runtimes, then compares, pair by pair:
- the hit decision (`matching.accept`, as the service calls it) at the default threshold 0.92 and at
  the lowest a request may ask for (0.90) and at 0.95;
- the near-miss reuse decision (cosine >= each floor of the default reuse schedule: 0.90, 0.95);
- whether a pair is retrieved at all (cosine >= the retrieval floor 0.85).
Prints a markdown section (`--out`: also into that file) and, with `--json`, the counts. Exit 1 if any
hit decision differs (reuse and retrieval flips are reported, not failed: see the section's text).

    .venv/bin/python bench/eval_embedder.py                 # the whole evaluation data
    .venv/bin/python bench/eval_embedder.py --sample 60     # the first 60 pairs of each set (tests)
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import numpy as np

from dreamcache import matching
from dreamcache.decision import RETRIEVAL_FLOOR
from dreamcache.embedding import MiniLMEmbedder, OnnxMiniLMEmbedder
from dreamcache.prompts import clean
from dreamcache.settings import Settings

HERE = Path(__file__).resolve().parent
HIT_THRESHOLDS = (0.90, 0.92, 0.95)


def _eval_threshold() -> ModuleType:
    """bench/eval_threshold.py, for its data loading and pair building (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("eval_threshold", HERE / "eval_threshold.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def pair_sets(data: object, sample: int | None, et: ModuleType) -> dict[str, list[tuple[str, str]]]:
    """(request, stored prompt) pairs per set, as eval_threshold builds them; the first `sample` of each."""
    import random
    from collections import defaultdict

    rng = random.Random(0)
    coco = data.coco  # type: ignore[attr-defined]
    sets: dict[str, list[tuple[str, str]]] = {
        "coco paraphrases": et.coco_pairs(coco),
        "retyped repeats": [(et.perturb(captions[0], rng), captions[0]) for captions in coco if captions],
        "sts-b": [(s1, s2) for _, s1, s2 in data.stsb],  # type: ignore[attr-defined]
    }
    negatives: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for kind, caption, negative in data.sugarcrepe:  # type: ignore[attr-defined]
        negatives[kind].append((caption, negative))
    sets.update({f"sugarcrepe {kind}": pairs for kind, pairs in sorted(negatives.items())})
    return {name: pairs[:sample] if sample else pairs for name, pairs in sets.items()}


def served_cosines(
    pairs: Sequence[tuple[str, str]], vectors: dict[str, np.ndarray], normalize: object
) -> np.ndarray:
    """The similarity the service sees: cosine of the normalised texts' vectors."""
    a = np.stack([vectors[normalize(x)] for x, _ in pairs])  # type: ignore[operator]
    b = np.stack([vectors[normalize(y)] for _, y in pairs])  # type: ignore[operator]
    return np.einsum("ij,ij->i", a, b).astype(np.float64)


def compare(data_dir: Path, sample: int | None, batch_size: int) -> dict[str, object]:
    """Embed with both runtimes and count the decisions that differ, per set and in all."""
    et = _eval_threshold()
    from dreamcache.prompts import normalize

    sets = pair_sets(et.load(data_dir), sample, et)
    texts = sorted({normalize(t) for pairs in sets.values() for pair in pairs for t in pair})
    embedders = {"torch fp32": MiniLMEmbedder(), "onnx": OnnxMiniLMEmbedder()}
    vectors: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for name, embedder in embedders.items():
        started = time.perf_counter()
        vectors[name] = et.embed_all(texts, embedder.embed, batch_size)
        seconds[name] = time.perf_counter() - started
    same_text = np.array([float(np.dot(vectors["torch fp32"][t], vectors["onnx"][t])) for t in texts])
    schedule = [floor for floor, _ in Settings().reuse_schedule]
    rows = []
    total_changed = 0
    max_delta = 0.0
    for name, pairs in sets.items():
        cos = {runtime: served_cosines(pairs, vectors[runtime], normalize) for runtime in embedders}
        delta = float(np.max(np.abs(cos["torch fp32"] - cos["onnx"]))) if pairs else 0.0
        max_delta = max(max_delta, delta)
        changed = {}
        stored = [(request, clean(prompt)) for request, prompt in pairs]
        for t in HIT_THRESHOLDS:
            hits = {
                runtime: np.array([matching.accept(r, p, float(s), t) for (r, p), s in zip(stored, c, strict=True)])
                for runtime, c in cos.items()
            }
            changed[f"hit@{t:.2f}"] = int(np.sum(hits["torch fp32"] != hits["onnx"]))
        for floor in [*schedule, RETRIEVAL_FLOOR]:
            label = f"reuse@{floor:.2f}" if floor in schedule else f"retrieved@{floor:.2f}"
            changed[label] = int(np.sum((cos["torch fp32"] >= floor) != (cos["onnx"] >= floor)))
        total_changed += sum(v for k, v in changed.items() if k.startswith("hit@"))
        rows.append({"set": name, "pairs": len(pairs), "max_cosine_delta": delta, "changed": changed})
    return {
        "texts": len(texts),
        "seconds": seconds,
        "vector_cosine_min": float(same_text.min()) if len(texts) else 1.0,
        "vector_cosine_p50": float(np.median(same_text)) if len(texts) else 1.0,
        "max_cosine_delta": max_delta,
        "changed": total_changed,
        "sets": rows,
    }


def markdown(result: dict[str, object], host: str) -> str:
    rows = result["sets"]
    assert isinstance(rows, list)
    labels = list(rows[0]["changed"]) if rows else []
    lines = [
        "## The ONNX embedder against the fp32 one (`bench/eval_embedder.py`)",
        "",
        f"Machine: {host}. {result['texts']} distinct normalised texts; seconds to embed them: "
        + ", ".join(f"{k} {v:.1f} s" for k, v in result["seconds"].items())  # type: ignore[attr-defined]
        + f". Cosine of a text's two vectors: min {result['vector_cosine_min']:.5f}, "
        f"median {result['vector_cosine_p50']:.6f}. Largest change of a pair's cosine: "
        f"{result['max_cosine_delta']:.5f}. **Hit decisions that differ: {result['changed']}.** (A reuse or "
        "retrieval flip moves a pair across a cosine floor by a few thousandths: which checkpoint a near-miss "
        "starts from, or a candidate the verifier would have judged; not whether a request hits.)",
        "",
        "| set | pairs | max cosine change | " + " | ".join(f"changed {label}" for label in labels) + " |",
        "|---|---:|---:|" + "---:|" * len(labels),
    ]
    for row in rows:
        changed = " | ".join(str(row["changed"][label]) for label in labels)
        lines.append(f"| {row['set']} | {row['pairs']} | {row['max_cosine_delta']:.5f} | {changed} |")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    et = _eval_threshold()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=et.DEFAULT_DATA, help="directory of the evaluation data")
    parser.add_argument("--sample", type=int, default=None, help="only the first N pairs of each set")
    parser.add_argument("--batch-size", type=int, default=64, help="texts per embedding batch")
    parser.add_argument("--json", type=Path, default=None, help="also write the counts as JSON here")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown section here")
    args = parser.parse_args(argv)
    if not args.data.is_dir() or et.missing_files(args.data):
        print(f"skipped: data not found at {args.data}", file=sys.stderr)
        return 0
    result = compare(args.data, args.sample, args.batch_size)
    text = markdown(result, et.machine())
    print(text)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1), encoding="utf-8")
    if args.out is not None:
        args.out.write_text(text, encoding="utf-8")
    return 1 if result["changed"] else 0


if __name__ == "__main__":
    sys.exit(main())
