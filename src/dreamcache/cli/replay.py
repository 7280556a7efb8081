"""`dreamcache replay FILE`: read the stream, replay it in both modes (`dreamcache.replay`), print the report."""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from collections.abc import Iterable
from typing import Any

from dreamcache.settings import Settings


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
