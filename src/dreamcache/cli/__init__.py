"""Command line: `dreamcache serve`, `worker`, `demo`, `warm FILE`, `judge`, `replay FILE`, `openapi`,
`keys add|list|revoke`, `entries list|show|delete|delete-prompt|purge|reports|sweep`.

The package: this module (the parser and `main`, which hands each command to its module), `serve`
(serve, demo, openapi), `worker` (a GPU worker on the shared queue), `warm` (prompt lists, warming a
running service), `judge`, `replay`, `admin` (keys, entries).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dreamcache.cli.admin import entries_command, keys_command
from dreamcache.cli.judge import judge
from dreamcache.cli.replay import replay_command
from dreamcache.cli.serve import demo, openapi_json, serve, serve_command, wait_ready
from dreamcache.cli.warm import MIN_PROMPT_WORDS, WarmReport, read_prompts, warm, warm_command
from dreamcache.cli.worker import worker_command
from dreamcache.settings import Settings

__all__ = [
    "COMMANDS",
    "MIN_PROMPT_WORDS",
    "WarmReport",
    "demo",
    "entries_command",
    "judge",
    "keys_command",
    "main",
    "openapi_json",
    "read_prompts",
    "replay_command",
    "serve",
    "wait_ready",
    "warm",
]


def _parser() -> argparse.ArgumentParser:
    from dreamcache import __version__

    parser = argparse.ArgumentParser(prog="dreamcache", description=(__doc__ or "").split("\n\n")[0])
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
        if name == "serve":
            cmd.add_argument("--worker", choices=["local", "none"],
                             help="local: run a GPU worker in this process (with Redis it takes part in the shared "
                             "queue); none: a web replica without a GPU, needs DREAMCACHE_REDIS_URL (default: "
                             "DREAMCACHE_WORKER, else local)")
    sub.add_parser("worker", help="a GPU worker on the shared queue (needs DREAMCACHE_REDIS_URL)")
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


def _openapi(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    print(openapi_json())
    return 0


def _demo(args: argparse.Namespace, overrides: dict[str, Any]) -> int:
    demo(Settings(**{"data_dir": Path("data/demo"), **overrides, "model": "tiny"}))
    return 0


# Each command and what runs it, given the parsed arguments and the --host/--port overrides.
COMMANDS: dict[str, Callable[[argparse.Namespace, dict[str, Any]], int]] = {
    "serve": lambda args, overrides: serve_command(Settings(**overrides)),
    "worker": lambda args, overrides: worker_command(Settings(**overrides)),
    "demo": _demo,
    "warm": lambda args, overrides: warm_command(args, Settings(**overrides)),
    "judge": lambda args, overrides: judge(sys.stdin, sys.stdout, batch_size=args.batch_size),
    "replay": lambda args, overrides: replay_command(args, Settings(**overrides)),
    "openapi": _openapi,
    "keys": lambda args, overrides: keys_command(args, Settings(**overrides)),
    "entries": lambda args, overrides: entries_command(args, Settings(**overrides)),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per warm-up request drowns the rest
    overrides = {k: v for k in ("host", "port", "worker") if (v := getattr(args, k, None)) is not None}
    run = COMMANDS.get(args.command)
    if run is None:  # a command the parser knows but nothing runs: never fall through to another one
        parser.error(f"no handler for command {args.command!r}")
    try:
        return run(args, overrides)
    except ValidationError as exc:  # settings that cannot work together: one line each, no traceback
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            print(f"dreamcache: invalid settings{' (' + where + ')' if where else ''}: "
                  f"{error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
