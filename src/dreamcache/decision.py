"""The cache decision, from the index alone: a request's hits, or the neighbour a near-miss may resume from.

No store, worker or event loop here: `CacheService` runs this for live requests, and
`dreamcache replay` runs the very same code over a temporary index to tell an operator what the
cache would save on their traffic. Also the keys that decide which entries may answer which
requests (`compat_key`, `exact_key`, `resume_key`, `flight_key`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from dreamcache import matching, prompts
from dreamcache.generation.checkpoint import SCHEDULER_CLASSES
from dreamcache.generation.spec import BatchShape
from dreamcache.index import Index, Match
from dreamcache.settings import Settings

CANDIDATE_HEADROOM = 8  # retrieved beyond n: the verifier vetoes some
RETRIEVAL_FLOOR = 0.85  # retrieved below the threshold: the same text retyped hits whatever its cosine
REUSE_CANDIDATES = 4
REPEAT_CANDIDATES = 8  # entries of one text key checked for the same text (a join that is a word is not)


@dataclass(frozen=True)
class CacheRequest:
    """A validated request with every default filled in."""

    prompt: str
    negative_prompt: str
    shape: BatchShape
    seed: int | None  # with n > 1, the pictures' seeds are seed, seed + 1, ... (as AUTOMATIC1111's batches)
    n: int  # pictures wanted: cached ones first, the rest generated
    mode: str  # auto | refresh | only
    min_similarity: float
    namespace: str = ""  # "" = the shared pool
    viewer: str | None = None  # hash of the client identity: seedless requests get pictures it has not seen
    reuse: bool = True  # the request allows starting from a similar entry's checkpoint
    client: str = ""  # who asks (API key id, or address when open): rate limits and the GPU queue's fair share
    warm_up: bool = False  # filling the cache (`dreamcache warm`, the demo): not user traffic in the hit ratio


@dataclass(frozen=True)
class ReuseOption:
    """A neighbour with checkpoints a near-miss may start from, and the step it would start at."""

    match: Match
    step: int


def _digest(*parts: object) -> str:
    return hashlib.sha256("\x1f".join(str(part) for part in parts).encode()).hexdigest()[:32]


def compat_key(fingerprint: str, shape: BatchShape, negative_prompt: str, namespace: str = "") -> str:
    """Entries with equal compat keys may answer each other's requests (model, size, negative prompt, namespace).

    A private namespace is part of the key, so its entries never match another namespace's requests;
    the shared pool ("") keeps the key it always had.
    """
    parts: tuple[object, ...] = ("compat", fingerprint, shape.width, shape.height, prompts.clean(negative_prompt))
    return _digest(*parts, "ns", namespace) if namespace else _digest(*parts)


def exact_key(compat: str, prompt: str, shape: BatchShape, seed: int) -> str:
    """Identifies one exact picture: prompt, every setting and the seed."""
    return _digest("exact", compat, prompts.clean(prompt), shape.steps, float(shape.guidance_scale), seed)


def reused_exact_key(compat: str, prompt: str, shape: BatchShape, source_id: str) -> str:
    """A reused picture's exact key: not that of any seed, so no seeded request is ever answered with it."""
    return _digest("reused", compat, prompts.clean(prompt), shape.steps, float(shape.guidance_scale), source_id)


def resume_key(compat: str, shape: BatchShape) -> str:
    """Entries with equal resume keys can continue each other's denoising: compat key, steps and guidance."""
    return _digest("resume", compat, shape.steps, float(shape.guidance_scale))


def flight_key(
    compat: str, prompt: str, shape: BatchShape, seed: int | None, count: int = 1, cached: tuple[str, ...] = ()
) -> str:
    """Concurrent misses with equal flight keys share one generation: `count` pictures to generate, after the
    `cached` ones (entry ids) the answer holds already."""
    parts = (compat, prompts.clean(prompt), shape.steps, float(shape.guidance_scale), seed)
    if count == 1 and not cached:
        return _digest("flight", *parts)
    return _digest("flight", *parts, count, *cached)


def request_seeds(request: CacheRequest) -> list[int]:
    """The seeds an explicitly seeded request names: `seed` .. `seed + n - 1`."""
    assert request.seed is not None
    return [request.seed + i for i in range(request.n)]


def viewer_hash(client: str) -> str:
    """What is stored of a client identity: a salted hash, never the raw value."""
    return hashlib.sha256(f"dreamcache-client\x1f{client}".encode()).hexdigest()[:32]


def embedding_text(prompt: str) -> str:
    """What gets embedded: the normalised prompt (or the cleaned one if nothing is left of it)."""
    return prompts.normalize(prompt) or prompts.clean(prompt)


class Decider:
    """Hits and reuse options for requests, read from one index with the service's settings."""

    def __init__(self, settings: Settings, index: Index) -> None:
        self.settings = settings
        self.index = index

    def lookup(
        self, request: CacheRequest, compat: str, vector: np.ndarray, same_text: list[Match] | None = None
    ) -> tuple[list[Match], list[str]]:
        """The accepted matches, best first, and how each was accepted (`exact` or `verified`).

        `same_text`: what `quick_lookup` found already, when it did not settle the request.
        """
        if request.seed is not None:
            found = []
            for seed in request_seeds(request):
                found += self.index.find_exact(exact_key(compat, request.prompt, request.shape, seed), limit=1)
            return [Match(entry, 1.0) for entry in found], ["exact"] * len(found)
        if same_text is None:
            settled, same_text = self.quick_lookup(request, compat, vector)
            if settled is not None:
                return settled
        # Retrieve more, and lower, than the threshold: the text checks accept some candidates below it
        # (reordered tags) and veto some above it (swapped words).
        candidates = self.index.search(
            vector.tolist(), compat_key=compat, limit=request.n + CANDIDATE_HEADROOM,
            min_score=min(request.min_similarity, RETRIEVAL_FLOOR), unseen_by=request.viewer,
        )
        matches, kinds = self._accepted(request, candidates)
        if len(matches) < request.n:
            seen = {m.entry.id for m in candidates}
            extra = [m for m in same_text if m.entry.id not in seen]
            more, more_kinds = self._accepted(request, extra)
            room = request.n - len(matches)
            matches, kinds = matches + more[:room], kinds + more_kinds[:room]
        return matches, kinds

    def quick_lookup(
        self, request: CacheRequest, compat: str, vector: np.ndarray
    ) -> tuple[tuple[list[Match], list[str]] | None, list[Match]]:
        """The answer when the same text is stored n times (else None), and the same-text entries found.

        The same text retyped (case, punctuation, spacing, tag order) is a hit whatever its cosine ("a dog" /
        "Dog" can score below the retrieval floor): found by its text key with the stored vectors, a keyword
        lookup ~50x cheaper than the vector search, which the most common repeat (a prompt asked again) skips.
        Cheap enough for the event loop; a seeded request is `lookup`'s (exact keys).
        """
        if request.seed is not None:
            return None, []
        same_text = self.index.find_text_near(
            matching.text_key(request.prompt), vector, compat_key=compat, limit=request.n, unseen_by=request.viewer
        )
        if len(same_text) >= request.n:
            matches, kinds = self._accepted(request, same_text)
            if len(matches) == request.n:
                return (matches, kinds), same_text
        return None, same_text

    def _accepted(self, request: CacheRequest, candidates: list[Match]) -> tuple[list[Match], list[str]]:
        matches: list[Match] = []
        kinds: list[str] = []
        reported_as = matching.report_keys(request.prompt)
        for m in candidates:
            if m.entry.reported and any(key in m.entry.reported for key in reported_as):
                continue  # a user said this picture is wrong for this prompt
            hit, reason = matching.decide(request.prompt, m.entry.prompt, m.score, request.min_similarity)
            if hit:
                matches.append(m)
                kinds.append("exact" if reason == matching.SAME_TEXT else "verified")
                if len(matches) == request.n:
                    break
        return matches, kinds

    # -- near-miss reuse --

    def reuse_allowed(self, request: CacheRequest) -> bool:
        """Reuse is for seedless `auto` requests that allow it, on a scheduler whose state can be saved."""
        return (
            self.settings.reuse
            and request.reuse
            and request.seed is None
            and request.mode == "auto"
            and bool(self.settings.reuse_schedule)
            and self.settings.scheduler in SCHEDULER_CLASSES
        )

    def skippable_fraction(self, similarity: float) -> float:
        """The largest share of steps the schedule lets a neighbour at this similarity skip (0: none)."""
        return max((fraction for floor, fraction in self.settings.reuse_schedule if similarity >= floor), default=0.0)

    def reuse_options(self, request: CacheRequest, compat: str, vector: np.ndarray) -> list[ReuseOption]:
        """Neighbours with checkpoints a near-miss may start from, best first; [] when it must start from noise.

        Call for a request that is not a hit. Never for a prompt that is stored already (a person asking
        again wants a new sample, not a near-copy); the step is the neighbour's largest checkpoint within
        the fraction the schedule allows for its similarity.
        """
        # A prompt that normalises to nothing (emoji, symbols) has no meaningful neighbours.
        if not self.reuse_allowed(request) or not matching.canonical(request.prompt):
            return []
        candidates = self.index.reusable(
            vector.tolist(), resume_key=resume_key(compat, request.shape), limit=REUSE_CANDIDATES,
            min_score=self.settings.reuse_schedule[0][0],
        )
        if not candidates or self.is_repeat(request, compat, candidates):
            return []
        steps = request.shape.steps
        options = []
        for m in candidates:
            if not matching.canonical(m.entry.prompt):
                continue
            limit = self.skippable_fraction(m.score) * steps + 1e-9
            usable = [step for step in m.entry.checkpoints if 0 < step <= limit]
            if usable:
                options.append(ReuseOption(m, max(usable)))
        return options

    def is_repeat(self, request: CacheRequest, compat: str, candidates: list[Match]) -> bool:
        """Whether the request's prompt (the same text, as `matching.same_tags` says) is stored already."""
        if any(matching.same_tags(request.prompt, m.entry.prompt) for m in candidates):
            return True
        key = matching.text_key(request.prompt)
        if not key:
            return False
        # The text key also groups joins that are words of their own ("a greenhouse" / "a green house"): not repeats.
        return any(matching.same_tags(request.prompt, e.prompt)
                   for e in self.index.find_text(key, compat_key=compat, limit=REPEAT_CANDIDATES))
