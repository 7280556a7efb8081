"""The wrong-picture reports log shared by every replica: a Redis list of JSON records, newest first, bounded.

The record shape is `management.Report`'s, as in `data/reports.jsonl` without Redis. The newest `REPORTS_KEPT`
are kept (LPUSH + LTRIM in one transaction); the exclusion a report makes lives in the index, not here, so a
trimmed record loses only the history line. What Redis kept before a restart without AOF is gone.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from dreamcache.cluster.connection import REDIS_ERRORS, RedisLink, RedisUnavailable
from dreamcache.management import Report

REPORTS_KEPT = 10_000
_PAGE = 500  # records read at a time while filtering by namespace


class SharedReportLog:
    """A `management.ReportLog` on Redis; raises `RedisUnavailable` when Redis does not answer."""

    def __init__(self, link: RedisLink, kept: int = REPORTS_KEPT) -> None:
        self.link = link
        self.key = link.key("reports")
        self.kept = kept

    async def append(self, report: Report) -> None:
        try:
            async with self.link.redis.pipeline(transaction=True) as pipe:
                pipe.lpush(self.key, json.dumps(asdict(report)))
                pipe.ltrim(self.key, 0, self.kept - 1)
                await pipe.execute()
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            raise RedisUnavailable(f"the report could not be kept: Redis does not answer ({exc})") from exc

    async def newest(self, namespaces: list[str] | None, limit: int) -> list[Report]:
        found: list[Report] = []
        start = 0
        try:
            while len(found) < limit and start < self.kept:
                page = await self.link.redis.lrange(self.key, start, start + _PAGE - 1)
                for line in page:
                    report = Report(**json.loads(line))
                    if namespaces is None or report.namespace in namespaces:
                        found.append(report)
                if len(page) < _PAGE:
                    break
                start += _PAGE
        except REDIS_ERRORS as exc:
            self.link.failed(exc)
            raise RedisUnavailable(f"the reports cannot be read: Redis does not answer ({exc})") from exc
        return found[:limit]
