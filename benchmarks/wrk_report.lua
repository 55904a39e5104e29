-- wrk script for the end-to-end benchmark: rotates the Cookie header over the lines of a file (one
-- "name=value; ..." per line, given after `--`), and prints the figures as one JSON line starting with WRKJSON.
local cookies = {}
local counter = 0

function init(args)
  if args[1] ~= nil and args[1] ~= "" then
    for line in io.lines(args[1]) do
      if line ~= "" then cookies[#cookies + 1] = line end
    end
  end
  -- each thread has its own Lua state: start them at different cookies
  counter = math.random(0, 997)
end

function request()
  counter = counter + 1
  if #cookies > 0 then
    wrk.headers["Cookie"] = cookies[(counter % #cookies) + 1]
  end
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %.1f, "p99_us": %.1f, "max_us": %.1f}\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50.0), latency:percentile(99.0), latency.max))
end
