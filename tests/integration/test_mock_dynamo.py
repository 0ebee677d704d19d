"""The mock upstream as a Dynamo >= 1.3 frontend, through real sockets: a body whose nvext Dynamo
would not deserialize gets Dynamo's 400 and no completion, one it would take gets a completion,
the refusals are counted on GET /mock/stats, and --nvext lenient turns the check off."""

import json
import unittest

from harness import IntegrationTest, Mock, chat_body, request

# What a NAT v1.8 client puts in nvext: keys Dynamo 1.3 removed from AgentHints and NvExt.
NAT_V18_NVEXT = {
    "agent_hints": {"osl": 512, "priority": 2, "latency_sensitivity": 2.0,
                    "prefix_id": "run-1-d0", "total_requests": 10, "iat": 250},
    "cache_control": {"type": "ephemeral", "ttl": "1s"},
}
# What Dynamo 1.3 accepts (and augur's nvext format is to write).
DYNAMO_NVEXT = {"agent_hints": {"osl": 512, "priority": 2, "speculative_prefill": True}}

PREFIX = "Failed to deserialize the JSON body into the target type: "
AGENT_HINTS_FIELDS = ("`priority`, `strict_priority`, `osl`, `speculative_prefill`, "
                      "`latency_sensitivity`")


def compact(body):
    """The body as an OpenAI client library sends it (no spaces), so positions are predictable."""
    return json.dumps(body, separators=(",", ":")).encode()


def post(mock, path, body):
    return request(mock.port, "POST", path, compact(body), {"Content-Type": "application/json"})


def stats(mock):
    resp = request(mock.port, "GET", "/mock/stats")
    assert resp.status == 200, resp.body
    return resp.json()


class MockAsDynamo(IntegrationTest):
    def test_nat_v18_nvext_gets_dynamos_400_and_no_completion(self):
        mock = self.own(Mock())
        for path in ("/v1/chat/completions", "/v1/completions"):
            with self.subTest(path):
                body = chat_body(nvext=NAT_V18_NVEXT)
                resp = post(mock, path, body)
                self.assertEqual(resp.status, 400, resp.body)
                self.assertEqual(resp.header("content-type"), "application/json")
                got = resp.json()
                self.assertEqual(got["type"], "Bad Request")
                self.assertEqual(got["code"], 400)
                self.assertTrue(got["message"].startswith(
                    PREFIX + "unknown field `prefix_id`, expected one of " + AGENT_HINTS_FIELDS
                    + " at line 1 column "), got["message"])
                # serde_json's position: just past the offending key.
                raw = compact(body).decode()
                column = raw.index('"prefix_id"') + len('"prefix_id"')
                self.assertTrue(got["message"].endswith(f" column {column}"), got["message"])
                self.assertNotIn("choices", got)
                self.assertNotIn("usage", got)
                # The echo member every mock body carries still shows what was sent.
                self.assertEqual(json.loads(got["mock"]["request_body"])["nvext"], NAT_V18_NVEXT)
        self.assertEqual(stats(mock)["nvext_rejected"], 2)

    def test_dynamo_nvext_gets_a_completion(self):
        mock = self.own(Mock())
        for stream in (False, True):
            with self.subTest(stream=stream):
                resp = post(mock, "/v1/chat/completions",
                            chat_body(stream=stream, nvext=DYNAMO_NVEXT))
                self.assertEqual(resp.status, 200, resp.body)
                if stream:
                    self.assertIn(b"data: [DONE]", resp.body)
                else:
                    self.assertEqual(resp.json()["object"], "chat.completion")
        # And without nvext at all, the benchmarks' usual case.
        self.assertEqual(post(mock, "/v1/chat/completions", chat_body()).status, 200)
        self.assertEqual(stats(mock)["nvext_rejected"], 0)

    def test_each_removed_key_alone_is_refused(self):
        mock = self.own(Mock())
        cases = {
            "prefix_id": {"agent_hints": {"prefix_id": "r"}},
            "total_requests": {"agent_hints": {"total_requests": 10}},
            "iat": {"agent_hints": {"iat": 250}},
            "cache_control": {"cache_control": {"type": "ephemeral"}},
            "session_control": {"session_control": {"session_id": "s"}},
        }
        for key, nvext in cases.items():
            with self.subTest(key):
                resp = post(mock, "/v1/chat/completions", chat_body(nvext=nvext))
                self.assertEqual(resp.status, 400, resp.body)
                self.assertIn(f"unknown field `{key}`", resp.json()["message"])
        self.assertEqual(stats(mock)["nvext_rejected"], len(cases))

    def test_lenient_accepts_the_nat_v18_body(self):
        mock = self.own(Mock("--nvext", "lenient"))
        resp = post(mock, "/v1/chat/completions", chat_body(nvext=NAT_V18_NVEXT))
        self.assertEqual(resp.status, 200, resp.body)
        self.assertEqual(resp.json()["object"], "chat.completion")
        self.assertEqual(stats(mock)["nvext_rejected"], 0)

    def test_stats_count_requests_and_connections(self):
        mock = self.own(Mock())
        post(mock, "/v1/chat/completions", chat_body())
        got = stats(mock)
        self.assertEqual(set(got), {"connections_accepted", "connections_open", "requests",
                                    "nvext_rejected"})
        self.assertEqual(got["requests"], 2)  # the completion and this GET
        self.assertEqual(got["connections_accepted"], 2)


if __name__ == "__main__":
    unittest.main()
