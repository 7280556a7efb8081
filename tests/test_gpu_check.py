"""bench/gpu_check.sh without a GPU: its --dry-run checks the arguments and the carried wheels and writes the plan."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "gpu_check.sh"
NEEDED = ["diffusers-0.42.1", "DeepCache-0.1.1", "dreamcache-0.1.0", "qdrant_client-1.20.0", "qdrant_edge_py-0.9.0",
          "fastapi-0.163.2", "uvicorn-0.54.0", "pydantic-2.14.3", "pydantic_settings-2.16.3", "boto3-1.44.5"]
DEVICE_RUN_S = 480  # what the issue gives the whole script on the GPU machine


def gpu_check(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def wheels(tmp_path: Path) -> Path:
    """A wheels folder holding (empty) files named as `make gpu-wheels` names them."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for name in NEEDED:
        (folder / f"{name}-py3-none-any.whl").write_bytes(b"")
    return folder


def test_dry_run_writes_the_plan(tmp_path: Path, wheels: Path) -> None:
    done = gpu_check("--dry-run", "--wheels", str(wheels), "out", cwd=tmp_path)  # OUT relative to the caller
    assert done.returncode == 0, done.stdout + done.stderr
    out = tmp_path / "out"
    summary = (out / "summary.txt").read_text()
    assert summary.endswith("result: ok\n")
    steps = dict(re.findall(r"^step (\w+) \(timeout (\d+) s\): would run: ", summary, re.M))
    assert list(steps) == ["install", "environment", "gpu_tests", "bench_gpu", "bench_worker"]
    assert sum(int(limit) for limit in steps.values()) + 5 * len(steps) <= DEVICE_RUN_S  # kill grace included
    plan = {name: (out / f"{name}.log").read_text() for name in steps}
    assert "--no-index --no-deps" in plan["install"] and str(wheels) in plan["install"]
    assert "torch" not in plan["install"].split("&&")[0]  # torch (CUDA) on the machine is never reinstalled
    assert "-m pytest -q -m gpu" in plan["gpu_tests"] and "tests/test_compile.py" in plan["gpu_tests"]
    assert f"bench/bench_gpu.py --json '{out}/bench_gpu.json'" in plan["bench_gpu"]
    assert f"bench/bench_worker_gpu.py --json '{out}/bench_worker_gpu.json'" in plan["bench_worker"]
    assert len(list(out.iterdir())) <= 8  # a device run brings back 8 files at most


def test_dry_run_fails_without_the_wheels(tmp_path: Path, wheels: Path) -> None:
    (wheels / "diffusers-0.42.1-py3-none-any.whl").unlink()
    done = gpu_check("--dry-run", "--wheels", str(wheels), str(tmp_path / "out"))
    assert done.returncode == 1
    summary = (tmp_path / "out" / "summary.txt").read_text()
    assert "MISSING" in summary and "diffusers" in summary and "make gpu-wheels" in summary
    assert summary.endswith("result: FAILED: wheels\n")


@pytest.mark.parametrize("args", [[], ["--dry-run"], ["--frobnicate", "out"], ["a", "b"]])
def test_bad_arguments_print_the_usage(tmp_path: Path, args: list[str]) -> None:
    done = gpu_check(*args, cwd=tmp_path)
    assert done.returncode == 2 and "usage: bash bench/gpu_check.sh" in done.stderr
