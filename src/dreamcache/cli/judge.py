"""`dreamcache judge`: the service's hit decision for {query, candidate} JSON lines, offline."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from dreamcache.settings import Settings


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
