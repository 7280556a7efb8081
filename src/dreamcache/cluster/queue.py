"""The shared GPU queue and job records on Redis: what web replicas and GPU workers do to them, each step one
Lua script (atomic: no read-modify-write races between machines).

Layout (every key under the deployment's prefix `P`):

- `P:q:<shape>:<client>`: a Redis stream per (batch shape, client) with the consumer group `workers`. A
  worker takes a batch with one script: the next client in turn (the one served least recently), its oldest
  job, then compatible jobs (same shape) one per client per round, up to the batch size. Taken entries stay
  in the group's pending list until the worker acknowledges them; a worker that dies stops renewing them
  (`XCLAIM ... JUSTID`), and after the visibility timeout another worker claims them (`XAUTOCLAIM`); the
  group's delivery counter tells a job that has killed workers `max_deliveries` times, which then fails.
- `P:streams` (queue streams with waiting entries), `P:smeta` (stream -> client and shape), `P:waiting`
  (waiting entries per stream), `P:served` (client -> turn when last served), `P:depth`, `P:depth:<client>`
  (images waiting: the global and per-client caps), `P:line` (job -> order, for the queue position).
- `P:job:<id>`: the job record (a hash: task, status, progress, error, pictures, result), with
  `P:job:<id>:waiters` and `:detached` (the tickets waiting on it) and `P:ticket:<t>` -> job id.
- `P:flight:<key>` -> job id: single flight, `SET NX` inside the submit script.
- `P:events`: one stream of every job's changes (capped); each replica tails it to keep its copies of the
  jobs it serves up to date, the workers to see cancellations.
- `P:done`: generations whose pictures are stored, waiting for their write-back into the index (consumer
  group `writeback`: exactly one live replica indexes each, another takes over if it dies).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from dreamcache.cluster.connection import REDIS_ERRORS, RedisLink
from dreamcache.generation.spec import BatchShape

log = logging.getLogger(__name__)

GROUP = "workers"
WRITEBACK_GROUP = "writeback"
EVENTS_MAXLEN = 100_000  # approximate cap of the events stream (XADD MAXLEN ~)
LIVE = ("queued", "running")

_SUBMIT = """
-- KEYS: flight, job, waiters, stream, streams, smeta, waiting, depth, cdepth, line, lineseq, events
-- ARGV: job id, task, n, queue_size, max_per_client, client, meta, now, flight ttl ms, job ttl s, job prefix
local holder = redis.call('GET', KEYS[1])
if holder then
  local status = redis.call('HGET', ARGV[11] .. holder, 'status')
  if status == 'queued' or status == 'running' then return {'joined', holder} end
end
local n = tonumber(ARGV[3])
local depth = tonumber(redis.call('GET', KEYS[8]) or '0')
if depth + n > math.max(tonumber(ARGV[4]), n) then return {'full', tostring(depth)} end
local queued = tonumber(redis.call('GET', KEYS[9]) or '0')
if queued > 0 and queued + n > tonumber(ARGV[5]) then return {'client_full', tostring(queued)} end
redis.pcall('XGROUP', 'CREATE', KEYS[4], 'workers', '0', 'MKSTREAM')
local entry = redis.call('XADD', KEYS[4], '*', 'job', ARGV[1], 'n', ARGV[3])
redis.call('HSET', KEYS[2], 'task', ARGV[2], 'status', 'queued', 'step', 0, 'total', 0, 'created', ARGV[8],
           'n', ARGV[3], 'client', ARGV[6], 'stream', KEYS[4], 'entry', entry)
redis.call('EXPIRE', KEYS[2], ARGV[10])
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('EXPIRE', KEYS[3], ARGV[10])
if redis.call('HINCRBY', KEYS[7], KEYS[4], 1) == 1 then
  redis.call('ZADD', KEYS[5], tonumber(string.match(entry, '^(%d+)')), KEYS[4])
end
redis.call('HSET', KEYS[6], KEYS[4], ARGV[7])
redis.call('INCRBY', KEYS[8], n)
redis.call('INCRBY', KEYS[9], n)
redis.call('ZADD', KEYS[10], redis.call('INCR', KEYS[11]), ARGV[1])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[9])
local position = redis.call('ZRANK', KEYS[10], ARGV[1])
redis.call('XADD', KEYS[12], 'MAXLEN', '~', 100000, '*', 'job', ARGV[1], 'kind', 'queued',
           'data', cjson.encode({position = position}))
return {'queued', tostring(position)}
"""

_TAKE = """
-- KEYS: streams, smeta, waiting, served, servedseq, depth, line
-- ARGV: consumer, most images, depth key prefix, job key prefix
local streams = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
if #streams == 0 then return {} end
local info = {}
local lead = nil
for i = 1, #streams, 2 do
  local key, oldest = streams[i], tonumber(streams[i + 1])
  local meta = redis.call('HGET', KEYS[2], key) or ''
  local tab = string.find(meta, '\\t', 1, true)
  local client, shape = string.sub(meta, 1, tab - 1), string.sub(meta, tab + 1)
  local served = tonumber(redis.call('HGET', KEYS[4], client) or '0')
  local s = {key = key, client = client, shape = shape, served = served, oldest = oldest}
  table.insert(info, s)
  if lead == nil or served < lead.served or (served == lead.served and oldest < lead.oldest) then lead = s end
end
local taken = {}
local images = 0
local limit = tonumber(ARGV[2])
local function take_one(s)
  local got = redis.call('XREADGROUP', 'GROUP', 'workers', ARGV[1], 'COUNT', 1, 'STREAMS', s.key, '>')
  if not got or #got[1][2] == 0 then
    redis.call('HDEL', KEYS[3], s.key)
    redis.call('ZREM', KEYS[1], s.key)
    return false
  end
  local message = got[1][2][1]
  local id, fields = message[1], message[2]
  local job, n = nil, 1
  for j = 1, #fields, 2 do
    if fields[j] == 'job' then job = fields[j + 1] elseif fields[j] == 'n' then n = tonumber(fields[j + 1]) end
  end
  images = images + n
  redis.call('DECRBY', KEYS[6], n)
  redis.call('DECRBY', ARGV[3] .. s.client, n)
  redis.call('ZREM', KEYS[7], job)
  redis.call('HSET', ARGV[4] .. job, 'worker', ARGV[1])
  table.insert(taken, {s.key, id, job})
  if redis.call('HINCRBY', KEYS[3], s.key, -1) <= 0 then
    redis.call('HDEL', KEYS[3], s.key)
    redis.call('ZREM', KEYS[1], s.key)
    s.empty = true
  else
    local after = redis.call('XRANGE', s.key, '(' .. id, '+', 'COUNT', 1)
    if #after > 0 then redis.call('ZADD', KEYS[1], tonumber(string.match(after[1][1], '^(%d+)')), s.key) end
  end
  return true
end
take_one(lead)
redis.call('HSET', KEYS[4], lead.client, redis.call('INCR', KEYS[5]))
-- compatible streams of the other clients, least recently served first; the leading client's own last
local others = {}
for _, s in ipairs(info) do
  if s.shape == lead.shape and s.key ~= lead.key then table.insert(others, s) end
end
table.sort(others, function(a, b)
  if a.served ~= b.served then return a.served < b.served end
  return a.oldest < b.oldest
end)
table.insert(others, lead)
local progress = true
while images < limit and progress do
  progress = false
  for _, s in ipairs(others) do
    if images >= limit then break end
    if not s.empty then
      if take_one(s) then progress = true end
    end
  end
end
return taken
"""

_CANCEL = """
-- KEYS: job, flight, events, depth, line, waiting, streams
-- ARGV: job id, now, canceled ttl s, depth key prefix
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return status or 'gone' end
if redis.call('ZSCORE', KEYS[5], ARGV[1]) then  -- still waiting in line: take it out
  local record = redis.call('HMGET', KEYS[1], 'stream', 'entry', 'n', 'client')
  local n = tonumber(record[3])
  redis.call('XDEL', record[1], record[2])
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('DECRBY', KEYS[4], n)
  redis.call('DECRBY', ARGV[4] .. record[4], n)
  if redis.call('HINCRBY', KEYS[6], record[1], -1) <= 0 then
    redis.call('HDEL', KEYS[6], record[1])
    redis.call('ZREM', KEYS[7], record[1])
  end
end
redis.call('HSET', KEYS[1], 'status', 'canceled', 'finished', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'job', ARGV[1], 'kind', 'canceled', 'data', '{}')
return 'ok'
"""

_UPDATE = """
-- KEYS: job, events. ARGV: job id, kind, data (JSON), field, value, field, value...
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
if #ARGV > 3 then redis.call('HSET', KEYS[1], unpack(ARGV, 4)) end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', 100000, '*', 'job', ARGV[1], 'kind', ARGV[2], 'data', ARGV[3])
return 1
"""

_FINISH = """
-- The job ends (failed or succeeded): record, release its flight, tell everyone.
-- KEYS: job, flight, events. ARGV: job id, kind, data, ttl s, field, value...
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[4])
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'job', ARGV[1], 'kind', ARGV[2], 'data', ARGV[3])
return 1
"""

_GENERATED = """
-- A worker stored the job's pictures: hand them to the write-back and acknowledge the queue entry.
-- KEYS: job, done, stream. ARGV: job id, pictures, seconds, entry id
redis.call('XACK', KEYS[3], 'workers', ARGV[4])
redis.call('XDEL', KEYS[3], ARGV[4])
local status = redis.call('HGET', KEYS[1], 'status')
if status ~= 'queued' and status ~= 'running' then return 0 end
if redis.call('HEXISTS', KEYS[1], 'pictures') == 1 then return 0 end  -- a redelivered copy: stored once
redis.call('HSET', KEYS[1], 'pictures', ARGV[2], 'seconds', ARGV[3])
redis.call('XADD', KEYS[2], '*', 'job', ARGV[1])
return 1
"""

_DETACH = """
-- KEYS: waiters, detached, events. ARGV: job id, ticket, ttl s. Returns how many still wait.
redis.call('SREM', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', 100000, '*', 'job', ARGV[1], 'kind', 'detached',
           'data', cjson.encode({ticket = ARGV[2]}))
return redis.call('SCARD', KEYS[1])
"""


@dataclass(frozen=True)
class Submitted:
    """What the submit script did: `queued` (with the job's place in line), or `joined` an identical job."""

    outcome: str
    detail: str


@dataclass(frozen=True)
class Taken:
    """One job a worker took: its queue stream and entry, and the job id."""

    stream: str
    entry: str
    job_id: str


def shape_key(shape: BatchShape) -> str:
    return hashlib.sha1(json.dumps(asdict(shape), sort_keys=True).encode()).hexdigest()[:12]


def client_key(client: str) -> str:
    return hashlib.sha1(client.encode()).hexdigest()[:16]


class SharedQueue:
    """The scripts above, with the key names filled in: one instance per process."""

    def __init__(self, link: RedisLink) -> None:
        self.link = link
        r = link.redis
        self._submit = r.register_script(_SUBMIT)
        self._take = r.register_script(_TAKE)
        self._cancel = r.register_script(_CANCEL)
        self._update = r.register_script(_UPDATE)
        self._finish = r.register_script(_FINISH)
        self._generated = r.register_script(_GENERATED)
        self._detach = r.register_script(_DETACH)
        k = link.key
        self.streams, self.smeta, self.waiting = k("streams"), k("smeta"), k("waiting")
        self.served, self.servedseq = k("served"), k("servedseq")
        self.depth, self.line, self.lineseq = k("depth"), k("line"), k("lineseq")
        self.events, self.done = k("events"), k("done")

    # -- key names --

    def job(self, job_id: str) -> str:
        return self.link.key("job", job_id)

    def waiters(self, job_id: str) -> str:
        return self.link.key("job", job_id, "waiters")

    def detached(self, job_id: str) -> str:
        return self.link.key("job", job_id, "detached")

    def ticket(self, ticket: str) -> str:
        return self.link.key("ticket", ticket)

    def flight(self, flight_key: str) -> str:
        return self.link.key("flight", flight_key)

    def client_depth(self, client: str) -> str:
        return self.link.key("depth", client_key(client))

    def stream(self, shape: BatchShape, client: str) -> str:
        return self.link.key("q", shape_key(shape), client_key(client))

    # -- web replicas --

    async def submit(self, job_id: str, task: str, *, shape: BatchShape, client: str, n: int, flight_key: str,
                     queue_size: int, max_per_client: int, flight_ttl_s: float, job_ttl_s: float) -> Submitted:
        stream = self.stream(shape, client)
        keys = [self.flight(flight_key), self.job(job_id), self.waiters(job_id), stream, self.streams, self.smeta,
                self.waiting, self.depth, self.client_depth(client), self.line, self.lineseq, self.events]
        args: list[Any] = [job_id, task, n, queue_size, max_per_client, client_key(client),
                f"{client_key(client)}\t{shape_key(shape)}", time.time(), int(flight_ttl_s * 1000), int(job_ttl_s),
                self.link.key("job", "")]
        outcome, detail = await self._submit(keys=keys, args=args)
        return Submitted(outcome, detail)

    async def cancel(self, job_id: str, canceled_ttl_s: float) -> str:
        """Cancel a queued or running job: 'ok', else the status it already had ('gone' if none)."""
        record = await self.link.redis.hget(self.job(job_id), "task")
        flight = json.loads(record)["flight_key"] if record else ""
        keys = [self.job(job_id), self.flight(flight), self.events, self.depth, self.line, self.waiting, self.streams]
        return str(await self._cancel(keys=keys, args=[job_id, time.time(), int(canceled_ttl_s),
                                                         self.link.key("depth", "")]))

    async def detach(self, job_id: str, ticket: str, ttl_s: float) -> int:
        keys = [self.waiters(job_id), self.detached(job_id), self.events]
        return int(await self._detach(keys=keys, args=[job_id, ticket, int(ttl_s)]))

    async def position(self, job_ids: list[str]) -> list[int | None]:
        pipe = self.link.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.zrank(self.line, job_id)
        return [None if rank is None else int(rank) for rank in await pipe.execute()]

    # -- workers --

    async def take(self, consumer: str, most_images: int) -> list[Taken]:
        keys = [self.streams, self.smeta, self.waiting, self.served, self.servedseq, self.depth, self.line]
        taken = await self._take(keys=keys, args=[consumer, most_images, self.link.key("depth", ""),
                                                   self.link.key("job", "")])
        return [Taken(stream, entry, job_id) for stream, entry, job_id in taken]

    async def update(self, job_id: str, kind: str, data: dict[str, Any], **fields: Any) -> bool:
        """Record a change of a live job (started, progress) and tell everyone; False once the job ended."""
        flat = [value for pair in fields.items() for value in pair]
        return bool(await self._update(keys=[self.job(job_id), self.events],
                                       args=[job_id, kind, json.dumps(data), *flat]))

    async def finish(self, job_id: str, flight_key: str, kind: str, data: dict[str, Any], ttl_s: float,
                     **fields: Any) -> bool:
        """End a live job (`failed`, `succeeded`); False if it had ended already."""
        flat = [value for pair in fields.items() for value in pair]
        return bool(await self._finish(keys=[self.job(job_id), self.flight(flight_key), self.events],
                                       args=[job_id, kind, json.dumps(data), int(ttl_s), *flat]))

    async def generated(self, taken: Taken, pictures: str, seconds: float) -> bool:
        """The job's pictures are stored: queue its write-back, acknowledge the entry; False if it ended or a
        copy of it (delivered again) got there first."""
        return bool(await self._generated(keys=[self.job(taken.job_id), self.done, taken.stream],
                                          args=[taken.job_id, pictures, seconds, taken.entry]))

    async def ack(self, taken: Taken) -> None:
        pipe = self.link.redis.pipeline(transaction=True)
        pipe.xack(taken.stream, GROUP, taken.entry)
        pipe.xdel(taken.stream, taken.entry)
        await pipe.execute()

    # -- everyone --

    async def follow_events(self, on_event: Callable[[dict[str, str]], None], stopping: Callable[[], bool],
                            on_gap: Callable[[], Awaitable[None]] | None = None) -> None:
        """Call `on_event` with every job event from now on, until `stopping()`. After a gap (Redis away),
        `on_gap` runs once Redis answers again, then the events are followed from the newest."""
        last = "$"
        while not stopping():
            try:
                if last == "$":
                    newest = await self.link.redis.xrevrange(self.events, count=1)
                    last = newest[0][0] if newest else "0-0"
                    if on_gap is not None:
                        await on_gap()
                answer = await self.link.redis.xread({self.events: last}, count=500, block=1000)
            except asyncio.CancelledError:
                raise
            except REDIS_ERRORS as exc:
                self.link.failed(exc)
                last = "$"
                await asyncio.sleep(0.5)
                continue
            except Exception:
                log.exception("following the job events failed; retrying")
                last = "$"
                await asyncio.sleep(0.5)
                continue
            for _, messages in answer or []:
                for message_id, fields in messages:
                    last = message_id
                    try:
                        on_event(fields)
                    except Exception:
                        log.exception("job event %s could not be applied", fields)
