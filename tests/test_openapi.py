"""The checked-in OpenAPI document is the app's own, and documents the error shape."""

from __future__ import annotations

import json
from pathlib import Path

from dreamcache.cli import openapi_json

SPEC = Path(__file__).resolve().parents[1] / "openapi" / "openapi.json"


def test_checked_in_openapi_is_current() -> None:
    assert SPEC.exists(), "run `make openapi`"
    assert SPEC.read_text().strip() == openapi_json().strip(), "openapi/openapi.json is stale: run `make openapi`"


def test_every_route_of_the_contract_is_documented_with_the_error_shape() -> None:
    spec = json.loads(openapi_json())
    paths = spec["paths"]
    for path, method in [("/generate", "post"), ("/jobs/{job_id}", "get"), ("/jobs/{job_id}", "delete"),
                         ("/jobs/{job_id}/events", "get"), ("/recommend", "get"), ("/recommend", "post"),
                         ("/images/{key}", "get"), ("/healthz", "get"), ("/readyz", "get"), ("/metrics", "get")]:
        assert method in paths[path], (path, method)
    generate = paths["/generate"]["post"]["responses"]
    for status in ("200", "202", "422", "429", "503"):
        assert status in generate
    assert generate["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert spec["components"]["schemas"]["GenerateRequest"]["additionalProperties"] is False
