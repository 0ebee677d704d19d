// The official `openai` npm client pointed at augur's base URL, streaming and not, against the
// bundled mock upstream. augur's ports arrive in AUGUR_URL (set by run_openai_test.sh).
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const client = new OpenAI({ baseURL: `${process.env.AUGUR_URL}/v1`, apiKey: "test-key", maxRetries: 0 });

test("chat completion through augur", async () => {
  const completion = await client.chat.completions.create({
    model: "node-model",
    messages: [{ role: "user", content: "Say hello" }],
    max_tokens: 12,
  });
  assert.equal(completion.object, "chat.completion");
  assert.equal(completion.model, "node-model");
  assert.equal(completion.usage.completion_tokens, 12);
  assert.ok(completion.choices[0].message.content.length > 0);
});

test("streamed chat completion through augur", async () => {
  const stream = await client.chat.completions.create({
    model: "node-model",
    messages: [{ role: "user", content: "Count" }],
    max_tokens: 7,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = "";
  let chunks = 0;
  let usage = null;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) text += choice.delta?.content ?? "";
  }
  assert.ok(chunks >= 7, `only ${chunks} chunks`);
  assert.ok(text.length > 0);
  assert.equal(usage.completion_tokens, 7);
});

test("augur's errors reach the client as OpenAI API errors", async () => {
  await assert.rejects(
    client.chat.completions.create(
      { model: "node-model", messages: [{ role: "user", content: "x" }] },
      { headers: { "x-mock-status": "429" } },
    ),
    (err) => err instanceof OpenAI.APIError && err.status === 429,
  );
});
