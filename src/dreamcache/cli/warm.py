"""`dreamcache warm FILE`: read a prompt list and make sure every prompt has a cached picture on a running service."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from dreamcache import prompts
from dreamcache.settings import Settings

log = logging.getLogger("dreamcache")

MIN_PROMPT_WORDS = 3


def read_prompts(lines: Iterable[str], *, min_words: int = MIN_PROMPT_WORDS) -> tuple[list[str], int, int]:
    """Prompts from text lines or JSON lines; returns (kept, dropped_short, dropped_duplicate).

    Accepted lines: plain text, a JSON string, or a JSON object with a `prompt` field. Blank
    lines and `#` comments are ignored. Duplicates are detected after normalising case,
    whitespace and punctuation; the first spelling wins.
    """
    kept: list[str] = []
    seen: set[str] = set()
    short = duplicate = 0
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        text = line
        if line[0] in "{\"":
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                value = line
            text = value.get("prompt", "") if isinstance(value, dict) else str(value)
        text = prompts.clean(str(text))
        norm = prompts.normalize(text)
        if len(norm.split()) < min_words:
            short += 1
            continue
        if norm in seen:
            duplicate += 1
            continue
        seen.add(norm)
        kept.append(text)
    return kept, short, duplicate


@dataclass
class WarmReport:
    generated: int = 0
    cached: int = 0
    failed: int = 0


async def warm(
    base_url: str,
    prompt_list: Sequence[str],
    *,
    concurrency: int = 8,
    min_similarity: float = 0.99,
    settings_overrides: dict[str, Any] | None = None,
    progress: bool = True,
    timeout_s: float = 600.0,
    tracker: dict[str, Any] | None = None,
) -> WarmReport:
    """Make sure every prompt has a cached image: prompts already cached are skipped, so a rerun resumes.

    Requests go to the service concurrently so that its GPU worker can batch them; a prompt
    counts as cached only when an entry at `min_similarity` or above exists (near-identical).
    """
    from tqdm import tqdm

    report = WarmReport()
    semaphore = asyncio.Semaphore(concurrency)
    bar = tqdm(total=len(prompt_list), unit="prompt", disable=not progress, file=sys.stderr)

    async def one(client: httpx.AsyncClient, prompt: str) -> None:
        body = {"prompt": prompt, "min_similarity": min_similarity, **(settings_overrides or {})}
        async with semaphore:
            try:
                outcome = await _generate_and_wait(client, body, timeout_s)
            except Exception as exc:
                log.warning("warm: %r failed: %s", prompt, exc)
                outcome = "failed"
        setattr(report, outcome, getattr(report, outcome) + 1)
        if tracker is not None:
            tracker.update(done=tracker["done"] + 1, generated=report.generated, cached=report.cached,
                           failed=report.failed)
        bar.update(1)
        bar.set_postfix(generated=report.generated, cached=report.cached, failed=report.failed)

    async with httpx.AsyncClient(base_url=base_url, timeout=30.0) as client:
        await asyncio.gather(*(one(client, p) for p in prompt_list))
    bar.close()
    return report


async def _generate_and_wait(client: httpx.AsyncClient, body: dict[str, Any], timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    # One request that waits for its generation (not a poll loop: that floods the access log).
    headers = {"Prefer": "wait=120", "X-Dreamcache-Warm-Up": "1"}
    while True:
        response = await client.post("/generate", json=body, headers=headers, timeout=180.0)
        if response.status_code == 429:
            await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
            continue
        break
    if response.status_code == 200:
        return "cached" if response.json()["source"] == "cache" else "generated"
    if response.status_code != 202:
        raise RuntimeError(f"{response.status_code}: {response.text}")
    location = response.headers["Location"]
    while time.monotonic() < deadline:  # still running after the wait: look again now and then
        job = (await client.get(location)).json()
        if job["status"] == "succeeded":
            return "generated"
        if job["status"] in ("failed", "canceled"):
            raise RuntimeError(job.get("error") or job["status"])
        await asyncio.sleep(2.0)
    raise TimeoutError(f"job {location} did not finish in {timeout_s} s")


def warm_command(args: argparse.Namespace, settings: Settings) -> int:
    """`dreamcache warm FILE`: the prompt list (or stdin) warmed on the service at --url."""
    url = args.url or f"http://{settings.host}:{settings.port}"
    source = sys.stdin if str(args.file) == "-" else args.file.open(encoding="utf-8")
    with source:
        prompt_list, short, duplicate = read_prompts(source, min_words=args.min_words)
    print(f"{len(prompt_list)} prompts ({short} too short and {duplicate} duplicates dropped)", file=sys.stderr)
    extra = {k: v for k in ("width", "height", "num_inference_steps") if (v := getattr(args, k)) is not None}
    report = asyncio.run(warm(url, prompt_list, concurrency=args.concurrency, min_similarity=args.min_similarity,
                              settings_overrides=extra, progress=not args.no_progress))
    print(f"generated {report.generated}, already cached {report.cached}, failed {report.failed}")
    return 1 if report.failed else 0
