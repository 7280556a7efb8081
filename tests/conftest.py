"""Shared test set-up: everything offline, nothing downloaded, no DREAMCACHE_* leaking in from the shell.

Skips never hide a failure: `make test` ends with a list of every skipped test and why, and on CI
(`CI=true`) any skip fails the run, so the browser test, the README examples and the shared-data tests
cannot silently stop running there. Two skips are allowed: a CUDA-only test (marked `gpu`) on a machine
without CUDA, and a test of the no-CUDA behaviour (marked `without_cuda`, skipped here with
WITHOUT_CUDA_REASON) on a machine with CUDA, so a CI run on a GPU host passes too.

Under pytest-xdist (`make test` runs `-n 2`) tests run in worker processes: a skip is turned into a failure
there, in the worker's report, and its reason travels to the controller in the report's user_properties,
where pytest_runtest_logreport gathers the list the controller prints.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Generator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _name in [name for name in os.environ if name.startswith("DREAMCACHE_")]:
    del os.environ[_name]

ON_CI = os.environ.get("CI", "").lower() == "true"
WITHOUT_CUDA_REASON = "tests a machine without CUDA, and this one has CUDA"
SKIP_PROPERTY = "dreamcache_skipped"  # user_properties entry on a skipped test's report: the reason
_SKIPS: list[tuple[str, str]] = []  # gathered where the reports are logged: the controller under xdist


@functools.cache
def _has_cuda() -> bool:
    import torch  # only when a without_cuda test runs: collection stays light

    return bool(torch.cuda.is_available())


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("without_cuda") is not None and _has_cuda():
        pytest.skip(WITHOUT_CUDA_REASON)


def _may_skip_on_ci(item: pytest.Item, reason: str) -> bool:
    """A CUDA-only test where there is none, or a no-CUDA test where there is CUDA; nothing else."""
    if item.get_closest_marker("gpu") is not None:
        return True
    return item.get_closest_marker("without_cuda") is not None and reason == WITHOUT_CUDA_REASON


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if not report.skipped or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    report.user_properties = [*report.user_properties, (SKIP_PROPERTY, reason)]  # not the item's list
    if ON_CI and not _may_skip_on_ci(item, reason):
        report.outcome = "failed"
        report.longrepr = (f"skipped on CI (CI=true), where only CUDA-only tests without CUDA and no-CUDA tests "
                           f"with CUDA may skip: {reason}")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    for name, value in report.user_properties:
        if name == SKIP_PROPERTY:
            _SKIPS.append((report.nodeid, str(value)))


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SKIPS:
        return
    terminalreporter.section(f"{len(_SKIPS)} tests skipped here, and why (with CI=true, a skip is a failure unless "
                             f"CUDA-only without CUDA or no-CUDA with CUDA)")
    for nodeid, reason in _SKIPS:
        terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}")
