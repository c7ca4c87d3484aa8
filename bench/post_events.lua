-- wrk script for bench/post_events.py: each wrk thread owns one connection and one lot,
-- and posts that lot's pre-signed chain in order (the next event's prev is this one's hash).
-- Arguments: the folder of the chain files, the API key, the lots' prefix, and how many
-- events each request carries (1: POST /v1/lots/{lot}/events; more: POST /v1/batch).
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  table.insert(threads, thread)
  next_id = next_id + 1
end

function init(args)
  dir = args[1]
  api_key = args[2]
  prefix = args[3]
  per_request = tonumber(args[4])
  lines = {}
  for line in io.lines(dir .. "/" .. prefix .. "-" .. id .. ".jsonl") do
    lines[#lines + 1] = line
  end
  position = 0
  posted = 0
  failed = 0
  if per_request > 1 then
    path = "/v1/batch"
  else
    path = "/v1/lots/" .. prefix .. "-" .. id .. "/events"
  end
  headers = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. api_key }
end

-- The position moves on only when the request was accepted, so a request lost to a
-- reconnect is simply sent again. A run that outlasts its chain re-posts the last
-- line, which the server answers as a repeat and is not counted.
function request()
  return wrk.format("POST", path, headers, lines[math.min(position + 1, #lines)])
end

function response(status, headers, body)
  if per_request > 1 then
    if status == 200 then
      local accepted = tonumber(string.match(body, '"accepted":(%d+)'))
      local refused = tonumber(string.match(body, '"refused":(%d+)'))
      posted = posted + accepted
      failed = failed + refused
      position = position + 1
    else
      failed = failed + 1
    end
    return
  end
  if status == 201 then
    posted = posted + 1
    position = position + 1
  elseif status == 200 then
    position = position + 1
  else
    failed = failed + 1
    if failed <= 3 then io.stderr:write(status .. " " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local total_posted, total_failed = 0, 0
  for _, thread in ipairs(threads) do
    total_posted = total_posted + thread:get("posted")
    total_failed = total_failed + thread:get("failed")
  end
  io.write(string.format("RESULT posted=%d failed=%d duration_us=%d p50_us=%d p90_us=%d p99_us=%d max_us=%d\n",
    total_posted, total_failed, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max))
end
