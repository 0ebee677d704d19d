"""Hints through the real proxy: a hand-written NAT trie, a run of calls along two function paths,
and what the mock upstream received (headers and body) for each call."""

import json
import os
import subprocess
import tempfile
import unittest

from harness import AUGUR_BIN, Augur, IntegrationTest, Mock, chat_body, config, request


def metric(mean, p90=None, n=10):
    p90 = mean if p90 is None else p90
    return {"sample_count": n, "mean": mean, "p50": mean, "p90": p90, "p95": p90}


EMPTY = {"sample_count": 0, "mean": 0.0, "p50": 0.0, "p90": 0.0, "p95": 0.0}


def prediction(remaining, iat, osl_p90, sensitivity, iat_metric=None):
    return {"remaining_calls": metric(remaining),
            "interarrival_ms": iat_metric if iat_metric is not None else metric(iat),
            "output_tokens": metric(osl_p90 * 0.8, osl_p90),
            "latency_sensitivity": sensitivity}


TRIE = {
    "version": "1.0", "generated_at": "2026-11-23T00:00:00+00:00", "workflow_name": "test",
    "root": {
        "name": "root", "predictions_by_call_index": {},
        "predictions_any_index": prediction(9, 400, 700, 2),
        "children": {
            "agent": {
                "name": "agent",
                "predictions_by_call_index": {"1": prediction(4.4, 120.6, 300, 4),
                                              "2": prediction(3, 80, 150, 3)},
                "predictions_any_index": prediction(2, 50, 90, 2),
                "children": {
                    "search": {
                        "name": "search",
                        # The run's last call: remaining 0 is an answer; no interarrival samples.
                        "predictions_by_call_index": {"1": prediction(0, 0, 64, 5, EMPTY)},
                        "predictions_any_index": None,
                        "children": {}}}}}}}

ALL_FORMATS = "[nat_headers, prefix_headers, nvext_nat, dynamo_headers]"


class HintsThroughTheProxy(IntegrationTest):
    def start(self, hints=ALL_FORMATS, extra=""):
        fd, path = tempfile.mkstemp(suffix=".json", prefix="augur-trie-")
        with os.fdopen(fd, "w") as f:
            json.dump(TRIE, f)
        self.addCleanup(os.unlink, path)
        # NAT's body (nvext_nat) and a client's own nvext keys are for NAT's router: the mock
        # takes any nvext here, not only what Dynamo 1.3+ accepts (test_dynamo covers that).
        mock = self.own(Mock("--nvext", "lenient"))
        up = f'{{ name: mock, url: "{mock.url}", hints: {hints} }}'
        return self.own(Augur(config([up], f'prediction: {{ trie_file: "{path}" }}\n' + extra)))

    def call(self, augur, path, body=None, headers=None):
        h = {"x-nat-run-id": "r1", "x-nat-function-path": path}
        h.update(headers or {})
        resp = request(augur.port, "POST", "/v1/chat/completions", body or chat_body(), h)
        self.assertEqual(resp.status, 200, resp.body)
        seen = resp.json()["mock"]
        return seen["request_headers"], json.loads(seen["request_body"])

    def test_a_run_along_two_paths_gets_the_right_hints_per_call(self):
        augur = self.start()
        # (path, call index, source, remaining, total_requests, osl, iat, sensitivity, ttl)
        expected = [
            ("agent", 1, "exact", 4, 5, 300, 121, 4, "1s"),          # 4 x 121 ms -> 1 s
            ("agent/search", 1, "exact", 0, 2, 64, 250, 5, None),  # last call; iat static
            ("agent", 2, "exact", 3, 6, 150, 80, 3, "1s"),
            ("agent", 3, "any_index", 2, 6, 90, 50, 2, "1s"),
            ("agent/search", 2, "ancestor", 3, 8, 150, 80, 3, "1s"),  # agent's index 2
            ("other", 1, "root", 9, 15, 700, 400, 2, "4s"),            # 9 x 400 ms = 3.6 s
        ]
        for path, index, source, remaining, total, osl, iat, sens, ttl in expected:
            with self.subTest(path=path, index=index):
                got, body = self.call(augur, path)
                self.assertEqual(got["x-nat-call-index"], str(index))
                self.assertEqual(got["x-nat-prediction-source"], source)
                self.assertEqual(got["x-nat-remaining-llm-calls"], str(remaining))
                self.assertEqual(got["x-nat-expected-output-tokens"], str(osl))
                self.assertEqual(got["x-nat-interarrival-ms"], str(iat))
                self.assertEqual(got["x-nat-latency-sensitivity"], str(sens))
                # Legacy prefix headers.
                self.assertEqual(got["x-prefix-id"], "r1")
                self.assertEqual(got["x-prefix-total-requests"], str(total))
                self.assertEqual(got["x-prefix-osl"],
                                 "LOW" if osl < 256 else "MEDIUM" if osl < 1024 else "HIGH")
                self.assertEqual(got["x-prefix-iat"],
                                 "LOW" if iat < 100 else "MEDIUM" if iat < 500 else "HIGH")
                self.assertEqual(got["x-prefix-latency-sensitivity"], str(sens))
                self.assertEqual(got["x-dynamo-request-priority"], str(sens))
                self.assertEqual(got["x-dynamo-session-id"], "r1")
                # NAT v1.8's body hints.
                hints = body["nvext"]["agent_hints"]
                self.assertEqual(hints["osl"], osl)
                self.assertEqual(hints["priority"], sens)
                self.assertEqual(hints["latency_sensitivity"], sens)
                self.assertEqual(hints["prefix_id"], "r1")
                self.assertEqual(hints["total_requests"], total)
                self.assertEqual(hints["iat"], iat)
                if ttl is None:
                    self.assertNotIn("cache_control", body["nvext"])
                else:
                    self.assertEqual(body["nvext"]["cache_control"],
                                     {"type": "ephemeral", "ttl": ttl})
                self.assertEqual(body["messages"], chat_body()["messages"])

    def test_client_nvext_keys_are_kept_and_spoofed_hints_never_reach_the_upstream(self):
        augur = self.start(hints="[nat_headers, nvext_nat]")
        body = chat_body(nvext={"foo": 1, "agent_hints": {"bar": 2, "osl": 99999}})
        got, sent = self.call(augur, "agent", body,
                              {"x-nat-remaining-llm-calls": "999", "x-prefix-osl": "HIGH",
                               "x-dynamo-request-priority": "100",
                               "x-nat-prediction-source": "spoofed"})
        self.assertEqual(got["x-nat-remaining-llm-calls"], "4")
        self.assertEqual(got["x-nat-prediction-source"], "exact")
        self.assertNotIn("x-prefix-osl", got)
        self.assertNotIn("x-dynamo-request-priority", got)
        self.assertEqual(sent["nvext"]["foo"], 1)
        self.assertEqual(sent["nvext"]["agent_hints"]["bar"], 2)
        self.assertEqual(sent["nvext"]["agent_hints"]["osl"], 300)

    def test_trusted_client_hints_pass(self):
        augur = self.start(hints="[nat_headers]", extra="context: { trust_client_hints: true }\n")
        got, _ = self.call(augur, "agent", headers={"x-prefix-osl": "HIGH"})
        self.assertEqual(got["x-prefix-osl"], "HIGH")

    def test_without_a_trie_static_fallbacks_are_sent(self):
        mock = self.own(Mock("--nvext", "lenient"))
        augur = self.own(Augur(config([f'{{ name: mock, url: "{mock.url}", '
                                       f'hints: [nat_headers, nvext_nat] }}'])))
        got, body = self.call(augur, "agent")
        self.assertEqual(got["x-nat-prediction-source"], "static")
        self.assertEqual(got["x-nat-expected-output-tokens"], "512")
        self.assertEqual(got["x-nat-interarrival-ms"], "250")
        self.assertEqual(got["x-nat-latency-sensitivity"], "2")
        self.assertEqual(body["nvext"]["agent_hints"]["total_requests"], 10)

    def test_prefix_id_run_id_and_crlf_never_reach_the_upstream(self):
        augur = self.start(hints="[prefix_headers]")
        body = chat_body(nvext={"agent_hints": {"prefix_id": "runX-d2"}})
        resp = request(augur.port, "POST", "/v1/chat/completions", body,
                       {"x-nat-function-path": "agent"})
        got = resp.json()["mock"]["request_headers"]
        self.assertEqual(got["x-prefix-id"], "runX")  # NAT's -d<depth> suffix dropped
        resp = request(augur.port, "POST", "/v1/chat/completions",
                       chat_body(nvext={"agent_hints": {"prefix_id": "evil\r\nx-injected: 1"}}))
        got = resp.json()["mock"]["request_headers"]
        self.assertNotIn("x-injected", got)
        self.assertNotIn("\r", got["x-prefix-id"])


class TrieCommandLine(IntegrationTest):
    def test_build_then_lookup(self):
        runs = [
            {"run_id": "a", "started_at_ms": 0, "ended_at_ms": 1000, "calls": [
                {"kind": "llm", "path": ["agent"], "call_index": 1, "started_at_ms": 0,
                 "ended_at_ms": 100, "output_tokens": 40, "status": 200},
                {"kind": "llm", "path": ["agent"], "call_index": 2, "started_at_ms": 300,
                 "ended_at_ms": 400, "output_tokens": 60, "status": 200}]},
        ]
        with tempfile.TemporaryDirectory() as d:
            runs_path = os.path.join(d, "runs.jsonl")
            with open(runs_path, "w") as f:
                for r in runs:
                    f.write(json.dumps(r) + "\n")
            out = os.path.join(d, "trie.json")
            built = subprocess.run([AUGUR_BIN, "trie", "build", "--runs", runs_path, "--out", out],
                                   capture_output=True, text=True)
            self.assertEqual(built.returncode, 0, built.stderr)
            looked = subprocess.run([AUGUR_BIN, "trie", "lookup", "--trie", out, "--path", "agent",
                                     "--call-index", "1"], capture_output=True, text=True)
            self.assertEqual(looked.returncode, 0, looked.stderr)
            result = json.loads(looked.stdout)
            self.assertEqual(result["source"], "exact")
            self.assertEqual(result["remaining_calls"]["mean"], 1)
            self.assertEqual(result["interarrival_ms"]["mean"], 200)  # 300 - 100
            self.assertEqual(result["output_tokens"]["mean"], 40)
            bad = subprocess.run([AUGUR_BIN, "trie", "lookup", "--trie", runs_path, "--path", "a"],
                                 capture_output=True, text=True)
            self.assertNotEqual(bad.returncode, 0)


if __name__ == "__main__":
    unittest.main()
