"""The ONNX embedder (the default) changes no hit decision on the shared evaluation data (a sample of each
set here; `make eval` runs them all through bench/eval_embedder.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


@pytest.mark.skipif(not (DATA / "sugarcrepe_hard_negatives_dev.jsonl").is_file(), reason="no ../shared/data")
def test_no_hit_decision_changes_on_the_evaluation_data(tmp_path: Path) -> None:
    out = tmp_path / "decisions.json"
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "eval_embedder.py"), "--sample", "40", "--json", str(out)],
        capture_output=True, text=True, timeout=600, check=False, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin"},
    )
    assert out.is_file(), run.stderr[-2000:]
    result = json.loads(out.read_text())
    assert {row["set"] for row in result["sets"]} >= {"coco paraphrases", "sts-b", "sugarcrepe swap_obj"}
    hit_changes = {row["set"]: {k: v for k, v in row["changed"].items() if k.startswith("hit@")}
                   for row in result["sets"]}
    assert result["changed"] == 0 and run.returncode == 0, hit_changes
