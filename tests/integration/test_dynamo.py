"""Dynamo as it is today, through the real proxy: the nvext body Dynamo 1.3+ accepts (nothing it
would reject), runs as Dynamo sessions (ids, parents, the agents' own headers, session-final
spellings), speculative prefill and priority from predictions, and the counters that show what
those predictions bought."""

import json
import os
import tempfile
import time

from harness import (Augur, IntegrationTest, Mock, chat_body, config, metric_value, request,
                     wait_until)

CHAT = "/v1/chat/completions"


def metric(mean, p90=None, n=10, p50=None):
    p90 = mean if p90 is None else p90
    return {"sample_count": n, "mean": mean, "p50": mean if p50 is None else p50, "p90": p90,
            "p95": p90}


def prediction(remaining, osl, sensitivity=3, remaining_p90=None, n=10):
    return {"remaining_calls": metric(remaining, remaining_p90, n),
            "interarrival_ms": metric(100, n=n),
            "output_tokens": metric(osl * 0.8, osl, n),
            "latency_sensitivity": sensitivity}


def node(name, by_index=None, any_index=None, children=None):
    return {"name": name, "predictions_by_call_index": by_index or {},
            "predictions_any_index": any_index, "children": children or {}}


# planner: call 1 has 3 more calls coming; call 2 is (with high confidence) the last.
# short: little work left (1 call x 100 tokens); long: much (20 calls x 1000 tokens).
# few: remaining 2 but from only 2 samples.
TRIE = {"version": "1.0", "generated_at": "2026-12-01T00:00:00+00:00", "workflow_name": "t",
        "root": node("root", children={
            "planner": node("planner", {"1": prediction(3, 300), "2": prediction(0, 50, 5, 0)}),
            "short": node("short", any_index=prediction(1, 100)),
            "long": node("long", any_index=prediction(20, 1000)),
            "few": node("few", any_index=prediction(2, 100, n=2)),
        })}


class DynamoHints(IntegrationTest):
    def start(self, hints="[nat_headers, nvext, dynamo_headers]", dynamo="", extra=""):
        fd, path = tempfile.mkstemp(suffix=".json", prefix="augur-trie-")
        with os.fdopen(fd, "w") as f:
            json.dump(TRIE, f)
        self.addCleanup(os.unlink, path)
        self.mock = self.own(Mock())
        up = f'{{ name: dynamo, url: "{self.mock.url}", hints: {hints} }}'
        text = f'prediction: {{ trie_file: "{path}" }}\n' + extra
        if dynamo:
            text += f"dynamo: {{ {dynamo} }}\n"
        return self.own(Augur(config([up], text)))

    def call(self, augur, headers, body=None):
        resp = request(augur.port, "POST", CHAT, body or chat_body(), headers)
        self.assertEqual(resp.status, 200, resp.body)
        seen = resp.json()["mock"]
        return seen["request_headers"], json.loads(seen["request_body"])

    def test_the_body_has_only_keys_dynamo_accepts_and_priority_matches_the_header(self):
        augur = self.start()
        for path in ("planner", "short", "long", "few", "unknown/path"):
            with self.subTest(path=path):
                got, body = self.call(augur, {"x-nat-run-id": f"run-{path}",
                                              "x-nat-function-path": path})
                hints = body["nvext"]["agent_hints"]
                self.assertLessEqual(set(body["nvext"]), {"agent_hints"})
                self.assertLessEqual(set(hints), {"osl", "priority", "speculative_prefill"})
                self.assertEqual(str(hints["priority"]), got["x-dynamo-request-priority"])
                self.assertEqual(hints["osl"], int(got["x-nat-expected-output-tokens"]))

    def test_speculative_prefill_only_where_another_call_is_predicted_from_enough_samples(self):
        augur = self.start()
        run = {"x-nat-run-id": "r1", "x-nat-function-path": "planner"}
        _, first = self.call(augur, run)
        self.assertIs(first["nvext"]["agent_hints"].get("speculative_prefill"), True)
        _, last = self.call(augur, run)  # planner call 2: predicted last
        self.assertNotIn("speculative_prefill", last["nvext"]["agent_hints"])
        _, few = self.call(augur, {"x-nat-run-id": "r2", "x-nat-function-path": "few"})
        self.assertNotIn("speculative_prefill", few["nvext"]["agent_hints"])  # 2 samples < 5
        _, static = self.call(augur, {"x-nat-run-id": "r3", "x-nat-function-path": "nowhere"})
        self.assertNotIn("speculative_prefill", static["nvext"]["agent_hints"])  # root: none

        off = self.start(dynamo="speculative_prefill: off")
        _, first = self.call(off, {"x-nat-run-id": "r4", "x-nat-function-path": "planner"})
        self.assertNotIn("speculative_prefill", first["nvext"]["agent_hints"])

    def test_remaining_work_gives_the_run_closer_to_done_the_higher_priority(self):
        augur = self.start(dynamo="priority: remaining_work")
        short, _ = self.call(augur, {"x-nat-run-id": "a", "x-nat-function-path": "short"})
        long_, _ = self.call(augur, {"x-nat-run-id": "b", "x-nat-function-path": "long"})
        # (1 + 1) x 100 = 200 tokens: under 256, the top level; 21 x 1000 = 21000 tokens:
        # 10 - floor(log2(1 + 21000 / 256)) = 4.
        self.assertEqual(short["x-dynamo-request-priority"], "10")
        self.assertEqual(long_["x-dynamo-request-priority"], "4")
        off = self.start(dynamo="priority: off, strict_priority: true")
        got, body = self.call(off, {"x-nat-run-id": "c", "x-nat-function-path": "short"})
        self.assertNotIn("x-dynamo-request-priority", got)
        self.assertNotIn("x-dynamo-request-strict-priority", got)
        self.assertLessEqual(set(body["nvext"]["agent_hints"]), {"osl", "speculative_prefill"})
        strict = self.start(dynamo="strict_priority: true")
        got, body = self.call(strict, {"x-nat-run-id": "d", "x-nat-function-path": "short"})
        self.assertEqual(got["x-dynamo-request-strict-priority"], got["x-dynamo-request-priority"])
        self.assertEqual(body["nvext"]["agent_hints"]["strict_priority"],
                         body["nvext"]["agent_hints"]["priority"])

    def test_runs_are_dynamo_sessions_with_parents_as_dynamo_maps_the_agents_headers(self):
        augur = self.start(hints="[nat_headers, dynamo_headers]")
        cases = [
            # (what the agent sends, session, parent)
            ({"x-dynamo-session-id": "s1", "x-dynamo-parent-session-id": "p1"}, "s1", "p1"),
            ({"x-dynamo-session-id": "s2", "x-dynamo-parent-session-id": "s2"}, "s2", None),
            ({"x-claude-code-session-id": "root"}, "root", None),
            ({"x-claude-code-session-id": "root", "x-claude-code-agent-id": "child"},
             "child", "root"),
            ({"x-claude-code-session-id": "root", "x-claude-code-agent-id": "grandchild",
              "x-claude-code-parent-agent-id": "child"}, "grandchild", "child"),
            ({"x-claude-code-session-id": "root",
              "x-claude-code-parent-agent-id": "ignored"}, "root", None),
            ({"thread-id": "t1", "x-codex-parent-thread-id": "t0"}, "t1", "t0"),
            ({"x-session-id": "o1", "x-parent-session-id": "o0"}, "o1", "o0"),
            ({"x-nat-run-id": "n1", "x-dynamo-parent-session-id": "p9"}, "n1", "p9"),
            ({"x-session-id": "  "}, None, None),  # empty after trimming: no session
        ]
        for sent, session, parent in cases:
            with self.subTest(sent=sent):
                got, _ = self.call(augur, sent)
                self.assertEqual(got.get("x-dynamo-session-id"), session)
                self.assertEqual(got.get("x-dynamo-parent-session-id"), parent)
        # A Claude Code sub-agent's calls are counted in its own run.
        child = {"x-claude-code-session-id": "root2", "x-claude-code-agent-id": "child2"}
        indices = [self.call(augur, child)[0]["x-nat-call-index"] for _ in range(3)]
        self.assertEqual(indices, ["1", "2", "3"])

    def test_session_final_is_read_as_dynamo_reads_it_and_ends_the_run(self):
        augur = self.start(hints="[nat_headers, dynamo_headers]")
        for i, value in enumerate(["1", "TRUE", "On", "yes", " true "]):
            with self.subTest(value=value):
                run = {"x-dynamo-session-id": f"f{i}"}
                self.call(augur, run)
                got, _ = self.call(augur, dict(run, **{"x-dynamo-session-final": value}))
                self.assertEqual(got["x-dynamo-session-final"], "true")
                again, _ = self.call(augur, run)  # the run ended: a new one starts
                self.assertEqual(again["x-nat-call-index"], "1")
        for i, value in enumerate(["0", "false", "OFF", "no", "maybe", ""]):
            with self.subTest(value=value):
                run = {"x-dynamo-session-id": f"g{i}"}
                self.call(augur, run)
                got, _ = self.call(augur, dict(run, **{"x-dynamo-session-final": value}))
                self.assertNotIn("x-dynamo-session-final", got)
                again, _ = self.call(augur, run)
                self.assertEqual(again["x-nat-call-index"], "3")
        # A call without any run id is no session: nothing for Dynamo to keep.
        got, _ = self.call(augur, {})
        self.assertNotIn("x-dynamo-session-id", got)
        self.assertNotIn("x-dynamo-session-final", got)

    def test_predicted_final_and_prefill_are_counted_by_what_the_run_then_did(self):
        augur = self.start(dynamo="session_final: predicted",
                           extra="context: { run_idle_timeout: 200ms }\n"
                                 "learning: { rebuild_interval: 1h }\nsona: { enabled: false }\n")
        # Run A: planner 1 (prefill asked), planner 2 (predicted final), then one more call: the
        # final was premature and the prefill followed.
        run_a = {"x-dynamo-session-id": "A", "x-nat-function-path": "planner"}
        self.call(augur, run_a)
        got, _ = self.call(augur, run_a)
        self.assertEqual(got["x-dynamo-session-final"], "true")
        self.call(augur, run_a)
        # Run B: planner 1 alone: the prefill was wasted.
        self.call(augur, {"x-dynamo-session-id": "B", "x-nat-function-path": "planner"})

        def counted():
            return (metric_value(augur.admin_port, "augur_session_final_premature_total"),
                    metric_value(augur.admin_port, "augur_speculative_prefill_total",
                                 outcome="followed"),
                    metric_value(augur.admin_port, "augur_speculative_prefill_total",
                                 outcome="wasted"))

        wait_until("both runs closed", lambda: counted() == (1, 1, 1))


class DynamoRejectsWhatNatSends(IntegrationTest):
    def test_nvext_nat_is_for_nats_router_and_older_dynamo(self):
        """The mock upstream checks nvext as Dynamo 1.3+ does (loadtest/mock/README.md): NAT
        v1.8's body fails there, which is why `nvext` exists."""
        mock = self.own(Mock())
        for hints, status in (("[nvext]", 200), ("[nvext_nat]", 400)):
            with self.subTest(hints=hints):
                augur = self.own(Augur(config(
                    [f'{{ name: dynamo, url: "{mock.url}", hints: {hints} }}'])))
                resp = request(augur.port, "POST", CHAT, chat_body(), {"x-nat-run-id": "r"})
                self.assertEqual(resp.status, status, resp.body)
