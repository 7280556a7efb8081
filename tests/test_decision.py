"""The cache decision from the index alone (`decision.py`): keys, hits, the headroom and floor of retrieval,
and which neighbour a near-miss may resume from. No server, no store, no worker: a qdrant-client index in
memory and unit vectors at chosen cosines, so every rule runs in milliseconds (`make mutate` runs this file
alone against decision.py)."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import replace

import numpy as np
import pytest
from qdrant_client import QdrantClient

from dreamcache import matching, prompts
from dreamcache.decision import CANDIDATE_HEADROOM, Decider, reuse_depth_limit
from dreamcache.generation.spec import BatchShape
from dreamcache.index import Entry, Index, Match, QdrantServerIndex
from dreamcache.prompts import embedding_text, normalize
from dreamcache.resolution import (
    CacheRequest,
    InvalidField,
    compat_key,
    exact_key,
    flight_key,
    request_seeds,
    resolve_request,
    resume_key,
    reused_exact_key,
    viewer_hash,
)
from dreamcache.settings import Settings

DIM = 8
SHAPE = BatchShape(width=512, height=512, steps=25, guidance_scale=7.5)
COMPAT = compat_key("fp-1", SHAPE, "blurry")


def digest(*parts: object) -> str:
    """The key formula as stored in existing indexes: changing it would silently orphan every stored entry."""
    return hashlib.sha256("\x1f".join(str(p) for p in parts).encode()).hexdigest()[:32]


def unit_at(cosine: float, query: np.ndarray, seed: int) -> np.ndarray:
    """A unit vector at exactly `cosine` to the unit `query`."""
    other = np.random.default_rng(seed).normal(size=DIM)
    other -= (other @ query) * query
    other /= np.linalg.norm(other)
    return (cosine * query + np.sqrt(max(0.0, 1.0 - cosine**2)) * other).astype(np.float32)


QUERY = np.eye(DIM, dtype=np.float32)[0]


def request(prompt: str, **overrides: object) -> CacheRequest:
    values: dict[str, object] = {
        "prompt": prompt, "negative_prompt": "blurry", "shape": SHAPE, "seed": None, "n": 1, "mode": "auto",
        "min_similarity": 0.95,
    }
    values.update(overrides)
    return CacheRequest(**values)  # type: ignore[arg-type]


@pytest.fixture
def index() -> Iterator[Index]:
    idx = QdrantServerIndex(QdrantClient(location=":memory:"), "entries", DIM)
    yield idx
    idx.close()


@pytest.fixture
def decider(index: Index) -> Decider:
    return Decider(Settings(), index)


@pytest.fixture
def any_edit(index: Index) -> Decider:
    """A decider whose reuse depth does not depend on the kind of edit (tests/test_reuse_depth.py has that rule):
    for the rules below it, a subject edit ("snow" -> "rain") may resume as deep as the schedule allows."""
    return Decider(Settings(reuse_layout_edit_max_skip=0.99, reuse_colour_edit_max_skip=0.99), index)


def store(index: Index, prompt: str, cosine: float, *, seed: int = 1, **overrides: object) -> Entry:
    """Store an entry for `prompt` whose vector is at `cosine` to QUERY."""
    entry_id = str(uuid.uuid4())
    values: dict[str, object] = {
        "id": entry_id, "prompt": prompt, "negative_prompt": "blurry", "width": 512, "height": 512, "steps": 25,
        "guidance_scale": 7.5, "seed": seed, "model": "m", "fingerprint": "fp-1", "image_key": f"{entry_id}.png",
        "created_at": 1_760_000_000.0, "compat_key": COMPAT, "exact_key": exact_key(COMPAT, prompt, SHAPE, seed),
        "prompt_norm": normalize(prompt), "text_key": prompts.text_key(prompt),
    }
    values.update(overrides)
    entry = Entry(**values)  # type: ignore[arg-type]
    index.upsert(entry, unit_at(cosine, QUERY, seed=len(entry_id) + int(cosine * 1000) + seed))
    return entry


# -- keys --


def test_keys_keep_their_stored_formula() -> None:
    assert compat_key("fp-1", SHAPE, "  blurry   hands ") == digest("compat", "fp-1", 512, 512, "blurry hands")
    assert compat_key("fp-1", SHAPE, "blurry", "team-a") == digest("compat", "fp-1", 512, 512, "blurry", "ns", "team-a")
    assert exact_key("c", " a  cat ", SHAPE, 7) == digest("exact", "c", "a cat", 25, 7.5, 7)
    assert reused_exact_key("c", "a cat", SHAPE, "src") == digest("reused", "c", "a cat", 25, 7.5, "src")
    assert resume_key("c", SHAPE) == digest("resume", "c", 25, 7.5)
    assert flight_key("c", "a cat", SHAPE, None) == digest("flight", "c", "a cat", 25, 7.5, None)
    assert flight_key("c", "a cat", SHAPE, 3, 2, ("e1",)) == digest("flight", "c", "a cat", 25, 7.5, 3, 2, "e1")
    assert flight_key("c", "a cat", SHAPE, 3, 2) == digest("flight", "c", "a cat", 25, 7.5, 3, 2)
    assert flight_key("c", "a cat", SHAPE, 3, 1, ("e1",)) == digest("flight", "c", "a cat", 25, 7.5, 3, 1, "e1")
    assert viewer_hash("1.2.3.4") == hashlib.sha256(b"dreamcache-client\x1f1.2.3.4").hexdigest()[:32]


def test_every_setting_of_a_compat_key_separates_entries() -> None:
    keys = {
        compat_key("fp-1", SHAPE, "blurry"),
        compat_key("fp-2", SHAPE, "blurry"),
        compat_key("fp-1", replace(SHAPE, width=640), "blurry"),
        compat_key("fp-1", replace(SHAPE, height=640), "blurry"),
        compat_key("fp-1", SHAPE, "Blurry"),
        compat_key("fp-1", SHAPE, "blurry", "team-a"),
        compat_key("fp-1", SHAPE, "blurry", "team-b"),
    }
    assert len(keys) == 7
    assert compat_key("fp-1", replace(SHAPE, steps=50, guidance_scale=3.0), " blurry ") == COMPAT


def test_a_requested_sampler_is_part_of_the_key_and_the_configured_one_keeps_the_stored_key() -> None:
    settings = Settings()  # configured: dpm-solver++
    same = resolve_request(settings, prompt="a cat", width=512, height=512, scheduler="dpm-solver++")
    assert same.shape.scheduler == "" and compat_key("fp-1", same.shape, "") == digest("compat", "fp-1", 512, 512, "")
    others = {name: resolve_request(settings, prompt="a cat", width=512, height=512, scheduler=name).shape
              for name in ("euler-ancestral", "euler", "ddim", "unipc")}
    assert compat_key("fp-1", others["euler"], "") == digest("compat", "fp-1", 512, 512, "", "sampler", "euler")
    assert len({compat_key("fp-1", shape, "") for shape in [same.shape, *others.values()]}) == 5
    with pytest.raises(InvalidField) as unknown:
        resolve_request(settings, prompt="a cat", scheduler="lms")
    assert unknown.value.field == "scheduler"
    assert "dpm-solver++, euler-ancestral, euler, ddim, unipc" in unknown.value.message


def test_request_seeds_and_embedding_text() -> None:
    assert request_seeds(request("x", seed=5, n=3)) == [5, 6, 7]
    assert request_seeds(request("x", seed=0, n=1)) == [0]
    assert embedding_text("A  Cat, in SPACE!") == "a cat in space"
    assert embedding_text("  🔥  🔥 ") == "🔥 🔥"  # nothing left after normalising: the cleaned text


# -- hits --


def test_a_seeded_request_hits_only_its_exact_pictures(index: Index, decider: Decider) -> None:
    wanted = [store(index, "a red fox", 0.99, seed=s) for s in (5, 6)]
    store(index, "a red fox", 0.999, seed=9)
    store(index, "a red fox!", 0.999, seed=7)  # not the exact prompt
    matches, kinds = decider.lookup(request("a red fox", seed=5, n=3), COMPAT, QUERY)
    assert [m.entry.id for m in matches] == [e.id for e in wanted] and kinds == ["exact", "exact"]
    assert all(m.score == 1.0 for m in matches)
    settled, same_text = decider.quick_lookup(request("a red fox", seed=5), COMPAT, QUERY)
    assert settled is None and same_text == []


def test_verified_hits_need_the_threshold_which_is_inclusive(index: Index, decider: Decider) -> None:
    store(index, "a red fox sleeping in fresh snow", 0.95)
    matches, kinds = decider.lookup(request("a red fox sleeps in fresh snow"), COMPAT, QUERY)
    assert len(matches) == 1 and kinds == ["verified"] and matches[0].score == pytest.approx(0.95, abs=1e-5)
    assert decider.lookup(request("a red fox sleeps in fresh snow", min_similarity=0.96), COMPAT, QUERY) == ([], [])


def test_a_vetoed_candidate_is_no_hit_whatever_its_cosine(index: Index, decider: Decider) -> None:
    store(index, "a cat chasing a dog", 0.999)
    assert decider.lookup(request("a dog chasing a cat"), COMPAT, QUERY) == ([], [])


def test_other_compat_keys_never_answer(index: Index, decider: Decider) -> None:
    store(index, "a red fox", 0.999, compat_key=compat_key("fp-1", SHAPE, "blurry", "team-a"))
    assert decider.lookup(request("a red fox"), COMPAT, QUERY) == ([], [])


def test_the_same_text_hits_from_the_text_key_whatever_its_cosine(index: Index, decider: Decider) -> None:
    entry = store(index, "Castle, oil painting", 0.2)
    settled, same_text = decider.quick_lookup(request("oil painting; the castle"), COMPAT, QUERY)
    assert settled is not None and [m.entry.id for m in settled[0]] == [entry.id] and settled[1] == ["exact"]
    assert [m.entry.id for m in same_text] == [entry.id]
    matches, kinds = decider.lookup(request("oil painting; the castle"), COMPAT, QUERY)
    assert [m.entry.id for m in matches] == [entry.id] and kinds == ["exact"]


def test_quick_lookup_settles_only_with_n_same_text_entries(index: Index, decider: Decider) -> None:
    first = store(index, "a red fox", 0.5, seed=1)
    settled, same_text = decider.quick_lookup(request("A red fox", n=2), COMPAT, QUERY)
    assert settled is None and [m.entry.id for m in same_text] == [first.id]
    # lookup completes the answer from what quick_lookup found, after the vector search found nothing above floor
    matches, kinds = decider.lookup(request("A red fox", n=2), COMPAT, QUERY, same_text=same_text)
    assert [m.entry.id for m in matches] == [first.id] and kinds == ["exact"]
    second = store(index, "a red fox", 0.4, seed=2)
    settled, _ = decider.quick_lookup(request("A red fox", n=2), COMPAT, QUERY)
    assert settled is not None and {m.entry.id for m in settled[0]} == {first.id, second.id}
    assert settled[1] == ["exact", "exact"]
    # a same-text entry vetoed for a report does not settle it
    reported = replace(second, reported=prompts.report_keys("a red fox"))
    index.upsert(reported, unit_at(0.4, QUERY, seed=3))
    settled, _ = decider.quick_lookup(request("A red fox", n=2), COMPAT, QUERY)
    assert settled is None


def test_retrieval_reaches_below_the_threshold_for_text_retyped_without_punctuation(
    index: Index, decider: Decider
) -> None:
    # Same text once every punctuation mark is deleted (`same_tags`), but another text key: only the vector
    # search finds it, so retrieval must reach below the request's threshold (down to the retrieval floor).
    entry = store(index, "oil paintingcastle", 0.86)
    matches, kinds = decider.lookup(request("oil painting,castle", min_similarity=0.95), COMPAT, QUERY)
    assert [m.entry.id for m in matches] == [entry.id] and kinds == ["exact"]
    index.delete(entry.id)
    store(index, "oil paintingcastle", 0.84)  # below the floor: not retrieved
    assert decider.lookup(request("oil painting,castle", min_similarity=0.95), COMPAT, QUERY) == ([], [])


def test_a_low_min_similarity_retrieves_below_the_floor(index: Index, decider: Decider) -> None:
    entry = store(index, "a red fox sleeping", 0.80)
    matches, _ = decider.lookup(request("a red fox sleeps", min_similarity=0.80), COMPAT, QUERY)
    assert [m.entry.id for m in matches] == [entry.id]


def test_retrieval_has_headroom_for_vetoed_candidates(index: Index, decider: Decider) -> None:
    for i in range(CANDIDATE_HEADROOM):  # closer than the good one, all vetoed
        store(index, f"a cat chasing a dog number {i}", 0.999 - i * 0.001, seed=10 + i)
    good = store(index, "a dog chasing a cat", 0.96)
    matches, kinds = decider.lookup(request("a dog chasing a cat"), COMPAT, QUERY)
    assert [m.entry.id for m in matches] == [good.id] and kinds == ["exact"]
    assert CANDIDATE_HEADROOM == 8


def test_n_hits_best_first_and_no_more(index: Index, decider: Decider) -> None:
    entries = [store(index, "a red fox sleeping", c, seed=i) for i, c in enumerate([0.97, 0.99, 0.98])]
    matches, kinds = decider.lookup(request("a red fox sleeps", n=2), COMPAT, QUERY)
    assert [m.entry.id for m in matches] == [entries[1].id, entries[2].id] and kinds == ["verified"] * 2


def test_a_reported_picture_is_never_served_for_that_prompt(index: Index, decider: Decider) -> None:
    store(index, "a red fox sleeping", 0.99, reported=(prompts.report_keys("a red fox sleeps")[0],))
    assert decider.lookup(request("a red fox sleeps"), COMPAT, QUERY) == ([], [])
    flat_only = store(index, "a red fox sleeping", 0.98, reported=(prompts.report_keys("a red fox sleeps")[1],),
                      seed=2)
    assert decider.lookup(request("a red fox sleeps"), COMPAT, QUERY) == ([], [])
    index.delete(flat_only.id)
    other = store(index, "a red fox sleeping", 0.97, reported=(prompts.report_keys("a grey wolf")[0],), seed=3)
    assert [m.entry.id for m in decider.lookup(request("a red fox sleeps"), COMPAT, QUERY)[0]] == [other.id]


def test_a_viewer_gets_pictures_it_has_not_seen(index: Index, decider: Decider) -> None:
    seen = store(index, "a red fox sleeping", 0.99)
    unseen = store(index, "a red fox sleeping", 0.97, seed=2)
    index.mark_shown(seen.id, "viewer-1")
    matches, _ = decider.lookup(request("a red fox sleeps", viewer="viewer-1"), COMPAT, QUERY)
    assert [m.entry.id for m in matches] == [unseen.id]
    same = store(index, "A red fox!", 0.5, seed=3)
    index.mark_shown(same.id, "viewer-1")
    settled, same_text = decider.quick_lookup(request("a red fox", viewer="viewer-1"), COMPAT, QUERY)
    assert settled is None and same_text == []


# -- near-miss reuse --


def test_reuse_is_allowed_only_for_seedless_auto_requests_on_a_resumable_scheduler(index: Index) -> None:
    decider = Decider(Settings(), index)
    assert decider.reuse_allowed(request("x"))
    assert not decider.reuse_allowed(request("x", reuse=False))
    assert not decider.reuse_allowed(request("x", seed=1))
    assert not decider.reuse_allowed(request("x", mode="refresh"))
    assert not decider.reuse_allowed(request("x", mode="only"))
    assert not Decider(Settings(reuse=False), index).reuse_allowed(request("x"))
    assert not Decider(Settings(reuse_schedule=[]), index).reuse_allowed(request("x"))
    assert not Decider(Settings(scheduler="default"), index).reuse_allowed(request("x"))
    assert Decider(Settings(scheduler="ddim"), index).reuse_allowed(request("x"))
    # A request's own sampler decides: reuse only where resuming is exact (DPM-Solver++, DDIM).
    for sampler, allowed in [("ddim", True), ("euler", False), ("euler-ancestral", False), ("unipc", False)]:
        assert decider.reuse_allowed(request("x", shape=replace(SHAPE, scheduler=sampler))) is allowed
    assert Decider(Settings(scheduler="default"), index).reuse_allowed(request("x", shape=replace(
        SHAPE, scheduler="dpm-solver++")))


def test_skippable_fraction_follows_the_schedule(decider: Decider) -> None:
    assert decider.settings.reuse_schedule == [(0.90, 0.2), (0.95, 0.4)]
    assert decider.skippable_fraction(0.8999) == 0.0
    assert decider.skippable_fraction(0.90) == 0.2
    assert decider.skippable_fraction(0.9499) == 0.2
    assert decider.skippable_fraction(0.95) == 0.4
    assert decider.skippable_fraction(1.0) == 0.4


def resumable(index: Index, prompt: str, cosine: float, checkpoints: tuple[int, ...], seed: int = 1) -> Entry:
    return store(index, prompt, cosine, seed=seed, checkpoints=checkpoints, resume_key=resume_key(COMPAT, SHAPE))


def test_reuse_starts_from_the_largest_checkpoint_the_similarity_allows(index: Index, any_edit: Decider) -> None:
    close = resumable(index, "a red fox in the snow at dawn", 0.96, (5, 10, 11))  # 0.4 * 25 = 10 steps
    near = resumable(index, "a red fox in the snow at noon", 0.92, (0, 5, 6), seed=2)  # 0.2 * 25 = 5
    resumable(index, "a red fox in the snow at dusk", 0.89, (5,), seed=3)  # below the schedule
    resumable(index, "a red fox in the snow by night", 0.93, (6, 10), seed=4)  # no checkpoint within 5
    options = any_edit.reuse_options(request("a red fox in the snow at night"), COMPAT, QUERY)
    assert [(o.match.entry.id, o.step) for o in options] == [(close.id, 10), (near.id, 5)]


def test_no_reuse_for_a_repeat_or_an_empty_prompt(index: Index, any_edit: Decider) -> None:
    resumable(index, "a red fox in the snow", 0.99, (5,))
    assert any_edit.reuse_options(request("A red fox in the snow!"), COMPAT, QUERY) == []  # asked again
    assert any_edit.reuse_options(request("a red fox in the snow", seed=3), COMPAT, QUERY) == []
    assert any_edit.reuse_options(request("🔥🔥"), COMPAT, QUERY) == []
    assert [o.step for o in any_edit.reuse_options(request("a red fox in the rain"), COMPAT, QUERY)] == [5]


def test_a_neighbour_that_normalises_to_nothing_is_never_a_source(index: Index, any_edit: Decider) -> None:
    resumable(index, "🔥🔥", 0.99, (5,))
    fox = resumable(index, "a red fox in the snow", 0.97, (5,), seed=2)
    options = any_edit.reuse_options(request("a red fox in the rain"), COMPAT, QUERY)
    assert [o.match.entry.id for o in options] == [fox.id]


def test_is_repeat_by_candidates_or_by_text_key(index: Index, decider: Decider) -> None:
    stored = store(index, "Castle, oil painting", 0.1)
    assert decider.is_repeat(request("oil painting, the castle"), COMPAT, [])  # found by its text key
    assert not decider.is_repeat(request("oil painting, the castle"), "another-compat", [])
    assert not decider.is_repeat(request("castle, watercolor"), COMPAT, [])
    assert not decider.is_repeat(request("🔥"), COMPAT, [])
    # same text without punctuation: another text key, but one of the candidates
    assert not decider.is_repeat(request("castleoil painting"), COMPAT, [])
    candidate = Match(replace(stored, prompt="castleoil painting"), 0.5)
    assert decider.is_repeat(request("castle,oil painting"), COMPAT, [candidate])


def test_one_picture_per_seed_even_when_stored_twice(index: Index, decider: Decider) -> None:
    store(index, "a red fox", 0.99, seed=5)
    store(index, "a red fox", 0.98, seed=5)  # the same exact picture generated again (a refresh)
    matches, kinds = decider.lookup(request("a red fox", seed=5), COMPAT, QUERY)
    assert len(matches) == 1 and kinds == ["exact"]


def test_same_text_entries_complete_the_answer_up_to_n(index: Index, decider: Decider) -> None:
    same_text = [Match(store(index, "a red fox", 0.3, seed=s), 0.3) for s in (1, 2, 3)]
    matches, kinds = decider.lookup(request("A red fox", n=2), COMPAT, QUERY, same_text=same_text)
    assert len(matches) == 2 and kinds == ["exact", "exact"]


def test_reuse_checkpoint_edges(index: Index, any_edit: Decider) -> None:
    resumable(index, "a red fox in the snow at dawn", 0.99, (0,))  # step 0 is noise: nothing to skip
    assert any_edit.reuse_options(request("a red fox in the snow at night"), COMPAT, QUERY) == []
    one = resumable(index, "a red fox in the snow at noon", 0.98, (1,), seed=2)
    assert [(o.match.entry.id, o.step) for o in any_edit.reuse_options(
        request("a red fox in the snow at night"), COMPAT, QUERY)] == [(one.id, 1)]


def test_a_same_text_entry_below_the_schedule_still_makes_a_repeat(index: Index, any_edit: Decider) -> None:
    # Reuse candidates start at the schedule's lowest similarity: a retyped entry far below it (another text key,
    # "oil paintingcastle") is not among them, so it does not make the request a repeat.
    resumable(index, "oil paintingcastle", 0.5, (5,))
    near = resumable(index, "oil painting, a castle at night", 0.93, (5,), seed=2)
    options = any_edit.reuse_options(request("oil painting,castle"), COMPAT, QUERY)
    assert [o.match.entry.id for o in options] == [near.id]


def test_same_text_entries_only_fill_the_room_left(index: Index, decider: Decider) -> None:
    verified = store(index, "a red fox sleeping", 0.97)
    same_text = [Match(store(index, "a red fox sleeps", 0.3, seed=s), 0.3) for s in (1, 2)]
    matches, kinds = decider.lookup(request("a red fox sleeps", n=2), COMPAT, QUERY, same_text=same_text)
    assert [m.entry.id for m in matches] == [verified.id, same_text[0].entry.id] and kinds == ["verified", "exact"]


def test_reuse_depth_limit_by_kind_of_edit() -> None:
    settings = Settings(reuse_layout_edit_max_skip=0.1, reuse_colour_edit_max_skip=0.3)
    for layout in (matching.EDIT_COUNT, matching.EDIT_ORDER, matching.EDIT_SUBJECT):
        assert reuse_depth_limit(layout, settings) == 0.1
    assert reuse_depth_limit(matching.EDIT_COLOUR, settings) == 0.3
    assert reuse_depth_limit(matching.EDIT_STYLE, settings) == 1.0
    assert reuse_depth_limit(matching.EDIT_NONE, settings) == 1.0


def test_the_kind_of_edit_caps_the_reuse_depth_and_is_reported(index: Index, decider: Decider) -> None:
    """Default settings: a layout edit starts from noise, a colour edit from the shallowest checkpoint (0.2 of the
    steps), a style edit as deep as the similarity allows (0.4 at cosine >= 0.95)."""
    source = resumable(index, "a red fox in the snow at dawn", 0.97, (5, 10))

    def options(prompt: str) -> list[tuple[str, int, str]]:
        return [(o.match.entry.id, o.step, o.edit) for o in decider.reuse_options(request(prompt), COMPAT, QUERY)]

    assert options("a blue fox in the snow at dawn") == [(source.id, 5, matching.EDIT_COLOUR)]
    assert options("a red fox in the snow at dawn, oil painting") == [(source.id, 10, matching.EDIT_STYLE)]
    assert options("a red wolf in the snow at dawn") == []
    assert options("two red foxes in the snow at dawn") == []
