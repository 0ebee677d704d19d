"""Bounded learning under a flood of distinct function paths (a buggy agent that puts request ids
in its function names, or a hostile client), mixed with a real agent that repeats itself: every
call is answered, memory, the served trie and (with two replicas) the Redis keys stay under their
bounds, and the real agent's predictions are intact afterwards.

AUGUR_BOUNDED_CALLS sets the flood's size (the sanitizer build uses fewer calls; still many times
the path bound)."""

import http.client
import json
import os
import threading
import time
import unittest

from harness import Augur, IntegrationTest, Mock, config, request
from redis_server import NS, RedisServer

CALLS = int(os.environ.get("AUGUR_BOUNDED_CALLS", "30000"))
# RSS bound for augur after the flood (MiB); the sanitizer build's shadow memory needs more.
RSS_BOUND_MIB = int(os.environ.get("AUGUR_BOUNDED_RSS_MIB", "96"))
# Set to print what the tests measured (RSS, sizes, evictions), for loadtest/README.md.
REPORT = bool(os.environ.get("AUGUR_BOUNDED_REPORT"))
CLIENTS = 4

MAX_PATHS = 64
MAX_TRIE_BYTES = 64 * 1024  # the smallest allowed: the trie passes it, so it evicts too
MAX_STATE_BYTES = 1024 * 1024
LEARNING = (f"learning: {{ rebuild_interval: 1s, max_paths: {MAX_PATHS}, max_call_indices: 8, "
            "min_path_samples: 3, max_new_paths_per_run: 4, "
            f"max_trie_bytes: {MAX_TRIE_BYTES}, max_state_bytes: {MAX_STATE_BYTES} }}\n"
            # SONA would answer the real agent with source `pattern`: the trie is what is checked.
            "sona: { enabled: false }\n")

REAL_PATH = "support/agent"
REAL_TOKENS = [100, 200, 300]  # call 1, 2, 3 of every real run


def work_items(calls, prefix):
    """The flood, interleaved: per 10 calls, 6 on paths seen once, 3 on a path seen three times
    (admitted, then evicted again), and every 10th item a real agent run of 3 calls."""
    items = []
    n = 0
    while n < calls:
        k = len(items)
        if k % 10 == 9:
            items.append(("real", f"{prefix}-real-{k}"))
            n += 3
        elif k % 10 < 6:
            items.append(("once", f"buggy_agent/req-{prefix}-{k}"))
            n += 1
        else:
            items.append(("thrice", f"tool-{prefix}-{k // 10}/step"))
            n += 1
    return items


class Client:
    """Keep-alive calls through augur, one connection per thread."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def post(self, headers):
        body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", "/v1/chat/completions", body=body,
                                  headers={"Content-Type": "application/json", **headers})
                resp = self.conn.getresponse()
                data = resp.read()
                return resp.status, data
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise

    def call(self, run, path, tokens, last=True):
        headers = {"x-nat-run-id": run, "x-nat-function-path": path,
                   "x-mock-tokens": str(tokens)}
        if last:
            headers["x-nat-run-end"] = "true"
        return self.post(headers)


def flood(port, items):
    """Sends every item from CLIENTS threads; returns (statuses by status code, runs sent)."""
    lock = threading.Lock()
    statuses = {}
    next_item = iter(enumerate(items))
    runs = [0]

    def worker():
        client = Client(port)
        while True:
            with lock:
                taken = next(next_item, None)
            if taken is None:
                return
            k, (kind, name) = taken
            if kind == "real":
                got = [client.call(name, REAL_PATH, t, last=(i == 2))[0]
                       for i, t in enumerate(REAL_TOKENS)]
            else:
                got = [client.call(f"{name}-run{k}", name, 5)[0]]
            with lock:
                runs[0] += 1
                for s in got:
                    statuses[s] = statuses.get(s, 0) + 1

    threads = [threading.Thread(target=worker) for _ in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return statuses, runs[0]


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def count_nodes(node):
    return 1 + sum(count_nodes(c) for c in node["children"].values())


def find(node, path):
    for name in path.split("/"):
        node = node["children"].get(name)
        if node is None:
            return None
    return node


class BoundedLearning(IntegrationTest):
    def setUp(self):
        self.mock = self.own(Mock())

    def augur(self, extra=""):
        up = f'{{ name: mock, url: "{self.mock.url}", hints: [nat_headers] }}'
        return self.own(Augur(config([up], LEARNING + extra)))

    def stats(self, augur):
        resp = request(augur.admin_port, "GET", "/v1/augur/stats")
        self.assertEqual(resp.status, 200)
        return resp.json()

    def settle(self, augur, calls):
        """Waits until the trie augur serves has learned from every call (the root learns from
        each); returns the stats then."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            resp = request(augur.admin_port, "GET", "/v1/augur/trie")
            if resp.status == 200:
                root = resp.json()["root"]["predictions_any_index"]
                if root and root["remaining_calls"]["sample_count"] == calls:
                    return self.stats(augur)
            time.sleep(0.2)
        self.fail(f"learning did not take in {calls} calls: {self.stats(augur)['learning']}")

    def assertRealAgentPredicted(self, augur):
        """A new run of the real agent gets the hints its earlier runs taught, from the trie."""
        client = Client(augur.port)
        run = f"probe-{time.monotonic_ns()}"
        for i, tokens in enumerate(REAL_TOKENS):
            status, data = client.call(run, REAL_PATH, tokens, last=(i == 2))
            self.assertEqual(status, 200)
            hints = json.loads(data)["mock"]["request_headers"]
            self.assertEqual(hints["x-nat-prediction-source"], "exact", hints)
            self.assertEqual(hints["x-nat-expected-output-tokens"], str(tokens))
            self.assertEqual(hints["x-nat-remaining-llm-calls"], str(2 - i))

    def assertTrieBounded(self, trie_text):
        self.assertLessEqual(len(trie_text), MAX_TRIE_BYTES)
        trie = json.loads(trie_text)
        self.assertLessEqual(count_nodes(trie["root"]), MAX_PATHS + 1)
        real = find(trie["root"], REAL_PATH)
        self.assertIsNotNone(real, "the real agent's path was evicted")
        self.assertEqual(real["predictions_by_call_index"]["1"]["output_tokens"]["p90"], 100)
        return trie

    def test_a_flood_of_distinct_paths_stays_bounded_and_the_real_agent_is_intact(self):
        augur = self.augur()
        rss_before = rss_mib(augur.proc.pid)
        items = work_items(CALLS, "m")
        statuses, _ = flood(augur.port, items)
        self.assertEqual(set(statuses), {200}, statuses)
        self.assertGreaterEqual(sum(statuses.values()), CALLS)

        stats = self.settle(augur, sum(statuses.values()))
        learning = stats["learning"]
        self.assertEqual(learning["observations_dropped"], 0)
        self.assertLessEqual(learning["paths"], MAX_PATHS)
        self.assertLessEqual(learning["state_bytes"], MAX_STATE_BYTES)
        self.assertEqual(learning["bounds"]["max_paths"], MAX_PATHS)
        # Past the bound several times over: admitted paths were evicted again, one-off paths
        # never became nodes.
        self.assertGreater(learning["evicted"]["capacity"] + learning["evicted"]["trie_bytes"] +
                           learning["evicted"]["state_bytes"], 3 * MAX_PATHS)
        self.assertGreater(learning["evicted"]["candidate"], 0)

        resp = request(augur.admin_port, "GET", "/v1/augur/trie")
        self.assertEqual(resp.status, 200)
        self.assertTrieBounded(resp.body)
        self.assertLessEqual(stats["trie"]["bytes"], MAX_TRIE_BYTES)
        self.assertLessEqual(stats["trie"]["nodes"], MAX_PATHS + 1)
        metrics = request(augur.admin_port, "GET", "/metrics").body.decode()
        self.assertIn('augur_learning_evicted_total{reason="capacity"}', metrics)
        self.assertIn("augur_trie_paths ", metrics)
        self.assertIn("augur_trie_bytes ", metrics)

        self.assertRealAgentPredicted(augur)
        rss_after = rss_mib(augur.proc.pid)
        if REPORT:
            print(f"\none replica: {sum(statuses.values())} calls, RSS {rss_before:.1f} -> "
                  f"{rss_after:.1f} MiB, trie {stats['trie']['nodes']} nodes "
                  f"{len(resp.body)} bytes, state {learning['state_bytes']} bytes, "
                  f"paths {learning['paths']}, evicted {learning['evicted']}")
        self.assertLess(rss_after, RSS_BOUND_MIB,
                        f"RSS {rss_before:.0f} MiB before, {rss_after:.0f} MiB after")

    def test_two_replicas_sharing_redis_keep_their_keys_bounded(self):
        redis = self.own(RedisServer())
        store = 'store: {{ kind: redis, url: "{}", namespace: {}, replica: {} }}\n'
        a = self.augur(store.format(redis.url, NS, "a"))
        b = self.augur(store.format(redis.url, NS, "b"))
        results = {}

        def drive(name, replica):
            results[name] = flood(replica.port, work_items(CALLS // 2, name))

        threads = [threading.Thread(target=drive, args=(n, r)) for n, r in (("a", a), ("b", b))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for name, (statuses, _) in results.items():
            self.assertEqual(set(statuses), {200}, f"replica {name}: {statuses}")
        # Settled: both replicas flushed every run and the leader published their merge, which
        # both serve.
        calls = sum(sum(statuses.values()) for statuses, _ in results.values())

        def settled():
            for name, (_, runs) in results.items():
                state = redis.command("GET", f"augur:{NS}:acc:{name}")
                if not state or json.loads(state)["runs"] != runs:
                    return False
            trie = redis.command("GET", f"augur:{NS}:trie")
            root = json.loads(trie)["root"] if trie else None
            if not root or root["predictions_any_index"]["remaining_calls"]["sample_count"] != calls:
                return False
            version = redis.command("GET", f"augur:{NS}:trie:version")
            return all(self.stats(r)["trie"]["version"] == int(version) for r in (a, b))

        deadline = time.monotonic() + 120
        while not settled():
            self.assertLess(time.monotonic(), deadline,
                            "the replicas never published the merge of all their runs")
            time.sleep(0.25)

        # Each replica's accumulator key and the published trie stay within their bounds.
        for name in ("a", "b"):
            size = redis.command("STRLEN", f"augur:{NS}:acc:{name}")
            self.assertGreater(size, 0)
            self.assertLessEqual(size, MAX_STATE_BYTES, f"acc:{name}")
        self.assertLessEqual(redis.command("STRLEN", f"augur:{NS}:trie"), MAX_TRIE_BYTES)
        self.assertTrieBounded(redis.command("GET", f"augur:{NS}:trie"))
        self.assertLessEqual(redis.command("XLEN", f"augur:{NS}:runs"), 100000 + 1000)
        for replica in (a, b):
            self.assertRealAgentPredicted(replica)
            self.assertLessEqual(self.stats(replica)["learning"]["paths"], MAX_PATHS)
            self.assertLess(rss_mib(replica.proc.pid), RSS_BOUND_MIB)
        if REPORT:
            print(f"\ntwo replicas: {calls} calls, acc:a "
                  f"{redis.command('STRLEN', f'augur:{NS}:acc:a')} bytes, acc:b "
                  f"{redis.command('STRLEN', f'augur:{NS}:acc:b')} bytes, trie "
                  f"{redis.command('STRLEN', f'augur:{NS}:trie')} bytes, runs stream "
                  f"{redis.command('XLEN', f'augur:{NS}:runs')} entries, RSS "
                  f"{rss_mib(a.proc.pid):.1f} / {rss_mib(b.proc.pid):.1f} MiB, used_memory "
                  f"{redis.command('INFO', 'memory').split('used_memory:')[1].split()[0]}")


if __name__ == "__main__":
    unittest.main()
