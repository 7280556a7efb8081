"""Reading a prompt stream: plain text or JSON lines (optionally gzip), lazily, into `StreamItem`s."""

from __future__ import annotations

import gzip
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from dreamcache import prompts

_FLAG = re.compile(r"(?:^|\s)-([WHsCS])\s*(\d+(?:\.\d+)?)")
_FLAG_FIELDS = {"W": "width", "H": "height", "s": "num_inference_steps", "C": "guidance_scale", "S": "seed"}


class ReplayInputError(ValueError):
    """The stream cannot be read at all (the message names the file and why)."""


@dataclass(frozen=True)
class StreamItem:
    """One request of the stream."""

    prompt: str
    user: str | None = None
    width: int | None = None
    height: int | None = None
    steps: int | None = None
    guidance: float | None = None
    seed: int | None = None



def _number(value: Any, kind: Callable[[Any], Any]) -> Any:
    if value is None or isinstance(value, bool):
        return None
    try:
        return kind(value)
    except (TypeError, ValueError):
        return None


def parse_line(line: str, *, honour_seeds: bool = True) -> StreamItem | None:
    """One stream line as a request, or None for a blank line, a comment or a line without a prompt."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    if not text.startswith("{"):
        return StreamItem(prompts.clean(text))
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("prompt"), str) or not value["prompt"].strip():
        return None
    fields: dict[str, Any] = {}
    if isinstance(value.get("args"), str):
        for flag, number in _FLAG.findall(value["args"]):
            fields[_FLAG_FIELDS[flag]] = number
    for name in ("width", "height", "num_inference_steps", "guidance_scale", "seed"):
        if value.get(name) is not None:
            fields[name] = value[name]
    user = value.get("user")
    return StreamItem(
        prompt=prompts.clean(value["prompt"]),
        user=str(user) if user is not None else None,
        width=_number(fields.get("width"), int),
        height=_number(fields.get("height"), int),
        steps=_number(fields.get("num_inference_steps"), int),
        guidance=_number(fields.get("guidance_scale"), float),
        seed=_number(fields.get("seed"), int) if honour_seeds else None,
    )


def read_stream(lines: Iterable[str], *, honour_seeds: bool = True, limit: int | None = None
                ) -> tuple[list[StreamItem], int]:
    """The requests of a stream, in order, and how many non-blank lines were skipped."""
    items: list[StreamItem] = []
    skipped = 0
    for line in lines:
        item = parse_line(line, honour_seeds=honour_seeds)
        if item is None:
            skipped += bool(line.strip()) and not line.strip().startswith("#")
            continue
        items.append(item)
        if limit is not None and len(items) >= limit:
            break
    return items, skipped



class StreamReader:
    """The requests of a stream file, read lazily (never the whole log in memory), with its progress in bytes."""

    def __init__(self, path: Path, *, honour_seeds: bool = True, limit: int | None = None) -> None:
        self.path, self.honour_seeds, self.limit = path, honour_seeds, limit
        self.skipped = 0  # non-blank lines without a usable prompt
        self.read = 0  # requests yielded so far
        self._raw: IO[bytes] | None = None
        self.size = path.stat().st_size if str(path) != "-" and path.is_file() else None

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for .gz): the progress bar's measure."""
        try:
            return self._raw.tell() if self._raw is not None else 0
        except (OSError, ValueError):
            return 0

    def __iter__(self) -> Iterator[StreamItem]:
        if str(self.path) == "-":
            yield from self._items(sys.stdin)
            return
        try:
            self._raw = self.path.open("rb")
        except OSError as exc:
            raise ReplayInputError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        with self._raw:
            binary = gzip.GzipFile(fileobj=self._raw) if self.path.suffix == ".gz" else self._raw
            text = io.TextIOWrapper(binary, encoding="utf-8")  # type: ignore[arg-type]
            try:
                yield from self._items(text)
            except (OSError, EOFError, UnicodeDecodeError) as exc:
                raise ReplayInputError(f"cannot read {self.path}: {exc}") from None

    def _items(self, lines: Iterable[str]) -> Iterator[StreamItem]:
        for line in lines:
            item = parse_line(line, honour_seeds=self.honour_seeds)
            if item is None:
                self.skipped += bool(line.strip()) and not line.strip().startswith("#")
                continue
            self.read += 1
            yield item
            if self.limit is not None and self.read >= self.limit:
                return
