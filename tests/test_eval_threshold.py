"""bench/eval_threshold.py on tiny synthetic data (never the shared data set)."""

from __future__ import annotations

import importlib.util
import json
import random
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

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


def test_eval_threshold_on_synthetic_data(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    out = tmp_path / "reports" / "threshold.md"
    result = run("--data", str(data), "--out", str(out), "--batch-size", "4")
    assert result.returncode == 0, result.stderr
    markdown = out.read_text()
    assert markdown.strip() == result.stdout.strip()
    assert "embedded" in result.stderr  # progress goes to stderr, not into the report
    lines = markdown.splitlines()
    rows = {line.split(" | ")[0].strip("| "): line for line in lines if line.startswith("| 0.")}
    for threshold in ("0.70", "0.80", "0.85", "0.90", "0.95", "0.98"):
        assert threshold in rows
    header = next(line for line in markdown.splitlines() if line.startswith("| threshold"))
    assert "swap_obj" in header and "replace_obj" in header
    # A retyped caption is far above 0.70: every exact repeat hits there.
    assert rows["0.70"].split(" | ")[2] == "100.0%"
    assert "2 images, 4 pairs" in markdown  # all pairs: 1 + 3
    assert "4 pairs with 0-5 human similarity" in markdown and "Spearman" in markdown
    assert "Recommended default" in markdown


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
    assert grid[0] == pytest.approx(0.70) and {0.80, 0.85, 0.90, 0.95, 0.98} <= set(grid)
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
