"""Shared test set-up: everything offline, nothing downloaded, no DREAMCACHE_* leaking in from the shell.

Skips never hide a failure: `make test` ends with a list of every skipped test and why, and on CI
(`CI=true`) any skip other than a CUDA-only test (marked `gpu`) fails the run, so the browser test,
the README examples and the shared-data tests cannot silently stop running there.
"""

from __future__ import annotations

import os
from collections.abc import Generator

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
for _name in [name for name in os.environ if name.startswith("DREAMCACHE_")]:
    del os.environ[_name]

ON_CI = os.environ.get("CI", "").lower() == "true"
_SKIPS: list[tuple[str, str]] = []


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
    _SKIPS.append((item.nodeid, reason))
    if ON_CI and item.get_closest_marker("gpu") is None:
        report.outcome = "failed"
        report.longrepr = f"skipped on CI (CI=true), where only CUDA-only tests may skip: {reason}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _SKIPS:
        return
    terminalreporter.section(f"{len(_SKIPS)} tests skipped here, and why (with CI=true each one not marked gpu fails)")
    for nodeid, reason in _SKIPS:
        terminalreporter.write_line(f"SKIPPED {nodeid}: {reason}")
