-- wrk script for bench/bench_search.py: replays a query mix and collects the Server-Timing figures.
--   wrk -t1 -c4 -d15s -s bench/wrk/search_mix.lua http://127.0.0.1:8765 -- PATHS_FILE API_KEY OFFSET
-- PATHS_FILE: one request path per line (already URL-encoded). Each thread starts at OFFSET and
-- walks the list; done() prints one JSON line (latencies in ms) for the benchmark to read.
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  reqs, n = {}, 0
  local headers = { ["Authorization"] = "Bearer " .. args[2], ["Host"] = "bench" }
  for line in io.lines(args[1]) do
    n = n + 1
    reqs[n] = wrk.format("GET", line, headers)
  end
  idx = tonumber(args[3] or "0") % n
  app, cpu, cnt, bad, sent = {}, {}, 0, 0, 0
end

function request()
  idx = idx % n + 1
  sent = sent + 1
  return reqs[idx]
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
  end
  local st = headers["server-timing"]
  if st then
    local a, c = st:match("app;dur=([%d.]+), cpu;dur=([%d.]+)")
    cnt = cnt + 1
    app[cnt] = tonumber(a)
    cpu[cnt] = tonumber(c)
  end
end

local function pct(t, p)
  if #t == 0 then return -1 end
  table.sort(t)
  return t[math.max(1, math.min(#t, math.floor(p / 100 * (#t - 1) + 1.5)))]
end

function done(summary, latency, requests)
  local all_app, all_cpu, errors, list, sent_all = {}, {}, 0, 0, 0
  for _, t in ipairs(threads) do
    for _, v in ipairs(t:get("app")) do table.insert(all_app, v) end
    for _, v in ipairs(t:get("cpu")) do table.insert(all_cpu, v) end
    errors = errors + t:get("bad")
    list = t:get("n")
    sent_all = sent_all + t:get("sent")
  end
  io.write(string.format(
    '{"requests": %d, "duration_s": %.3f, "errors": %d, "socket_errors": %d, "list": %d, "sent": %d, ' ..
    '"e2e": {"p50": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f}, ' ..
    '"server": {"p50": %.3f, "p95": %.3f, "p99": %.3f}, "cpu": {"p50": %.3f, "p95": %.3f, "p99": %.3f}}\n',
    summary.requests, summary.duration / 1e6, errors,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    list, sent_all,
    latency:percentile(50) / 1000, latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    pct(all_app, 50), pct(all_app, 95), pct(all_app, 99), pct(all_cpu, 50), pct(all_cpu, 95), pct(all_cpu, 99)))
end
