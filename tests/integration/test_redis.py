"""Shared learning through a real redis-server: replicas flush their accumulators, the leader merges
and publishes, every replica serves the merged trie; Redis going away never fails a request and
what was learned meanwhile reaches Redis when it returns; a corrupt published trie is rejected."""

import json
import os
import random
import subprocess
import tempfile
import time
import unittest

from harness import AUGUR_BIN, IntegrationTest, Mock, free_port, metric_value
from redis_server import NS, RedisServer, ReplicaWorkload

class SharedLearning(IntegrationTest, ReplicaWorkload):
    def setUp(self):
        self.mock = self.own(Mock())

    def hints(self, augur, path="planner/tool"):
        resp = self.call(augur, f"probe-{time.monotonic_ns()}", path)
        self.assertEqual(resp.status, 200)
        got = resp.json()["mock"]["request_headers"]
        return {k[len("x-nat-"):]: v for k, v in got.items()
                if k.startswith("x-nat-") and k not in ("x-nat-run-id", "x-nat-function-path")}

    def test_two_replicas_learn_one_trie_equal_to_the_offline_build(self):
        redis = self.own(RedisServer())
        a = self.replica(redis.url, "a")
        b = self.replica(redis.url, "b")
        rng = random.Random(7)
        total_calls = 0
        for r in range(30):
            statuses = self.agent_run(a if r % 2 == 0 else b, f"run{r}", rng)
            self.assertEqual(set(statuses), {200})
            total_calls += len(statuses)

        # Both accumulators flushed, and the leader's merge holds every call of every run.
        self.wait("both replicas' flushes", lambda: self.acc_runs(redis, "a") == 15
                  and self.acc_runs(redis, "b") == 15)
        trie = self.wait("the merged trie", lambda: (t := self.published(redis))
                         and self.calls_in(t) == total_calls and t)
        self.assertEqual(redis.command("XLEN", f"augur:{NS}:runs"), 30)

        # Both replicas serve it: the same learned hints from either one.
        tool1 = trie["root"]["children"]["planner"]["children"]["tool"][
            "predictions_by_call_index"]["1"]
        expected_osl = str(round(tool1["output_tokens"]["p90"]))
        for replica in (a, b):
            got = self.wait("learned hints", lambda: (h := self.hints(replica))
                            and h["expected-output-tokens"] == expected_osl and h)
            self.assertEqual(got["prediction-source"], "exact")
        self.assertEqual(self.hints(a), self.hints(b))

        # A replica starting now serves the published trie from its first request.
        c = self.replica(redis.url, "c")
        self.assertEqual(self.hints(c), self.hints(a))

        # The same trie, built offline from the run records in the stream.
        entries = redis.command("XRANGE", f"augur:{NS}:runs", "-", "+")
        runs = [dict(zip(e[1][::2], e[1][1::2]))["run"] for e in entries]
        with tempfile.TemporaryDirectory() as tmp:
            runs_file = os.path.join(tmp, "runs.jsonl")
            with open(runs_file, "w") as f:
                f.write("\n".join(runs) + "\n")
            offline_file = os.path.join(tmp, "offline.json")
            subprocess.run([AUGUR_BIN, "trie", "build", "--runs", runs_file, "--out", offline_file],
                           check=True, capture_output=True)
            with open(offline_file) as f:
                offline = json.load(f)
            exported_file = os.path.join(tmp, "exported.json")
            subprocess.run([AUGUR_BIN, "trie", "export", "--redis", redis.url, "--namespace", NS,
                            "--out", exported_file], check=True, capture_output=True)
            with open(exported_file) as f:
                exported = json.load(f)
        published = self.published(redis)
        self.assertEqual(exported["root"], published["root"])
        self.assertTriesEqual(published["root"], offline["root"])

    def assertTriesEqual(self, live, offline, where="root"):
        self.assertEqual(sorted(live["children"]), sorted(offline["children"]), where)
        self.assertPredictionEqual(live["predictions_any_index"],
                                   offline["predictions_any_index"], where + "[any]")
        self.assertEqual(sorted(live["predictions_by_call_index"]),
                         sorted(offline["predictions_by_call_index"]), where)
        for k, p in live["predictions_by_call_index"].items():
            self.assertPredictionEqual(p, offline["predictions_by_call_index"][k], f"{where}[{k}]")
        for name, child in live["children"].items():
            self.assertTriesEqual(child, offline["children"][name], f"{where}/{name}")

    def assertPredictionEqual(self, live, offline, where):
        if live is None or offline is None:
            self.assertEqual(live, offline, where)
            return
        self.assertEqual(live["latency_sensitivity"], offline["latency_sensitivity"], where)
        for metric in ("remaining_calls", "interarrival_ms", "output_tokens"):
            a, b = live[metric], offline[metric]
            self.assertEqual(a["sample_count"], b["sample_count"], f"{where}.{metric}")
            self.assertAlmostEqual(a["mean"], b["mean"], delta=1e-6 * max(1, abs(b["mean"])))
            for q in ("p50", "p90", "p95"):  # the sketch's error bound
                self.assertAlmostEqual(a[q], b[q], delta=0.02 * max(1, abs(b[q])),
                                       msg=f"{where}.{metric}.{q}")

    def test_redis_killed_mid_workload_fails_no_request_and_catches_up(self):
        redis = self.own(RedisServer())
        a = self.replica(redis.url, "a")
        with self.background_runs(a, "w", seed=11) as work:
            self.wait("learning to reach redis", lambda: self.acc_runs(redis, "a") >= 3)
            redis.kill()
            at_kill = work.done_runs
            self.wait("runs while redis is down", lambda: work.done_runs >= at_kill + 10,
                      timeout=120)
            redis.start()  # empty: no persistence, so everything must be flushed again
            time.sleep(0.5)
        self.assertEqual(work.failures, [])
        # Everything learned, before and during the outage, reaches the new Redis.
        self.wait("the full state flushed", lambda: self.acc_runs(redis, "a") == work.done_runs)
        self.wait("the merged trie republished", lambda: self.calls_in(self.published(redis)) > 0)
        # Run records queued while Redis was down were appended once it came back.
        self.assertGreaterEqual(redis.command("XLEN", f"augur:{NS}:runs"), 10)

    def test_redis_down_at_start_then_up(self):
        port = free_port()
        a = self.replica(f"redis://127.0.0.1:{port}", "a")
        rng = random.Random(3)
        for r in range(3):
            self.assertEqual(set(self.agent_run(a, f"r{r}", rng)), {200})
        # With no Redis yet the replica serves what it learned itself.
        self.wait("local learning", lambda: self.hints(a)["prediction-source"] == "exact")
        redis = self.own(RedisServer(port))
        self.wait("the flush after Redis appeared", lambda: self.acc_runs(redis, "a") == 3)
        self.wait("the published trie", lambda: self.calls_in(self.published(redis)) > 0)

    def test_a_corrupt_published_trie_is_rejected_and_the_last_good_one_kept(self):
        redis = self.own(RedisServer())
        # Syncs only when a run closes, so nothing republishes over the corruption below.
        a = self.replica(redis.url, "a", interval="1h", runs=1)
        rng = random.Random(5)
        calls = sum(len(self.agent_run(a, f"r{r}", rng)) for r in range(3))
        # Every run learned and published (a slow build, e.g. under TSan, may still be closing the
        # last run when the first trie appears) and that version served by the replica: it stores
        # a trie in Redis a moment before it serves it, and until then answers from the previous
        # one. Then the hints of that trie, read twice to be sure they are settled.
        self.wait("every run published", lambda: self.calls_in(self.published(redis)) == calls)
        last = int(redis.command("GET", f"augur:{NS}:trie:version"))
        self.wait("the replica on that version",
                  lambda: metric_value(a.admin_port, "augur_trie_version") == last)
        good = self.wait("learned hints", lambda: (h := self.hints(a))
                         and h["prediction-source"] == "exact" and h == self.hints(a) and h)
        version = redis.command("INCR", f"augur:{NS}:trie:version")
        redis.command("SET", f"augur:{NS}:trie", '{"version": "1.0", "root": {"name": ')
        redis.command("PUBLISH", f"augur:{NS}:trie:updates", str(version))
        self.wait("the rejection", lambda: "rejected" in a.stderr())
        self.assertEqual(self.hints(a), good)


if __name__ == "__main__":
    unittest.main()
