"""Measure the hit decision on the four error classes found by auditing hits on a real prompt stream by hand.

Each class is a set of (request, stored prompt) pairs built from public data read in place, and the
service's decision (`matching.decide` on the cosine of the `prompts.embedding_text` vectors, at the
default threshold) should be the same for every pair of a class:

- **nothing left after normalisation** (should miss): two different prompts of the real stream
  that are only emoji, symbols or punctuation;
- **changed count** (should miss): a COCO caption against itself with one plural noun made
  singular ("two dogs on a sofa" / "two dog on a sofa", "children" / "child"), the form a user's
  edit of the count leaves;
- **split or joined** (should hit): a stream prompt with a number-letter token split (`4k` /
  `4 k`, `3d` / `3 d`), or two words joined where the stream itself has the joined word
  (`chainsaw man` / `chainsawman`) and the joined word is not an English word of its own;
- **joined into a word of its own** (should miss): the same, where the joined word is an English
  word (WordNet, `dreamcache.words`: `green house` / `greenhouse`), so the join changes the meaning;
- **dropped leading article** (should hit): a COCO caption against itself without its first "A",
  "An" or "The".

It also reports how many of the should-hit pairs fall below the retrieval floor of the vector
search (0.85): the service finds those through the prompt's text key instead.

    python bench/eval_audit.py [--data ../shared/data] [--out docs/cache-audit.md]

The data is third-party and read in place, never copied; without it the script says so and exits 0.
"""

from __future__ import annotations

import argparse
import gzip
import json
import platform
import random
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dreamcache import matching, words
from dreamcache.decision import RETRIEVAL_FLOOR
from dreamcache.prompts import clean, embedding_text, normalize
from dreamcache.settings import Settings

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
COCO_FILE = "coco_captions_dev.jsonl"
STREAM_FILE = "sd_discord_dream-10.jsonl.gz"
MAX_PAIRS = 2000
_NUMBER_LETTER = re.compile(r"\b(\d+)([a-z])\b", re.IGNORECASE)
_IRREGULAR = {"children": "child", "men": "man", "women": "woman", "people": "person", "feet": "foot",
              "teeth": "tooth", "mice": "mouse", "geese": "goose"}


@dataclass
class AuditClass:
    """One error class: its pairs and what the decision should say for every pair."""

    name: str
    should_hit: bool
    pairs: list[tuple[str, str]]
    source: str
    quotable: bool = True  # the Discord stream's prompts are never copied into the project, not even as examples


def read_coco(path: Path) -> list[str]:
    captions: list[str] = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                captions += [clean(c) for c in json.loads(line)["captions"]]
    return captions


def read_stream(path: Path) -> list[str]:
    prompts: list[str] = []
    with gzip.open(path, "rt", encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                value = json.loads(line)
                if isinstance(value.get("prompt"), str) and value["prompt"].strip():
                    prompts.append(clean(value["prompt"]))
    return prompts


def empty_pairs(stream: Sequence[str], rng: random.Random) -> list[tuple[str, str]]:
    """Pairs of different stream prompts that both normalise to nothing."""
    empty = sorted({p for p in stream if not normalize(p)})
    pairs = [(a, b) for i, a in enumerate(empty) for b in empty[i + 1 :]]
    rng.shuffle(pairs)
    return pairs[:MAX_PAIRS]


def count_pairs(captions: Sequence[str], rng: random.Random) -> list[tuple[str, str]]:
    """(caption with one plural made singular, caption): a changed count."""
    vocabulary = {w for c in captions for w in c.lower().split()}
    pairs = []
    for caption in captions:
        words = caption.split()
        plurals = [
            i for i, w in enumerate(words)
            if w.lower() in _IRREGULAR
            or (len(w) > 4 and w.lower().endswith("s") and not w.lower().endswith(("ss", "us", "is"))
                and w.lower()[:-1] in vocabulary)
        ]
        if plurals:
            i = rng.choice(plurals)
            word = words[i].lower()
            words[i] = _IRREGULAR.get(word, word[:-1])
            pairs.append((" ".join(words), caption))
    rng.shuffle(pairs)
    return pairs[:MAX_PAIRS]


def split_joined_pairs(
    stream: Sequence[str], rng: random.Random
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(prompt with a number-letter token split or two words joined, prompt): the typing variants, and the
    joins whose joined word is an English word of its own."""
    vocabulary = {w for p in stream for w in normalize(p).split()}
    lexicon = words.lexicon() or frozenset()
    variants, words_of_their_own = [], []
    for prompt in sorted(set(stream)):
        if _NUMBER_LETTER.search(prompt):
            variants.append((_NUMBER_LETTER.sub(r"\1 \2", prompt, count=1), prompt))
            continue
        split = prompt.split()
        for i in range(len(split) - 1):
            a, b = split[i], split[i + 1]
            if a.isalpha() and b.isalpha() and len(a) > 2 and len(b) > 2 and (a + b).lower() in vocabulary:
                pair = (" ".join([*split[:i], a + b, *split[i + 2 :]]), prompt)
                (words_of_their_own if words.is_word((a + b).lower(), lexicon) else variants).append(pair)
                break
    rng.shuffle(variants)
    rng.shuffle(words_of_their_own)
    return variants[:MAX_PAIRS], words_of_their_own[:MAX_PAIRS]


def article_pairs(captions: Sequence[str], rng: random.Random) -> list[tuple[str, str]]:
    """(caption without its leading article, caption)."""
    pairs = []
    for caption in captions:
        first, _, rest = caption.partition(" ")
        if first.lower() in {"a", "an", "the"} and rest:
            pairs.append((rest[0].upper() + rest[1:], caption))
    rng.shuffle(pairs)
    return pairs[:MAX_PAIRS]


def build(data: Path) -> list[AuditClass]:
    rng = random.Random(0)
    coco = read_coco(data / COCO_FILE)
    classes = [
        AuditClass("changed count", False, count_pairs(coco, rng), "COCO captions, one plural made singular"),
        AuditClass("dropped leading article", True, article_pairs(coco, rng), "COCO captions without A/An/The"),
    ]
    if (data / STREAM_FILE).exists():
        stream = read_stream(data / STREAM_FILE)
        classes.insert(0, AuditClass("nothing left after normalisation", False, empty_pairs(stream, rng),
                                     "different stream prompts of only emoji, symbols, punctuation", False))
        variants, words_of_their_own = split_joined_pairs(stream, rng)
        classes.insert(2, AuditClass("split or joined words", True, variants,
                                     "stream prompts with `4k`-style tokens split, or two words joined (not into "
                                     "an English word)", False))
        classes.insert(3, AuditClass("joined into a word of its own", False, words_of_their_own,
                                     "stream prompts with two words joined into an English word (WordNet)", False))
    return classes


def measure(classes: Sequence[AuditClass], embed: Callable[[Sequence[str]], np.ndarray], threshold: float
            ) -> list[dict[str, float | int | str]]:
    texts = sorted({embedding_text(t) for c in classes for pair in c.pairs for t in pair}, key=len)
    vectors: dict[str, np.ndarray] = {}
    for start in range(0, len(texts), 64):
        chunk = texts[start : start + 64]
        vectors.update(zip(chunk, embed(chunk), strict=True))
    rows: list[dict[str, float | int | str]] = []
    for c in classes:
        cosines = [float(np.dot(vectors[embedding_text(a)], vectors[embedding_text(b)])) for a, b in c.pairs]
        hits = [matching.decide(a, b, s, threshold)[0] for (a, b), s in zip(c.pairs, cosines, strict=True)]
        below_floor = sum(s < RETRIEVAL_FLOOR for s in cosines)
        wrong = [pair for pair, h in zip(c.pairs, hits, strict=True) if h != c.should_hit][:3]
        rows.append({
            "wrong": (" / ".join(f"`{a}` vs `{b}`" for a, b in wrong) if c.quotable or not wrong
                      else f"{sum(h != c.should_hit for h in hits)} pair(s), not quoted (third-party stream)"),
            "class": c.name, "expected": "hit" if c.should_hit else "miss", "pairs": len(c.pairs),
            "hits": sum(hits), "correct": sum(h == c.should_hit for h in hits),
            "median_cosine": float(np.median(cosines)) if cosines else float("nan"),
            "below_floor": below_floor, "source": c.source,
        })
    return rows


def report(rows: Sequence[dict[str, float | int | str]], threshold: float, command: str, seconds: float) -> str:
    lines = [
        "# Hit decision on the audited error classes",
        "",
        f"Generated by `{command}` in {seconds:.0f} s on {platform.machine()} with {platform.python_version()} "
        f"(2-core CPU sandbox), the service's decision at its default threshold {threshold:.2f}. The pairs are "
        "built from third-party data read in place (`../shared/data`), never copied here. Companion to "
        "[cache-quality.md](cache-quality.md) (SugarCrepe, COCO, STS-B).",
        "",
        "| class | should | pairs | hits | correct | median cosine | below the 0.85 retrieval floor | built from |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        pairs = int(r["pairs"])
        correct = f"{100 * int(r['correct']) / pairs:.2f}%" if pairs else "n/a"
        lines.append(
            f"| {r['class']} | {r['expected']} | {pairs:,} | {int(r['hits']):,} | {correct} | "
            f"{float(r['median_cosine']):.3f} | {int(r['below_floor']):,} | {r['source']} |"
        )
    for r in rows:
        if r["wrong"]:
            lines += ["", f"Decided against its class ({r['class']}): {r['wrong']}."]
    lines += [
        "",
        "Should-hit pairs below the retrieval floor are still found: the service also looks a prompt up by its "
        "text key (`prompts.text_key`: the text up to case, punctuation, spacing, articles and tag order).",
        "",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    started = time.perf_counter()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="directory of the evaluation data")
    parser.add_argument("--out", type=Path, default=None, help="also write the markdown report here")
    args = parser.parse_args(argv)
    if not (args.data / COCO_FILE).exists():
        print(f"skipped: {COCO_FILE} not found in {args.data}", file=sys.stderr)
        return 0
    from dreamcache.embedding import MiniLMEmbedder

    threshold = Settings().similarity_threshold
    classes = build(args.data)
    rows = measure(classes, MiniLMEmbedder().embed, threshold)
    command = "python bench/eval_audit.py " + " ".join(argv if argv is not None else sys.argv[1:])
    markdown = report(rows, threshold, command.strip(), time.perf_counter() - started)
    print(markdown)
    if args.out is not None:
        args.out.write_text(markdown, encoding="utf-8")
        print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
