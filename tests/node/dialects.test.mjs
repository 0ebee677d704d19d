// Real SDKs speaking the OpenAI Responses and Anthropic Messages APIs through augur, against the
// bundled mock upstream (augur's embedded default, which writes nat_headers): the `openai`
// package's responses.create (streamed and not), the Vercel AI SDK's default OpenAI provider
// (which calls /v1/responses) and `@anthropic-ai/sdk`'s messages.create with a tool loop. Each
// call must reach the client intact, and the mock's echo of the headers it received
// (x-mock-request-headers) shows augur counted it in its run and wrote its hints.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { createOpenAI } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const base = process.env.AUGUR_URL;
const run = (name) => ({ "x-nat-run-id": `${name}-${Date.now()}`, "x-nat-function-path": "agent" });

// The x-nat-* headers the upstream received, from the mock's echo.
function hintsSeen(headers) {
  const seen = JSON.parse(headers.get("x-mock-request-headers"));
  return Object.fromEntries(Object.entries(seen).filter(([k]) => k.startsWith("x-nat-")));
}

test("openai responses.create through augur", async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "k", maxRetries: 0,
                              defaultHeaders: run("responses") });
  for (const [i, tokens] of [[1, 5], [2, 9]]) {
    const { data, response } = await client.responses
      .create({ model: "node-model", input: "Say hello", max_output_tokens: tokens })
      .withResponse();
    assert.equal(data.object, "response");
    assert.equal(data.usage.output_tokens, tokens);
    assert.ok(data.output_text.length > 0);
    const hints = hintsSeen(response.headers);
    assert.equal(hints["x-nat-call-index"], String(i));  // the second call continues the run
    assert.ok(hints["x-nat-expected-output-tokens"]);
  }
});

test("openai responses.create streamed through augur", async () => {
  const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: "k", maxRetries: 0,
                              defaultHeaders: run("responses-stream") });
  const { data: stream, response } = await client.responses
    .create({ model: "node-model", input: "Count", max_output_tokens: 6, stream: true })
    .withResponse();
  let text = "";
  let completed = null;
  for await (const event of stream) {
    if (event.type === "response.output_text.delta") text += event.delta;
    if (event.type === "response.completed" || event.type === "response.incomplete") {
      completed = event.response;
    }
  }
  assert.ok(text.length > 0);
  assert.equal(completed.usage.output_tokens, 6);
  assert.equal(hintsSeen(response.headers)["x-nat-call-index"], "1");
});

test("the Vercel AI SDK's default OpenAI provider (Responses) through augur", async () => {
  const urls = [];
  const seen = [];  // the hints the upstream received, per call
  const openai = createOpenAI({
    baseURL: `${base}/v1`, apiKey: "k", headers: run("vercel"),
    fetch: async (url, init) => {
      urls.push(String(url));
      const response = await fetch(url, init);
      seen.push(hintsSeen(response.headers));
      return response;
    },
  });
  const result = await generateText({ model: openai("node-model"), prompt: "Hi",
                                      maxOutputTokens: 8, maxRetries: 0 });
  assert.ok(result.text.length > 0);
  assert.equal(result.usage.outputTokens, 8);
  assert.equal(seen[0]["x-nat-call-index"], "1");

  const streamed = streamText({ model: openai("node-model"), prompt: "Hi", maxOutputTokens: 4,
                                maxRetries: 0 });
  let text = "";
  for await (const piece of streamed.textStream) text += piece;
  assert.ok(text.length > 0);
  assert.equal((await streamed.usage).outputTokens, 4);
  assert.equal(seen[1]["x-nat-call-index"], "2");
  assert.deepEqual(urls, [`${base}/v1/responses`, `${base}/v1/responses`]);
});

test("anthropic messages.create with a tool loop through augur", async () => {
  const client = new Anthropic({ baseURL: base, apiKey: "k", maxRetries: 0,
                                 defaultHeaders: { ...run("messages"),
                                                   "x-mock-tool-rounds": "1" } });
  const tools = [{ name: "get_weather", description: "The weather in a city",
                   input_schema: { type: "object", properties: { city: { type: "string" } } } }];
  const messages = [{ role: "user", content: "Weather in Paris?" }];
  const first = await client.messages
    .create({ model: "node-model", max_tokens: 64, tools, messages })
    .withResponse();
  assert.equal(first.data.stop_reason, "tool_use");
  const call = first.data.content.find((b) => b.type === "tool_use");
  assert.equal(call.name, "get_weather");
  assert.equal(hintsSeen(first.response.headers)["x-nat-call-index"], "1");

  messages.push({ role: "assistant", content: first.data.content });
  messages.push({ role: "user",
                  content: [{ type: "tool_result", tool_use_id: call.id, content: "Sunny" }] });
  const stream = client.messages.stream({ model: "node-model", max_tokens: 5, tools, messages });
  let text = "";
  stream.on("text", (t) => { text += t; });
  const final = await stream.finalMessage();
  assert.equal(final.stop_reason, "max_tokens");
  assert.equal(final.usage.output_tokens, 5);
  assert.ok(text.length > 0);
});
