"""One mode's replay step: a request through the service's decision path over the mode's scratch index."""

from __future__ import annotations

import uuid
from array import array

import numpy as np

from dreamcache.decision import Decider
from dreamcache.generation.spec import BatchShape, capture_steps, pipeline_fingerprint
from dreamcache.index import Index
from dreamcache.replay.report import ModeReport, Outcome
from dreamcache.replay.stream import StreamItem
from dreamcache.resolution import CacheRequest, InvalidField, RequestKeys, build_entry, resolve_shape, viewer_hash
from dreamcache.settings import Settings


def _shape(item: StreamItem, settings: Settings) -> BatchShape | None:
    """The request's settings with the service's defaults, or None when the service would refuse them."""
    try:
        return resolve_shape(item.width or None, item.height or None, item.steps or None, item.guidance, settings)
    except InvalidField:
        return None


class ModeReplay:
    """One mode's replay state: its index, the owners of its entries, its report."""

    def __init__(self, settings: Settings, index: Index, *, identities: bool, device: str,
                 record: bool = False) -> None:
        self.settings, self.index, self.identities, self.device = settings, index, identities, device
        self.decider = Decider(settings, index)
        self.fingerprint = pipeline_fingerprint(settings, device)
        self.report = ModeReport()
        self.users: dict[str, int] = {}
        self.owners = array("i")  # entry number -> its user (-1: none); entry ids are UUIDs of their number
        self.outcomes: list[Outcome] | None = [] if record else None

    def step(self, item: StreamItem, vector: np.ndarray) -> None:
        shape = _shape(item, self.settings)
        if shape is None:
            self.report.refused += 1
            self._record(Outcome("refused"))
            return
        report = self.report
        viewer = viewer_hash(item.user) if self.identities and item.user is not None else None
        request = CacheRequest(
            prompt=item.prompt, negative_prompt="", shape=shape, seed=item.seed, n=1, mode="auto",
            min_similarity=self.settings.similarity_threshold, viewer=viewer if item.seed is None else None,
        )
        keys = RequestKeys.of(request, self.fingerprint)
        compat = keys.compat
        report.prompts += 1
        report.steps_total += shape.steps
        user = self.users.setdefault(item.user, len(self.users)) if item.user is not None else -1
        matches, kinds = self.decider.lookup(request, compat, vector)
        if matches:
            entry = matches[0].entry
            if kinds[0] == "exact":
                report.hits_exact += 1
            else:
                report.hits_verified += 1
            owner = self.owners[uuid.UUID(entry.id).int]
            if user != -1 and owner == user:
                report.hits_same_user += 1
            elif user != -1 and owner != -1:
                report.hits_cross_user += 1
            report.steps_saved += shape.steps
            if request.viewer is not None:
                self.index.mark_shown(entry.id, request.viewer)
            self._record(Outcome(f"hit-{kinds[0]}", entry.prompt))
            return
        options = self.decider.reuse_options(request, compat, vector)
        reused = options[0] if options else None
        if reused is not None:
            report.count_reuse(reused.edit, reused.step, shape.steps)
            self._record(Outcome("reuse", reused.match.entry.prompt, reused.step, reused.edit))
        else:
            self._record(Outcome("generate"))
        entry_id = str(uuid.UUID(int=len(self.owners)))
        seed = item.seed if item.seed is not None else 0
        checkpoints = tuple(step for step in capture_steps(self.settings, self.device, shape.steps)
                            if reused is None or step > reused.step)
        entry = build_entry(
            keys, entry_id=entry_id, prompt=item.prompt, negative_prompt="", seed=seed, model=self.settings.model,
            fingerprint=self.fingerprint,
            exact=keys.exact(seed) if reused is None else keys.reused_exact(reused.match.entry.id),
            checkpoints=checkpoints, reused_from=reused.match.entry.id if reused is not None else "",
            skipped_steps=reused.step if reused is not None else 0,
        )
        self.index.upsert(entry, vector)
        self.owners.append(user)
        if request.viewer is not None:
            self.index.mark_shown(entry_id, request.viewer)

    def _record(self, outcome: Outcome) -> None:
        if self.outcomes is not None:
            self.outcomes.append(outcome)


def capped_settings(settings: Settings, max_reuse: float | None) -> Settings:
    """The settings with every reuse limited to `max_reuse` of the steps (0: no reuse at all)."""
    if max_reuse is None:
        return settings
    if not 0.0 <= max_reuse < 1.0:
        raise ValueError(f"max_reuse must be in [0, 1), got {max_reuse}")
    if max_reuse == 0.0:
        return settings.model_copy(update={"reuse": False})
    schedule = [(similarity, min(fraction, max_reuse)) for similarity, fraction in settings.reuse_schedule]
    return settings.model_copy(update={"reuse_schedule": schedule})

