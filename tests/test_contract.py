"""A bounded schemathesis run: the running service against its own OpenAPI document (no 5xx, no contract drift).

Driven through schemathesis' Python API over real HTTP (its pytest plugin does not load on this pytest).
Every operation gets `EXAMPLES` generated cases (valid and invalid), each checked by schemathesis'
default checks: no server error, documented status codes, content types, headers and response
schemas, valid data accepted and invalid data rejected.
"""

from __future__ import annotations

import traceback
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings

from apphelpers import live_server, tiny_settings

EXAMPLES = 25


def test_the_service_keeps_its_contract(tmp_path: Path) -> None:
    # Misses answer 202 at once (no waiting) and are generated in the background on a small queue.
    service = tiny_settings(tmp_path, default_wait_s=0.0, queue_size=4, max_queued_per_client=4,
                            request_rate_per_s=0.0, generation_rate_per_s=0.0)
    failures: list[str] = []
    calls = 0
    operations = 0
    with live_server(service) as server:
        schema = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
        for result in schema.get_all_operations():
            operation = result.ok()
            if operation.path.endswith("/events"):  # an event stream: covered by tests/test_live.py
                continue
            if operation.path.startswith(("/v1/", "/sdapi/")):
                # Other APIs' contracts (OpenAI's, AUTOMATIC1111's), which wait for their pictures: tested with
                # those APIs' own client libraries (tests/test_client_libraries.py).
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
