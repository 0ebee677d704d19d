"""The OpenAI Responses and Anthropic Messages APIs through the real proxy, streamed and not,
against the mock upstream speaking both: each call is counted in its run and gets hint headers,
its output tokens are learned from the dialect's usage (Responses' usage.output_tokens, in
response.completed when streamed; Messages' final message_delta), no nvext member is written into
bodies whose servers reject unknown members, and the response reaches the client byte for byte."""

import json
import re
import time
import unittest

from harness import Augur, IntegrationTest, Mock, config, request, sse_events

# Three calls per run on path "agent": 100, 200, 300 output tokens; the third ends the run.
TOKENS = [100, 200, 300]

DIALECTS = {
    "responses": ("/v1/responses",
                  lambda stream: {"model": "m", "input": "What is the weather?",
                                  "instructions": "You are terse.", "stream": stream}),
    "messages": ("/v1/messages",
                 lambda stream: {"model": "m", "max_tokens": 1024, "stream": stream,
                                 "system": "You are terse.",
                                 "messages": [{"role": "user", "content": "Hello"}]}),
}


def body_of(dialect, stream):
    return json.dumps(DIALECTS[dialect][1](stream)).encode()


class DialectsThroughTheProxy(IntegrationTest):
    def start(self, hints="[nat_headers, nvext, dynamo_headers]", mock_args=()):
        mock = self.own(Mock(*mock_args))
        up = f'{{ name: mock, url: "{mock.url}", hints: {hints} }}'
        augur = self.own(Augur(config(
            [up], "learning: { rebuild_interval: 1h, rebuild_runs: 1 }\n")))
        return augur, mock

    def call(self, augur, dialect, stream, run, tokens, last=False):
        """One call of a run; returns the x-nat-* headers the mock received."""
        headers = {"x-nat-run-id": run, "x-nat-function-path": "agent",
                   "x-mock-tokens": str(tokens)}
        if last:
            headers["x-nat-run-end"] = "true"
        resp = request(augur.port, "POST", DIALECTS[dialect][0], body_of(dialect, stream),
                       headers)
        self.assertEqual(resp.status, 200, resp.body)
        got = json.loads(resp.header("x-mock-request-headers"))
        return {k[len("x-nat-"):]: v for k, v in got.items() if k.startswith("x-nat-")}

    def run_agent(self, augur, dialect, stream, run):
        return [self.call(augur, dialect, stream, run, t, last=(i == len(TOKENS) - 1))
                for i, t in enumerate(TOKENS)]

    def test_output_tokens_are_learned_from_each_dialects_usage(self):
        for dialect in DIALECTS:
            for stream in (False, True):
                with self.subTest(dialect=dialect, stream=stream):
                    augur, _ = self.start()
                    first = self.run_agent(augur, dialect, stream, "cold")
                    # Every call is a call of its run, with hints.
                    self.assertEqual([h["call-index"] for h in first], ["1", "2", "3"])
                    self.assertEqual({h["prediction-source"] for h in first}, {"static"})
                    deadline = time.monotonic() + 30
                    n = 0
                    while True:
                        hints = self.run_agent(augur, dialect, stream, f"warm{n}")
                        n += 1
                        if all(h["prediction-source"] == "exact" for h in hints):
                            break
                        self.assertLess(time.monotonic(), deadline, "never learned")
                        time.sleep(0.05)
                    self.assertEqual([h["remaining-llm-calls"] for h in hints], ["2", "1", "0"])
                    self.assertEqual([h["expected-output-tokens"] for h in hints],
                                     ["100", "200", "300"])

    def test_a_headerless_agents_final_answer_ends_its_run_at_once(self):
        """An agent sending no run header: its first call's answer makes a tool call, so the
        run goes on and the next call (the list plus the call and its result) continues it; that
        call's answer makes none, which is the agent's last answer: the run ends then, not at the
        idle timeout. In each dialect, streamed and not (the answers are the mock's, read as they
        are relayed). Responses excepted: a later call may continue any answer by naming it in
        previous_response_id, so its runs end by the idle timeout."""
        calls = [{"name": "lookup", "arguments": json.dumps({"q": "weather in Porto"})}]

        def conversation(dialect, answered):
            """The body of the first call, or, with `answered`, of the one after it."""
            if dialect == "chat":
                body = {"model": "m", "messages": [
                    {"role": "system", "content": "You look things up."},
                    {"role": "user", "content": "Weather in Porto?"}],
                    "tools": [{"type": "function", "function": {"name": "lookup"}}]}
                if answered:
                    body["messages"] += [
                        {"role": "assistant", "content": None, "tool_calls": [
                            {"id": "c1", "type": "function", "function": calls[0]}]},
                        {"role": "tool", "tool_call_id": "c1", "content": "Sunny"}]
                return "/v1/chat/completions", body
            if dialect == "responses":
                body = {"model": "m", "instructions": "You look things up.",
                        "tools": [{"type": "function", "name": "lookup"}],
                        "input": [{"role": "user", "content": "Weather in Porto?"}]}
                if answered:
                    body["input"] += [
                        {"type": "function_call", "call_id": "c1", **calls[0]},
                        {"type": "function_call_output", "call_id": "c1", "output": "Sunny"}]
                return "/v1/responses", body
            body = {"model": "m", "max_tokens": 64, "system": "You look things up.",
                    "tools": [{"name": "lookup", "input_schema": {"type": "object"}}],
                    "messages": [{"role": "user", "content": "Weather in Porto?"}]}
            if answered:
                body["messages"] += [
                    {"role": "assistant", "content": [
                        {"type": "tool_use", "id": "c1", "name": "lookup",
                         "input": {"q": "weather in Porto"}}]},
                    {"role": "user", "content": [
                        {"type": "tool_result", "tool_use_id": "c1", "content": "Sunny"}]}]
            return "/v1/messages", body

        for dialect in ("chat", "responses", "messages"):
            for stream in (False, True):
                with self.subTest(dialect=dialect, stream=stream):
                    augur, _ = self.start(hints="[nat_headers]")

                    def send(answered, extra):
                        path, body = conversation(dialect, answered)
                        body["stream"] = stream
                        resp = request(augur.port, "POST", path, json.dumps(body).encode(),
                                       extra)
                        self.assertEqual(resp.status, 200, resp.body)
                        seen = json.loads(resp.header("x-mock-request-headers"))
                        agents = request(augur.admin_port, "GET", "/v1/augur/agents").json()
                        return seen["x-nat-call-index"], agents

                    index, agents = send(False, {"x-mock-tool-calls": json.dumps(calls)})
                    self.assertEqual(index, "1")
                    self.assertEqual(agents["runs_in_flight"], 1)  # a tool call: it goes on
                    self.assertEqual(agents["conversations"], 1)
                    index, agents = send(True, {})
                    self.assertEqual(index, "2")  # the same run
                    over = dialect != "responses"  # a final answer: over
                    self.assertEqual(agents["runs_in_flight"], 0 if over else 1)
                    self.assertEqual(agents["runs"]["conversation"]["ended"], 1 if over else 0)
                    # Its conversation is finished in every dialect: nothing of it is kept.
                    self.assertEqual(agents["conversations"], 0)

    def test_responses_chained_by_previous_response_id_are_one_run(self):
        mock = self.own(Mock())
        up = f'{{ name: mock, url: "{mock.url}", hints: [nat_headers] }}'
        augur = self.own(Augur(config(
            [up], "learning: { rebuild_interval: 1h, rebuild_runs: 1 }\n"
                  "context: { run_idle_timeout: 1s }\n")))

        def call(previous=None, stream=False, tokens=10):
            body = {"model": "m", "input": "next step", "stream": stream}
            if previous:
                body["previous_response_id"] = previous
            resp = request(augur.port, "POST", "/v1/responses", json.dumps(body).encode(),
                           {"x-mock-tokens": str(tokens)})
            self.assertEqual(resp.status, 200, resp.body)
            seen = json.loads(resp.header("x-mock-request-headers"))
            if stream:
                created = json.loads(sse_events(resp)[0].split("data: ", 1)[1])
                rid = created["response"]["id"]
            else:
                rid = resp.json()["id"]
            return rid, seen["x-nat-call-index"], seen["x-nat-remaining-llm-calls"]

        def chain(n):
            """n calls, each continuing the last; the second one streamed. Their hints."""
            rid, hints = None, []
            for i in range(n):
                rid, index, remaining = call(rid, stream=(i == 1), tokens=10 * (i + 1))
                hints.append((index, remaining))
            return hints

        self.assertEqual([h[0] for h in chain(3)], ["1", "2", "3"])
        self.assertEqual(call()[1], "1")  # a call naming no response starts a run of its own
        self.assertEqual(call("resp_not_relayed_by_augur")[1], "1")
        # The chains end after the idle timeout and are learned: a chain's first call is then
        # predicted to have two more calls after it.
        deadline = time.monotonic() + 30
        while True:
            time.sleep(1.2)
            hints = chain(3)
            if hints[0][1] == "2" or time.monotonic() > deadline:
                break
        self.assertEqual(hints, [("1", "2"), ("2", "1"), ("3", "0")])

    def test_nvext_goes_only_into_chat_completions_bodies(self):
        augur, _ = self.start()
        headers = {"x-nat-run-id": "r1", "x-nat-function-path": "agent"}
        for dialect in DIALECTS:
            with self.subTest(dialect=dialect):
                resp = request(augur.port, "POST", DIALECTS[dialect][0],
                               body_of(dialect, False), headers)
                self.assertEqual(resp.status, 200, resp.body)
                seen = resp.json()["mock"]
                self.assertEqual(json.loads(seen["request_body"]),
                                 DIALECTS[dialect][1](False))  # untouched
                self.assertIn("x-nat-expected-output-tokens", seen["request_headers"])
                self.assertIn("x-dynamo-session-id", seen["request_headers"])
        chat = {"model": "m", "messages": [{"role": "user", "content": "Hello"}]}
        resp = request(augur.port, "POST", "/v1/chat/completions", json.dumps(chat).encode(),
                       headers)
        self.assertEqual(resp.status, 200, resp.body)
        self.assertIn("nvext", json.loads(resp.json()["mock"]["request_body"]))

    def test_an_upstream_can_take_nvext_in_other_dialects(self):
        # upstreams[].nvext_dialects: this upstream's Responses server accepts nvext; its chat
        # server (left out of the list) and Messages server do not get it.
        mock = self.own(Mock())
        up = (f'{{ name: mock, url: "{mock.url}", hints: [nvext], '
              f'nvext_dialects: [responses] }}')
        augur = self.own(Augur(config([up])))
        headers = {"x-nat-run-id": "r1", "x-nat-function-path": "agent"}
        got = {}
        for dialect in DIALECTS:
            resp = request(augur.port, "POST", DIALECTS[dialect][0], body_of(dialect, False),
                           headers)
            self.assertEqual(resp.status, 200, resp.body)
            got[dialect] = "nvext" in json.loads(resp.json()["mock"]["request_body"])
        self.assertEqual(got, {d: d == "responses" for d in DIALECTS})

    def test_responses_reach_the_client_byte_for_byte(self):
        augur, mock = self.start(mock_args=("--no-echo",))

        def normalised(body):
            # The mock numbers its ids and stamps the time; nothing else differs.
            body = re.sub(rb"mock-\d+", b"mock-N", body)
            return re.sub(rb'"created_at":\d+', b'"created_at":T', body)

        for dialect in DIALECTS:
            for stream in (False, True):
                with self.subTest(dialect=dialect, stream=stream):
                    path, body = DIALECTS[dialect][0], body_of(dialect, stream)
                    headers = {"x-mock-tokens": "9", "x-nat-run-id": "r2"}
                    direct = request(mock.port, "POST", path, body, headers)
                    proxied = request(augur.port, "POST", path, body, headers)
                    self.assertEqual(direct.status, 200)
                    self.assertEqual(proxied.status, 200)
                    self.assertEqual(proxied.header("content-type"),
                                     direct.header("content-type"))
                    self.assertEqual(normalised(proxied.body), normalised(direct.body))
                    if stream:
                        events = sse_events(proxied)
                        self.assertGreater(len(events), 5)


if __name__ == "__main__":
    unittest.main()
