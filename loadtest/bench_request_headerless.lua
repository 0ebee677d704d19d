-- The headerless request for bench_proxy.sh --headerless: what an agent framework sends with no
-- run header at all, so augur infers every run from the conversation. Agent runs of 4 calls; call
-- k of a run sends the system prompt, the run's task, then k-1 rounds of the assistant's tool
-- call and the tool's result (1.0 to 3.4 KB, 2 to 8 messages), as a ReAct loop grows its list.
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"

local system = '{"role":"system","content":"You are a careful assistant that plans tool calls. ' ..
  'Today is 2026-12-06. Answer in two sentences, cite the incident ids you used, and never ' ..
  'guess a root cause the tools did not report."}'
local tools = '"tools":[{"type":"function","function":{"name":"search_incidents","parameters":' ..
  '{"type":"object","properties":{"q":{"type":"string"}}}}},{"type":"function","function":' ..
  '{"name":"read_incident","parameters":{"type":"object","properties":{"id":{"type":"string"}}}}}]'
local result = string.rep("timeline: deploy 4f2a rolled out to 30% of pods; error rate rose " ..
  "from 0.1% to 7% on checkout; rollback at 14:02 restored it. ", 4)

local n = 0
local prefix = tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  local run = math.floor((n - 1) / 4)
  local step = (n - 1) % 4
  -- The mock answers as the agent's next call says it did: a tool call for the first three, a
  -- final answer (which ends the run) for the last.
  if step < 3 then
    wrk.headers["x-mock-tool-calls"] = '[{"name":"read_incident","arguments":"{\\"id\\":\\"INC-' ..
      (4001 + step) .. '\\"}"}]'
  else
    wrk.headers["x-mock-tool-calls"] = nil
  end
  local parts = {system, '{"role":"user","content":"Run ' .. prefix .. "-" .. run ..
    ': find the three most recent incidents for service checkout and summarise the root ' ..
    'causes."}'}
  for i = 1, step do
    parts[#parts + 1] = '{"role":"assistant","content":null,"tool_calls":[{"id":"call_' .. i ..
      '","type":"function","function":{"name":"read_incident","arguments":"{\\"id\\":\\"INC-' ..
      (4000 + i) .. '\\"}"}}]}'
    parts[#parts + 1] = '{"role":"tool","tool_call_id":"call_' .. i .. '","content":"' .. result ..
      '"}'
  end
  wrk.body = '{"model":"mock-model","max_tokens":256,"temperature":0,' .. tools ..
    ',"messages":[' .. table.concat(parts, ",") .. ']}'
  return wrk.format()
end
