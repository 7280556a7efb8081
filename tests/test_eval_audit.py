"""bench/eval_audit.py on tiny synthetic data (never the shared data set)."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "eval_audit.py"


def write_data(root: Path) -> Path:
    root.mkdir()
    captions = [
        ["A cat sleeps on a sofa.", "Two dogs are playing in a park."],
        ["The children are flying kites.", "A man and two women on a bench."],
    ]
    (root / "coco_captions_dev.jsonl").write_text(
        "".join(json.dumps({"image_id": i, "captions": c}) + "\n" for i, c in enumerate(captions))
    )
    stream = ["🔥🔥", "💀", "!!!", "castle on a hill, 4k", "chainsaw man fan art", "chainsawman poster",
              "a dog in a park", "a green house in the rain", "greenhouse interior"]
    with gzip.open(root / "sd_discord_dream-10.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write("".join(json.dumps({"seq": i, "user": None, "prompt": p}) + "\n" for i, p in enumerate(stream)))
    return root


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300,
                          check=False)


def rows(markdown: str) -> dict[str, list[str]]:
    body = [line for line in markdown.splitlines() if line.startswith("| ") and not line.startswith("| class")]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip("|").split("|")] for line in body)}


def test_every_audited_class_is_measured_and_decided_as_it_should(tmp_path: Path) -> None:
    data = write_data(tmp_path / "data")
    out = tmp_path / "audit.md"
    result = run("--data", str(data), "--out", str(out))
    assert result.returncode == 0, result.stderr
    table = rows(out.read_text())
    # class -> [should, pairs, hits, correct, median cosine, below floor, source]
    assert table["nothing left after normalisation"][:4] == ["miss", "3", "0", "100.00%"]
    # "children" -> "child", "women" -> "woman"; "dogs" and "kites" have no singular in this vocabulary.
    assert table["changed count"][:4] == ["miss", "2", "0", "100.00%"]
    assert table["split or joined words"][:4] == ["hit", "2", "2", "100.00%"]
    assert table["joined into a word of its own"][:4] == ["miss", "1", "0", "100.00%"]  # green house/greenhouse
    assert table["dropped leading article"][:4] == ["hit", "3", "3", "100.00%"]


def test_without_data_it_says_so_and_exits_0(tmp_path: Path) -> None:
    result = run("--data", str(tmp_path / "missing"))
    assert result.returncode == 0 and "skipped" in result.stderr
