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
        # describing words only: the shallowest checkpoint too
        (HAIR, HAIR.replace("thick red hair", "thick curly red hair"), "reuse", 5, "attribute"),
        # another subject noun: from noise
        (HAIR, HAIR.replace("thick red hair", "thick red beard"), "generate", 0, "subject"),
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
    settings = Settings(reuse_layout_edit_max_skip=0.1, reuse_colour_edit_max_skip=0.3,
                        reuse_attribute_edit_max_skip=0.25)
    assert matching.EDIT_CLASSES == ("none", "style", "colour", "attribute", "count", "order", "subject")
    assert [reuse_depth_limit(edit, settings) for edit in matching.EDIT_CLASSES] == [
        1.0, 1.0, 0.3, 0.25, 0.1, 0.1, 0.1]
    defaults = Settings()
    assert (defaults.reuse_layout_edit_max_skip, defaults.reuse_colour_edit_max_skip,
            defaults.reuse_attribute_edit_max_skip) == (0.0, 0.2, 0.2)
    with pytest.raises(ValueError, match="reuse_attribute_edit_max_skip"):
        Settings(reuse_attribute_edit_max_skip=-0.1)
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
    ("a cat", "a cat in a forest", "subject"),  # a new thing in the picture
    ("a man running", "a man sitting", "subject"),  # another action, another pose
    ("kevin conroy, night", "britney spears, night", "subject"),  # names are subjects
    ("a giant robot", "a robot", "subject"),  # "giant" is mostly a noun in WordNet: the cautious side
    ("a fluffy cat on a sofa", "a cat on a sofa", "attribute"),
    ("a happy dog", "a sad dog", "attribute"),
    ("burger, very realistic", "burger, realistic", "attribute"),
    ("a dark red castle", "a castle", "attribute"),  # describing words and a colour
    ("a fluffy cat", "a fluffy dog", "subject"),  # the described thing changed
    ("a castle designed by efrain recinos", "a castle", "style"),  # the credit's verb is style too
    ("a castle by greg rutkowski", "a tower by greg rutkowski", "subject"),
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


def test_without_the_list_of_describing_words_every_content_change_is_a_subject(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dreamcache import words

    assert {"fluffy", "old", "very", "happier"} <= words.modifiers() and not {"cat", "giant", "run"} & words.modifiers()
    if words.WORDNET_DIR.is_dir():  # Debian's wordnet-base (`make test` installs it): the list is its build
        assert words.read_packaged(words.packaged_path(words.MODIFIERS)) == words.modifiers_from_wordnet()
    monkeypatch.setattr(words, "modifiers", lambda: frozenset())
    assert matching.edit_class("a fluffy cat", "a cat") == "subject"  # shallower, never deeper
    assert matching.edit_class("a red cat", "a cat") == "colour"  # colours need no list
