-- wrk script: replays pre-signed requests from a file (benchmarks/slack_load.py writes it).
-- Usage: wrk -s replay.lua URL -- <requests file> <number of wrk threads>
-- Thread k of n sends records k, k+n, k+2n, ... so no request is sent twice unless the file
-- runs out (then it starts over and counts each repeat in "wraps"). Prints one JSON line at the end.

local threads = {}
local counter = 0

function setup(thread)
  thread:set("tid", counter)
  table.insert(threads, thread)
  counter = counter + 1
end

function init(args)
  local path, nthreads = args[1], tonumber(args[2])
  local f = assert(io.open(path, "rb"))
  local data = f:read("*a")
  f:close()
  reqs = {}
  local pos, i = 1, 0
  while pos <= #data do
    local nl = data:find("\n", pos, true)
    local len = tonumber(data:sub(pos, nl - 1))
    if i % nthreads == tid then
      reqs[#reqs + 1] = data:sub(nl + 1, nl + len)
    end
    pos = nl + 1 + len
    i = i + 1
  end
  data = nil
  idx = 0
  wraps = 0
  wrapped = false
  non2xx = 0
end

function request()
  idx = idx + 1
  if idx > #reqs then
    idx = 1
    wrapped = true
  end
  if wrapped then
    wraps = wraps + 1
  end
  return reqs[idx]
end

function response(status, headers, body)
  if status < 200 or status > 299 then
    non2xx = non2xx + 1
  end
end

function done(summary, latency, requests)
  local non, wrapped = 0, 0
  for _, t in ipairs(threads) do
    non = non + t:get("non2xx")
    wrapped = wrapped + t:get("wraps")
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, ' ..
    '"wraps": %d, "errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    non, wrapped, e.connect + e.read + e.write + e.timeout))
end
