"""Command line: `dreamcache serve`, `warm FILE`, `demo`, `judge`, `replay FILE`, `openapi`."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import httpx

from dreamcache import prompts
from dreamcache.settings import Settings

log = logging.getLogger("dreamcache")

MIN_PROMPT_WORDS = 3


# --- reading prompt lists ---------------------------------------------------------------------


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


# --- warming a running service over HTTP ------------------------------------------------------


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


# --- serving ----------------------------------------------------------------------------------


def serve(settings: Settings, warm_up: dict[str, Any] | None = None) -> None:
    """Run the service with uvicorn in this process (`warm_up`: the demo's progress, shown by /stats)."""
    import uvicorn

    from dreamcache.app import create_app
    from dreamcache.serving import uvicorn_config

    app = create_app(settings)
    app.state.warm_up = warm_up
    try:
        uvicorn.Server(uvicorn_config(app, settings)).run()
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl+C once it has shut down cleanly: nothing left to say
        print("dreamcache: stopped", file=sys.stderr)


def wait_ready(base_url: str, timeout_s: float) -> None:
    """Block until GET /readyz answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"{base_url} was not ready within {timeout_s} s")


def demo(settings: Settings) -> None:
    """Serve the tiny model and print the URL as soon as it answers; warm the cache in the background."""
    base_url = f"http://{settings.host}:{settings.port}"
    text = resources.files("dreamcache").joinpath("data/demo_prompts.txt").read_text()
    prompt_list, _, _ = read_prompts(text.splitlines())
    tracker: dict[str, Any] = {"done": 0, "total": len(prompt_list), "generated": 0, "cached": 0, "failed": 0}

    def populate() -> None:
        try:
            wait_ready(base_url, settings.worker_start_timeout_s)
            print(f"\n  dreamcache demo: {base_url}  (API docs, offline: {base_url}/docs and /redoc)\n"
                  f"  warming the cache with {len(prompt_list)} prompts in the background; the page and "
                  f"{base_url}/stats show how far\n",
                  flush=True)
            report = asyncio.run(warm(base_url, prompt_list, progress=False, tracker=tracker))
            print(f"\n  demo cache warm: {report.generated} generated, {report.cached} already cached, "
                  f"{report.failed} failed\n  try: curl -s {base_url}/generate -H 'content-type: application/json' "
                  f"-d '{{\"prompt\": \"A red fox sleeping in fresh snow; soft morning light!\"}}'\n", flush=True)
        except Exception as exc:
            print(f"demo warm-up failed: {exc}", file=sys.stderr, flush=True)

    threading.Thread(target=populate, name="demo-warm", daemon=True).start()
    serve(settings, warm_up=tracker)


def openapi_json() -> str:
    """The app's OpenAPI document, as checked in under openapi/ (stable key order, trailing newline)."""
    from dreamcache.app import create_app

    return json.dumps(create_app(Settings()).openapi(), indent=2, sort_keys=True)


# --- judging pairs offline --------------------------------------------------------------------


def _judge_line(raw: str) -> tuple[str, str] | str:
    """(query, candidate) from one JSON line, or an error message."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        return f"invalid JSON: {exc.msg}"
    if not isinstance(value, dict):
        return "expected a JSON object with string fields query and candidate"
    for key in ("query", "candidate"):
        if not isinstance(value.get(key), str):
            return f"missing or non-string field {key!r}"
    return value["query"], value["candidate"]


def judge(source: Iterable[str], sink: Any, *, batch_size: int = 256, embedder: Any = None) -> int:
    """Write one JSON line per input line: the service's hit decision for {query, candidate}.

    Same embedder, embedded text (`prompts.embedding_text`), threshold (Settings().similarity_threshold) and
    rule (`matching.accept`) as the service, all other settings taken as equal. Blank lines are skipped;
    a bad line gets {"line": n, "error": ...} and the run goes on. Returns 1 if any line was bad.
    """
    import numpy as np

    from dreamcache import matching
    from dreamcache.prompts import embedding_text

    settings = Settings()
    threshold = settings.similarity_threshold
    if embedder is None:
        from dreamcache.embedding import open_embedder

        embedder = open_embedder(settings)
    failed = False

    def flush(batch: list[tuple[int, tuple[str, str] | str]]) -> None:
        pairs = [item for _, item in batch if not isinstance(item, str)]
        texts = sorted({embedding_text(t) for pair in pairs for t in pair})
        vectors = dict(zip(texts, embedder.embed(texts), strict=True)) if texts else {}
        for number, item in batch:
            if isinstance(item, str):
                out: dict[str, Any] = {"line": number, "error": item}
            else:
                query, candidate = item
                similarity = float(np.dot(vectors[embedding_text(query)], vectors[embedding_text(candidate)]))
                hit, reason = matching.decide(query, candidate, similarity, threshold)
                out = {"hit": hit, "similarity": round(similarity, 6), "reason": reason}
            sink.write(json.dumps(out) + "\n")
        sink.flush()

    batch: list[tuple[int, tuple[str, str] | str]] = []
    for number, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        item = _judge_line(raw)
        failed = failed or isinstance(item, str)
        batch.append((number, item))
        if len(batch) >= batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return 1 if failed else 0


# --- API keys ---------------------------------------------------------------------------------------


def keys_command(args: argparse.Namespace, settings: Settings) -> int:
    """`dreamcache keys add|list|revoke` on the keys file of these settings."""
    from datetime import UTC, datetime

    from dreamcache.keys import KeysFileError, KeyStore
    from dreamcache.times import rfc3339

    store = KeyStore(settings.keys_path)
    try:
        if args.keys_command == "add":
            if not args.namespace and not args.all_namespaces:
                raise KeysFileError("give the key's namespaces (--namespace NAME, repeatable; '' = the shared "
                                    "pool), or --all-namespaces for an operator's admin key")
            key, record = store.add(args.namespace or [], args.role, args.label, all_namespaces=args.all_namespaces)
            print(key)
            shown = ", ".join(repr(n) if n else "'' (shared pool)" for n in record.namespaces)
            if record.all_namespaces:
                shown = f"every namespace, current and future; default {shown}"
            print(f"key {record.id} ({record.role}, namespaces {shown}) added to {store.path}. This is the only "
                  "time the key is shown: store it now.", file=sys.stderr)
            return 0
        if args.keys_command == "revoke":
            record = store.revoke(args.id)
            print(f"key {record.id} revoked", file=sys.stderr)
            if not store.records():
                print(f"that was the last key: the service now lets nobody in (401) until a key is added; delete "
                      f"{store.path} to run it open", file=sys.stderr)
            return 0
        records = sorted(store.records().values(), key=lambda r: r.created_at)
        if args.json:
            print(json.dumps([{"id": r.id, "role": r.role, "namespaces": list(r.namespaces),
                               "all_namespaces": r.all_namespaces, "label": r.label,
                               "created_at": rfc3339(r.created_at)}
                              for r in records], indent=2))
            return 0
        if not records and store.path.exists():
            print(f"no keys in {store.path}: the service lets nobody in (401); add a key, or delete the file to "
                  "run it open", file=sys.stderr)
        elif not records:
            print(f"no keys file {store.path}: the service is open", file=sys.stderr)
        for r in records:
            created = datetime.fromtimestamp(r.created_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            names = "* (all)" if r.all_namespaces else ",".join(r.namespaces) or "(shared)"
            print(f"{r.id}  {r.role:<5}  {names:<24}  {created}  {r.label}")
        return 0
    except KeysFileError as exc:
        print(f"dreamcache keys: {exc}", file=sys.stderr)
        return 2


def entries_command(args: argparse.Namespace, settings: Settings, *, transport: Any = None) -> int:
    """`dreamcache entries ...`: the running service's /admin routes, printed as JSON."""
    url = args.url or f"http://{settings.host}:{settings.port}"
    headers = {"Authorization": f"Bearer {args.key}"} if args.key else {}
    command = args.entries_command
    calls: dict[str, tuple[str, str, dict[str, Any] | None, dict[str, Any] | None]] = {
        "list": ("GET", "/admin/entries", {k: v for k, v in (("q", getattr(args, "q", "")), ("namespace",
                 getattr(args, "namespace", None)), ("limit", getattr(args, "limit", 50)),
                 ("offset", getattr(args, "offset", 0))) if v not in (None, "")}, None),
        "show": ("GET", f"/admin/entries/{getattr(args, 'id', '')}", None, None),
        "delete": ("DELETE", f"/admin/entries/{getattr(args, 'id', '')}", None, None),
        "delete-prompt": ("POST", "/admin/entries/delete-prompt", None,
                          {"prompt": getattr(args, "prompt", ""), "namespace": getattr(args, "namespace", None)}),
        "purge": ("POST", "/admin/purge", None, {"fingerprint": getattr(args, "fingerprint", "")}),
        "reports": ("GET", "/admin/reports", None, None),
        "sweep": ("POST", "/admin/sweep", None, None),
    }
    method, path, params, body = calls[command]
    try:
        with httpx.Client(base_url=url, headers=headers, timeout=60, transport=transport) as client:
            response = client.request(method, path, params=params, json=body)
    except httpx.HTTPError as exc:
        print(f"dreamcache entries: cannot reach {url}: {exc}", file=sys.stderr)
        return 2
    if response.status_code >= 400:
        print(f"dreamcache entries: {response.status_code} {response.text}", file=sys.stderr)
        return 1
    print(json.dumps(response.json(), indent=2))
    return 0


# --- replaying a prompt stream ---------------------------------------------------------------------


def replay_command(args: argparse.Namespace, settings: Settings, *, embedder: Any = None) -> int:
    """`dreamcache replay`: read the stream, replay it in both modes, print a table or JSON."""
    from dreamcache import replay

    if args.limit is not None and args.limit < 1:
        print("dreamcache replay: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.max_reuse is not None and not 0.0 <= args.max_reuse < 1.0:
        print("dreamcache replay: --max-reuse must be at least 0 and below 1 (a share of the steps)", file=sys.stderr)
        return 2
    reader = replay.StreamReader(args.file, honour_seeds=not args.ignore_seeds, limit=args.limit)
    items = iter(reader)
    try:
        first = next(items, None)
    except replay.ReplayInputError as exc:
        print(f"dreamcache replay: {exc}", file=sys.stderr)
        return 2
    if first is None:
        print(f"dreamcache replay: no prompts in {args.file} ({reader.skipped} lines skipped)", file=sys.stderr)
        return 2
    # Tests pass an embedder and stay in one process; otherwise one embedding process per core.
    embed = embedder.embed if embedder is not None else None
    stream = _Resumed(first, items, reader)
    try:
        report = replay.replay(stream, settings, embed, device=args.device, progress=not args.no_progress,
                               workers=args.workers, exact=args.exact, max_reuse=args.max_reuse)
    except replay.ReplayInputError as exc:
        print(f"dreamcache replay: {exc}", file=sys.stderr)
        return 2
    report.skipped_lines = reader.skipped
    print(json.dumps(report.to_json(), indent=2) if args.json else replay.format_table(report))
    return 0


class _Resumed:
    """A stream whose first item was read already (to refuse an empty one early), keeping the reader's progress."""

    def __init__(self, first: Any, rest: Iterable[Any], reader: Any) -> None:
        self._items = itertools.chain([first], rest)
        self.size, self.position = reader.size, reader.position

    def __iter__(self) -> Any:
        return self._items


# --- entry point ------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    from dreamcache import __version__

    parser = argparse.ArgumentParser(prog="dreamcache", description=__doc__)
    parser.add_argument("--version", action="version", version=f"dreamcache {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    # Every --help shows the defaults.
    original = sub.add_parser

    def add_parser(name: str, **kwargs: Any) -> argparse.ArgumentParser:
        kwargs.setdefault("formatter_class", _DefaultsHelp)
        return original(name, **kwargs)

    sub.add_parser = add_parser  # type: ignore[method-assign]
    for name, text in (("serve", "run the service"), ("demo", "run the tiny-model demo with a warm cache")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("--host", help="bind address (default: DREAMCACHE_HOST, else "
                         f"{Settings.model_fields['host'].default})")
        cmd.add_argument("--port", type=int, help="port (default: DREAMCACHE_PORT, else "
                         f"{Settings.model_fields['port'].default})")
    sub.add_parser("openapi", help="print the OpenAPI document of the app (JSON)")
    j = sub.add_parser("judge", help="hit or miss per JSON line {query, candidate} on stdin, as the service decides")
    j.add_argument("--batch-size", type=int, default=256, help="lines embedded together")
    k = sub.add_parser("keys", help="API keys: add, list, revoke (no keys file = an open service)")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    ka = ksub.add_parser("add", help="make a key; prints it once (only its hash is stored)",
                         formatter_class=_DefaultsHelp)
    ka.add_argument("--namespace", action="append",
                    help="namespace the key works in (repeat for several; the first is its default; '' = the "
                    "shared pool)")
    ka.add_argument("--role", choices=["user", "admin"], default="user", help="admin: also /metrics and admin routes")
    ka.add_argument("--all-namespaces", action="store_true",
                    help="an operator key: every namespace, current and future (takedowns across tenants; "
                    "needs --role admin; --namespace then only sets its default)")
    ka.add_argument("--label", default="", help="a note for `keys list` (whose key it is)")
    kl = ksub.add_parser("list", help="every key: id, role, namespaces, label, created (never the key)")
    kl.add_argument("--json", action="store_true")
    kr = ksub.add_parser("revoke", help="remove a key by its id (from `keys list`)")
    kr.add_argument("id")
    e = sub.add_parser("entries", help="manage the cache of a running service (its /admin routes)")
    e.add_argument("--url", help="service URL (default: http://DREAMCACHE_HOST:DREAMCACHE_PORT)")
    e.add_argument("--key", default=os.environ.get("DREAMCACHE_ADMIN_KEY"),
                   help="admin API key (default: $DREAMCACHE_ADMIN_KEY; none for an open service)")
    esub = e.add_subparsers(dest="entries_command", required=True)
    el = esub.add_parser("list", help="entries, newest first")
    el.add_argument("--q", default="", help="text the prompt contains")
    el.add_argument("--namespace")
    el.add_argument("--limit", type=int, default=50)
    el.add_argument("--offset", type=int, default=0)
    for name, text in (("show", "one entry"), ("delete", "delete one entry (image, checkpoints, vector)")):
        esub.add_parser(name, help=text).add_argument("id")
    ep = esub.add_parser("delete-prompt", help="delete every entry of a prompt")
    ep.add_argument("prompt")
    ep.add_argument("--namespace")
    esub.add_parser("purge", help="delete every entry of a model fingerprint").add_argument("fingerprint")
    esub.add_parser("reports", help="wrong-picture reports, newest first")
    esub.add_parser("sweep", help="run retention and the vanished-image check now")
    r = sub.add_parser("replay", help="what the cache would save on a prompt stream (nothing is generated)",
                       formatter_class=_DefaultsHelp)
    r.add_argument("file", type=Path, help="text (one prompt a line) or JSONL ({\"prompt\", \"user\", \"width\", "
                   "\"height\", \"seed\", ...}); .gz is read as gzip; - for stdin")
    r.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    r.add_argument("--ignore-seeds", action="store_true",
                   help="treat every request as seedless (for logs that record the seed of every image)")
    r.add_argument("--limit", type=int, default=None, help="replay only the first N prompts")
    r.add_argument("--device", choices=["cuda", "cpu"], default=None,
                   help="device whose checkpoint steps to assume (default: DREAMCACHE_DEVICE, auto-detected)")
    r.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    r.add_argument("--max-reuse", type=float, default=None, metavar="SHARE",
                   help="savings under a stricter schedule: no reuse skips more than this share of the steps "
                   "(0: no reuse at all; default: the configured schedule)")
    r.add_argument("--workers", type=int, default=None, help="embedding processes (default: one per core)")
    r.add_argument("--exact", action="store_true",
                   help="scan every stored vector per lookup instead of the approximate IVF index (slower)")
    w = sub.add_parser("warm", help="pre-populate the cache of a running service from a prompt list")
    w.add_argument("file", type=Path, help="text (one prompt a line) or JSONL ({\"prompt\": ...}); - for stdin")
    w.add_argument("--url", help="service URL (default: http://DREAMCACHE_HOST:DREAMCACHE_PORT)")
    w.add_argument("--concurrency", type=int, default=8, help="requests in flight (lets the worker batch)")
    w.add_argument("--min-words", type=int, default=MIN_PROMPT_WORDS, help="drop prompts with fewer words")
    w.add_argument("--min-similarity", type=float, default=0.99, help="what counts as already cached")
    w.add_argument("--width", type=int)
    w.add_argument("--height", type=int)
    w.add_argument("--steps", type=int, dest="num_inference_steps")
    w.add_argument("--no-progress", action="store_true")
    return parser


class _DefaultsHelp(argparse.ArgumentDefaultsHelpFormatter):
    """Shows an option's default, except None (such options say in their help where the value comes from)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None:
            return action.help
        return super()._get_help_string(action)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per warm-up request drowns the rest
    overrides = {k: v for k in ("host", "port") if (v := getattr(args, k, None)) is not None}
    if args.command == "demo":
        demo(Settings(**{"data_dir": Path("data/demo"), **overrides, "model": "tiny"}))
        return 0
    if args.command == "openapi":
        print(openapi_json())
        return 0
    if args.command == "judge":
        return judge(sys.stdin, sys.stdout, batch_size=args.batch_size)
    if args.command == "replay":
        return replay_command(args, Settings(**overrides))
    if args.command == "keys":
        return keys_command(args, Settings(**overrides))
    if args.command == "entries":
        return entries_command(args, Settings(**overrides))
    settings = Settings(**overrides)
    if args.command == "serve":
        from dreamcache.preflight import ModelUnavailable, check_model

        try:
            check_model(settings)
        except ModelUnavailable as exc:
            print(exc, file=sys.stderr)
            return 2
        serve(settings)
        return 0
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


if __name__ == "__main__":
    raise SystemExit(main())
