"""Keeping the cache clean: deletes and purges for admins, "wrong picture" reports, retention, vanished images.

Every removal goes the same way: the vector first (nothing is served that is about to disappear),
then the autocomplete entry, then the image and its checkpoints from the store. A failure after
the vector is gone leaves orphan files, never a vector without its image.

Retention runs in the background (`sweep`, off the event loop): entries past the TTL go, then the
least recently hit (never hit: the oldest) until the entry and byte caps hold. The same sweep checks
a slice of the entries' images against the store and drops entries whose image vanished (a bucket
emptied outside the service), so a dead URL is not served for long. With Redis, replicas take turns
(`sweep_turn`: a lease), and the reports log is shared (`cluster.reports`); without it, `data/reports.jsonl`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from dreamcache import prompts
from dreamcache.cluster.connection import REDIS_ERRORS
from dreamcache.generation.checkpoint import checkpoint_key
from dreamcache.index import Entry, Index
from dreamcache.metrics import Metrics
from dreamcache.settings import Settings
from dreamcache.storage import ImageStore
from dreamcache.suggest import SuggestionIndex

if TYPE_CHECKING:
    from dreamcache.cluster.lease import Lease

log = logging.getLogger(__name__)

SCAN_LIMIT = 100_000  # most entries one admin listing or purge looks at
EXISTENCE_CHECKS_PER_SWEEP = 500


@dataclass(frozen=True)
class Report:
    """A user said this picture is wrong for this prompt."""

    entry_id: str
    prompt: str
    namespace: str
    reporter: str  # API key id, or "" when the service is open
    at: float


class ReportLog(Protocol):
    """Where reports are kept: `ReportFile` (one replica) or `cluster.reports.SharedReportLog` (Redis)."""

    async def append(self, report: Report) -> None: ...

    async def newest(self, namespaces: list[str] | None, limit: int) -> list[Report]:
        """The newest reports first (of the given namespaces; None: all)."""
        ...


class ReportFile:
    """Reports as JSON lines in one file (`data/reports.jsonl`), appended under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    async def append(self, report: Report) -> None:
        await asyncio.to_thread(self._append, report)

    async def newest(self, namespaces: list[str] | None, limit: int) -> list[Report]:
        return await asyncio.to_thread(self._newest, namespaces, limit)

    def _append(self, report: Report) -> None:
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps(asdict(report)) + "\n")

    def _newest(self, namespaces: list[str] | None, limit: int) -> list[Report]:
        try:
            lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        found = [Report(**json.loads(line)) for line in lines if line.strip()]
        found = [r for r in found if namespaces is None or r.namespace in namespaces]
        return found[::-1][:limit]


class Curator:
    """Deletes, reports and retention over one index and store, keeping autocomplete in step."""

    def __init__(self, settings: Settings, index: Index, store: ImageStore, metrics: Metrics,
                 suggestions: Any, report_log: ReportLog | None = None) -> None:
        self.settings = settings
        self.index = index
        self.store = store
        self.metrics = metrics
        self._suggestions = suggestions  # namespace -> SuggestionIndex (cache.autocomplete.Suggestions.of)
        self.report_log: ReportLog = report_log or ReportFile(settings.data_dir / "reports.jsonl")
        self._check_from = 0  # where the next sweep's existence checks start

    # -- finding --

    def entries(
        self, *, namespaces: list[str] | None, text: str = "", created_after: float | None = None,
        created_before: float | None = None, limit: int = 50, offset: int = 0,
    ) -> list[Entry]:
        """Entries newest first, in the given namespaces (None: all), whose prompt contains `text`."""
        wanted = prompts.normalize(text)
        found: list[Entry] = []
        pools = [{"namespace": ns} for ns in namespaces] if namespaces is not None else [{}]
        for pool in pools:
            found += self.index.find(SCAN_LIMIT, **pool)
        found.sort(key=lambda e: e.created_at, reverse=True)
        chosen = [
            e for e in found
            if (not wanted or wanted in e.prompt_norm)
            and (created_after is None or e.created_at >= created_after)
            and (created_before is None or e.created_at < created_before)
        ]
        return chosen[offset : offset + limit]

    # -- removing --

    def delete(self, entry: Entry) -> None:
        """Remove an entry everywhere: vector, autocomplete, image and checkpoints (idempotent)."""
        self.delete_many([entry])

    def image_vanished(self, key: str) -> None:
        """An image gone from the store outside the service: its entry stops answering hits at once."""
        entry = self.index.get(key.removesuffix(".png"))
        if entry is not None and entry.image_key == key:
            self.delete(entry)

    def delete_many(self, entries: list[Entry]) -> None:
        """Remove entries: their vectors in one write first, then autocomplete, images and checkpoints."""
        if not entries:
            return
        self.index.delete_many([e.id for e in entries])
        prompts_touched = {(e.namespace, e.prompt_norm): e for e in entries}
        for (namespace, prompt_norm), entry in prompts_touched.items():
            suggestions: SuggestionIndex = self._suggestions(namespace)
            suggestions.remove(entry, self.index.find(1000, prompt_norm=prompt_norm, namespace=namespace))
        for entry in entries:
            for key in [entry.image_key, *(checkpoint_key(entry.id, step) for step in entry.checkpoints)]:
                try:
                    self.store.delete(key)
                except Exception:
                    log.exception("deleting %s of entry %s failed: an orphan file is left", key, entry.id)

    def delete_prompt(self, prompt: str, namespace: str) -> int:
        """Every entry of a prompt (after normalisation) in a namespace; returns how many."""
        victims = self.index.find(SCAN_LIMIT, prompt_norm=prompts.normalize(prompt), namespace=namespace)
        self.delete_many(victims)
        return len(victims)

    def purge_fingerprint(self, fingerprint: str, namespaces: list[str] | None) -> int:
        """Every entry made by a model fingerprint (in the given namespaces; None: all); returns how many."""
        pools = [{"namespace": ns} for ns in namespaces] if namespaces is not None else [{}]
        victims = [e for pool in pools for e in self.index.find(SCAN_LIMIT, fingerprint=fingerprint, **pool)]
        self.delete_many(victims)
        return len(victims)

    # -- reports --

    async def report(self, entry: Entry, prompt: str, reporter: str) -> Report:
        """Never serve the entry for this prompt (and its retyped variants) again; keep the report (a failure to
        keep it raises after the entry is already excluded, so asking again is safe)."""
        await asyncio.to_thread(self._exclude, entry, prompt)
        report = Report(entry.id, prompts.clean(prompt), entry.namespace, reporter, time.time())
        await self.report_log.append(report)
        self.metrics.reports.inc()
        return report

    async def reports(self, namespaces: list[str] | None, limit: int = 100) -> list[Report]:
        """The newest reports (of the given namespaces; None: all)."""
        return await self.report_log.newest(namespaces, limit)

    def _exclude(self, entry: Entry, prompt: str) -> None:
        for key in prompts.report_keys(prompt):
            self.index.report(entry.id, key)

    # -- retention --

    def sweep(self, now: float | None = None) -> dict[str, int]:
        """One retention pass (TTL, entry and byte caps) plus a slice of existence checks; returns counts."""
        now = time.time() if now is None else now
        s = self.settings
        if not (s.retention_ttl_s or s.retention_max_entries is not None or s.retention_max_bytes is not None):
            # No retention: only the rolling existence checks, without reading every entry each time.
            window = self._next_window()
            vanished = self._check_images(window)
            return {"evicted": 0, "vanished": vanished, "entries": self.index.count()}
        entries = list(self.index.scroll_all())
        doomed: dict[str, Entry] = {}
        if s.retention_ttl_s:
            for e in entries:
                if now - max(e.created_at, e.last_hit_at) > s.retention_ttl_s:
                    doomed[e.id] = e
        alive = sorted((e for e in entries if e.id not in doomed), key=lambda e: max(e.created_at, e.last_hit_at))
        if s.retention_max_entries is not None:
            while len(alive) > s.retention_max_entries:
                victim = alive.pop(0)
                doomed[victim.id] = victim
        if s.retention_max_bytes is not None:
            total = sum(e.stored_bytes for e in alive)
            while alive and total > s.retention_max_bytes:
                victim = alive.pop(0)
                total -= victim.stored_bytes
                doomed[victim.id] = victim
        self.delete_many(list(doomed.values()))
        self.metrics.evicted.inc(len(doomed))
        vanished = self._drop_vanished(alive)
        return {"evicted": len(doomed), "vanished": vanished, "entries": len(alive) - vanished}

    def _drop_vanished(self, entries: list[Entry]) -> int:
        """Check a rolling slice of `entries`' images against the store; drop entries whose image is gone."""
        if not entries:
            return 0
        start = self._check_from % len(entries)
        window = (entries + entries)[start : start + min(EXISTENCE_CHECKS_PER_SWEEP, len(entries))]
        self._check_from = start + len(window)
        return self._check_images(window)

    def _next_window(self) -> list[Entry]:
        """The next EXISTENCE_CHECKS_PER_SWEEP entries in scroll order, wrapping around at the end."""
        window = list(itertools.islice(self.index.scroll_all(), self._check_from,
                                       self._check_from + EXISTENCE_CHECKS_PER_SWEEP))
        self._check_from = self._check_from + len(window) if len(window) == EXISTENCE_CHECKS_PER_SWEEP else 0
        return window

    def _check_images(self, window: list[Entry]) -> int:
        """Drop the entries of `window` whose image is gone from the store; returns how many."""
        gone: list[Entry] = []
        for entry in window:
            try:
                missing = not self.store.exists(entry.image_key)
            except Exception:
                continue  # the store does not answer: no conclusion
            if missing:
                log.warning("image %s of entry %s vanished from the store: entry dropped", entry.image_key, entry.id)
                gone.append(entry)
        self.delete_many(gone)
        self.metrics.vanished.inc(len(gone))
        return len(gone)


SWEEP_LEASE = "retention"
SWEEP_LEASE_TTL_S = 30.0  # a sweeping replica renews it every third of this; one that died frees it this late


async def sweep_turn(curator: Curator, every_s: float, lease: Lease | None) -> dict[str, int] | None:
    """One retention sweep if it is this replica's turn; None when it is not. Without Redis (`lease` None) it
    always is. With it, the replica that takes the lease sweeps, renews the lease while it does, and keeps it
    until `every_s` after the sweep began: the whole deployment sweeps once per interval, one replica at a
    time. Redis not answering: nobody sweeps (retention waits; nothing is lost)."""
    if lease is None:
        return await asyncio.to_thread(curator.sweep)
    try:
        if not await lease.acquire():
            return None
    except REDIS_ERRORS as exc:
        lease.link.failed(exc)
        log.warning("retention skipped this time: Redis does not answer (%s)", exc)
        return None
    began = time.monotonic()
    renewer = asyncio.create_task(lease.keep(), name="retention-lease")
    try:
        counts = await asyncio.to_thread(curator.sweep)
    except BaseException:
        with contextlib.suppress(*REDIS_ERRORS):
            await lease.release()
        raise
    finally:
        renewer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewer
    rest = every_s - (time.monotonic() - began)
    with contextlib.suppress(*REDIS_ERRORS):
        await (lease.extend(rest) if rest > 0 else lease.release())
    return counts


async def retention_forever(curator: Curator, every_s: float, lease: Lease | None = None) -> None:
    """Retention and the vanished-image check every `every_s`, in a thread so the hit path never waits for them;
    with Redis only on the replica whose turn it is."""
    while True:
        await asyncio.sleep(every_s)
        try:
            counts = await sweep_turn(curator, every_s, lease)
        except Exception:
            log.exception("retention sweep failed; trying again in %.0f s", every_s)
            continue
        if counts and (counts["evicted"] or counts["vanished"]):
            log.info("retention: %(evicted)d evicted, %(vanished)d with vanished images dropped, %(entries)d kept",
                     counts)
