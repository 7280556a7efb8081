"""`dreamcache judge`: the service's hit decision for JSON lines of (query, candidate) pairs."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from dreamcache import cli
from dreamcache.settings import Settings

PAIRS = [
    ("A red fox sleeping in fresh snow, soft morning light", "A red fox sleeping in fresh snow, soft morning light"),
    ("a red fox sleeping in FRESH snow; soft morning light!", "A red fox sleeping in fresh snow, soft morning light"),
    ("soft morning light, a red fox sleeping in fresh snow", "A red fox sleeping in fresh snow, soft morning light"),
    ("a red fox sleeps in fresh snow - soft morning light", "A red fox sleeping in fresh snow, soft morning light"),
    ("a dog chasing a cat", "a cat chasing a dog"),
    ("a fresh fox sleeping in red snow, soft morning light", "A red fox sleeping in fresh snow, soft morning light"),
    ("two dogs sleeping on a sofa", "three dogs sleeping on a sofa"),
]
EXPECTED = [True, True, True, True, False, False, False]


def judge(monkeypatch: pytest.MonkeyPatch, lines: list[str], *args: str) -> tuple[int, list[dict]]:
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(line + "\n" for line in lines)))
    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    code = cli.main(["judge", *args])
    return code, [json.loads(line) for line in out.getvalue().splitlines()]


def test_judge_decides_like_the_service(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = [json.dumps({"query": q, "candidate": c}) for q, c in PAIRS]
    lines.insert(3, "")  # blank lines are skipped
    lines.insert(5, '{"query": "a dog", "candidate": ')  # malformed JSON
    lines.append('{"query": "a dog"}')  # a field missing
    lines.append('["a dog", "a cat"]')  # not an object
    code, out = judge(monkeypatch, lines, "--batch-size", "3")  # several batches, errors inside them
    assert code == 1  # some line was bad; every other line was still judged
    errors = [row for row in out if "error" in row]
    judged = [row for row in out if "error" not in row]
    assert len(out) == len(PAIRS) + 3
    assert [e["line"] for e in errors] == [6, 10, 11]
    assert errors[0]["error"].startswith("invalid JSON")
    assert "'candidate'" in errors[1]["error"] and "JSON object" in errors[2]["error"]
    assert [row["hit"] for row in judged] == EXPECTED
    assert judged[0]["similarity"] == pytest.approx(1.0, abs=1e-5) and judged[0]["reason"] == "same text"
    assert judged[3]["reason"] == "verified" and judged[3]["similarity"] >= Settings().similarity_threshold
    assert judged[4]["reason"] == "same words in another order" and judged[4]["similarity"] > 0.9
    assert "two" in judged[6]["reason"] and "three" in judged[6]["reason"]
    assert set(errors[0]) == {"line", "error"} and out[4] == errors[0]  # in input order


def test_judge_uses_the_settings_threshold_and_embedding_text() -> None:
    class Fixed:
        """Every text embeds to the same vector, so only the text checks and the threshold decide."""

        def __init__(self) -> None:
            self.seen: list[str] = []

        def embed(self, texts: list[str]) -> np.ndarray:
            self.seen += texts
            return np.ones((len(texts), 4), dtype=np.float32) / 2.0

    embedder = Fixed()
    source = [json.dumps({"query": "A Dog Runs!", "candidate": "a dog running"}) + "\n"]
    sink = io.StringIO()
    assert cli.judge(source, sink, embedder=embedder) == 0
    row = json.loads(sink.getvalue())
    assert row == {"hit": True, "similarity": 1.0, "reason": "verified"}
    assert sorted(embedder.seen) == ["a dog running", "a dog runs"]  # prompts.embedding_text: normalised
