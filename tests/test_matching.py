"""The hit decision: same-text check, the word-order guard and the text verifier."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dreamcache import words
from dreamcache.matching import (
    EMPTY_TEXT,
    accept,
    content,
    decide,
    reason,
    refused_joins,
    same_tags,
    same_words_reordered,
    stem,
    verify,
)
from dreamcache.prompts import canonical, report_keys, tags, text_key


def test_tags_are_normalised_parts() -> None:
    assert tags("A Castle, oil painting;  by Monet ,") == ["a castle", "oil painting", "by monet"]


@pytest.mark.parametrize(
    ("query", "candidate", "reordered"),
    [
        ("a dog chasing a cat", "a cat chasing a dog", True),
        ("a red car next to a blue house", "a blue car next to a red house", True),
        ("castle, oil painting, by monet", "by monet, castle, oil painting", False),  # tags moved: harmless
        ("a dog chasing a cat", "A dog chasing a cat!", False),  # same text
        ("a dog chasing a cat", "a dog chasing a mouse", False),  # other words
    ],
)
def test_same_words_reordered(query: str, candidate: str, reordered: bool) -> None:
    assert same_words_reordered(query, candidate) is reordered


@pytest.mark.parametrize(
    ("words", "token"),
    [
        (["sleeps", "sleeping", "sleep"], "sleep"),
        (["running", "run", "runs"], "run"),
        (["making", "make", "makes"], "mak"),
        (["parked", "park", "parks"], "park"),
        (["horses", "horse"], "hors"),
        (["boxes", "box"], "box"),
        (["puppies", "puppy"], "puppy"),
        (["is", "are", "was", "were"], "be"),
        (["children", "child"], "child"),
        (["men", "man"], "man"),
        (["women", "woman"], "woman"),
        (["people", "person"], "person"),
        (["mice", "mouse"], "mous"),
        (["feet", "foot"], "foot"),
        (["teeth", "tooth"], "tooth"),
        (["grass"], "grass"),
        (["bus", "buses"], "bus"),
        (["stopped", "stopping", "stop"], "stop"),  # a doubled final consonant is undone
        (["rolling", "rolled", "roll"], "roll"),  # ... but not l, s, z or a vowel: `roll` stays `roll`
        (["kissing", "kiss"], "kiss"),
        (["fizzing", "fizz"], "fizz"),
        (["string", "strings"], "string"),  # no vowel before -ing: not a participle
    ],
)
def test_stemmer_maps_word_forms_to_one_token(words: list[str], token: str) -> None:
    assert {stem(w) for w in words} == {token}


def test_stemmer_keeps_distinct_words_apart() -> None:
    for a, b in [("red", "bed"), ("thing", "th"), ("two", "three"), ("on", "under"), ("white", "black")]:
        assert stem(a) != stem(b)


def test_content_drops_articles_and_copula_only() -> None:
    assert content("A dog is sitting on the sofa, Oil Painting") == (("dog", "sit", "on", "sofa"), ("oil", "paint"))
    assert content("no dog, not a cat, without hats") == (("no", "dog"), ("not", "cat"), ("without", "hat"))


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("a red fox sleeps in fresh snow - soft morning light", "A red fox sleeping in fresh snow, soft morning light"),
        (
            "soft morning light, a red fox sleeping in fresh snow",
            "A red fox sleeping in fresh snow, soft morning light",
        ),
        (
            "a snowy cabin with warm light in its windows at dusk",
            "a snowy cabin with warm light in the windows at dusk",
        ),
        ("The dog is running through a field.", "A dog runs through a field."),
        ("castle, oil painting, by monet", "by monet, castle, oil painting"),
        ("a close-up of a man's hat", "a closeup of a mans hat"),
        ("two children playing", "Two children are playing"),
    ],
)
def test_verify_accepts_the_same_picture(query: str, candidate: str) -> None:
    assert verify(query, candidate)
    assert reason(query, candidate) is None


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("a dog chasing a cat", "a cat chasing a dog"),  # swapped roles
        ("a red fox sleeping in fresh snow", "a fresh fox sleeping in red snow"),  # swapped attributes
        ("a man is riding a horse", "a horse is riding a man"),
        ("the children are holding the dog", "the dog is holding the children"),  # swap with changed word forms
        ("two dogs on a sofa", "three dogs on a sofa"),  # count
        ("2 dogs on a sofa", "3 dogs on a sofa"),
        ("a dog on a sofa", "a dog under a sofa"),  # relation
        ("a cat next to a box", "a cat in a box"),
        ("a man with a hat", "a man without a hat"),  # negation
        ("a street with cars", "a street with no cars"),
        ("a red car", "a blue car"),  # colour
        ("a castle, oil painting", "a castle, watercolor"),  # medium
        ("a castle, by monet", "a castle, by van gogh"),  # artist
        ("a castle at night", "a castle at night, cyberpunk"),  # an added tag
        ("a zebra in a field", "a striped zebra in a field"),  # an added attribute
        ("a man walking", "a woman walking"),
        ("a dog chasing a cat, in a park", "a cat chasing a dog, in a park"),  # swap within a tag
    ],
)
def test_verify_rejects_another_picture(query: str, candidate: str) -> None:
    assert not verify(query, candidate)
    assert reason(query, candidate)
    assert not accept(query, candidate, 0.999, 0.9)  # whatever the cosine


def test_reasons_name_the_difference() -> None:
    assert reason("a dog chasing a cat", "a cat chasing a dog") == "same words in another order"
    assert reason("a red car", "a blue car") == "different words: request only ['red'], candidate only ['blue']"
    assert decide("a dog runs", "a dog running", 0.5, 0.9) == (False, "similarity 0.500 below threshold 0.90")
    assert decide("a dog runs", "a dog running", 0.95, 0.9) == (True, "verified")
    assert decide("A dog runs!", "a dog runs", 0.1, 0.9) == (True, "same text")


def test_same_tags_folds_punctuation_inside_words() -> None:
    assert same_tags("a black/white photo", "a blackwhite photo")
    assert same_tags("that's a close-up", "THATS A CLOSEUP")
    assert same_tags("oil painting, castle", "Castle; Oil painting")
    assert not same_tags("a dog chasing a cat", "a cat chasing a dog")


def test_accept() -> None:
    assert accept("A cat, in SPACE!", "a cat in space", 0.1, 0.99)  # normalised equal always hits
    assert not accept("a dog chasing a cat", "a cat chasing a dog", 0.99, 0.9)
    assert accept("castle, oil painting", "oil painting, castle", 0.5, 0.98)  # only tags moved: always a hit
    assert accept("a dog chasing a cat, in a park", "in a park, a dog chasing a cat", 0.96, 0.98)
    assert not accept("a red fox", "a grey wolf", 0.5, 0.95)
    # Verified, but the cosine is still required.
    assert accept("a red fox sleeps in fresh snow", "A red fox sleeping in fresh snow", 0.985, 0.98)
    assert not accept("a red fox sleeps in fresh snow", "A red fox sleeping in fresh snow", 0.97, 0.98)


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("a cat", "cats"),
        ("a witch in the woods", "witches in the woods"),
        ("a child playing", "children playing"),
        ("portrait of a man, oil", "portrait of men, oil"),
        ("a dog runs", "dogs run"),
        ("a fox, snow", "foxes, snow"),
    ],
)
def test_a_changed_count_is_another_picture(query: str, candidate: str) -> None:
    assert not verify(query, candidate)
    assert not accept(query, candidate, 0.999, 0.9)
    assert reason("a cat on a sofa", "cats on a sofa") == "a changed count (singular against plural)"


def test_other_word_forms_stay_alike() -> None:
    assert verify("a red fox sleeps in the snow", "a red fox sleeping in the snow")
    assert verify("a parked car", "a car parking") is False  # order still matters
    assert verify("two children are playing", "two children playing")


@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("castle, 4 k", "castle, 4k"),
        ("gta v screenshot", "gtav screenshot"),
        ("chainsaw man fan art", "chainsawman fan art"),
        ("2 d game art of a forest", "2d game art of a forest"),
        ("a dog", "Dog"),
        ("The cat in the hat", "cat in hat"),
    ],
)
def test_the_same_text_split_joined_or_without_articles_always_hits(query: str, candidate: str) -> None:
    assert same_tags(query, candidate)
    assert decide(query, candidate, 0.1, 0.92) == (True, "same text")
    assert canonical(query) == canonical(candidate) and text_key(query) == text_key(candidate) != ""


@pytest.mark.parametrize("prompt", ["🔥🔥🔥", "...", "!!!", "💀", ":)", "   ?   "])
def test_prompts_that_normalise_to_nothing_only_match_their_own_raw_text(prompt: str) -> None:
    assert text_key(prompt) == ""
    assert decide(prompt, prompt, 0.1, 0.92) == (True, "same text")
    assert decide(prompt, f"  {prompt} ", 0.1, 0.92)[0]  # surrounding whitespace aside
    for other in ["🔥", "💀💀", "???", ":(", "a cat"]:
        if other.strip() != prompt.strip():
            hit, why = decide(prompt, other, 1.0, 0.92)
            assert not hit, (prompt, other)
            assert not decide(other, prompt, 1.0, 0.92)[0]


def test_the_hit_threshold_is_inclusive() -> None:
    assert decide("a dog runs", "a dog running", 0.9, 0.9) == (True, "verified")
    assert decide("a dog runs", "a dog running", 0.8999, 0.9)[0] is False


def test_reason_for_prompts_that_normalise_to_nothing() -> None:
    assert reason("🔥", "🔥") is None
    assert reason("🔥", "a cat") == reason("a cat", "🔥") == reason("🔥", "💀") == EMPTY_TEXT


def test_reasons_name_missing_or_extra_words_as_the_user_wrote_them() -> None:
    assert reason("a running dog", "a barking dog") == (
        "different words: request only ['running'], candidate only ['barking']"
    )
    assert reason("a red car", "a car") == "different words: request only ['red'], candidate only []"
    assert reason("a car", "a red car") == "different words: request only [], candidate only ['red']"
    assert reason("dog dog", "dog") == "different word counts"


def test_same_tags_rules_one_by_one() -> None:
    # Reordered whole tags, even where articles make the canonical forms differ ("it's" folds to the article "its").
    assert same_tags("it's a cat, night", "night, it s a cat")
    # Every punctuation mark deleted, separators included, is still the same text; so is outer whitespace.
    assert same_tags("oil painting,castle", "oil paintingcastle")
    assert same_tags("oil painting,castle ", "oil paintingcastle")
    # A prompt that normalises to nothing is not the same text as one that does not, whatever else agrees.
    assert not same_tags("it's", "it s") and not same_tags("it s", "it's")


def test_text_key_is_a_32_digit_digest() -> None:
    key = text_key("a castle")
    assert len(key) == 32 and int(key, 16) >= 0 and key != text_key("a palace")


def test_report_keys_cover_retyped_variants_only() -> None:
    keys = report_keys("Oil painting, a castle")
    assert len(keys) == 2 and keys[0] == text_key("castle, oil painting")
    assert keys == report_keys("OIL painting; the castle")  # articles, case, separators: one report
    assert report_keys("castle; oil painting")[0] == keys[0]  # tags moved: the text key still matches
    # The same words with other separators share the flat key but not the text key.
    other = report_keys("oil painting castle")
    assert other[1] == keys[1] and other[0] != keys[0]
    assert report_keys("oilpainting castle")[1] == other[1]  # words split or joined differently too
    assert keys[1].startswith("flat:") and len(keys[1]) == 32
    assert report_keys("a dog chasing a cat")[1] != report_keys("a cat chasing a dog")[1]
    # A prompt that normalises to nothing: its own raw text only (whitespace aside).
    raw = report_keys("🔥🔥")
    assert len(raw) == 1 and raw[0].startswith("raw:") and len(raw[0]) == 32
    assert raw == report_keys(" 🔥🔥 ") and raw != report_keys("💀")
    assert report_keys("the") != report_keys("a")  # only articles: raw text too
@pytest.mark.parametrize(
    ("query", "candidate"),
    [
        ("a green house", "a greenhouse"),
        ("a black bird on a wire", "a blackbird on a wire"),
        ("sun set over the sea, 4k", "sunset over the sea, 4k"),
        ("green houses in the rain", "greenhouses in the rain"),
        ("greenhouse plant", "green houseplant"),  # the same letters, two other words joined
    ],
)
def test_a_join_that_is_a_word_of_its_own_is_another_picture(query: str, candidate: str) -> None:
    assert canonical(query) == canonical(candidate)  # one lookup key, but not the same text
    assert not same_tags(query, candidate) and not same_tags(candidate, query)
    assert not decide(query, candidate, 0.99, 0.92)[0] and not decide(candidate, query, 0.99, 0.92)[0]
    assert refused_joins(query, candidate)


def test_typing_variants_stay_the_same_text_beside_a_refused_join() -> None:
    assert refused_joins("castle, art station, 4 k", "castle, artstation, 4k") == []
    assert refused_joins("a green house, 4 k", "a greenhouse, 4k") == ["greenhouse"]
    assert same_tags("close-up of a fox", "closeup of a fox")  # punctuation joins are typing, as before


def test_the_packaged_word_list_is_wordnet_and_its_absence_is_safe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    packaged = words.read_packaged(words.packaged_path())
    assert {"greenhouse", "blackbird", "sunset"} <= packaged and not {"artstation", "4k", "chainsawman"} & packaged
    if words.WORDNET_DIR.is_dir():  # Debian's wordnet-base (`make test` installs it): the list is its build
        assert packaged == words.from_wordnet(words.WORDNET_DIR)
    with caplog.at_level(logging.WARNING, logger="dreamcache.words"):
        assert words.load(tmp_path / "missing.txt.gz", tmp_path) is None
    assert "no English word list" in caplog.text
    # Without any list every join is refused: fewer hits, never a wrong one.
    monkeypatch.setattr(words, "lexicon", lambda: None)
    assert not same_tags("castle, 4 k", "castle, 4k") and not same_tags("a green house", "a greenhouse")
    assert same_tags("a dog", "Dog")
