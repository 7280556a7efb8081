-- wrk script for bench/bench_recommend.py: GET /recommend, one keystroke a request, paths read from a file (one
-- "/recommend?q=..." a line, users' keystrokes interleaved). Each thread walks the file from its own line. Every
-- answer is recorded: the match kind of its first suggestion ("none" when empty), the server's own time (the
-- Server-Timing header) and, when a thread drives a single connection (answers then come in request order), the
-- client's time measured here. At the end one line "S kind server_ms client_ms" per answer and one "RESULT {json}".
--   wrk -t1 -c1 -d10s -s bench/wrk_recommend.lua http://127.0.0.1:8766 -- PATHS_FILE THREADS SINGLE(0/1)
local ffi = require("ffi")
ffi.cdef[[
typedef struct { long tv_sec; long tv_nsec; } dc_timespec;
int clock_gettime(int clk_id, dc_timespec *tp);
]]
local clock = ffi.new("dc_timespec")
local function now_ms()
  ffi.C.clock_gettime(1, clock)  -- CLOCK_MONOTONIC
  return tonumber(clock.tv_sec) * 1000 + tonumber(clock.tv_nsec) / 1e6
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("id", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  stride = tonumber(args[2] or "1")
  single = (args[3] or "0") == "1"
  position = id
  samples = {}
  ok = 0
  other = 0
  sent_at = 0
end

function request()
  local path = paths[(position % #paths) + 1]
  position = position + stride
  sent_at = now_ms()
  return wrk.format("GET", path)
end

function response(status, headers, body)
  local client = single and (now_ms() - sent_at) or -1
  if status ~= 200 then
    other = other + 1
    return
  end
  ok = ok + 1
  local kind = body:match('"match":%s*"(%a+)"') or "none"
  local server = (headers["Server-Timing"] or headers["server-timing"] or ""):match("dur=([%d%.]+)") or "-1"
  samples[#samples + 1] = kind .. " " .. server .. " " .. string.format("%.3f", client)
end

function done(summary, latency, requests)
  local ok_all, other_all = 0, 0
  for _, thread in ipairs(threads) do
    ok_all = ok_all + thread:get("ok")
    other_all = other_all + thread:get("other")
    for _, sample in ipairs(thread:get("samples")) do
      io.write("S " .. sample .. "\n")
    end
  end
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %.3f, "ok": %d, "other": %d, "errors": %d, ' ..
    '"p50_ms": %.3f, "p99_ms": %.3f}\n',
    summary.requests, summary.duration / 1e6, ok_all, other_all,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
