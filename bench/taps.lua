-- wrk script for bench/tap_bench.py: each wrk thread owns one connection and one tag, and
-- GETs that tag's tap URLs in counter order (each accepted once). Argument: the folder of the
-- URL files (one per thread: taps-<id>.txt, one path per line).
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  paths = {}
  for line in io.lines(args[1] .. "/taps-" .. id .. ".txt") do
    paths[#paths + 1] = line
  end
  position = 0
  ok = 0
  genuine = 0
end

function request()
  position = position + 1
  return wrk.format("GET", paths[math.min(position, #paths)])
end

function response(status, headers, body)
  if status == 200 then
    ok = ok + 1
    if string.find(body, '"outcome":"genuine"', 1, true) then
      genuine = genuine + 1
    end
  end
end

function done(summary, latency, requests)
  local k, g = 0, 0
  for _, thread in ipairs(threads) do
    k = k + thread:get("ok")
    g = g + thread:get("genuine")
  end
  io.write(string.format(
    "RESULT ok=%d genuine=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d\n",
    k, g, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99)))
end
