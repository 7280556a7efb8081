"""bench/eval_threshold.py on tiny synthetic data (never the shared data set)."""

from __future__ import annotations

import importlib.util
import json
import random
import re
import subprocess
import sys
import zlib
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from dreamcache import matching
from dreamcache.prompts import clean, normalize

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "eval_threshold.py"


def load_script() -> ModuleType:
    """Import the bench script as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("eval_threshold", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def run(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the script in a fresh interpreter, as a user would."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300, check=False
    )


def write_data(root: Path) -> Path:
    """A handful of rows in each of the three file formats."""
    root.mkdir()
    captions = [
        ["A cat sleeps on a sofa.", "A cat asleep on a couch."],
        ["A red bus on a street.", "A bus drives in the city.", "Red double decker bus downtown."],
    ]
    coco = [{"image_id": i, "file_name": f"{i}.jpg", "captions": c} for i, c in enumerate(captions)]
    (root / "coco_captions_dev.jsonl").write_text("".join(json.dumps(r) + "\n" for r in coco))
    sugarcrepe = [
        ("swap_obj", "A dog chasing a cat.", "A cat chasing a dog."),
        ("swap_obj", "A man riding a horse.", "A horse riding a man."),
        ("replace_obj", "A red bus on a street.", "A red boat on a street."),
    ]
    (root / "sugarcrepe_hard_negatives_dev.jsonl").write_text(
        "".join(
            json.dumps({"type": t, "id": i, "file_name": "x.jpg", "caption": c, "negative_caption": n}) + "\n"
            for i, (t, c, n) in enumerate(sugarcrepe)
        )
    )
    (root / "stsb_captions_ccbysa.tsv").write_text(
        "split\tsource\tyear\tsts_id\tscore\tsentence1\tsentence2\n"
        "train\timages\t2014\t0001\t4.8\tTwo trains on the tracks.\tTwo trains sitting on tracks.\n"
        'train\timages\t2015\t0002\t3.2\t"A dog in a ""superman"" shirt."\tA dog wearing a shirt.\n'
        "dev\timages\t2014\t0003\t2.0\tA woman slices a tomato.\tA woman is cutting an onion.\n"
        "test\timages\t2014\t0004\t0.4\tA boat on the sea.\tA man plays the guitar.\n"
    )
    return root


def table(markdown: str, heading: str) -> dict[str, list[str]]:
    """The first table after heading: cells of each body row, keyed by the first cell (bold dropped)."""
    lines = markdown.splitlines()
    start = lines.index(heading)
    body = []
    for line in lines[start + 1 :]:
        if line.startswith("|"):
            body.append(line)
        elif body:
            break
    rows = [[cell.strip().strip("*") for cell in line.strip("|").split("|")] for line in body[2:]]
    return {row[0]: row[1:] for row in rows}


def test_eval_threshold_on_synthetic_data(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    out = tmp_path / "reports" / "threshold.md"
    result = run("--data", str(data), "--out", str(out), "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    markdown = out.read_text()
    assert markdown.strip() == result.stdout.strip()
    assert "embedded" in result.stderr  # progress goes to stderr, not into the report
    # Header: machine and the command that produced the document.
    assert re.search(r"^Machine: \d+ CPU cores", markdown, re.MULTILINE)
    assert f"--data {data} --out {out} --batch-size 4`" in markdown
    for licence in ("CC BY 4.0", "MIT", "CC BY-SA 4.0"):
        assert licence in markdown
    assert f"read in place from `{data}` and never copied" in markdown

    rows = table(markdown, "## Service decision by threshold")
    for threshold in ("0.70", "0.80", "0.85", "0.90", "0.95", "0.98", "0.99"):
        assert threshold in rows
    header = next(line for line in markdown.splitlines() if line.startswith("| threshold | COCO same-image"))
    assert "swap_obj" in header and "replace_obj" in header
    swap = header.strip("|").split("|").index(" swap_obj ") - 1
    for threshold, cells in rows.items():
        assert cells[1] == "100.0%", threshold  # a retyped prompt normalises to the stored one: always a hit
        assert cells[swap] == "0.0%", threshold  # swapped words: the word-order guard vetoes them

    side = table(markdown, "## Service decision vs cosine alone")
    assert list(side) == ["0.85", "0.90", "0.95", "0.96", "0.97", "0.98", "0.99"]
    # columns: COCO cos/svc, repeats cos/svc, false hits cos/svc, worst type cos/svc
    assert side["0.85"][6] == "swap_obj 100.0%"  # MiniLM puts a swap at ~0.97: cosine alone takes it
    assert side["0.85"][5] == "0.0%" and side["0.99"][3] == "100.0%"

    assert "2 images, 4 pairs" in markdown  # all pairs: 1 + 3
    assert "4 pairs with a 0-5 human similarity" in markdown and "Spearman" in markdown
    # Nothing here is a false hit and no COCO or STS-B pair is verified: the strictest threshold is free.
    assert "**Recommended default threshold: 0.99**" in markdown
    assert "The bounds hold from 0.70 up." in markdown
    per_type = table(markdown, "## False hits per SugarCrepe type at 0.99")
    # pairs, cosine alone, previous, previous at 0.98, service, vetoed
    assert per_type["swap_obj"][0] == "2" and per_type["swap_obj"][2:5] == ["0.0%", "0.0%", "0.0%"]
    assert per_type["swap_obj"][5] == "2 (100.0%)" and per_type["replace_obj"][5] == "1 (100.0%)"
    assert per_type["exact repeats hit"][4] == "100.0%"
    assert re.search(r"Verifier time .*: p50 [\d.]+ ms, p99 [\d.]+ ms", markdown)


def test_eval_threshold_skips_without_data(tmp_path: Path) -> None:
    result = run("--data", str(tmp_path / "absent"))
    assert result.returncode == 0
    assert "skipped: data not found" in result.stderr
    assert result.stdout == ""
    partial = tmp_path / "partial"
    partial.mkdir()
    (partial / "coco_captions_dev.jsonl").write_text("")
    result = run("--data", str(partial))
    assert result.returncode == 0
    assert "skipped: data not found" in result.stderr and "stsb_captions_ccbysa.tsv" in result.stderr


def test_pairs_thresholds_and_statistics() -> None:
    script = load_script()
    grid = script.thresholds()
    assert grid[0] == pytest.approx(0.70) and {0.80, 0.85, 0.90, 0.95, 0.98, 0.99} <= set(grid)
    assert {0.97, *grid} <= set(script.all_thresholds())
    assert script.coco_pairs([["a", "b", "c"], ["d"]]) == [("a", "b"), ("a", "c"), ("b", "c")]
    assert script.spearman(np.array([1, 2, 3, 4.0]), np.array([10, 20, 30, 45.0])) == pytest.approx(1.0)
    assert script.spearman(np.array([1, 2, 3, 4.0]), np.array([4, 3, 2, 1.0])) == pytest.approx(-1.0)
    assert list(script.rankdata(np.array([3.0, 1.0, 3.0, 2.0]))) == [3.5, 1.0, 3.5, 2.0]
    assert script.rate_at(np.array([0.5, 0.9, 0.95]), 0.9) == pytest.approx(2 / 3)
    rng = random.Random(0)
    for caption in ["A cat sleeps on a sofa.", "a red bus", "Two dogs, one ball"]:
        variant = script.perturb(caption, rng)
        assert variant != caption
        assert variant.split()[0].lower().strip(".,!") == caption.split()[0].lower().strip(".,!")


class BagOfWords:
    """A deterministic stand-in for MiniLM: hashed counts of the whitespace tokens, case and punctuation kept."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def vector(self, text: str) -> np.ndarray:
        v = np.zeros(256, dtype=np.float32)
        for token in text.split() or [""]:
            v[zlib.crc32(token.encode()) % 256] += 1.0
        return v / np.linalg.norm(v)

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        self.seen += texts
        return np.stack([self.vector(t) for t in texts])

    def cosine(self, a: str, b: str) -> float:
        return float(self.vector(a) @ self.vector(b))


def tiny_dataset(script: ModuleType) -> Any:
    """Three negatives (a swap, a replaced and an added word), three images, two STS-B pairs."""
    return script.Dataset(
        coco=[
            ["A cat sleeps on a sofa", "a cat sleeps on a couch"],
            ["A red bus, on a street"],
            ["a dog runs on the beach", "A dog running on a beach"],  # verified: only cosine decides
        ],
        sugarcrepe=[
            ("swap_obj", "a dog chasing a cat", "a cat chasing a dog"),
            ("replace_obj", "a red bus on a street", "a red boat on a street"),
            ("add_att", "castle, oil painting", "oil painting, castle, gold, frame"),
        ],
        stsb=[(4.5, "two trains on tracks", "Two trains, on tracks."), (0.5, "a boat", "a man plays guitar")],
    )


def test_service_decision_calls_matching_accept(monkeypatch: pytest.MonkeyPatch) -> None:
    script = load_script()
    calls: list[tuple[str, str, float, float]] = []
    real_accept = matching.accept

    def spy(query: str, candidate: str, similarity: float, threshold: float) -> bool:
        calls.append((query, candidate, similarity, threshold))
        return real_accept(query, candidate, similarity, threshold)

    monkeypatch.setattr(matching, "accept", spy)
    embed = BagOfWords()
    grid = [0.5, 0.8, 0.9, 0.99]
    results = script.evaluate(tiny_dataset(script), embed, batch_size=3, grid=grid)

    # Each unique text embedded once, as written and normalised.
    assert len(embed.seen) == len(set(embed.seen)) == results.counts["unique_texts"]
    assert "a red bus on a street" in embed.seen and "A red bus, on a street" in embed.seen
    # The real function decides every pair at every threshold, with the cosine of the normalised texts.
    pair_sets = [results.coco, results.repeats, results.sts, *results.sugarcrepe.values()]
    assert len(calls) == len(grid) * sum(len(s.pairs) for s in pair_sets)
    for query, candidate, similarity, _ in calls:
        assert candidate == clean(candidate)  # the stored entry keeps its cleaned prompt
        assert similarity == pytest.approx(embed.cosine(normalize(query), normalize(candidate)), abs=1e-6)
    for s in pair_sets:
        for t in grid:
            expected = [real_accept(a, clean(b), float(c), t) for (a, b), c in zip(s.pairs, s.served, strict=True)]
            assert s.decisions[t].tolist() == expected

    swap, replace = results.sugarcrepe["swap_obj"], results.sugarcrepe["replace_obj"]
    assert swap.written[0] == pytest.approx(1.0)  # same words: cosine alone cannot tell the swap apart
    assert swap.rate("cosine", 0.99) == 1.0 and swap.rate("service", 0.5) == 0.0
    cosine = embed.cosine("a red bus on a street", "a red boat on a street")
    assert replace.rate("previous", 0.8) == float(cosine >= 0.8) and replace.rate("previous", 0.99) == 0.0
    assert replace.rate("service", 0.5) == 0.0  # the verifier vetoes a replaced word whatever the cosine
    assert results.vetoed == {"swap_obj": 1, "replace_obj": 1, "add_att": 1}
    dog = embed.cosine("a dog runs on the beach", "a dog running on a beach")
    assert results.coco.decisions[0.5].tolist() == [False, dog >= 0.5]
    assert results.timing_ms["n"] == 5 and 0 < results.timing_ms["p50"] <= results.timing_ms["p99"]
    # Retyped prompts: other case and punctuation defeat a case-sensitive cosine, normalisation hits them all.
    assert results.repeats.rate("service", 0.99) == 1.0
    assert results.repeats.rate("cosine", 0.99) < 1.0
    assert results.sts.decisions[0.99].tolist() == [True, False]  # normalised-equal: a hit at any threshold


def test_recommendation_uses_the_service_decision() -> None:
    script = load_script()
    embed = BagOfWords()
    results = script.evaluate(tiny_dataset(script), embed, batch_size=8)
    replace = embed.cosine("a red bus on a street", "a red boat on a street")
    add = embed.cosine("castle oil painting", "oil painting castle gold frame")
    dog = embed.cosine("a dog runs on the beach", "a dog running on a beach")
    assert 0.70 < replace < 0.99 and 0.70 < add < 0.99 and 0.70 < dog < 0.99
    # Every negative is vetoed at every threshold: the most COCO recall, then the highest such threshold.
    expected = max(t for t in script.thresholds() if t <= dog)
    threshold, text = script.recommend(results, max_false_hit=0.02, min_repeat_recall=1.0)
    assert threshold == expected
    assert f"**Recommended default threshold: {expected:.2f}**" in text
    assert "per type: add_att 0.0%, replace_obj 0.0%, swap_obj 0.0%" in text
    assert "COCO same-image recall: **50.0%**, 1 of 2 pairs" in text
    # The previous decision took the replaced and the added word until the threshold passed their cosines.
    first = min(t for t in script.thresholds() if t > max(replace, add))
    assert f"The previous decision would first meet both bounds at {first:.2f}" in text
    threshold, text = script.recommend(results, max_false_hit=-1.0, min_repeat_recall=1.0)
    assert threshold is None and text.startswith("No threshold in the grid")
    markdown = script.report(
        results,
        data_dir="data",
        command="python bench/eval_threshold.py",
        host="2 CPU cores",
        run_s=1.0,
        max_false_hit=0.05,
        min_repeat_recall=0.99,
    )
    assert "Machine: 2 CPU cores. Command: `python bench/eval_threshold.py`." in markdown
    assert f"| **{expected:.2f}** |" in markdown  # the recommended row is marked in the main table
    assert "word-order guard alone vetoes 1 of 1 swap_obj pairs" in markdown
    assert "so it rejects 1 of 1 swap_obj pairs" in markdown
    assert "Normalisation makes 3 of 3 retyped prompts identical" in markdown
