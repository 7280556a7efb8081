"""Autocomplete: the in-memory suggestion index on its own, then /recommend through the real app."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from qdrant_client import QdrantClient

from apphelpers import running_app, tiny_settings
from dreamcache import prompts
from dreamcache.index import EdgeIndex, Entry, QdrantServerIndex
from dreamcache.suggest import HALF_LIFE_S, Suggestion, SuggestionIndex

NOW = 1_700_000_000.0
SMALL = "compat-64"
LARGE = "compat-128"


def entry(prompt: str, *, compat: str = SMALL, hits: int = 0, age_s: float = 0.0, key: str | None = None) -> Entry:
    entry_id = str(uuid.uuid4())
    return Entry(
        id=entry_id, prompt=prompt, negative_prompt="", width=64, height=64, steps=4, guidance_scale=7.5, seed=1,
        model="tiny", fingerprint="fp", image_key=key or f"{entry_id}.png", created_at=NOW - age_s,
        compat_key=compat, exact_key=entry_id, prompt_norm=prompts.normalize(prompt), hits=hits,
    )


def suggest(index: SuggestionIndex, text: str, *, compat: str = SMALL, limit: int = 5) -> list[Suggestion]:
    return asyncio.run(index.suggest(text, compat=compat, limit=limit))


def built(*entries: Entry, index: EdgeIndex | None = None) -> SuggestionIndex:
    suggestions = SuggestionIndex(index, clock=lambda: NOW)
    for item in entries:
        suggestions.add(item)
    return suggestions


def test_empty_index_and_empty_text_answer_nothing() -> None:
    assert suggest(built(), "a") == []
    assert suggest(built(entry("a red fox in the snow")), "!!!") == []


def test_prefix_from_the_first_character() -> None:
    index = built(entry("a red fox in the snow"), entry("a blue whale under the sea"), entry("the moon over Paris"))
    assert {s.prompt for s in suggest(index, "a")} == {"a red fox in the snow", "a blue whale under the sea"}
    first = suggest(index, "A RED f")
    assert first[0].prompt == "a red fox in the snow" and first[0].match == "prefix"
    assert [s.prompt for s in suggest(index, "th")] == ["the moon over Paris"]


def test_a_finished_word_does_not_match_longer_words() -> None:
    index = built(entry("a cat on a sofa at night"), entry("a catalog of old stamps"))
    assert {s.prompt for s in suggest(index, "a cat")} == {"a cat on a sofa at night", "a catalog of old stamps"}
    assert [s.prompt for s in suggest(index, "a cat ")] == ["a cat on a sofa at night"]


def test_word_prefix_matches_in_any_order_rank_below_prefix_matches() -> None:
    index = built(
        entry("a golden retriever puppy wearing a raincoat"),
        entry("puppy in a raincoat and boots"),
        entry("a kitten wearing a hat"),
    )
    found = suggest(index, "raincoat pup")
    assert {s.prompt for s in found} == {"a golden retriever puppy wearing a raincoat", "puppy in a raincoat and boots"}
    assert all(s.match == "words" for s in found)
    mixed = suggest(index, "pupp")
    assert mixed[0].prompt == "puppy in a raincoat and boots" and mixed[0].match == "prefix"
    assert mixed[1].match == "words" and mixed[0].score > mixed[1].score
    assert suggest(index, "ra") == []  # a lone word needs 3 characters to match inside prompts


def test_deduplicated_after_normalising_and_short_prompts_dropped() -> None:
    index = built(
        entry("A red fox, in the snow!", hits=2, age_s=100),
        entry("a red fox in the snow", hits=3),
        entry("a red fox"),  # 3 words but under 12 characters
        entry("a redfoxsleeping"),  # 12+ characters but 2 words
    )
    found = suggest(index, "a red")
    assert len(found) == 1
    assert found[0].prompt == "a red fox in the snow"  # the newest spelling
    assert found[0].hits == 5
    assert len(index) == 1


def test_ranking_by_hits_then_recency() -> None:
    index = built(
        entry("a castle on a hill at dawn", hits=0, age_s=0),
        entry("a castle on a hill at dusk", hits=40, age_s=30 * 86400),
        entry("a castle on a hill in fog", hits=0, age_s=60 * 86400),
    )
    order = [s.prompt for s in suggest(index, "a castle")]
    assert order == ["a castle on a hill at dusk", "a castle on a hill at dawn", "a castle on a hill in fog"]
    scores = [s.score for s in suggest(index, "a castle")]
    assert scores[0] == pytest.approx(1.0 + 0.15 + 0.1 * 0.5 ** (30 * 86400 / HALF_LIFE_S), abs=1e-6)


def test_update_on_add_and_hit() -> None:
    index = built(entry("a lighthouse in a storm at night"))
    index.add(entry("a lighthouse on a sunny beach"))
    assert len(suggest(index, "a lighthouse")) == 2
    for _ in range(3):
        index.record_hit(prompts.normalize("a lighthouse on a sunny beach"))
    top = suggest(index, "a lighthouse")[0]
    assert top.prompt == "a lighthouse on a sunny beach" and top.hits == 3


def test_instant_and_thumbnail_per_size() -> None:
    index = built(entry("a koi pond in autumn", key="small.png"), entry("a koi pond in autumn", compat=LARGE,
                                                                        key="large.png", age_s=10))
    small = suggest(index, "a koi", compat=SMALL)[0]
    assert small.instant and small.image_key == "small.png"
    large = suggest(index, "a koi", compat=LARGE)[0]
    assert large.instant and large.image_key == "large.png"
    other = suggest(index, "a koi", compat="compat-512")[0]
    assert not other.instant and other.image_key == "small.png"  # newest image as the thumbnail


def test_semantic_neighbours_of_the_best_text_match_come_from_the_background(tmp_path: Path) -> None:
    """With fewer text matches than asked for, the stored vector's neighbours fill the list once looked up."""
    edge = EdgeIndex(tmp_path / "index", 4)
    try:
        fox, wolf, car = entry("a red fox in the snow"), entry("a grey wolf in a blizzard"), entry("a fast red car")
        vectors = {fox.id: [1.0, 0.1, 0.0, 0.0], wolf.id: [0.9, 0.3, 0.0, 0.0], car.id: [0.0, 0.0, 1.0, 0.0]}
        for item in (fox, wolf, car):
            vector = np.asarray(vectors[item.id]) / np.linalg.norm(vectors[item.id])
            edge.upsert(item, vector.tolist())
        index = SuggestionIndex(edge, clock=lambda: NOW)
        assert index.load(edge.scroll_all()) == 3

        async def typing() -> tuple[list[Suggestion], list[Suggestion]]:
            first = await index.suggest("a red fo", compat=SMALL, limit=3)  # the neighbours are not known yet
            await index.semantic.idle()
            return first, await index.suggest("a red fo", compat=SMALL, limit=3)

        first, found = asyncio.run(typing())
        assert [(s.prompt, s.match) for s in first] == [("a red fox in the snow", "prefix")]
        assert [s.match for s in found[:2]] == ["prefix", "semantic"]
        assert found[1].prompt == "a grey wolf in a blizzard"
        assert 0.5 < found[1].score < 0.6 + 0.25
    finally:
        edge.close()


def test_a_keystroke_never_waits_for_the_embedder(tmp_path: Path) -> None:
    """The embedder is stuck: keystrokes are answered anyway; once it answers, the next ones use it."""
    edge = EdgeIndex(tmp_path / "index", 2)
    try:
        edge.upsert(entry("a quiet mountain lake at sunrise"), [1.0, 0.0])
        embedded: list[str] = []

        async def typing() -> tuple[list[list[Suggestion]], list[Suggestion], list[Suggestion]]:
            release = asyncio.Event()

            async def gated(text: str) -> list[float]:
                embedded.append(text)
                await release.wait()
                return [1.0, 0.0]

            index = SuggestionIndex(edge, gated, clock=lambda: NOW)
            index.load(edge.scroll_all())
            typed = "tranquil alpine wa"
            # Every keystroke answers while the embedder is stuck (a wait would time out here).
            early = [await asyncio.wait_for(index.suggest(typed[:n], compat=SMALL, limit=5), 5)
                     for n in range(1, len(typed) + 1)]
            release.set()
            await asyncio.wait_for(index.semantic.idle(), 30)
            partial = await index.suggest("tranquil alpine wat", compat=SMALL, limit=5)
            unrelated = await index.suggest("zz", compat=SMALL, limit=5)
            return early, partial, unrelated

        early, partial, unrelated = asyncio.run(typing())
        assert all(answer == [] for answer in early)
        # The partial word reuses the result of the finished words before it.
        assert [(s.prompt, s.match) for s in partial] == [("a quiet mountain lake at sunrise", "semantic")]
        assert unrelated == []
        assert "tranquil alpine" in embedded and "tranquil alpine wa" not in embedded  # only finished words
    finally:
        edge.close()


def test_load_reads_every_entry_of_the_index(tmp_path: Path) -> None:
    edge = EdgeIndex(tmp_path / "index", 2)
    try:
        entries = [entry(f"prompt number {i} of many", hits=i % 3) for i in range(2500)]
        edge.upsert_many([(e, [1.0, float(i % 7)]) for i, e in enumerate(entries)])
        index = SuggestionIndex(edge, clock=lambda: NOW)
        assert index.load(edge.scroll_all()) == 2500
        assert len(index) == 2500
        exact = suggest(index, "prompt number 1234 ")
        assert (exact[0].prompt, exact[0].match) == ("prompt number 1234 of many", "prefix")
        many = suggest(index, "p", limit=20)  # a big class: pre-selected by popularity
        assert len(many) == 20 and all(s.hits == 2 for s in many)
    finally:
        edge.close()


def test_both_index_backends_scroll_every_entry_and_return_stored_vectors(tmp_path: Path) -> None:
    """What the start-up load and the neighbour lookup need, from Qdrant Edge and from a Qdrant client."""
    items = [entry(f"a prompt of the congruence test {i}") for i in range(5)]
    vectors = [[1.0, float(i)] for i in range(5)]
    server = QdrantServerIndex(QdrantClient(path=str(tmp_path / "local")), "suggest", 2)
    edge = EdgeIndex(tmp_path / "edge", 2)
    try:
        for index in (edge, server):
            index.upsert_many(list(zip(items, vectors, strict=True)))
            assert sorted(e.id for e in index.scroll_all(batch=2)) == sorted(e.id for e in items)
            stored = index.vector(items[3].id)
            assert stored is not None
            assert np.allclose(stored, np.asarray(vectors[3]) / np.linalg.norm(vectors[3]), atol=1e-5)
            assert index.vector(str(uuid.uuid4())) is None and index.vector("not-a-uuid") is None
    finally:
        edge.close()
        server.close()


# --- through HTTP: the real app, one start for the module -------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    with running_app(tiny_settings(tmp_path_factory.mktemp("suggest-data"))) as client:
        yield client


def test_http_empty_index_answers_an_empty_list(client: TestClient) -> None:
    response = client.get("/recommend", params={"q": "a"})
    assert response.status_code == 200, response.text
    assert response.json()["suggestions"] == []
    assert response.headers["Server-Timing"].startswith("app;dur=")


def test_http_typing_suggests_generated_prompts_with_instant_per_size(client: TestClient) -> None:
    for prompt in ("a watercolor painting of a harbor at dusk", "a watercolor portrait of an old sailor"):
        generated = client.post("/generate", json={"prompt": prompt})
        assert generated.status_code == 200, generated.text
    response = client.get("/recommend", params={"q": "a wat", "limit": 5})
    assert response.status_code == 200, response.text
    body = response.json()
    assert {s["prompt"] for s in body["suggestions"]} == {
        "a watercolor painting of a harbor at dusk", "a watercolor portrait of an old sailor"
    }
    first = body["suggestions"][0]
    assert first["instant"] is True and first["match"] == "prefix"
    assert client.get(first["thumbnail_url"]).status_code == 200
    assert body["timings"]["total_ms"] >= 0
    other = client.post("/recommend", json={"q": "a watercolor p", "width": 128, "limit": 1}).json()
    assert other["suggestions"][0]["instant"] is False
    assert other["suggestions"][0]["thumbnail_url"]


def test_http_hits_raise_popularity(client: TestClient) -> None:
    client.post("/generate", json={"prompt": "a lantern festival over a river"})
    client.post("/generate", json={"prompt": "a lantern in a dark forest"})
    for _ in range(2):
        assert client.post("/generate", json={"prompt": "A lantern in a dark forest!"}).json()["source"] == "cache"
    top = client.get("/recommend", params={"q": "a lan"}).json()["suggestions"][0]
    assert top["prompt"] == "a lantern in a dark forest" and top["hits"] == 2


def test_http_validation_names_the_field(client: TestClient) -> None:
    for params, field in [({"q": ""}, "q"), ({"q": "a", "limit": 21}, "limit"), ({"q": "a", "width": 100}, "width"),
                          ({"q": "a", "height": 4096}, "height")]:
        response = client.get("/recommend", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["field"] == field
    posted = client.post("/recommend", json={"q": "a", "colour": "red"})
    assert posted.status_code == 422


def test_the_same_text_gives_the_same_suggestions_and_unrelated_prompts_stay_out(tmp_path: Path) -> None:
    edge = EdgeIndex(tmp_path / "index", 3)
    try:
        fox, wolf, lighthouse = entry("a red fox in the snow"), entry("a grey wolf in a blizzard"), entry(
            "a lighthouse in a storm")
        edge.upsert_many([(fox, [1.0, 0.1, 0.0]), (wolf, [0.9, 0.3, 0.0]), (lighthouse, [0.2, 0.0, 1.0])])
        index = SuggestionIndex(edge, clock=lambda: NOW)

        async def twice() -> tuple[list[Suggestion], list[Suggestion]]:
            await index.suggest("a red f", compat=SMALL, limit=8)
            await index.semantic.idle()
            return (await index.suggest("a red f", compat=SMALL, limit=8),
                    await index.suggest("a red f", compat=SMALL, limit=8))

        index.load(edge.scroll_all())
        first, second = asyncio.run(twice())
        assert [s.prompt for s in first] == [s.prompt for s in second]
        assert [(s.prompt, s.match) for s in first] == [
            ("a red fox in the snow", "prefix"), ("a grey wolf in a blizzard", "semantic")
        ]  # the lighthouse (cosine 0.2) is below the relevance floor
    finally:
        edge.close()


# --- typo tolerance, near-duplicates, determinism ---------------------------------------------


def test_one_typo_per_word_of_five_letters_ranked_below_exact_matches() -> None:
    index = built(
        entry("a portrait of a knight in golden armour"),
        entry("a potrait of a queen in a garden"),  # stored with a typo: typing it right still finds it
        entry("a castle in the clouds at sunset"),
    )
    assert [(s.prompt, s.match) for s in suggest(index, "a castel in")] == [
        ("a castle in the clouds at sunset", "typo")]  # a swap of two letters is one typo
    assert [s.prompt for s in suggest(index, "a caslte")] == ["a castle in the clouds at sunset"]
    found = suggest(index, "a portrait of a")
    assert [(s.prompt, s.match) for s in found] == [
        ("a portrait of a knight in golden armour", "prefix"), ("a potrait of a queen in a garden", "typo")]
    assert found[0].score > found[1].score
    assert [s.prompt for s in suggest(index, "a cstle in the")] == ["a castle in the clouds at sunset"]
    assert suggest(index, "a portrsit of a q") == []  # two typos away from "potrait"
    assert suggest(index, "a cstl in the") == []  # no typo in a word under 5 letters
    assert suggest(index, "a kastle in the") == []  # the first letter must be right (Meilisearch counts it twice)
    assert suggest(index, "a castlle innn the") == []  # one typo per word, and none in words under 5 letters
    assert [s.prompt for s in suggest(index, "a knight in golden armuor ")] == [
        "a portrait of a knight in golden armour"]  # words in another order, one typo in the last


def test_a_popular_typo_match_never_outranks_an_exact_one() -> None:
    index = built(
        entry("a dragun made of paper, flying", hits=500),  # popular, and one typo from what is typed
        entry("a dragon flying over a burning city"),
        entry("a dragon made of paper flowers", age_s=90 * 86400),
    )
    found = suggest(index, "flying dragon")
    assert [(s.prompt, s.match) for s in found] == [
        ("a dragon flying over a burning city", "words"), ("a dragun made of paper, flying", "typo")]
    assert found[1].score >= found[0].score  # as high a score (its popularity), yet below the exact match


def test_near_duplicates_are_one_suggestion_in_their_correct_spelling() -> None:
    index = built(
        entry("a red fox sleeping in fresh snwo, soft morning light", hits=3),  # someone's typo, even hit more
        entry("a red fox sleeping in fresh snow, soft morning light"),
        entry("a red fox sleeping in fresh snow, soft morning light"),
        entry("snow on the mountains at dawn"),
        entry("A red fox sleeping in fresh snow; soft morning light!"),  # retyped: same normalised text
        entry("red fox sleeping in freshsnow, soft morning light"),  # retyped: articles, joined words
        entry("a red fox sleeping in fresh grass, soft morning light"),  # another picture: kept apart
    )
    found = suggest(index, "a red f")
    assert [s.prompt for s in found] == [
        "a red fox sleeping in fresh snow, soft morning light",
        "a red fox sleeping in fresh grass, soft morning light",
    ]
    assert found[0].hits == 3  # the group's hits: the slip's count for it
    typed_slip = suggest(index, "a red fox sleeping in fresh snw")
    assert [s.prompt for s in typed_slip] == ["a red fox sleeping in fresh snow, soft morning light"]
    assert index.groups() == 3 and len(index) == 5  # 5 normalised prompts, 3 suggestions


def test_a_slip_stored_first_joins_its_twin_when_the_twin_arrives() -> None:
    index = built(entry("a cyberpunk city in the rian at night"), entry("rain over a quiet harbour"))
    assert suggest(index, "a cyber")[0].prompt == "a cyberpunk city in the rian at night"
    index.add(entry("a cyberpunk city in the rain at night"))
    assert [s.prompt for s in suggest(index, "a cyber")] == ["a cyberpunk city in the rain at night"]


def test_twins_of_two_real_words_stay_apart() -> None:
    """"horse" and "house" are both common words: two pictures, two suggestions."""
    index = built(*(entry(f"a horse in a field number {i}") for i in range(3)),
                  *(entry(f"a house in a field number {i}") for i in range(3)),
                  entry("a horse in a field at dawn"), entry("a house in a field at dawn"))
    assert {s.prompt for s in suggest(index, "a h", limit=20)} >= {"a horse in a field at dawn",
                                                                   "a house in a field at dawn"}


def test_the_same_text_gives_the_same_answer_under_concurrent_load(tmp_path: Path) -> None:
    """Hundreds of interleaved keystrokes, with background lookups queued and finishing: each text's answer
    depends only on what the index knows (before the lookups land, and after)."""
    edge = EdgeIndex(tmp_path / "index", 3)
    try:
        rng = np.random.default_rng(0)
        texts = [f"a {colour} {animal} in a {place} at {time_of_day}" for colour in ("red", "blue", "golden")
                 for animal in ("fox", "dragon", "horse") for place in ("forest", "desert")
                 for time_of_day in ("dawn", "night")]
        pairs = []
        for text in texts:
            vector = rng.normal(size=3)
            pairs.append((entry(text, hits=int(rng.integers(0, 5))), (vector / np.linalg.norm(vector)).tolist()))
        edge.upsert_many(pairs)
        typed = ["a", "a r", "a red fox in", "a golden dragn", "a blue horse in a desrt ", "dragon night",
                 "quantum teapot ", "quantum teapot orb", "a gloden", "a red fox in a forest at dawn "]

        async def run() -> tuple[dict[str, set[str]], dict[str, set[str]], dict[str, str]]:
            release = asyncio.Event()

            async def gated(text: str) -> list[float]:
                await release.wait()
                return [1.0, 0.0, 0.0]

            index = SuggestionIndex(edge, gated, clock=lambda: NOW)
            index.load(edge.scroll_all())

            async def one(text: str) -> tuple[str, str]:
                await asyncio.sleep(0)
                found = await index.suggest(text, compat=SMALL, limit=5)
                return text, repr([(s.prompt, s.match, s.score) for s in found])

            def answers(results: list[tuple[str, str]]) -> dict[str, set[str]]:
                out: dict[str, set[str]] = {}
                for text, answer in results:
                    out.setdefault(text, set()).add(answer)
                return out

            before = answers(await asyncio.gather(*(one(typed[i % len(typed)]) for i in range(300))))
            release.set()
            await index.semantic.idle()
            after = answers(await asyncio.gather(*(one(typed[i % len(typed)]) for i in range(300))))
            sequential = {text: (await one(text))[1] for text in typed}
            return before, after, sequential

        before, after, sequential = asyncio.run(run())
        assert all(len(answers) == 1 for answers in before.values()), before
        assert all(len(answers) == 1 for answers in after.values()), after
        assert {text: answers.pop() for text, answers in after.items()} == sequential
        assert sequential["a golden dragn"] != "[]" and "semantic" in sequential["quantum teapot orb"]
    finally:
        edge.close()


def test_http_concurrent_keystrokes_get_the_same_answers(client: TestClient) -> None:
    for prompt in ("a paper boat on a stormy ocean", "a paper lantern above a stormy ocean"):
        assert client.post("/generate", json={"prompt": prompt}).status_code == 200
    texts = ["a paper", "a papre lant", "stormy ocean pap", "a paper lantern abov", "a paper boat on a stromy "]
    semantic = client.app.state.services.cache.suggestions.of("").semantic  # type: ignore[attr-defined]
    expected: dict[str, Any] = {}
    for _ in range(5):  # queue the background lookups these need and let them land, until nothing new is wanted
        # (an answer can name stored prompts whose own neighbours are looked up only then)
        answers = {text: client.get("/recommend", params={"q": text}).json()["suggestions"] for text in texts}
        client.portal.call(semantic.idle)
        if answers == expected:
            break
        expected = answers
    else:
        raise AssertionError("the suggestions never settled")
    assert expected["a papre lant"][0]["prompt"] == "a paper lantern above a stormy ocean"
    assert expected["a papre lant"][0]["match"] == "typo"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: (texts[i % len(texts)], client.get(
            "/recommend", params={"q": texts[i % len(texts)]}).json()["suggestions"]), range(80)))
    assert all(found == expected[text] for text, found in results)


def _big_stream(count: int, seed: int) -> list[Entry]:
    """`count` prompts that make big classes: all start "a ", most hold "castle", and 300 distinct words start
    "star" (an unfinished "sta" is too broad to mark word by word); hits and ages vary."""
    rng = np.random.default_rng(seed)
    adjectives = ["red", "tall", "ruined", "floating", "gothic", "tiny", "golden", "misty"]
    places = ["on a hill", "by the sea", "in a forest", "under the stars", "in the clouds", "at dawn"]
    stars = [f"star{a}{b}" for a in "abcdefghijklmnopqrstuvwxyz" for b in "abcdefghijkl"][:300]
    found = []
    for i in range(count):
        thing = "castle" if rng.random() < 0.8 else "tower"
        text = (f"a {adjectives[i % len(adjectives)]} {thing} {places[(i // 8) % len(places)]} "
                f"{stars[int(rng.integers(len(stars)))]} number {i}")
        found.append(entry(text, hits=int(rng.integers(0, 50)) if rng.random() < 0.3 else 0,
                           age_s=float(rng.uniform(0, 30 * 86400))))
    return found


BIG_TYPED = ["a", "a ", "a red", "a red ", "a red cas", "a castle", "castle ", "castle on a h", "cas", "sta",
             "a castle sta", "castle starab", "number 1", "tower by the s", "a tiny tower in a for"]


def test_a_big_class_is_answered_as_if_it_were_built_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Big classes are pre-selected off the popularity order (`classes.py`): the answers must be those of building
    and ranking the class whole, before and after new prompts, new hits and a rebuilt order."""
    from dreamcache.suggest import classes

    entries = _big_stream(3000, seed=5)
    fast, whole = SuggestionIndex(clock=lambda: NOW), SuggestionIndex(clock=lambda: NOW)
    fast.load(entries)
    whole.load(entries)

    def answers(index: SuggestionIndex) -> dict[str, list[tuple[str, float, str]]]:
        return {text: [(s.prompt, s.score, s.match) for s in suggest(index, text, limit=10)] for text in BIG_TYPED}

    def compare() -> None:
        expected = {}
        with monkeypatch.context() as patched:
            patched.setattr(classes, "BIG_CLASS", 10**9)  # every class built whole
            expected = answers(whole)
        assert answers(fast) == expected
        assert all(expected[text] for text in BIG_TYPED)

    compare()
    assert len(fast._class_cache) > 0 and fast._order is not None  # the pre-selection was used
    # New prompts and hits: they are "changed" items, checked beside the (now stale) order ...
    extra = [entry(f"a red castle on a hill starabc popular {i}", hits=500 + i) for i in range(3)]
    for index in (fast, whole):
        for item in extra:
            index.add(item)
        index.record_hit(prompts.normalize("a tiny tower by the sea starbb number 17"), 900)
    assert fast._dirty
    compare()
    assert suggest(fast, "a red cas")[0].prompt.startswith("a red castle on a hill starabc popular")
    # ... until enough of them rebuild the order.
    more = _big_stream(600, seed=6)
    for index in (fast, whole):
        for item in more:
            index.add(item)
    assert len(fast._dirty) <= classes.ORDER_DIRTY_MAX
    compare()


def test_a_big_prefix_class_keeps_the_prompt_typed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    from dreamcache.suggest import classes

    monkeypatch.setattr(classes, "BIG_CLASS", 20)  # 31 prompts make a big class here
    index = built(entry("a castle on a hill at night", hits=3, age_s=86400),
                  *[entry(f"a castle on a hill at night number {i}", age_s=float(i)) for i in range(30)])
    found = suggest(index, "a castle on a hill at night ")
    assert found[0].prompt == "a castle on a hill at night" and found[0].match == "prefix"
    assert index._class_cache  # the big-class path answered
