"""tests/conftest.py's skip rules, run the way `make test` runs (pytest-xdist workers) and without xdist.

A throwaway suite in a temp dir gets a copy of our conftest: one test that skips for an ordinary reason and
one CUDA-only test. The skip list must reach the controller's summary, and with CI=true the ordinary skip
must fail the run while the CUDA-only one stays a skip.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

THROWAWAY_TESTS = '''
import pytest


def test_needs_a_tool():
    pytest.skip("the tool is not installed")


@pytest.mark.gpu
def test_needs_cuda():
    pytest.skip("no CUDA device")


def test_plain():
    assert True
'''
INI = "[pytest]\nmarkers =\n    gpu: CUDA only\n    without_cuda: no CUDA\n"


def _run(tmp_path: Path, *, ci: bool, workers: int) -> subprocess.CompletedProcess[str]:
    shutil.copy(Path(__file__).with_name("conftest.py"), tmp_path / "conftest.py")
    (tmp_path / "test_throwaway.py").write_text(THROWAWAY_TESTS)
    (tmp_path / "pytest.ini").write_text(INI)
    env = {key: value for key, value in os.environ.items() if key not in {"CI", "PYTEST_ADDOPTS"}}
    env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # no schemathesis, hypothesis...: seconds less per process
    if ci:
        env["CI"] = "true"
    args = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)]
    args += ["-p", "xdist.plugin", "-n", str(workers)] if workers else []
    return subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("workers", [0, 2], ids=["in-process", "xdist-2"])
def test_skips_are_listed_and_fail_on_ci(tmp_path: Path, workers: int) -> None:
    local = _run(tmp_path, ci=False, workers=workers)
    assert local.returncode == 0, local.stdout + local.stderr
    assert "2 tests skipped here, and why" in local.stdout
    assert "SKIPPED test_throwaway.py::test_needs_a_tool: the tool is not installed" in local.stdout
    assert "SKIPPED test_throwaway.py::test_needs_cuda: no CUDA device" in local.stdout

    on_ci = _run(tmp_path, ci=True, workers=workers)
    assert on_ci.returncode == 1, on_ci.stdout + on_ci.stderr
    assert "1 failed, 1 passed, 1 skipped" in on_ci.stdout
    assert "skipped on CI (CI=true)" in on_ci.stdout
    assert "FAILED test_throwaway.py::test_needs_a_tool" in on_ci.stdout
    assert "2 tests skipped here, and why" in on_ci.stdout  # the failed one is still listed with its reason
