-- The request both proxy benchmarks (bench_proxy.sh, callgrind_proxy.sh) send with wrk: a
-- ~300-byte chat completion with the context headers an agent framework sends. Agent runs of 4
-- calls: each run has its own id and its last call says so, as NAT's agents do, so augur's
-- learning sees realistic runs (one endless run would be one 10,000-call run).
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["x-nat-function-path"] = "react_workflow/react_agent"
wrk.body = '{"model":"mock-model","messages":[{"role":"system","content":"You are a careful ' ..
  'assistant that plans tool calls."},{"role":"user","content":"Find the three most recent ' ..
  'incidents for service checkout and summarise the root causes in two sentences."}],' ..
  '"max_tokens":256,"temperature":0}'
local n = 0
local prefix = tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  local run = math.floor((n - 1) / 4)
  wrk.headers["x-nat-run-id"] = "bench-" .. prefix .. "-" .. run
  if n % 4 == 0 then wrk.headers["x-nat-run-end"] = "true" else wrk.headers["x-nat-run-end"] = nil end
  return wrk.format()
end
