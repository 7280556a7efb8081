"""Reuse depth by kind of edit: `matching.edit_class` names the edit, `decision.reuse_depth_limit` caps the start.

The decision runs as the service runs it (`decision.Decider` over a real Qdrant Edge index, real MiniLM
vectors), fed through the replay's request and entry building; every pair below is at cosine >= 0.95,
where the similarity schedule alone allows the deepest checkpoint (step 10 of 25).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dreamcache import matching
from dreamcache.decision import reuse_depth_limit
from dreamcache.embedding import OnnxMiniLMEmbedder
from dreamcache.index import EdgeIndex
from dreamcache.prompts import embedding_text
from dreamcache.replay import ModeReplay, StreamItem
from dreamcache.settings import Settings

MIKU = "Hatsune Miku as the Statue of Liberty, digital art, highly detailed, by greg rutkowski"
HAIR = "portrait of a woman with thick red hair, green eyes, freckles, highly detailed, by artgerm"
SWORDS = "the eight of swords, tarot card, art nouveau, intricate border, highly detailed"
SWAPPED = "the Statue of Liberty as Hatsune Miku, digital art, highly detailed, by greg rutkowski"


@pytest.fixture(scope="module")
def embedder() -> OnnxMiniLMEmbedder:
    return OnnxMiniLMEmbedder()


def replay_pair(tmp_path: Path, embedder: OnnxMiniLMEmbedder, source: str, edit: str,
                **overrides: object) -> tuple[str, int, str, float]:
    """(decision, skipped steps, edit class, cosine) for `edit` after `source` was generated."""
    settings = Settings(model="tiny", default_steps=25, **overrides)  # checkpoints at steps 5 and 10
    vectors = embedder.embed([embedding_text(source), embedding_text(edit)])
    index = EdgeIndex(tmp_path / "index", len(vectors[0]))
    try:
        mode = ModeReplay(settings, index, identities=False, device="cpu", record=True)
        mode.step(StreamItem(source), vectors[0])
        mode.step(StreamItem(edit), vectors[1])
    finally:
        index.close()
    assert mode.outcomes is not None
    outcome = mode.outcomes[1]
    return outcome.kind, outcome.step, outcome.edit, float(np.dot(vectors[0], vectors[1]))


@pytest.mark.parametrize(
    ("source", "edit", "kind", "step", "edit_class"),
    [
        # style, medium, artist, quality: as deep as the schedule allows
        (MIKU, f"{MIKU}, trending on artstation", "reuse", 10, "style"),
        (HAIR, f"{HAIR}, trending on artstation", "reuse", 10, "style"),
        (SWORDS, f"{SWORDS}, trending on artstation", "reuse", 10, "style"),
        # a colour: the shallowest checkpoint
        (HAIR, HAIR.replace("thick red hair", "thick black hair"), "reuse", 5, "colour"),
        # a count, swapped roles: from noise
        (SWORDS, SWORDS.replace("eight of swords", "five of swords"), "generate", 0, "count"),
        (MIKU, SWAPPED, "generate", 0, "order"),
    ],
)
def test_reuse_depth_follows_the_kind_of_edit(
    tmp_path: Path, embedder: OnnxMiniLMEmbedder, source: str, edit: str, kind: str, step: int, edit_class: str
) -> None:
    assert matching.edit_class(edit, source) == edit_class
    decided, skipped, named, cosine = replay_pair(tmp_path, embedder, source, edit)
    assert cosine >= 0.95  # the similarity schedule alone would skip 40%: the kind of edit is what limits it
    assert (decided, skipped) == (kind, step)
    if kind == "reuse":
        assert named == edit_class


def test_layout_edits_may_resume_shallow_when_configured(tmp_path: Path, embedder: OnnxMiniLMEmbedder) -> None:
    swords_five = SWORDS.replace("eight", "five")
    assert replay_pair(tmp_path / "a", embedder, SWORDS, swords_five, reuse_layout_edit_max_skip=0.2)[:3] == (
        "reuse", 5, "count")
    assert replay_pair(tmp_path / "b", embedder, HAIR, HAIR.replace("red", "black"),
                       reuse_colour_edit_max_skip=0.4)[:2] == ("reuse", 10)


def test_depth_limits_by_class() -> None:
    settings = Settings(reuse_layout_edit_max_skip=0.1, reuse_colour_edit_max_skip=0.3)
    assert [reuse_depth_limit(edit, settings) for edit in matching.EDIT_CLASSES] == [1.0, 1.0, 0.3, 0.1, 0.1, 0.1]
    assert Settings().reuse_layout_edit_max_skip == 0.0 and Settings().reuse_colour_edit_max_skip == 0.2
    with pytest.raises(ValueError, match="reuse_layout_edit_max_skip"):
        Settings(reuse_layout_edit_max_skip=1.0)


EXAMPLES = [
    ("eight of swords", "five of swords", "count"),
    ("two cats on a sofa", "three cats on a sofa", "count"),
    ("a cat on a sofa", "cats on a sofa", "count"),
    ("a castle, 4 towers", "a castle, 3 towers", "count"),
    ("thick red hair", "thick black hair", "colour"),
    ("a blue car, by syd mead", "a red car, by moebius", "colour"),
    ("Hatsune Miku as the Statue of Liberty", "the Statue of Liberty as Hatsune Miku", "order"),
    ("a dog chasing a cat", "a cat chasing a dog", "order"),
    ("a red cat and a blue dog", "a blue cat and a red dog", "order"),
    ("a cat on a sofa", "a dog on a sofa", "subject"),
    ("a dog chased by a cat", "a dog chased by a bear", "subject"),  # an agent, not an artist
    ("a castle on a hill, trending on artstation", "a castle on a hill", "style"),
    ("a castle on a hill, by greg rutkowski", "a castle on a hill, by alphonse mucha", "style"),
    ("a castle painted by some new name", "a castle painted by another name", "style"),
    ("a cat in the style of studio ghibli", "a cat in the style of van gogh", "style"),
    ("a cat, oil painting, 4k", "a cat, watercolor, 8k, octane render", "style"),
    ("a cat, 35mm photo, bokeh", "a cat, wide angle lens", "style"),
    ("A cat, on a sofa!", "a cat on a sofa", "none"),
]


@pytest.mark.parametrize(("query", "candidate", "expected"), EXAMPLES)
def test_edit_class_names_what_changed(query: str, candidate: str, expected: str) -> None:
    assert matching.edit_class(query, candidate) == expected
    assert matching.edit_class(candidate, query) == expected  # symmetric on these
