"""Online learning through the real proxy: runs of calls against the mock upstream teach augur, and
the hints it injects on later runs are what those runs did. The memory store's snapshot file keeps
the learning across a restart."""

import os
import tempfile
import time
import unittest

from harness import Augur, IntegrationTest, Mock, chat_body, config, request, stream_chat

# Three calls per run on path "agent": 100, 200, 300 output tokens; the third ends the run.
TOKENS = [100, 200, 300]


class OnlineLearning(IntegrationTest):
    def start(self, extra="learning: { rebuild_interval: 1h, rebuild_runs: 1 }\n", mock=None):
        mock = mock or self.own(Mock())
        up = f'{{ name: mock, url: "{mock.url}", hints: [nat_headers] }}'
        return self.own(Augur(config([up], extra))), mock

    def call(self, augur, run, tokens, last=False, stream=False):
        headers = {"x-nat-run-id": run, "x-nat-function-path": "agent",
                   "x-mock-tokens": str(tokens)}
        if last:
            headers["x-nat-run-end"] = "true"
        if stream:
            resp = request(augur.port, "POST", "/v1/chat/completions", chat_body(stream=True),
                           headers)
            self.assertEqual(resp.status, 200)
            return None
        resp = request(augur.port, "POST", "/v1/chat/completions", chat_body(), headers)
        self.assertEqual(resp.status, 200, resp.body)
        got = resp.json()["mock"]["request_headers"]
        return {k[len("x-nat-"):]: v for k, v in got.items() if k.startswith("x-nat-")}

    def run_agent(self, augur, run, stream=False):
        return [self.call(augur, run, t, last=(i == len(TOKENS) - 1), stream=stream)
                for i, t in enumerate(TOKENS)]

    def wait_learned(self, augur, run_prefix):
        """Runs probe runs until the first call's hints come from the trie (rebuilds are
        asynchronous); returns the hints of the first fully learned run."""
        deadline = time.monotonic() + 30
        n = 0
        while time.monotonic() < deadline:
            hints = self.run_agent(augur, f"{run_prefix}{n}")
            n += 1
            if all(h["prediction-source"] == "exact" for h in hints):
                return hints
            time.sleep(0.05)
        self.fail("augur never injected learned hints")

    def assertLearned(self, hints):
        self.assertEqual([h["call-index"] for h in hints], ["1", "2", "3"])
        self.assertEqual([h["remaining-llm-calls"] for h in hints], ["2", "1", "0"])
        self.assertEqual([h["expected-output-tokens"] for h in hints], ["100", "200", "300"])

    def test_hints_come_from_what_earlier_runs_did(self):
        augur, _ = self.start()
        first = self.run_agent(augur, "cold")
        self.assertEqual({h["prediction-source"] for h in first}, {"static"})
        self.assertLearned(self.wait_learned(augur, "warm"))

    def test_streamed_responses_are_timed_and_their_tokens_counted(self):
        augur, _ = self.start()
        # Only streamed runs teach it: the token counts must come from the streams.
        for n in range(3):
            self.run_agent(augur, f"s{n}", stream=True)
        deadline = time.monotonic() + 30
        while True:
            hints = self.call(augur, f"probe{time.monotonic()}", 1, last=True)
            if hints["prediction-source"] == "exact" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.assertEqual(hints["prediction-source"], "exact")
        self.assertEqual(hints["expected-output-tokens"], "100")

    def test_learning_disabled_keeps_static_hints(self):
        augur, _ = self.start("learning: { enabled: false }\n")
        for n in range(3):
            self.run_agent(augur, f"r{n}")
        time.sleep(0.5)  # nothing may change, however long we wait
        self.assertEqual({h["prediction-source"] for h in self.run_agent(augur, "again")},
                         {"static"})

    def test_the_snapshot_file_keeps_learning_across_a_restart(self):
        fd, snapshot = tempfile.mkstemp(prefix="augur-snapshot-")
        os.close(fd)
        os.unlink(snapshot)
        self.addCleanup(lambda: os.path.exists(snapshot) and os.unlink(snapshot))
        extra = ("learning: { rebuild_interval: 1h, rebuild_runs: 1 }\n"
                 f'store: {{ kind: memory, snapshot_file: "{snapshot}" }}\n')
        mock = self.own(Mock())
        augur, _ = self.start(extra, mock)
        self.assertLearned(self.wait_learned(augur, "before"))
        augur.close()  # SIGTERM: drain, then the learner saves the snapshot
        self.assertTrue(os.path.exists(snapshot))

        again, _ = self.start(extra, mock)
        # The very first run after the restart already gets learned hints.
        self.assertLearned(self.run_agent(again, "after"))

    def test_a_corrupt_snapshot_is_kept_aside_and_augur_still_serves(self):
        fd, snapshot = tempfile.mkstemp(prefix="augur-snapshot-")
        with os.fdopen(fd, "w") as f:
            f.write('{"version": 1, "nodes": [')
        self.addCleanup(lambda: os.path.exists(snapshot) and os.unlink(snapshot))
        self.addCleanup(lambda: os.path.exists(snapshot + ".corrupt")
                        and os.unlink(snapshot + ".corrupt"))
        augur, _ = self.start(f'store: {{ kind: memory, snapshot_file: "{snapshot}" }}\n')
        self.assertEqual(self.call(augur, "r", 10, last=True)["prediction-source"], "static")
        self.assertTrue(os.path.exists(snapshot + ".corrupt"))
        self.assertIn("unusable", augur.stderr())


if __name__ == "__main__":
    unittest.main()
