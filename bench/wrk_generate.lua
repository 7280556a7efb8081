-- wrk script for bench/bench_hit_path.py: POST /generate with request bodies read from a file (one JSON body a
-- line). Each connection walks the file from its own starting line, so with a file of distinct prompts no two
-- requests of a run repeat one (until the file is used up). Every 10th answer's server timings are sampled.
-- At the end one line "RESULT {json}" carries the counts, the client latency percentiles and the samples.
--   wrk -t2 -c32 -d10s -s bench/wrk_generate.lua http://127.0.0.1:8765 -- BODIES_FILE

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  bodies = {}
  for line in io.lines(args[1]) do
    bodies[#bodies + 1] = line
  end
  stride = tonumber(args[2] or "1")  -- threads: thread k takes lines k, k + stride, ...
  position = id
  seen = 0
  ok = 0
  other = 0
  embed = ""
  lookup = ""
  total = ""
  wrk.method = "POST"
  wrk.path = "/generate"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[(position % #bodies) + 1]
  position = position + stride
  return wrk.format(nil, nil, nil, body)
end

function response(status, headers, body)
  if status == 200 then ok = ok + 1 else other = other + 1 end
  seen = seen + 1
  if status == 200 and seen % 10 == 0 then
    local e = body:match('"embed_ms":%s*([%d%.e%-]+)')
    local l = body:match('"lookup_ms":%s*([%d%.e%-]+)')
    local t = body:match('"total_ms":%s*([%d%.e%-]+)')
    if e and l and t then
      embed = embed .. e .. ","
      lookup = lookup .. l .. ","
      total = total .. t .. ","
    end
  end
end

function done(summary, latency, requests)
  local ok_all, other_all, embed_all, lookup_all, total_all = 0, 0, "", "", ""
  for _, thread in ipairs(threads) do
    ok_all = ok_all + thread:get("ok")
    other_all = other_all + thread:get("other")
    embed_all = embed_all .. thread:get("embed")
    lookup_all = lookup_all .. thread:get("lookup")
    total_all = total_all .. thread:get("total")
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "ok": %d, "other": %d, "errors": %d, ' ..
    '"p50_ms": %.3f, "p90_ms": %.3f, "p99_ms": %.3f, "embed": [%s], "lookup": [%s], "total": [%s]}\n',
    summary.requests, summary.duration / 1e6, ok_all, other_all,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    embed_all:sub(1, -2), lookup_all:sub(1, -2), total_all:sub(1, -2)))
end
