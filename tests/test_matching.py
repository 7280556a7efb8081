"""The word-order guard of the hit decision."""

from __future__ import annotations

import pytest

from dreamcache.matching import accept, same_words_reordered, tags


def test_tags_are_normalised_parts() -> None:
    assert tags("A Castle, oil painting;  by Monet ,") == ["a castle", "oil painting", "by monet"]


@pytest.mark.parametrize(
    ("query", "candidate", "reordered"),
    [
        ("a dog chasing a cat", "a cat chasing a dog", True),
        ("a red car next to a blue house", "a blue car next to a red house", True),
        ("castle, oil painting, by monet", "by monet, castle, oil painting", False),  # tags moved: harmless
        ("a dog chasing a cat", "A dog chasing a cat!", False),  # same text
        ("a dog chasing a cat", "a dog chasing a mouse", False),  # other words: cosine decides
    ],
)
def test_same_words_reordered(query: str, candidate: str, reordered: bool) -> None:
    assert same_words_reordered(query, candidate) is reordered


def test_accept() -> None:
    assert accept("A cat, in SPACE!", "a cat in space", 0.1, 0.99)  # normalised equal always hits
    assert not accept("a dog chasing a cat", "a cat chasing a dog", 0.99, 0.9)
    assert accept("castle, oil painting", "oil painting, castle", 0.5, 0.98)  # only tags moved: always a hit
    assert accept("a dog chasing a cat, in a park", "in a park, a dog chasing a cat", 0.96, 0.98)
    assert not accept("a red fox", "a grey wolf", 0.5, 0.95)
