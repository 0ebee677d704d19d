#!/usr/bin/env python3
"""Self-checks of schedule_sim.py (run by hand: python3 loadtest/sim/test_schedule_sim.py)."""

import gzip
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import schedule_sim as ss  # noqa: E402


def call(tokens, before_s=0.0, prompt=10, prio=1, w=None):
    w = tokens if w is None else w
    return ss.Call(tokens=tokens, prompt=prompt, before_s=before_s, w_pred=w, w_true=w,
                   prio={"sensitivity": prio, "remaining_work": prio, "oracle": prio,
                         "mapping_oracle": prio})


def run(*steps, shape="react", name="r"):
    return ss.Run(name=name, shape=shape, steps=[list(s) for s in steps])


# 1 slot, 1 ms per token, no prefill, no batch effect: a call of N tokens takes N ms.
ONE_SLOT = ss.Engine(slots=1, tpot_ms=1.0, growth=0.0, prefill_ms_per_token=0.0)


def simulate(arrivals, policy="fcfs", engine=ONE_SLOT, bump_s=1.0):
    sim = ss.Sim(engine, ss.POLICIES[policy], bump_s, (0.0, 1e9))
    per_run = sim.run(arrivals)
    return sim, per_run


class PriorityMapping(unittest.TestCase):
    def test_levels(self):
        self.assertEqual(ss.remaining_work_priority(0, 100), 10)  # W 100 < 256
        self.assertEqual(ss.remaining_work_priority(0, 255), 10)
        self.assertEqual(ss.remaining_work_priority(0, 256), 9)  # log2(2) = 1
        self.assertEqual(ss.remaining_work_priority(1, 384), 8)  # W 768: log2(4) = 2
        self.assertEqual(ss.remaining_work_priority(9, 100), 8)  # W 1000: log2(4.9) = 2.3
        self.assertEqual(ss.remaining_work_priority(0, 256 * 511 - 1), 2)
        self.assertEqual(ss.remaining_work_priority(0, 256 * 511), 1)  # ~131k tokens
        self.assertEqual(ss.remaining_work_priority(1000, 100000), 1)  # never below 1


class Ordering(unittest.TestCase):
    def setUp(self):
        # A blocker holds the only slot for 1 s; a (low priority) is issued at 0.1 s and b
        # (high priority) at 0.2 s, both while the slot is busy.
        self.blocker = run([call(1000)], name="blocker")
        self.a = run([call(100, prio=1, w=5000)], name="a")
        self.b = run([call(100, prio=5, w=50)], name="b")
        self.arr = [(0.0, self.blocker), (0.1, self.a), (0.2, self.b)]

    def order(self, policy, bump_s=1.0):
        sim, _ = simulate(self.arr, policy, bump_s=bump_s)
        done = sorted(sim.calls, key=lambda c: c.done)
        return [{0: "blocker", 1: "a", 2: "b"}[c.run_i] for c in done]

    def test_fcfs_serves_arrival_order(self):
        self.assertEqual(self.order("fcfs"), ["blocker", "a", "b"])

    def test_bump_serves_higher_priority_first(self):
        self.assertEqual(self.order("remaining_work"), ["blocker", "b", "a"])
        self.assertEqual(self.order("oracle"), ["blocker", "b", "a"])

    def test_small_bump_keeps_arrival_order(self):
        # b's bump of 4 levels × 0.01 s = 0.04 s is less than its 0.1 s later arrival.
        self.assertEqual(self.order("remaining_work", bump_s=0.01), ["blocker", "a", "b"])

    def test_srw_serves_least_work_first(self):
        self.assertEqual(self.order("srw_predicted"), ["blocker", "b", "a"])

    def test_latencies(self):
        sim, per_run = simulate(self.arr, "fcfs")
        by_run = {c.run_i: c for c in sim.calls}
        self.assertAlmostEqual(by_run[1].admitted, 1.0)
        self.assertAlmostEqual(by_run[1].done, 1.1)
        self.assertAlmostEqual(by_run[2].admitted, 1.1)
        self.assertAlmostEqual(by_run[2].done - by_run[2].issued, 1.0)
        self.assertAlmostEqual(per_run[2][2] - per_run[2][1], 1.0)


class Structure(unittest.TestCase):
    def test_steps_wait_for_all_branches_and_think_time(self):
        eng = ss.Engine(slots=4, tpot_ms=1.0, growth=0.0, prefill_ms_per_token=0.0)
        r = run([call(100, before_s=0.05)],
                [call(200, before_s=0.01), call(300, before_s=0.02)],  # parallel branches
                [call(50, before_s=0.1)])
        sim, per_run = simulate([(1.0, r)], engine=eng)
        c = sim.calls
        self.assertAlmostEqual(c[0].issued, 1.05)
        self.assertAlmostEqual(c[0].done, 1.15)
        self.assertAlmostEqual(c[1].issued, 1.16)
        self.assertAlmostEqual(c[2].issued, 1.17)
        self.assertAlmostEqual(c[2].done, 1.47)
        self.assertAlmostEqual(c[3].issued, 1.57)  # after the slower branch + 0.1 s
        self.assertAlmostEqual(per_run[0][2] - per_run[0][1], 1.62 - 1.05)

    def test_batch_slows_tokens_and_prefill_counts(self):
        eng = ss.Engine(slots=2, tpot_ms=1.0, growth=0.5, prefill_ms_per_token=1.0)
        arr = [(0.0, run([call(100, prompt=10)])), (0.0, run([call(100, prompt=10)]))]
        sim, _ = simulate(arr, engine=eng)
        # both run together: 10 ms prefill, then 100 tokens at 1.5 ms.
        for c in sim.calls:
            self.assertAlmostEqual(c.done, 0.01 + 0.15)


class Conservation(unittest.TestCase):
    def workload(self, n=200, seed=7):
        import random
        rng = random.Random(seed)
        runs = []
        for k in range(20):
            steps = [[call(rng.randint(20, 300), before_s=rng.random() * 0.05,
                           prio=rng.randint(1, 10), w=rng.randint(10, 5000))
                      for _ in range(rng.choice((1, 1, 3)))] for _ in range(rng.randint(1, 6))]
            runs.append(run(*steps, name=f"r{k}"))
        return ss.arrivals(runs, n, rate=3.0, seed=seed)

    def test_work_conserved_across_policies(self):
        arr = self.workload()
        eng = ss.Engine(slots=4, tpot_ms=2.0, growth=0.0, prefill_ms_per_token=0.1)
        slot, tokens = set(), set()
        for policy in ss.DEFAULT_POLICIES:
            sim, per_run = simulate(arr, policy, engine=eng)
            self.assertTrue(all(c.done >= c.admitted >= c.issued for c in sim.calls))
            self.assertEqual(len(sim.calls), sum(len(s) for _, r in arr for s in r.steps))
            slot.add(round(sim.total_slot_s, 6))
            tokens.add(sim.tokens_done)
        self.assertEqual(len(slot), 1, slot)  # no batch effect: slot-seconds are conserved
        self.assertEqual(len(tokens), 1)

    def test_busy_time_conserved_with_one_slot(self):
        arr = self.workload()
        eng = ss.Engine(slots=1, tpot_ms=1.0, growth=0.3, prefill_ms_per_token=0.1)
        busy = {round(simulate(arr, p, engine=eng)[0].total_busy_s, 6)
                for p in ss.DEFAULT_POLICIES}
        self.assertEqual(len(busy), 1, busy)


class Determinism(unittest.TestCase):
    def trace_file(self, directory):
        """A tiny trace in replay.py's --trace format: 6 runs of 1–3 steps."""
        path = os.path.join(directory, "t.jsonl.gz")
        with gzip.open(path, "wt") as f:
            for n in range(6):
                steps = 1 + n % 3
                tokens = [50 + 30 * n + 10 * s for s in range(steps)]
                for s in range(steps):
                    f.write(json.dumps({
                        "run": f"wl1-{n}", "shape": "react", "after_warmup": n > 0, "ok": True,
                        "step": s, "branch": 0, "width": 1, "steps": steps, "call": s,
                        "before_ms": 10.0 * s, "output_tokens": tokens[s], "prompt_tokens": 60,
                        "true_remaining_tokens": sum(tokens[s + 1:]),
                        "true_remaining_calls": steps - s - 1, "hints_read": True,
                        "hints": {"remaining": steps - s - 1, "osl": 100, "iat": 10,
                                  "sensitivity": 1 + s, "source": "exact",
                                  "dynamo_priority": None}}) + "\n")
        return path

    def test_same_seed_same_figures(self):
        with tempfile.TemporaryDirectory() as d:
            runs, info = ss.load_trace(self.trace_file(d))
            self.assertEqual(len(runs), 5)  # run 0 was in the warm-up
            self.assertEqual(info["dynamo_priority"], 0)
            eng = ss.Engine(slots=2)
            go = lambda seeds: ss.simulate_level(  # noqa: E731
                runs, eng, list(ss.DEFAULT_POLICIES), 0.9, 200, seeds, 1.0, 0.1)
            a, b, c = go([1]), go([1]), go([2])
            self.assertEqual(json.dumps(a, sort_keys=True), json.dumps(b, sort_keys=True))
            self.assertNotEqual(json.dumps(a, sort_keys=True), json.dumps(c, sort_keys=True))
            self.assertIsNone(a["policies"]["fcfs"]["gain_run_mean"])
            self.assertEqual(a["policies"]["oracle"]["gain_run_mean"], 1.0)


if __name__ == "__main__":
    unittest.main()
