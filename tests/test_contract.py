"""A bounded schemathesis run: the running service against its own OpenAPI document (no 5xx, no contract drift).

Driven through schemathesis' Python API over real HTTP (its pytest plugin does not load on this pytest).
Every operation gets `EXAMPLES` generated cases (valid and invalid), each checked by schemathesis'
default checks: no server error, documented status codes, content types, headers and response
schemas, valid data accepted and invalid data rejected.
"""

from __future__ import annotations

import re
import subprocess
import sys
import traceback
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from apphelpers import LiveServer, live_server, tiny_settings

EXAMPLES = 25
# Event streams (tests/test_live.py) and the other APIs' routes, which wait for their pictures (their own client
# libraries test them: tests/test_client_libraries.py).
EXCLUDED_PATHS = r"(/events$|^/v1/|^/sdapi/)"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # Misses answer 202 at once (no waiting) and are generated in the background on a small queue.
    service = tiny_settings(tmp_path_factory.mktemp("contract"), default_wait_s=0.0, queue_size=4,
                            max_queued_per_client=4, request_rate_per_s=0.0, generation_rate_per_s=0.0)
    with live_server(service) as running:
        yield running


def test_the_service_keeps_its_contract(server: LiveServer) -> None:
    failures: list[str] = []
    calls = 0
    operations = 0
    schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    for result in schema.get_all_operations():
        operation = result.ok()
        if re.search(EXCLUDED_PATHS, operation.path):
            continue
        operations += 1

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                  derandomize=True, database=None)
        def check(case: schemathesis.Case) -> None:
            nonlocal calls
            calls += 1
            case.call_and_validate()

        try:
            check()
        except BaseException as exc:  # schemathesis raises an exception group
            if isinstance(exc, KeyboardInterrupt):
                raise
            failures.append(f"{operation.method.upper()} {operation.path}: {type(exc).__name__}: "
                            f"{''.join(traceback.format_exception_only(exc)).strip()[:2000]}")
    print(f"schemathesis: {calls} requests over {operations} operations")
    assert not failures, "\n\n".join(failures)
    # A run that generated nothing (a schema that failed to load, an empty API) must not pass as a clean one.
    assert operations >= 10 and calls >= operations * 2, (operations, calls)


def test_the_coverage_phase_finds_no_drift(server: LiveServer) -> None:
    """schemathesis' coverage phase (the `schemathesis run` CLI, deterministic): each parameter at and past the
    edges of its schema (empty and absent headers, wrong types, undeclared methods, bounds). The Python API above
    only fuzzes, which does not produce these kinds; this is where an empty namespace header, a number as a date,
    or a header value outside its enum were found. Every check but one: "schema-valid data accepted" cannot hold
    at the edges for the rules a JSON schema cannot state (a prompt's length in CLIP tokens, seed + n within the
    seed range), which tests/test_api.py tests with the error each one gives."""
    run = subprocess.run(
        [sys.executable, "-m", "schemathesis.cli", "run", f"{server.url}/openapi.json", "--phases", "coverage",
         "--checks", "all", "--exclude-checks", "positive_data_acceptance",
         "--exclude-path-regex", EXCLUDED_PATHS, "--generation-deterministic", "--no-color", "--request-timeout", "30"],
        capture_output=True, text=True, timeout=600,
    )
    summary = run.stdout[run.stdout.rfind("SUMMARY"):]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert "Tested: " in summary and "generated" in summary, summary  # it did run cases
