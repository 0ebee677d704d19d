"""The mock upstream's OpenAI Responses (POST /v1/responses) and Anthropic Messages
(POST /v1/messages) dialects through real sockets: for each, streamed and not, the status and
content type, every SSE event a JSON object of the named type in the real APIs' order, usage that
counts the text sent, the max-token caps, errors in the dialect's envelope, and tool-call rounds
driven by x-mock-tool-rounds."""

import json
import unittest

from harness import IntegrationTest, Mock, request

RESPONSES = "/v1/responses"
MESSAGES = "/v1/messages"

RESPONSES_TEXT_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
                         "response.content_part.added", "*response.output_text.delta",
                         "response.output_text.done", "response.content_part.done",
                         "response.output_item.done", "response.completed"]
RESPONSES_TOOL_EVENTS = ["response.created", "response.in_progress", "response.output_item.added",
                         "response.function_call_arguments.delta",
                         "response.function_call_arguments.done", "response.output_item.done",
                         "response.completed"]
MESSAGES_EVENTS = ["message_start", "content_block_start", "ping", "*content_block_delta",
                   "content_block_stop", "message_delta", "message_stop"]

RESPONSES_TOOL = {"type": "function", "name": "get_weather",
                  "parameters": {"type": "object", "properties": {}}}
MESSAGES_TOOL = {"name": "get_weather", "input_schema": {"type": "object", "properties": {}}}


def post(mock, path, body, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return request(mock.port, "POST", path, json.dumps(body).encode(), h)


def parse_sse(test, resp):
    """[(event name, data object)], failing unless every event is `event:` + `data:` with a JSON
    object whose type is the event's name."""
    test.assertTrue(resp.body.endswith(b"\n\n"), resp.body[-200:])
    events = []
    for block in resp.body.decode().split("\n\n")[:-1]:
        lines = block.split("\n")
        test.assertEqual(len(lines), 2, block)
        test.assertTrue(lines[0].startswith("event: "), block)
        test.assertTrue(lines[1].startswith("data: "), block)
        name = lines[0][len("event: "):]
        data = json.loads(lines[1][len("data: "):])
        test.assertIsInstance(data, dict)
        test.assertEqual(data["type"], name)
        events.append((name, data))
    return events


def matches_order(names, pattern):
    """Whether names follow pattern, where "*x" stands for any number of x in a row."""
    i = 0
    for step in pattern:
        if step.startswith("*"):
            while i < len(names) and names[i] == step[1:]:
                i += 1
        elif i < len(names) and names[i] == step:
            i += 1
        else:
            return False
    return i == len(names)


def responses_body(stream=False, **extra):
    body = {"model": "gpt-test", "input": "hello", "instructions": "be brief"}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


def messages_body(stream=False, **extra):
    body = {"model": "claude-test", "max_tokens": 1024, "system": "be brief",
            "messages": [{"role": "user", "content": "hello"}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


class Responses(IntegrationTest):
    def setUp(self):
        self.mock = self.own(Mock())

    def complete(self, stream, headers=None, **extra):
        """(answer: the final response object, [events]) for one request."""
        resp = post(self.mock, RESPONSES, responses_body(stream, **extra), headers)
        self.assertEqual(resp.status, 200, resp.body)
        if not stream:
            self.assertEqual(resp.header("content-type"), "application/json")
            return resp.json(), []
        self.assertEqual(resp.header("content-type"), "text/event-stream")
        events = parse_sse(self, resp)
        self.assertEqual([e["sequence_number"] for _, e in events], list(range(len(events))))
        return events[-1][1]["response"], events

    def test_text_answer_usage_counts_the_deltas(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                answer, events = self.complete(stream, {"x-mock-tokens": "7"},
                                               previous_response_id="resp_prev")
                self.assertTrue(answer["id"].startswith("resp_"))
                self.assertEqual(answer["object"], "response")
                self.assertEqual(answer["status"], "completed")
                self.assertEqual(answer["model"], "gpt-test")
                self.assertEqual(answer["instructions"], "be brief")
                self.assertEqual(answer["previous_response_id"], "resp_prev")
                self.assertIsInstance(answer["created_at"], int)
                [item] = answer["output"]
                self.assertEqual((item["type"], item["role"], item["status"]),
                                 ("message", "assistant", "completed"))
                self.assertTrue(item["id"].startswith("msg_"))
                [part] = item["content"]
                self.assertEqual(part["type"], "output_text")
                self.assertEqual(part["annotations"], [])
                text = part["text"]
                self.assertEqual(len(text.split()), 7)
                usage = answer["usage"]
                self.assertEqual(usage["output_tokens"], 7)
                self.assertGreater(usage["input_tokens"], 0)
                self.assertEqual(usage["total_tokens"],
                                 usage["input_tokens"] + usage["output_tokens"])
                if stream:
                    names = [n for n, _ in events]
                    self.assertTrue(matches_order(names, RESPONSES_TEXT_EVENTS), names)
                    deltas = [e for n, e in events if n == "response.output_text.delta"]
                    self.assertEqual(len(deltas), usage["output_tokens"])
                    self.assertEqual("".join(d["delta"] for d in deltas), text)
                    for d in deltas:
                        self.assertEqual((d["item_id"], d["output_index"], d["content_index"]),
                                         (item["id"], 0, 0))
                    created = events[0][1]["response"]
                    self.assertEqual((created["id"], created["status"], created["output"]),
                                     (answer["id"], "in_progress", []))
                    done = dict(events)["response.output_text.done"]
                    self.assertEqual(done["text"], text)

    def test_ids_are_unique(self):
        ids = {self.complete(False)[0]["id"] for _ in range(3)}
        self.assertEqual(len(ids), 3)

    def test_max_output_tokens_caps_the_answer(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                answer, events = self.complete(stream, {"x-mock-tokens": "9"},
                                               max_output_tokens=3)
                self.assertEqual(answer["status"], "incomplete")
                self.assertEqual(answer["incomplete_details"], {"reason": "max_output_tokens"})
                self.assertEqual(answer["usage"]["output_tokens"], 3)
                self.assertEqual(answer["max_output_tokens"], 3)
                if stream:
                    self.assertEqual(events[-1][0], "response.incomplete")
                    self.assertEqual(
                        sum(n == "response.output_text.delta" for n, _ in events), 3)

    def test_zero_tokens(self):
        answer, events = self.complete(True, {"x-mock-tokens": "0"})
        self.assertEqual(answer["usage"]["output_tokens"], 0)
        self.assertFalse(any(n == "response.output_text.delta" for n, _ in events))

    def test_tool_rounds(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                items = [{"role": "user", "content": "weather?"}]
                calls = 0
                while True:
                    answer, events = self.complete(stream, {"x-mock-tool-rounds": "2"},
                                                   input=items, tools=[RESPONSES_TOOL])
                    [item] = answer["output"]
                    if item["type"] != "function_call":
                        break
                    calls += 1
                    self.assertLessEqual(calls, 2)
                    self.assertEqual(item["name"], "get_weather")
                    self.assertEqual(item["arguments"], "{}")
                    self.assertEqual(item["status"], "completed")
                    self.assertTrue(item["id"].startswith("fc_"))
                    self.assertTrue(item["call_id"].startswith("call_"))
                    self.assertEqual(answer["usage"]["output_tokens"], 1)
                    if stream:
                        names = [n for n, _ in events]
                        self.assertEqual(names, RESPONSES_TOOL_EVENTS)
                        args = dict(events)["response.function_call_arguments.done"]
                        self.assertEqual((args["name"], args["arguments"]),
                                         ("get_weather", "{}"))
                    items += [item, {"type": "function_call_output", "call_id": item["call_id"],
                                     "output": "sunny"}]
                self.assertEqual(calls, 2)
                self.assertEqual(item["type"], "message")
                self.assertEqual(answer["usage"]["output_tokens"], 16)  # the default length

    def test_tools_without_the_header_get_text(self):
        answer, _ = self.complete(False, tools=[RESPONSES_TOOL])
        self.assertEqual(answer["output"][0]["type"], "message")

    def test_echo_and_errors(self):
        resp = post(self.mock, RESPONSES, responses_body())
        self.assertEqual(json.loads(resp.json()["mock"]["request_body"]), responses_body())
        self.assertOpenAIError(
            request(self.mock.port, "POST", RESPONSES, b"{not json",
                    {"Content-Type": "application/json"}), 400)
        err = self.assertOpenAIError(
            post(self.mock, RESPONSES, responses_body(), {"x-mock-status": "503"}), 503)
        self.assertEqual(err["type"], "server_error")


class Messages(IntegrationTest):
    def setUp(self):
        self.mock = self.own(Mock())

    def complete(self, stream, headers=None, **extra):
        """(answer: the message, as a non-streamed answer would show it, [events])."""
        resp = post(self.mock, MESSAGES, messages_body(stream, **extra), headers)
        self.assertEqual(resp.status, 200, resp.body)
        if not stream:
            self.assertEqual(resp.header("content-type"), "application/json")
            return resp.json(), []
        self.assertEqual(resp.header("content-type"), "text/event-stream")
        events = parse_sse(self, resp)
        names = [n for n, _ in events]
        self.assertTrue(matches_order(names, MESSAGES_EVENTS), names)
        # Rebuild the message the way the Anthropic SDKs accumulate a stream.
        message = events[0][1]["message"]
        self.assertEqual(message["content"], [])
        self.assertIsNone(message["stop_reason"])
        self.assertEqual(message["usage"]["output_tokens"], 1)
        block = dict(events)["content_block_start"]["content_block"]
        partial_json = ""
        for name, e in events:
            if name == "content_block_delta":
                self.assertEqual(e["index"], 0)
                if e["delta"]["type"] == "text_delta":
                    block["text"] += e["delta"]["text"]
                else:
                    self.assertEqual(e["delta"]["type"], "input_json_delta")
                    partial_json += e["delta"]["partial_json"]
        if block["type"] == "tool_use":
            block["input"] = json.loads(partial_json)
        message["content"] = [block]
        delta = dict(events)["message_delta"]
        message.update(delta["delta"])
        message["usage"]["output_tokens"] = delta["usage"]["output_tokens"]
        message["deltas"] = sum(n == "content_block_delta" for n in names)
        return message, events

    def test_text_answer_usage_counts_the_deltas(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                message, _ = self.complete(stream, {"x-mock-tokens": "5"})
                self.assertTrue(message["id"].startswith("msg_"))
                self.assertEqual((message["type"], message["role"], message["model"]),
                                 ("message", "assistant", "claude-test"))
                self.assertEqual(message["stop_reason"], "end_turn")
                self.assertIsNone(message["stop_sequence"])
                [block] = message["content"]
                self.assertEqual(block["type"], "text")
                self.assertEqual(len(block["text"].split()), 5)
                self.assertEqual(message["usage"]["output_tokens"], 5)
                self.assertGreater(message["usage"]["input_tokens"], 0)
                if stream:
                    self.assertEqual(message["deltas"], 5)

    def test_max_tokens_caps_the_answer(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                message, _ = self.complete(stream, {"x-mock-tokens": "8"}, max_tokens=2)
                self.assertEqual(message["stop_reason"], "max_tokens")
                self.assertEqual(message["usage"]["output_tokens"], 2)
                self.assertEqual(len(message["content"][0]["text"].split()), 2)

    def test_tool_rounds(self):
        for stream in (False, True):
            with self.subTest(stream=stream):
                messages = [{"role": "user", "content": "weather?"}]
                calls = 0
                while True:
                    message, _ = self.complete(stream, {"x-mock-tool-rounds": "3"},
                                               messages=messages, tools=[MESSAGES_TOOL])
                    [block] = message["content"]
                    if block["type"] != "tool_use":
                        break
                    calls += 1
                    self.assertLessEqual(calls, 3)
                    self.assertEqual(message["stop_reason"], "tool_use")
                    self.assertEqual((block["name"], block["input"]), ("get_weather", {}))
                    self.assertTrue(block["id"].startswith("toolu_"))
                    self.assertEqual(message["usage"]["output_tokens"], 1)
                    messages += [{"role": "assistant", "content": [block]},
                                 {"role": "user", "content": [
                                     {"type": "tool_result", "tool_use_id": block["id"],
                                      "content": "sunny"}]}]
                self.assertEqual(calls, 3)
                self.assertEqual(message["stop_reason"], "end_turn")

    def test_echo_and_errors(self):
        resp = post(self.mock, MESSAGES, messages_body())
        self.assertEqual(json.loads(resp.json()["mock"]["request_body"]), messages_body())
        for status, kind in ((529, "overloaded_error"), (429, "rate_limit_error")):
            resp = post(self.mock, MESSAGES, messages_body(), {"x-mock-status": str(status)})
            self.assertEqual(resp.status, status, resp.body)
            got = resp.json()
            self.assertEqual(got["type"], "error")
            self.assertEqual(got["error"]["type"], kind)
        resp = request(self.mock.port, "POST", MESSAGES, b"[1,",
                       {"Content-Type": "application/json"})
        self.assertEqual(resp.status, 400, resp.body)
        self.assertEqual(resp.json()["error"]["type"], "invalid_request_error")


class Pacing(IntegrationTest):
    def test_mid_stream_fault_cuts_after_the_named_delta(self):
        mock = self.own(Mock())
        for path, body in ((RESPONSES, responses_body(True)), (MESSAGES, messages_body(True))):
            with self.subTest(path):
                with self.assertRaises(ConnectionError):
                    post(mock, path, body, {"x-mock-fault": "reset-mid-stream",
                                            "x-mock-fault-after": "2"})

    def test_chat_completions_still_answer(self):
        mock = self.own(Mock())
        resp = post(mock, "/v1/chat/completions",
                    {"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json()["object"], "chat.completion")


if __name__ == "__main__":
    unittest.main()
