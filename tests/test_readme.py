"""Every `curl` example in README.md runs against a server on the tiny model with the demo's cache, and answers
with the status and the JSON keys the README promises (`# -> STATUS {...}` right below a command; without one,
any 2xx). Placeholders: JOB_ID (the last job seen), KEY.png / ENTRY_ID / $URL (the last image seen), $KEY (an API key,
made just before the one example that needs it, which runs last since keys close the open service). Every
```python block (the client libraries' snippets) runs too, while the service is open."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from apphelpers import live_server, tiny_settings
from dreamcache.cli import read_prompts, warm
from dreamcache.keys import KeyStore

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(r"^\s*```bash\n(.*?)^\s*```", re.S | re.M)
_PYTHON = re.compile(r"^```python\n(.*?)^```", re.S | re.M)
_ARROW = re.compile(r"->\s*(.*)")
_STATUS = re.compile(r"\b([1-5]\d\d)\b")
_KEYS = re.compile(r'"(\w+)":')


@dataclass
class Example:
    command: str
    statuses: set[int] = field(default_factory=set)  # empty: any 2xx
    keys: list[str] = field(default_factory=list)  # JSON keys the README shows for the first status it names
    primary: int | None = None
    source: str | None = None  # "cache" or "generated" when the README says which


def examples() -> list[Example]:
    """The curl commands of every bash block, with the expectation written below each."""
    found: list[Example] = []
    for block in _BLOCK.findall(README.read_text(encoding="utf-8")):
        lines = [line.strip() for line in block.replace("\\\n", " ").splitlines()]
        for i, line in enumerate(lines):
            if not line.startswith("curl "):
                continue
            example = Example(re.sub(r"\s+#.*$", "", line) if " #" in line else line)
            following = lines[i + 1] if i + 1 < len(lines) else ""
            arrow = _ARROW.search(following) if following.startswith("#") else None
            if arrow:
                text = arrow.group(1)
                named = [int(s) for s in _STATUS.findall(re.sub(r"\{.*\}", " ", text))]
                example.statuses = set(named)
                example.primary = named[0] if named else None
                example.keys = _KEYS.findall(text)
                said = re.search(r'"source": "(\w+)"', text)
                example.source = said.group(1) if said else None
            found.append(example)
    return found


def run(example: Example, base: str, substitutions: dict[str, str], cwd: Path) -> tuple[int, Any]:
    command = example.command.replace("localhost:8000", base.removeprefix("http://"))
    for placeholder, value in substitutions.items():
        command = command.replace(placeholder, value)
    result = subprocess.run(f"{command} -m 20 -w '\\n%{{http_code}}'", shell=True, cwd=cwd, capture_output=True,
                            text=True, timeout=60, check=False)
    out, _, status = result.stdout.rpartition("\n")
    body_text = out.replace("\r\n", "\n").split("\n\n", 1)[-1] if " -si " in f" {command} " else out
    try:
        body: Any = json.loads(body_text)
    except json.JSONDecodeError:
        body = body_text
    return int(status or 0), body


def run_python_examples(base: str, cwd: Path) -> list[str]:
    """Run every ```python block of the README (the client libraries' snippets) against the server at `base`; a
    block that says `second run: HIT` runs twice and its second run must print HIT."""
    blocks = _PYTHON.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 2, "the README's Python examples were not found"
    port = base.rsplit(":", 1)[1]
    failures = []
    for block in blocks:
        code = block.replace("localhost:8000", f"127.0.0.1:{port}").replace(
            'host="localhost", port=8000', f'host="127.0.0.1", port={port}')
        runs = 2 if "second run: HIT" in code else 1
        for attempt in range(runs):
            result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                                    timeout=120, check=False)
            if result.returncode != 0 or (attempt == 1 and "HIT" not in result.stdout):
                failures.append(f"{block.splitlines()[0]} ...\n  run {attempt + 1}: exit {result.returncode}, "
                                 f"out {result.stdout[-300:]!r}, err {result.stderr[-600:]!r}")
    return failures


def all_keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in all_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in all_keys(v)}
    return set()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_every_readme_curl_example_does_what_the_readme_says(tmp_path: Path) -> None:
    found = examples()
    assert len(found) >= 20, "the README's examples were not found"
    # The demo's cache (its prompts, at the test's small size) and its reuse settings.
    settings = tiny_settings(tmp_path / "data", default_steps=25, default_wait_s=30.0)
    with live_server(settings) as server:
        text = resources.files("dreamcache").joinpath("data/demo_prompts.txt").read_text()
        prompt_list, _, _ = read_prompts(text.splitlines())
        report = asyncio.run(warm(server.url, prompt_list, progress=False))
        assert report.failed == 0
        python_failures = run_python_examples(server.url, tmp_path)  # the service is still open: any key works
        assert not python_failures, "README Python examples that fail:\n" + "\n".join(python_failures)
        substitutions: dict[str, str] = {}
        keyed = [e for e in found if "$KEY" in e.command]
        failures = []
        for number, example in enumerate([e for e in found if e not in keyed] + keyed, start=1):
            if example in keyed and "$KEY" not in substitutions:
                substitutions["$KEY"] = KeyStore(settings.keys_path).add([""])[0]
            status, body = run(example, server.url, substitutions, tmp_path)
            expected = example.statuses or set(range(200, 300))
            shown = example.keys if example.primary in (None, status) else []
            missing = [k for k in shown if k not in all_keys(body)]
            if example.source and isinstance(body, dict) and body.get("source") != example.source:
                missing.append(f"source {example.source!r} (got {body.get('source')!r})")
            if status not in expected or missing:
                failures.append(f"#{number} {example.command}\n  got {status}, expected {sorted(expected)[:5]}; "
                                f"missing keys {missing}; body {str(body)[:300]}")
            if isinstance(body, dict):
                if body.get("job_id"):
                    substitutions["JOB_ID"] = body["job_id"]
                images = body.get("images") or []
                if images and isinstance(images[0], dict):  # A1111's txt2img answers base64 strings
                    substitutions["KEY.png"] = f"{images[0]['id']}.png"
                    if images[0].get("url"):
                        substitutions["$URL"] = images[0]["url"]
                    substitutions["ENTRY_ID"] = images[0]["id"]
        assert not failures, "README examples that do not do what the README says:\n" + "\n".join(failures)
    print(f"{len(found)} README curl examples checked")
