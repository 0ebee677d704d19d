"""Bad input at every boundary, through the real binary: bodies augur cannot read, context headers
with bytes no agent should send, absurd call indices, chunked bodies over the limit, and trie
files that are not tries. Each gets the documented behaviour or error, and augur keeps serving.
(Oversized headers and Content-Length bodies, 431/413, are in test_proxy.py.)"""

import json
import os
import signal
import subprocess
import tempfile
import time
import unittest

from harness import (AUGUR_BIN, Augur, IntegrationTest, ScriptedUpstream, build_request,
                     chat_body, config, connect, read_response, request, respond)

HINTS = "[nat_headers, prefix_headers, nvext_nat]"


def deep_object(depth):
    return '{"a":' * depth + "1" + "}" * depth


class BodiesAugurCannotRead(IntegrationTest):
    def start(self, hints=HINTS):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config([f'{{ name: up, url: "{up.url}", hints: {hints} }}'])))
        return up, augur

    def test_invalid_and_deeply_nested_json_is_forwarded_byte_for_byte_without_hints(self):
        up, augur = self.start()
        bodies = {
            "truncated": b'{"model":"m","messages":[{"role":"user","content":"hi"',
            "not utf-8": b'{"model":"m\xff\xfe","messages":[]}',
            "nul byte": b'{"model":"m"}\x00',
            "array": b'[{"model":"m"}]',
            "deep array": b"[" * 100000,
            "deep object": deep_object(5000).encode(),  # valid JSON past the parser's depth
            "form": b"model=m&messages=hi",
        }
        for what, body in bodies.items():
            with self.subTest(what):
                resp = request(augur.port, "POST", "/v1/chat/completions", body,
                               {"Content-Type": "application/json", "x-nat-run-id": "r1"})
                self.assertEqual(resp.status, 200, resp.body)
                got = up.requests[-1]
                self.assertEqual(got["body"], body)
                headers = dict(got["headers"])
                self.assertEqual(headers["content-length"], str(len(body)))
                # A body that is not one JSON object is not an LLM call: no hints at all.
                self.assertNotIn("x-prefix-id", headers)
                self.assertNotIn("x-nat-call-index", headers)

    def test_messages_of_unexpected_shapes_are_forwarded_untouched_as_runs_of_their_own(self):
        # No run header: augur reads the conversation to infer the run. Lists whose items are not
        # messages, or hold odd types, must neither fail the call nor change its bytes, and no
        # two such calls become one run. (Header hints only: nvext would be a documented change.)
        up, augur = self.start("[nat_headers, prefix_headers]")
        shapes = [
            ("/v1/chat/completions", {"model": "m", "messages": [1, "x", None, [], {}]}),
            ("/v1/chat/completions", {"model": "m", "messages": "hello"}),
            ("/v1/chat/completions", {"model": "m", "messages": [{"role": 7, "content": {}}]}),
            ("/v1/chat/completions",
             {"model": "m", "messages": [{"role": "user", "content": [1, {"type": 2}]}],
              "tools": [1, {"name": 5}, {"function": "f"}]}),
            ("/v1/messages", {"model": "m", "max_tokens": 5, "system": [{"text": 3}],
                              "messages": [{"role": "user",
                                            "content": [{"type": "tool_result"}]}]}),
            ("/v1/responses", {"model": "m", "input": {"role": "user"}, "instructions": 5}),
            ("/v1/responses", {"model": "m", "input": [{"type": "function_call_output"}]}),
        ]
        ids = []
        for target, body in shapes:
            raw = json.dumps(body).encode()
            with self.subTest(target=target, body=body):
                resp = request(augur.port, "POST", target, raw,
                               {"Content-Type": "application/json"})
                self.assertEqual(resp.status, 200, resp.body)
                got = up.requests[-1]
                self.assertEqual(got["body"], raw)
                headers = dict(got["headers"])
                self.assertEqual(headers["x-nat-call-index"], "1")
                ids.append(headers["x-prefix-id"])
        self.assertEqual(len(set(ids)), len(ids))

    def test_json_nested_within_the_parser_limit_still_gets_nvext(self):
        up, augur = self.start()
        body = json.dumps(chat_body(tools=json.loads(deep_object(500)))).encode()
        resp = request(augur.port, "POST", "/v1/chat/completions", body,
                       {"Content-Type": "application/json"})
        self.assertEqual(resp.status, 200, resp.body)
        sent = up.requests[-1]["body"]
        self.assertEqual(json.loads(sent)["tools"], json.loads(deep_object(500)))
        self.assertIn("agent_hints", json.loads(sent)["nvext"])
        self.assertEqual(dict(up.requests[-1]["headers"])["content-length"], str(len(sent)))

    def test_a_chunked_body_over_the_limit_is_413(self):
        up, _ = self.start()
        augur = self.own(Augur(config([("up", up.url)], "limits: { max_body_bytes: 1000 }\n")))
        with connect(augur.port) as s:
            chunk = b"x" * 600
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n" +
                      (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n")
            resp, _ = read_response(s)
        self.assertOpenAIError(resp, 413)
        self.assertEqual(up.requests, [])
        self.assertEqual(request(augur.port, "GET", "/v1/models").status, 200)


class ContextHeaders(IntegrationTest):
    def start(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config([f'{{ name: up, url: "{up.url}", hints: {HINTS} }}'])))
        return up, augur

    def call(self, augur, up, headers):
        resp = request(augur.port, "POST", "/v1/chat/completions", chat_body(), headers)
        self.assertEqual(resp.status, 200, resp.body)
        got = up.requests[-1]
        return dict(got["headers"]), json.loads(got["body"])

    def test_non_utf8_run_ids_and_path_names_reach_the_upstream_percent_encoded(self):
        up, augur = self.start()
        # build_request encodes headers as latin-1: each char below is one raw byte on the wire.
        headers, body = self.call(augur, up, {"x-nat-run-id": "r\xff\xfe1",
                                             "x-nat-function-path": "agent\xff/\xc3("})
        self.assertEqual(headers["x-prefix-id"], "r%FF%FE1")
        self.assertEqual(body["nvext"]["agent_hints"]["prefix_id"], "r%FF%FE1")
        self.assertEqual(headers["x-nat-call-index"], "1")
        # The same odd path is the same path: the second call on it is counted as such.
        headers, _ = self.call(augur, up, {"x-nat-run-id": "r\xff\xfe1",
                                          "x-nat-function-path": "agent\xff/\xc3("})
        self.assertEqual(headers["x-nat-call-index"], "2")
        # What augur writes is printable ASCII; the client's own headers pass as sent (obs-text is
        # legal HTTP, and Beast refuses control bytes before augur sees them).
        for name, value in headers.items():
            if name.startswith(("x-nat-", "x-prefix-")) and name != "x-nat-run-id" \
                    and name != "x-nat-function-path":
                self.assertTrue(all(0x20 <= ord(c) < 0x7F for c in value), (name, value))
        self.assertEqual(headers["x-nat-run-id"], "r\xff\xfe1")

    def test_a_control_byte_in_a_header_is_a_400(self):
        up, augur = self.start()
        with connect(augur.port) as s:
            s.sendall(build_request("POST", "/v1/chat/completions", b"{}",
                                    {"x-nat-run-id": "r\x01x"}))
            resp, _ = read_response(s)
        self.assertOpenAIError(resp, 400)
        self.assertEqual(up.requests, [])

    def test_absurd_call_indices_are_ignored_and_counting_goes_on(self):
        up, augur = self.start()
        absurd = ["0", "-1", "99999999999999999999", "4294967297", "1000001", "1e3", "0x10", ""]
        for n, value in enumerate(absurd, start=1):
            with self.subTest(value=value):
                headers, _ = self.call(augur, up, {"x-nat-run-id": "run-absurd",
                                                  "x-nat-call-index": value})
                self.assertEqual(headers["x-nat-call-index"], str(n))
        headers, _ = self.call(augur, up, {"x-nat-run-id": "run-absurd",
                                          "x-nat-call-index": "1000000"})
        self.assertEqual(headers["x-nat-call-index"], "1000000")  # the largest accepted


def write_json_text(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


METRIC = '{"sample_count": 3, "mean": 1.0, "p50": 1.0, "p90": 1.0, "p95": 1.0}'
PREDICTION = (f'{{"remaining_calls": {METRIC}, "interarrival_ms": {METRIC}, '
              f'"output_tokens": {METRIC}, "latency_sensitivity": 2}}')


def trie_text(root):
    return ('{"version": "1.0", "generated_at": "2026-01-01T00:00:00+00:00", '
            f'"workflow_name": "w", "root": {root}}}')


def node_text(name, children="{}", by_index="{}"):
    return (f'{{"name": "{name}", "predictions_by_call_index": {by_index}, '
            f'"predictions_any_index": null, "children": {children}}}')


def deep_trie(depth):
    node = node_text("n")
    for _ in range(depth - 1):
        node = node_text("n", f'{{"n": {node}}}')
    return trie_text(node_text("root", f'{{"n": {node}}}'))


BAD_TRIES = {
    # what: (file text, the JSON path the error must name)
    "duplicate keys": (trie_text(node_text("root", by_index=f'{{"1": {PREDICTION}, '
                                                           f'"1": {PREDICTION}}}')),
                       'root.predictions_by_call_index."1"'),
    "depth of thousands": (deep_trie(3000), "too deep"),
    "gigantic count": (trie_text(node_text("root", by_index='{"1": ' + PREDICTION.replace(
        '"sample_count": 3', '"sample_count": 1e300', 1) + "}")), "sample_count"),
    "gigantic value": (trie_text(node_text("root", by_index='{"1": ' + PREDICTION.replace(
        '"mean": 1.0', '"mean": 1e300', 1) + "}")), "mean"),
    "absurd call index": (trie_text(node_text("root", by_index=f'{{"99999999999": {PREDICTION}}}')),
                          '"99999999999"'),
}


class BadTrieFiles(IntegrationTest):
    def test_trie_convert_refuses_them_naming_the_field(self):
        with tempfile.TemporaryDirectory() as d:
            for what, (text, where) in BAD_TRIES.items():
                with self.subTest(what):
                    path = write_json_text(d, "trie.json", text)
                    out = subprocess.run([AUGUR_BIN, "trie", "convert", "--in", path],
                                         capture_output=True, text=True, timeout=30)
                    self.assertEqual(out.returncode, 1, out.stderr)  # malformed input
                    self.assertIn(path, out.stderr)
                    self.assertIn(where, out.stderr)

    def test_serve_refuses_a_bad_trie_file_and_a_reload_keeps_the_good_one(self):
        with tempfile.TemporaryDirectory() as d:
            text, where = BAD_TRIES["duplicate keys"]
            bad = write_json_text(d, "bad.json", text)
            up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
            upstream = f'{{ name: up, url: "{up.url}", hints: [nat_headers] }}'
            fd, cfg = tempfile.mkstemp(suffix=".yaml", dir=d)
            with os.fdopen(fd, "w") as f:
                f.write(config([upstream], f'prediction: {{ trie_file: "{bad}" }}\n'))
            serve = subprocess.run([AUGUR_BIN, "serve", "--config", cfg], capture_output=True,
                                   text=True, timeout=30)
            self.assertEqual(serve.returncode, 2, serve.stderr)  # a bad config
            self.assertIn("prediction.trie_file", serve.stderr)
            self.assertIn(where, serve.stderr)

            good = write_json_text(d, "good.json", trie_text(node_text(
                "root", by_index=f'{{"1": {PREDICTION}}}')))
            augur = self.own(Augur(config([upstream], f'prediction: {{ trie_file: "{good}" }}\n')))
            # A served request first: augur prints its ready line before it installs its signal
            # handler, and a SIGHUP in between would kill it (a race noted for proxy/server/server.cpp).
            request(augur.port, "POST", "/v1/chat/completions", chat_body())
            augur.rewrite_config(config([upstream], f'prediction: {{ trie_file: "{bad}" }}\n'))
            augur.signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "keeping the running config" not in augur.stderr():
                self.assertLess(time.monotonic(), deadline, augur.stderr())
                time.sleep(0.05)
            self.assertIn(where, augur.stderr())
            resp = request(augur.port, "POST", "/v1/chat/completions", chat_body())
            self.assertEqual(resp.status, 200)
            # Still the good trie's root prediction, not the static fallback.
            self.assertEqual(dict(up.requests[-1]["headers"])["x-nat-prediction-source"], "root")


if __name__ == "__main__":
    unittest.main()
