"""Autocomplete quality on PartiPrompts: does typing the first words of a prompt suggest that prompt?

Reads ../shared/data/parti_prompts.tsv in place (Apache-2.0; skipped cleanly when absent). Every
PartiPrompt that is long enough to be suggested (3+ words, 12+ characters after normalising) is
indexed once: its MiniLM vector in an embedded Qdrant Edge index (in a temporary directory) and
the suggestion engine loaded from it, exactly as the app does at start-up (no HTTP). All entries
have 0 hits and the same age, so popularity and recency do not help: this measures matching.
Then, for each prompt with more than k words, the first k words (k = 1, 2, 3, as typed, no
trailing space) are sent as the query with limit 10, and reported:

- coverage: at least one suggestion;
- exact@5: the full prompt is among the top 5;
- MRR: mean reciprocal rank of the full prompt in the top 10 (0 when absent).

Run: `python bench/eval_autocomplete.py` (prints a markdown table).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from dreamcache import prompts
from dreamcache.embedding import MiniLMEmbedder
from dreamcache.index import EdgeIndex, Entry
from dreamcache.prompts import embedding_text
from dreamcache.suggest import SuggestionIndex, suggestible

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 10


def parti(path: Path) -> list[str]:
    """Distinct suggestible PartiPrompts (first spelling of each normalised prompt)."""
    with path.open(encoding="utf-8") as handle:
        rows = [row["Prompt"] for row in csv.DictReader(handle, delimiter="\t")]
    seen: dict[str, str] = {}
    for text in rows:
        norm = prompts.normalize(text)
        if suggestible(norm):
            seen.setdefault(norm, prompts.clean(text))
    return list(seen.values())


def entries(texts: list[str]) -> list[Entry]:
    now = time.time()
    out = []
    for i, text in enumerate(texts):
        entry_id = str(uuid.uuid4())
        out.append(
            Entry(
                id=entry_id,
                prompt=text,
                negative_prompt="",
                width=512,
                height=512,
                steps=25,
                guidance_scale=7.5,
                seed=i,
                model="eval",
                fingerprint="eval",
                image_key=f"{entry_id}.png",
                created_at=now,
                compat_key="eval",
                exact_key=entry_id,
                prompt_norm=prompts.normalize(text),
            )
        )
    return out


async def evaluate(engine: SuggestionIndex, texts: list[str], words: int) -> dict[str, float]:
    covered = at5 = 0
    reciprocal = 0.0
    n = 0
    latencies: list[float] = []
    for text in texts:
        split = text.split()
        if len(split) <= words:
            continue
        typed = " ".join(split[:words])
        started = time.perf_counter()
        found = await engine.suggest(typed, compat="eval", limit=LIMIT)
        latencies.append((time.perf_counter() - started) * 1000)
        n += 1
        covered += bool(found)
        norms = [s.prompt_norm for s in found]
        target = prompts.normalize(text)
        if target in norms:
            rank = norms.index(target) + 1
            reciprocal += 1 / rank
            at5 += rank <= 5
    return {
        "n": n,
        "coverage": covered / n,
        "exact@5": at5 / n,
        "mrr": reciprocal / n,
        "p50_ms": float(np.percentile(latencies, 50)),
        "p99_ms": float(np.percentile(latencies, 99)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    args = parser.parse_args()
    path = args.data / "parti_prompts.tsv"
    if not path.exists():
        print(f"skipped: {path} is absent", file=sys.stderr)
        return 0
    texts = parti(path)
    print(f"embedding {len(texts)} PartiPrompts...", file=sys.stderr)
    embedder = MiniLMEmbedder()
    vectors = embedder.embed([embedding_text(text) for text in texts])
    rows: list[tuple[int, dict[str, float]]] = []
    with tempfile.TemporaryDirectory(prefix="dreamcache-eval-autocomplete-") as tmp:
        index = EdgeIndex(Path(tmp) / "index", vectors.shape[1])
        try:
            index.upsert_many(list(zip(entries(texts), vectors, strict=True)))
            engine = SuggestionIndex(index)
            engine.load(index.scroll_all())
            for words in (1, 2, 3):
                rows.append((words, asyncio.run(evaluate(engine, texts, words))))
        finally:
            index.close()
    print(
        f"PartiPrompts: {len(texts)} distinct suggestible prompts indexed; query = the first k words as typed; "
        f"limit {LIMIT}.\n"
    )
    print("| typed | prompts | coverage | exact@5 | MRR | engine p50 ms | engine p99 ms |")
    print("|---|---|---|---|---|---|---|")
    for words, r in rows:
        print(
            f"| {words} word{'s' if words > 1 else ''} | {int(r['n'])} | {r['coverage']:.1%} | {r['exact@5']:.1%} | "
            f"{r['mrr']:.3f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
