"""The mock upstream's x-mock-tool-calls header through real sockets: in each dialect (Chat
Completions, Responses, Messages), streamed and not, the answer makes exactly the calls asked for,
names and arguments round-trip byte for byte (streamed: reassembled from at least two fragments
per call), usage is x-mock-tokens, the stop reason is the dialect's tool-call one; a malformed or
oversized value is a 400 naming the header."""

import json
import unittest

from harness import IntegrationTest, Mock
from test_mock_dialects import matches_order, parse_sse, post

CHAT = "/v1/chat/completions"
RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"

# Two parallel calls; the second's arguments hold escapes and non-ASCII text (sent \u-escaped in
# the header, as json.dumps writes it) and are long enough to be cut into several fragments.
CALLS = [
    {"name": "research_agent", "arguments": json.dumps({"input": "find the 3 best caches"})},
    {"name": "summarize",
     "arguments": json.dumps({"input": "r\u00e9sum\u00e9 of \"quoted\"\nlines \u2603 and more",
                              "n": [1, 2.5, None, True]}, ensure_ascii=False)},
]
TOKENS = 23

RESPONSES_EVENTS = ["response.created", "response.in_progress",
                    "response.output_item.added", "*response.function_call_arguments.delta",
                    "response.function_call_arguments.done", "response.output_item.done",
                    "response.output_item.added", "*response.function_call_arguments.delta",
                    "response.function_call_arguments.done", "response.output_item.done",
                    "response.completed"]
MESSAGES_EVENTS = ["message_start", "content_block_start", "ping", "*content_block_delta",
                   "content_block_stop", "content_block_start", "*content_block_delta",
                   "content_block_stop", "message_delta", "message_stop"]


def headers(calls=CALLS, **extra):
    h = {"x-mock-tool-calls": json.dumps(calls), "x-mock-tokens": str(TOKENS)}
    h.update(extra)
    return h


def chat_body(stream):
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"type": "function", "function": {"name": c["name"], "parameters": {}}}
                      for c in CALLS]}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def responses_body(stream):
    body = {"model": "m", "input": "hi", "instructions": "be brief",
            "tools": [{"type": "function", "name": c["name"], "parameters": {}} for c in CALLS]}
    if stream:
        body["stream"] = True
    return body


def messages_body(stream):
    body = {"model": "m", "max_tokens": 5, "system": "be brief",
            "messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": c["name"], "input_schema": {}} for c in CALLS]}
    if stream:
        body["stream"] = True
    return body


class ToolCalls(IntegrationTest):
    def setUp(self):
        self.mock = self.own(Mock())

    def ok(self, path, body, h):
        resp = post(self.mock, path, body, h)
        self.assertEqual(resp.status, 200, resp.body)
        return resp

    def assert_calls(self, got):
        """got: [(name, arguments text)] in order: exactly CALLS, byte for byte once decoded."""
        self.assertEqual(got, [(c["name"], c["arguments"]) for c in CALLS])

    def test_chat_completions(self):
        resp = self.ok(CHAT, chat_body(False), headers())
        answer = resp.json()
        [choice] = answer["choices"]
        self.assertEqual(choice["finish_reason"], "tool_calls")
        message = choice["message"]
        self.assertEqual(message["role"], "assistant")
        self.assertIsNone(message["content"])
        for call in message["tool_calls"]:
            self.assertEqual(call["type"], "function")
            self.assertTrue(call["id"].startswith("call_"), call)
        self.assertEqual(len({c["id"] for c in message["tool_calls"]}), len(CALLS))
        self.assert_calls([(c["function"]["name"], c["function"]["arguments"])
                           for c in message["tool_calls"]])
        self.assertEqual(answer["usage"]["completion_tokens"], TOKENS)

    def test_chat_completions_streamed(self):
        resp = self.ok(CHAT, chat_body(True), headers(**{"x-mock-chunk-delay-ms": "1"}))
        self.assertEqual(resp.header("content-type"), "text/event-stream")
        payloads = [line[len("data: "):] for line in resp.body.decode().split("\n")
                    if line.startswith("data: ")]
        self.assertEqual(payloads[-1], "[DONE]")
        chunks = [json.loads(p) for p in payloads[:-1]]
        calls = {}  # index -> {id, name, fragments}
        finish = []
        usage = None
        for chunk in chunks:
            self.assertEqual(chunk["object"], "chat.completion.chunk")
            if chunk.get("usage"):
                self.assertEqual(chunk["choices"], [])
                usage = chunk["usage"]
                continue
            [choice] = chunk["choices"]
            if choice["finish_reason"] is not None:
                finish.append(choice["finish_reason"])
                self.assertEqual(choice["delta"], {})
                continue
            [tc] = choice["delta"]["tool_calls"]
            fn = tc["function"]
            if "id" in tc:
                self.assertNotIn(tc["index"], calls, "a call opened twice")
                self.assertEqual(tc["type"], "function")
                self.assertTrue(tc["id"].startswith("call_"))
                self.assertEqual(fn["arguments"], "")
                calls[tc["index"]] = {"name": fn["name"], "fragments": []}
            else:
                self.assertNotIn("name", fn)
                self.assertIn(tc["index"], calls, "a fragment before its call's opening chunk")
                calls[tc["index"]]["fragments"].append(fn["arguments"])
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(finish, ["tool_calls"])
        self.assertEqual(sorted(calls), list(range(len(CALLS))))
        for c in calls.values():
            self.assertGreaterEqual(len(c["fragments"]), 2, c)
            self.assertTrue(all(c["fragments"]), c)
        self.assert_calls([(calls[i]["name"], "".join(calls[i]["fragments"]))
                           for i in sorted(calls)])
        self.assertEqual(usage["completion_tokens"], TOKENS)

    def test_responses(self):
        answer = self.ok(RESPONSES, responses_body(False), headers()).json()
        self.assertEqual(answer["status"], "completed")
        items = answer["output"]
        for i, item in enumerate(items):
            self.assertEqual((item["type"], item["status"]), ("function_call", "completed"))
            self.assertTrue(item["id"].startswith("fc_"), item)
            self.assertTrue(item["call_id"].startswith("call_"), item)
        self.assertEqual(len({i["call_id"] for i in items}), len(CALLS))
        self.assert_calls([(i["name"], i["arguments"]) for i in items])
        self.assertEqual(answer["usage"]["output_tokens"], TOKENS)

    def test_responses_streamed(self):
        resp = self.ok(RESPONSES, responses_body(True), headers())
        events = parse_sse(self, resp)
        names = [n for n, _ in events]
        self.assertTrue(matches_order(names, RESPONSES_EVENTS), names)
        self.assertEqual([e["sequence_number"] for _, e in events], list(range(len(events))))
        fragments = {}
        done = {}
        added = {}
        for name, e in events:
            if name == "response.output_item.added":
                added[e["output_index"]] = e["item"]
                self.assertEqual(e["item"]["arguments"], "")
            elif name == "response.function_call_arguments.delta":
                self.assertEqual(e["item_id"], added[e["output_index"]]["id"])
                fragments.setdefault(e["output_index"], []).append(e["delta"])
            elif name == "response.function_call_arguments.done":
                done[e["output_index"]] = e["arguments"]
                self.assertEqual(e["name"], CALLS[e["output_index"]]["name"])
        for i, parts in fragments.items():
            self.assertGreaterEqual(len(parts), 2, parts)
            self.assertEqual("".join(parts), done[i])
        self.assert_calls([(added[i]["name"], "".join(fragments[i])) for i in sorted(added)])
        final = events[-1][1]["response"]
        self.assert_calls([(i["name"], i["arguments"]) for i in final["output"]])
        self.assertEqual(final["usage"]["output_tokens"], TOKENS)

    def test_messages(self):
        message = self.ok(MESSAGES, messages_body(False), headers()).json()
        self.assertEqual(message["stop_reason"], "tool_use")
        blocks = message["content"]
        for b in blocks:
            self.assertEqual(b["type"], "tool_use")
            self.assertTrue(b["id"].startswith("toolu_"), b)
        self.assertEqual([(b["name"], b["input"]) for b in blocks],
                         [(c["name"], json.loads(c["arguments"])) for c in CALLS])
        # Tool calls are not cut by max_tokens (5 here): usage is x-mock-tokens.
        self.assertEqual(message["usage"]["output_tokens"], TOKENS)

    def test_messages_streamed(self):
        resp = self.ok(MESSAGES, messages_body(True), headers())
        events = parse_sse(self, resp)
        names = [n for n, _ in events]
        self.assertTrue(matches_order(names, MESSAGES_EVENTS), names)
        started = {}
        fragments = {}
        for name, e in events:
            if name == "content_block_start":
                block = e["content_block"]
                self.assertEqual((block["type"], block["input"]), ("tool_use", {}))
                self.assertTrue(block["id"].startswith("toolu_"))
                started[e["index"]] = block["name"]
            elif name == "content_block_delta":
                self.assertEqual(e["delta"]["type"], "input_json_delta")
                fragments.setdefault(e["index"], []).append(e["delta"]["partial_json"])
        for parts in fragments.values():
            self.assertGreaterEqual(len(parts), 2, parts)
        # partial_json fragments concatenate to the arguments' JSON text, exactly.
        self.assert_calls([(started[i], "".join(fragments[i])) for i in sorted(started)])
        delta = dict(events)["message_delta"]
        self.assertEqual(delta["delta"]["stop_reason"], "tool_use")
        self.assertEqual(delta["usage"]["output_tokens"], TOKENS)

    def test_one_call_with_the_smallest_arguments_still_streams_two_fragments(self):
        one = [{"name": "t", "arguments": "{}"}]
        resp = self.ok(CHAT, chat_body(True), headers(one))
        frags = [json.loads(line[6:])["choices"][0]["delta"]["tool_calls"][0]["function"]
                 ["arguments"] for line in resp.body.decode().split("\n")
                 if line.startswith("data: {") and '"arguments":"' in line
                 and '"id":"call_' not in line]
        self.assertEqual(frags, ["{", "}"])

    def test_malformed_values_are_a_400_naming_the_header(self):
        bad = ["not json", "{}", "[]", '[{"name":"t"}]', '[{"arguments":"{}"}]',
               '[{"name":"","arguments":"{}"}]', '[{"name":"t","arguments":"[1]"}]',
               '[{"name":"t","arguments":"{"}]', '[{"name":"t","arguments":{}}]',
               '[{"name":"t","arguments":"{}","extra":1}]',
               json.dumps([{"name": "t", "arguments": json.dumps({"x": "y" * 17000})}])]
        for path, body in ((CHAT, chat_body(False)), (RESPONSES, responses_body(True)),
                           (MESSAGES, messages_body(False))):
            for value in bad:
                with self.subTest(path=path, value=value[:40]):
                    resp = post(self.mock, path, body, {"x-mock-tool-calls": value})
                    self.assertEqual(resp.status, 400, resp.body[:300])
                    self.assertIn(b"x-mock-tool-calls", resp.body)
        # The mock still serves the connection's next requests normally.
        resp = post(self.mock, CHAT, chat_body(False), {"x-mock-tokens": "3"})
        self.assertEqual(resp.status, 200)


if __name__ == "__main__":
    unittest.main()
