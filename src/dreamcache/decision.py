"""The cache decision, from the index alone: a request's hits, or the neighbour a near-miss may resume from.

No store, worker or event loop here: the cache service (`cache.lookup`, `cache.misses`) runs this for
live requests, and `dreamcache replay` runs the very same code over a temporary index to tell an
operator what the cache would save on their traffic. The request and the keys it is looked up under
come from `resolution`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dreamcache import matching, prompts
from dreamcache.generation.checkpoint import SCHEDULER_CLASSES
from dreamcache.index import Index, Match
from dreamcache.resolution import CacheRequest, effective_scheduler, exact_key, request_seeds, resume_key
from dreamcache.settings import Settings

CANDIDATE_HEADROOM = 8  # retrieved beyond n: the verifier vetoes some
RETRIEVAL_FLOOR = 0.85  # retrieved below the threshold: the same text retyped hits whatever its cosine
REUSE_CANDIDATES = 4
REPEAT_CANDIDATES = 8  # entries of one text key checked for the same text (a join that is a word is not)


@dataclass(frozen=True)
class ReuseOption:
    """A neighbour with checkpoints a near-miss may start from, and the step it would start at."""

    match: Match
    step: int
    edit: str = matching.EDIT_NONE  # what separates the request from the neighbour (`matching.edit_class`)


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
            prompts.text_key(request.prompt), vector, compat_key=compat, limit=request.n, unseen_by=request.viewer
        )
        if len(same_text) >= request.n:
            matches, kinds = self._accepted(request, same_text)
            if len(matches) == request.n:
                return (matches, kinds), same_text
        return None, same_text

    def _accepted(self, request: CacheRequest, candidates: list[Match]) -> tuple[list[Match], list[str]]:
        matches: list[Match] = []
        kinds: list[str] = []
        reported_as = prompts.report_keys(request.prompt)
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
        """Reuse is for seedless `auto` requests that allow it, on a scheduler whose state can be saved and restored
        exactly (DPM-Solver++, DDIM: `SCHEDULER_CLASSES`); a request's own sampler counts, not the configured one."""
        return (
            self.settings.reuse
            and request.reuse
            and request.seed is None
            and request.mode == "auto"
            and bool(self.settings.reuse_schedule)
            and effective_scheduler(request.shape, self.settings) in SCHEDULER_CLASSES
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
        if not self.reuse_allowed(request) or not prompts.canonical(request.prompt):
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
            if not prompts.canonical(m.entry.prompt):
                continue
            edit = matching.edit_class(request.prompt, m.entry.prompt)
            fraction = min(self.skippable_fraction(m.score), reuse_depth_limit(edit, self.settings))
            limit = fraction * steps + 1e-9
            usable = [step for step in m.entry.checkpoints if 0 < step <= limit]
            if usable:
                options.append(ReuseOption(m, max(usable), edit))
        return options

    def is_repeat(self, request: CacheRequest, compat: str, candidates: list[Match]) -> bool:
        """Whether the request's prompt (the same text, as `matching.same_tags` says) is stored already."""
        if any(matching.same_tags(request.prompt, m.entry.prompt) for m in candidates):
            return True
        key = prompts.text_key(request.prompt)
        if not key:
            return False
        # The text key also groups joins that are words of their own ("a greenhouse" / "a green house"): not repeats.
        return any(matching.same_tags(request.prompt, e.prompt)
                   for e in self.index.find_text(key, compat_key=compat, limit=REPEAT_CANDIDATES))


# --- reuse depth by kind of edit ------------------------------------------------------------------


def reuse_depth_limit(edit_class: str, settings: Settings) -> float:
    """The largest share of steps a near-miss may skip when `edit_class` (`matching.edit_class`) separates it from
    its neighbour, on top of what the similarity schedule allows.

    The first denoising steps fix the layout: prompt-to-prompt (Hertz et al., ICLR 2023) keeps a picture's
    composition by reusing only the early cross-attention maps, and SDEdit (Meng et al., ICLR 2022) shows that
    what survives a high noise level is the coarse layout, colours only at lower noise. A resumed generation
    inherits the neighbour's state at that step, so an edit that changes the layout (another count, swapped
    roles or attributes, another subject: `LAYOUT_EDITS`) would follow the old prompt's layout: it may skip at
    most `reuse_layout_edit_max_skip` (default 0: from noise). A colour edit keeps the layout and may start from
    an early checkpoint (`reuse_colour_edit_max_skip`, default the shallowest), and so may an edit of describing
    words only (`reuse_attribute_edit_max_skip`: "a cat" / "a fluffy cat"). Style, medium, artist, quality
    and camera edits, the kind NIRVANA (Agarwal et al., NSDI '24) reports resuming deepest, are limited by the
    similarity schedule alone.
    """
    if edit_class in matching.LAYOUT_EDITS:
        return settings.reuse_layout_edit_max_skip
    if edit_class == matching.EDIT_COLOUR:
        return settings.reuse_colour_edit_max_skip
    if edit_class == matching.EDIT_ATTRIBUTE:
        return settings.reuse_attribute_edit_max_skip
    return 1.0
