// Real SDKs that send no run header at all, as most agents do: augur must infer their runs from
// the conversations. An Anthropic tool loop's second call extends its first (call index 2 of the
// same run); an OpenAI chat agent that hands a task to a sub-agent through a tool call gets that
// sub-agent's calls counted in its own run (GET /v1/augur/agents counts runs by source).
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";

const base = process.env.AUGUR_URL;
const admin = process.env.AUGUR_ADMIN_URL;

// The x-nat-* headers the upstream received, from the mock's echo.
function hintsSeen(headers) {
  const seen = JSON.parse(headers.get("x-mock-request-headers"));
  return Object.fromEntries(Object.entries(seen).filter(([k]) => k.startsWith("x-nat-")));
}

async function runsBySource() {
  const res = await fetch(`${admin}/v1/augur/agents`);
  assert.equal(res.status, 200);
  return (await res.json()).runs;
}

test("an anthropic tool loop without headers is one run", async () => {
  const client = new Anthropic({ baseURL: base, apiKey: "k", maxRetries: 0,
                                 defaultHeaders: { "x-mock-tool-rounds": "1" } });
  const system = `You answer weather questions. Today is ${new Date().toISOString()}.`;
  const tools = [{ name: "get_weather", description: "The weather in a city",
                   input_schema: { type: "object", properties: { city: { type: "string" } } } }];
  const messages = [{ role: "user", content: `Weather in Paris? (${Date.now()})` }];
  const first = await client.messages
    .create({ model: "node-model", max_tokens: 64, system, tools, messages })
    .withResponse();
  assert.equal(first.data.stop_reason, "tool_use");
  assert.equal(hintsSeen(first.response.headers)["x-nat-call-index"], "1");
  const call = first.data.content.find((b) => b.type === "tool_use");
  messages.push({ role: "assistant", content: first.data.content });
  messages.push({ role: "user",
                  content: [{ type: "tool_result", tool_use_id: call.id, content: "Sunny" }] });
  const second = await client.messages
    .create({ model: "node-model", max_tokens: 8, system, tools, messages })
    .withResponse();
  assert.equal(hintsSeen(second.response.headers)["x-nat-call-index"], "2");
  // A new question in the same session is a new run.
  messages.push({ role: "assistant", content: second.data.content });
  messages.push({ role: "user", content: "And in Lisbon?" });
  const third = await client.messages
    .create({ model: "node-model", max_tokens: 8, system, tools, messages })
    .withResponse();
  assert.equal(hintsSeen(third.response.headers)["x-nat-call-index"], "1");
});

test("an openai agent's sub-agent, started by a tool call, counts in the agent's run", async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "k", maxRetries: 0 });
  const before = await runsBySource();
  const task = `Research the history of the Lisbon trams (${Date.now()})`;
  const tools = [{ type: "function",
                   function: { name: "researcher", parameters: { type: "object" } } }];
  const parent = [{ role: "system", content: "You plan trips and delegate research." },
                  { role: "user", content: `Plan a day in Lisbon (${Date.now()})` }];
  const handoff = [{ name: "researcher", arguments: JSON.stringify({ input: task }) }];
  const first = await client.chat.completions
    .create({ model: "node-model", messages: parent, tools, stream: true },
            { headers: { "x-mock-tool-calls": JSON.stringify(handoff) } })
    .withResponse();
  let args = "";
  let id = "";
  for await (const chunk of first.data) {
    for (const tc of chunk.choices[0]?.delta?.tool_calls ?? []) {
      if (tc.id) id = tc.id;
      args += tc.function?.arguments ?? "";
    }
  }
  assert.equal(JSON.parse(args).input, task);

  // The sub-agent: a conversation of its own, opening with the task it was handed.
  const sub = await client.chat.completions
    .create({ model: "node-model", messages: [{ role: "system", content: "You research." },
                                              { role: "user", content: task }] })
    .withResponse();
  assert.equal(hintsSeen(sub.response.headers)["x-nat-call-index"], "1");

  parent.push({ role: "assistant", content: null,
                tool_calls: [{ id, type: "function",
                               function: { name: "researcher", arguments: args } }] });
  parent.push({ role: "tool", tool_call_id: id, content: sub.data.choices[0].message.content });
  const last = await client.chat.completions
    .create({ model: "node-model", messages: parent, tools })
    .withResponse();
  assert.equal(hintsSeen(last.response.headers)["x-nat-call-index"], "2");

  const after = await runsBySource();
  assert.equal(after.sub_agent.continued - before.sub_agent.continued, 1);
  assert.ok(after.conversation.started - before.conversation.started >= 1);
});
