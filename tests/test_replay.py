"""`dreamcache replay`: the service's decisions over a small fixed stream give exactly the expected counts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from dreamcache import cli
from dreamcache.replay import StreamItem, parse_line, read_stream

FOX = "a red fox sleeping in fresh snow, oil painting"
MIKU = "Hatsune Miku as the Statue of Liberty, digital art, highly detailed, by greg rutkowski"
STREAM = [
    {"prompt": FOX, "user": "alice"},  # 1 generated
    {"prompt": FOX, "user": "alice"},  # 2 asks again: a new sample with identities, a hit (same user) without
    {"prompt": "A red fox sleeping in fresh snow, oil painting!", "user": "bob"},  # 3 exact hit, cross-user
    {"prompt": f"{FOX}, by monet", "user": "carol"},  # 4 near-miss: reuse at step 2 of 10 (cosine 0.93)
    {"prompt": "a dog chasing a cat across a garden", "user": "dave"},  # 5 generated
    {"prompt": "a cat chasing a dog across a garden", "user": "erin"},  # 6 vetoed swap (>= 0.95): generated (layout)
    {"prompt": "🔥🔥", "user": None},  # 7 generated
    {"prompt": "💀", "user": None},  # 8 nothing in common with 7: generated, never reused
    {"prompt": "a red fox sleeps in fresh snow, oil painting", "user": "frank"},  # 9 verified hit, cross-user
    {"prompt": "a lighthouse on a cliff", "seed": 5, "user": "gina"},  # 10 generated
    {"prompt": "a lighthouse on a cliff", "seed": 5, "user": "gina"},  # 11 exact seed: hit, same user
    {"prompt": "a lighthouse on a cliff", "seed": 6, "user": "hana"},  # 12 another seed: generated, no reuse
    {"prompt": MIKU, "user": "ivan"},  # 13 generated
    {"prompt": f"{MIKU}, trending on artstation", "user": "ivan"},  # 14 a style edit at 0.977: reuse at step 4
]
PLAIN = "a lighthouse on a cliff"  # 15 seedless, no user: a hit on 10 or 12, neither same- nor cross-user
BAD = ["{not json", json.dumps({"prompt": "a tiny picture", "width": 100})]  # skipped; refused (422)


def write_stream(path: Path) -> Path:
    lines = [json.dumps(row) for row in STREAM] + [PLAIN, BAD[0], BAD[1], "", "# a comment"]
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_replay_counts_hits_reuse_and_savings_in_both_modes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = write_stream(tmp_path / "stream.jsonl.gz")
    monkeypatch.setenv("DREAMCACHE_DEFAULT_STEPS", "10")
    monkeypatch.setenv("DREAMCACHE_MODEL", "tiny")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["replay", str(stream), "--json", "--no-progress", "--device", "cpu"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["prompts"] == 16 and report["skipped_lines"] == 1
    assert report["settings"]["checkpoint_steps"] == [2, 4]
    identity, anonymous = report["modes"]["with_identity"], report["modes"]["anonymous"]
    expected_common = {"prompts": 15, "refused": 1, "reused": 2, "skipped_steps": 6, "steps_total": 150}
    assert {k: identity[k] for k in expected_common} == expected_common
    assert {k: anonymous[k] for k in expected_common} == expected_common
    assert (identity["hits_exact"], identity["hits_verified"]) == (3, 1)
    assert (identity["hits_same_user"], identity["hits_cross_user"]) == (1, 2)
    assert identity["steps_saved"] == 4 * 10 + 6
    assert (anonymous["hits_exact"], anonymous["hits_verified"]) == (4, 1)
    assert (anonymous["hits_same_user"], anonymous["hits_cross_user"]) == (2, 2)
    assert anonymous["steps_saved"] == 5 * 10 + 6
    assert identity["hit_rate"] == pytest.approx(4 / 15, abs=1e-6)
    assert identity["mean_skipped_share_of_reuses"] == pytest.approx((0.2 + 0.4) / 2, abs=1e-6)
    assert anonymous["step_time_saved"] == pytest.approx(56 / 150, abs=1e-6)
    # Where the savings come from: both reuses are style edits (the swap of 6 is not reused at all).
    assert identity["reuse_by_edit"] == {"style": {"reuses": 2, "share_of_reuses": 1.0, "mean_skipped_share": 0.3,
                                                   "step_time_saved": pytest.approx(6 / 150, abs=1e-6)}}
    assert report["resources"]["peak_rss_mib"]["replay"] > 0
    assert report["resources"]["distinct_vectors"] == 8  # the generated texts


def test_max_reuse_shows_the_savings_under_a_stricter_schedule(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    stream = write_stream(tmp_path / "stream.jsonl.gz")
    monkeypatch.setenv("DREAMCACHE_DEFAULT_STEPS", "10")
    monkeypatch.setenv("DREAMCACHE_MODEL", "tiny")
    monkeypatch.chdir(tmp_path)
    args = ["replay", str(stream), "--json", "--no-progress", "--device", "cpu", "--workers", "1"]
    assert cli.main([*args, "--max-reuse", "0.2"]) == 0
    capped = json.loads(capsys.readouterr().out)
    assert capped["settings"]["max_reuse"] == 0.2
    anonymous = capped["modes"]["anonymous"]
    assert (anonymous["reused"], anonymous["skipped_steps"]) == (2, 4)
    assert cli.main([*args, "--max-reuse", "0"]) == 0
    assert json.loads(capsys.readouterr().out)["modes"]["anonymous"]["reused"] == 0
    assert cli.main([*args, "--max-reuse", "1"]) == 2
    assert "--max-reuse" in capsys.readouterr().err


def test_replay_prints_a_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                               capsys: pytest.CaptureFixture[str]) -> None:
    stream = tmp_path / "prompts.txt"
    stream.write_text("a castle on a hill\na castle on a hill\n")
    monkeypatch.setenv("DREAMCACHE_MODEL", "tiny")
    assert cli.main(["replay", str(stream), "--no-progress"]) == 0
    table = capsys.readouterr().out
    assert "with_identity" in table and "anonymous" in table
    assert "hit rate" in table and "50.0%" in table  # the second line hits the first


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read"), ("", "no prompts"), ("{bad json\n", "no prompts")],
)
def test_replay_refuses_unreadable_or_empty_streams(
    tmp_path: Path, content: str | None, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "stream.jsonl"
    if content is not None:
        path.write_text(content)
    assert cli.main(["replay", str(path), "--no-progress"]) == 2
    assert message in capsys.readouterr().err


def test_replay_rejects_a_bad_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "s.txt"
    path.write_text("a castle\n")
    assert cli.main(["replay", str(path), "--limit", "0"]) == 2
    assert "--limit" in capsys.readouterr().err


def test_stream_lines_read_discord_flags_and_optional_seeds() -> None:
    line = json.dumps({"prompt": " a  cat ", "user": 7, "args": "-n 6 -W 768 -H 512 -s 30 -C 9.5 -S 42", "seed": 42})
    assert parse_line(line) == StreamItem("a cat", "7", 768, 512, 30, 9.5, 42)
    assert parse_line(line, honour_seeds=False) == StreamItem("a cat", "7", 768, 512, 30, 9.5, None)
    assert parse_line(json.dumps({"prompt": "x", "width": 640, "args": "-W 512"})) == StreamItem("x", None, 640)
    for skipped in ["", "  ", "# comment", "{}", json.dumps({"prompt": " "}), "{oops"]:
        assert parse_line(skipped) is None
    assert parse_line('["a"] plain text may start with a bracket') is not None
    items, skipped_count = read_stream(["a", "{oops", "", "b", "c"], limit=2)
    assert [i.prompt for i in items] == ["a", "b"] and skipped_count == 1


def _variations(base: list[str]) -> list[dict[str, str]]:
    """A stream with repeats, style, colour, count and subject edits of a few prompts, from five users."""
    edits = ["{p}", "{p}, trending on artstation", "{p}, oil painting", "{p}, by greg rutkowski", "{p}",
             "{p}, red", "two {p}", "{p}, highly detailed, 4k"]
    rows = []
    for number, template in enumerate(edits * 2):
        for k, prompt in enumerate(base):
            rows.append({"prompt": template.format(p=prompt), "user": f"u{(number + k) % 5}"})
    return rows


def test_the_memory_index_decides_as_qdrant_edge(tmp_path: Path) -> None:
    """Every decision of a replay over the in-memory index equals the one over the service's index (Qdrant Edge)."""
    from dreamcache.embedding import OnnxMiniLMEmbedder
    from dreamcache.index import EdgeIndex
    from dreamcache.index.memory import VectorTable
    from dreamcache.replay import replay
    from dreamcache.settings import Settings

    base = [line for line in (Path(__file__).parents[1] / "src/dreamcache/data/demo_prompts.txt").read_text()
            .splitlines() if line.strip()][:12]
    items, _ = read_stream([json.dumps(row) for row in _variations(base) + STREAM])
    settings = Settings(model="tiny", default_steps=10)
    embed = OnnxMiniLMEmbedder().embed

    def edge(table: VectorTable) -> tuple[EdgeIndex, EdgeIndex]:
        return (EdgeIndex(tmp_path / "a", table.dimension), EdgeIndex(tmp_path / "b", table.dimension))

    on_edge = replay(items, settings, embed, device="cpu", indexes=edge, record=True)
    in_memory = replay(items, settings, embed, device="cpu", record=True)
    assert on_edge.outcomes == in_memory.outcomes
    kinds = {o.kind for o in in_memory.outcomes["with_identity"]}
    assert {"hit-exact", "reuse", "generate"} <= kinds  # the comparison covers every kind of decision
    assert on_edge.to_json()["modes"] == in_memory.to_json()["modes"]


def test_the_ivf_table_finds_the_close_neighbours_an_exact_scan_finds() -> None:
    from dreamcache.index.memory import VectorTable

    rng = np.random.default_rng(7)
    centres = rng.standard_normal((300, 32)).astype(np.float32)
    points = centres[rng.integers(0, 300, 6000)] + 0.25 * rng.standard_normal((6000, 32)).astype(np.float32)
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    ivf, exact = VectorTable(32), VectorTable(32, exact=True)
    for point in points:
        assert ivf.row(point) == exact.row(point)
    assert ivf.trainings == 1 and ivf.lists > 1 and exact.lists == 1
    assert ivf.row(points[5]) == 5  # a known vector keeps its row
    found = expected = 0
    for query in points[::20]:
        truth = {row for row, _ in exact.near(query, 0.85)}
        got = {row for row, _ in ivf.near(query, 0.85)}
        assert got <= truth
        found, expected = found + len(got), expected + len(truth)
    assert found >= 0.98 * expected
    assert ivf.scanned < exact.scanned / 5  # and it scores far fewer vectors
