"""`dreamcache replay`: the service's decisions over a small fixed stream give exactly the expected counts."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from dreamcache import cli
from dreamcache.replay import StreamItem, parse_line, read_stream

FOX = "a red fox sleeping in fresh snow, oil painting"
STREAM = [
    {"prompt": FOX, "user": "alice"},  # 1 generated
    {"prompt": FOX, "user": "alice"},  # 2 asks again: a new sample with identities, a hit (same user) without
    {"prompt": "A red fox sleeping in fresh snow, oil painting!", "user": "bob"},  # 3 exact hit, cross-user
    {"prompt": f"{FOX}, by monet", "user": "carol"},  # 4 near-miss: reuse at step 2 of 10 (cosine 0.93)
    {"prompt": "a dog chasing a cat across a garden", "user": "dave"},  # 5 generated
    {"prompt": "a cat chasing a dog across a garden", "user": "erin"},  # 6 vetoed swap: reuse at step 4 (>= 0.95)
    {"prompt": "🔥🔥", "user": None},  # 7 generated
    {"prompt": "💀", "user": None},  # 8 nothing in common with 7: generated, never reused
    {"prompt": "a red fox sleeps in fresh snow, oil painting", "user": "frank"},  # 9 verified hit, cross-user
    {"prompt": "a lighthouse on a cliff", "seed": 5, "user": "gina"},  # 10 generated
    {"prompt": "a lighthouse on a cliff", "seed": 5, "user": "gina"},  # 11 exact seed: hit, same user
    {"prompt": "a lighthouse on a cliff", "seed": 6, "user": "hana"},  # 12 another seed: generated, no reuse
]
PLAIN = "a lighthouse on a cliff"  # 13 seedless, no user: a hit on 10 or 12, neither same- nor cross-user
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
    assert report["prompts"] == 14 and report["skipped_lines"] == 1
    assert report["settings"]["checkpoint_steps"] == [2, 4]
    identity, anonymous = report["modes"]["with_identity"], report["modes"]["anonymous"]
    expected_common = {"prompts": 13, "refused": 1, "reused": 2, "skipped_steps": 6, "steps_total": 130}
    assert {k: identity[k] for k in expected_common} == expected_common
    assert {k: anonymous[k] for k in expected_common} == expected_common
    assert (identity["hits_exact"], identity["hits_verified"]) == (3, 1)
    assert (identity["hits_same_user"], identity["hits_cross_user"]) == (1, 2)
    assert identity["steps_saved"] == 4 * 10 + 6
    assert (anonymous["hits_exact"], anonymous["hits_verified"]) == (4, 1)
    assert (anonymous["hits_same_user"], anonymous["hits_cross_user"]) == (2, 2)
    assert anonymous["steps_saved"] == 5 * 10 + 6
    assert identity["hit_rate"] == pytest.approx(4 / 13, abs=1e-6)
    assert identity["mean_skipped_share_of_reuses"] == pytest.approx((0.2 + 0.4) / 2, abs=1e-6)
    assert anonymous["step_time_saved"] == pytest.approx(56 / 130, abs=1e-6)


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


def test_parallel_replay_gives_the_same_report_as_sequential() -> None:
    from dreamcache.embedding import MiniLMEmbedder
    from dreamcache.replay import replay
    from dreamcache.settings import Settings

    items, _ = read_stream([json.dumps(row) for row in STREAM] + [PLAIN])
    settings = Settings(model="tiny", default_steps=10)
    embed = MiniLMEmbedder().embed
    sequential = replay(items, settings, embed, device="cpu").to_json()["modes"]
    parallel = replay(items, settings, embed, device="cpu", parallel=True).to_json()["modes"]
    assert parallel == sequential
