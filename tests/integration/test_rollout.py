"""A Kubernetes rollout without a cluster: two augur replicas sharing one redis-server behind a
round-robin front that plays the Service (it polls each replica's /readyz like a readiness probe
and routes new connections only to ready endpoints). While a steady stream of plain and streamed
requests goes through the front, one replica is taken out the two ways deploy/k8s documents:

- preStop: the endpoint leaves the Service first (a deleted pod does), a pause, then SIGTERM;
- shutdown_delay: SIGTERM at once; augur's /readyz says 503 while it keeps serving, the front
  stops routing to it, then augur drains.

No request may fail, no stream may be cut (each ends with `data: [DONE]`), the replica that left
must exit 0 after finishing a stream it was serving, and the learning both replicas published
(function paths taught on one replica only) must still be served as `exact` hints by the
survivor and by a replacement replica started afterwards."""

import contextlib
import json
import selectors
import signal
import socket
import threading
import time
import unittest

from harness import (Augur, IntegrationTest, Mock, agent_call, build_request, chat_body, config,
                     connect, read_response, request, sse_events, stream_chat, wait_until)
from redis_server import RedisServer

NS = "rollout"
# Streams of STREAM_TOKENS events CHUNK_DELAY_MS apart (~0.6 s): long enough that some are always
# in flight when a replica goes, short enough for the test to stay quick.
CHUNK_DELAY_MS = 30
STREAM_TOKENS = 20
TRAFFIC_THREADS = 4
POLL_S = 0.2  # the front's readiness poll period


class Front:
    """The Service and its endpoint controller, on loopback: a TCP front that hands each new
    connection to the next ready replica, round robin. Every POLL_S it asks each replica's
    /readyz (200 = ready; 503, a refused connection or a timeout = not ready). remove() takes an
    endpoint out at once, as deleting a pod does before its preStop hook runs. Connections
    already handed over keep flowing, as kube-proxy's do."""

    def __init__(self):
        self.lock = threading.Lock()
        self.backends = {}  # name -> Augur, in insertion order
        self.ready = set()
        self.removed = set()
        self.routed = {}  # name -> connections handed over
        self.refused = 0  # connections closed because no endpoint was ready
        self.next = 0
        self.running = True
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.threads = [threading.Thread(target=self._poll, daemon=True),
                        threading.Thread(target=self._accept, daemon=True)]
        for t in self.threads:
            t.start()

    def add(self, name, augur):
        with self.lock:
            self.backends[name] = augur
            self.routed.setdefault(name, 0)

    def remove(self, name):
        with self.lock:
            self.removed.add(name)
            self.ready.discard(name)

    def is_ready(self, name):
        with self.lock:
            return name in self.ready

    def _poll(self):
        while self.running:
            with self.lock:
                backends = list(self.backends.items())
            for name, augur in backends:
                try:
                    ok = request(augur.admin_port, "GET", "/readyz", timeout=2).status == 200
                except OSError:
                    ok = False
                with self.lock:
                    if ok and name not in self.removed:
                        self.ready.add(name)
                    else:
                        self.ready.discard(name)
            time.sleep(POLL_S)

    def _accept(self):
        while self.running:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                endpoints = [n for n in self.backends if n in self.ready]
                if endpoints:
                    name = endpoints[self.next % len(endpoints)]
                    self.next += 1
                    self.routed[name] += 1
                    port = self.backends[name].port
                else:
                    self.refused += 1
            if not endpoints:
                client.close()
                continue
            threading.Thread(target=self._relay, args=(client, port), daemon=True).start()

    def _relay(self, client, port):
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        except OSError:
            client.close()  # the client sees a closed connection: a failed request
            return
        sel = selectors.DefaultSelector()
        sel.register(client, selectors.EVENT_READ, upstream)
        sel.register(upstream, selectors.EVENT_READ, client)
        open_sides = 2
        try:
            while open_sides:
                for key, _ in sel.select(timeout=60):
                    data = key.fileobj.recv(65536)
                    if data:
                        key.data.sendall(data)
                        continue
                    # One side finished sending: pass the half-close on, keep the other way open.
                    sel.unregister(key.fileobj)
                    open_sides -= 1
                    with contextlib.suppress(OSError):
                        key.data.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        finally:
            sel.close()
            client.close()
            upstream.close()

    def close(self):
        self.running = False
        self.sock.close()
        for t in self.threads:
            t.join(timeout=5)


class Traffic:
    """TRAFFIC_THREADS clients sending, in turn, a plain and a streamed chat completion through the
    front, each on a new connection, until stopped. Records every failure: an exception (refused,
    reset, closed early), a status other than 200, or a stream not ending with `data: [DONE]`."""

    def __init__(self, port):
        self.port = port
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.plain = 0
        self.streams = 0
        self.failures = []
        self.threads = [threading.Thread(target=self._loop, args=(i,)) for i in range(TRAFFIC_THREADS)]
        for t in self.threads:
            t.start()

    def _loop(self, i):
        n = 0
        while not self.stop_event.is_set():
            n += 1
            stream = (n + i) % 2 == 0
            try:
                if stream:
                    resp = stream_chat(self.port, {"x-mock-tokens": str(STREAM_TOKENS)}, timeout=60)
                    events = sse_events(resp)
                    ok = resp.status == 200 and events and events[-1] == "data: [DONE]"
                    what = f"stream: {resp.status}, last event {events[-1:]!r}"
                else:
                    resp = request(self.port, "POST", "/v1/chat/completions", chat_body(),
                                   {"x-mock-tokens": "8"}, timeout=60)
                    ok = resp.status == 200
                    what = f"plain: {resp.status} {resp.body[:200]!r}"
            except (OSError, ValueError) as e:
                ok, what = False, f"{'stream' if stream else 'plain'}: {type(e).__name__}: {e}"
            with self.lock:
                if not ok:
                    self.failures.append(what)
                elif stream:
                    self.streams += 1
                else:
                    self.plain += 1

    def count(self):
        with self.lock:
            return self.plain + self.streams

    def stop(self):
        self.stop_event.set()
        for t in self.threads:
            t.join(timeout=90)


class Rollout(IntegrationTest):
    def setUp(self):
        self.redis = self.own(RedisServer())
        self.mock = self.own(Mock("--chunk-delay-ms", str(CHUNK_DELAY_MS)))

    def replica(self, name, shutdown_delay="0s"):
        """A replica as deploy/k8s runs it: Redis store, its own replica id (the pod name)."""
        up = f'{{ name: mock, url: "{self.mock.url}", hints: [nat_headers] }}'
        extra = ("learning: { rebuild_interval: 300ms }\n"
                 f'store: {{ kind: redis, url: "{self.redis.url}", namespace: {NS}, '
                 f"replica: {name} }}\n"
                 f"shutdown_delay: {shutdown_delay}\nshutdown_timeout: 30s\n")
        return self.own(Augur(config([up], extra)))

    def call(self, port, run, path, tokens=10, last=False):
        resp = agent_call(port, run, path, tokens, last)
        self.assertEqual(resp.status, 200, resp.body)
        return resp

    def teach(self, augur, agent, runs=4):
        """Runs of agent `agent` on this replica only: agent, agent/tool twice, agent (last)."""
        for r in range(runs):
            run = f"{agent}-run{r}"
            self.call(augur.port, run, agent, 50)
            self.call(augur.port, run, f"{agent}/tool", 120)
            self.call(augur.port, run, f"{agent}/tool", 240)
            self.call(augur.port, run, agent, 30, last=True)

    def source(self, port, agent):
        """The prediction source of the hints augur injects on a new run's first call of
        agent/tool, as the mock received them."""
        resp = self.call(port, f"probe-{time.monotonic_ns()}", f"{agent}/tool")
        return resp.json()["mock"]["request_headers"].get("x-nat-prediction-source")

    def published_agents(self):
        text = self.redis.command("GET", f"augur:{NS}:trie")
        return set(json.loads(text)["root"]["children"]) if text else set()

    def acc_runs(self, replica):
        state = self.redis.command("GET", f"augur:{NS}:acc:{replica}")
        return json.loads(state)["runs"] if state else 0

    def rollout(self, take_out):
        """Two replicas learn, traffic flows through the front, take_out(front, a) removes
        replica a the way Kubernetes would; then everything the docstring promises is checked."""
        mode_delay = take_out.__name__ == "with_shutdown_delay"
        a = self.replica("pod-a", shutdown_delay="2s" if mode_delay else "0s")
        b = self.replica("pod-b")
        front = self.own(Front())
        front.add("pod-a", a)
        front.add("pod-b", b)
        wait_until("both replicas ready behind the front",
                   lambda: front.is_ready("pod-a") and front.is_ready("pod-b"), deadline=30)

        # Each replica learns an agent the other never sees; the leader merges both into the
        # trie in Redis, which every replica loads.
        self.teach(a, "alpha")
        self.teach(b, "beta")
        wait_until("both replicas' learning published",
                   lambda: {"alpha", "beta"} <= self.published_agents(), deadline=60)

        traffic = Traffic(front.port)
        self.addCleanup(traffic.stop)
        wait_until("traffic through both replicas",
                   lambda: front.routed["pod-a"] >= 4 and front.routed["pod-b"] >= 4, deadline=30)

        # A stream on the leaving replica, its headers already received when the rollout starts:
        # the drain must let it finish.
        inflight = connect(a.port, timeout=60)
        self.addCleanup(inflight.close)
        inflight.sendall(build_request(
            "POST", "/v1/chat/completions", json.dumps(chat_body(stream=True)).encode(),
            {"Content-Type": "application/json", "x-mock-tokens": "60"}))
        inflight.settimeout(30)
        first = inflight.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), first[:100])

        routed_before = front.routed["pod-a"]
        take_out(front, a)
        resp, _ = read_response(inflight, first, timeout=60)
        self.assertEqual(sse_events(resp)[-1], "data: [DONE]", "the draining replica cut a stream")
        self.assertEqual(a.wait(timeout=60), 0, a.stderr()[-2000:])

        # Traffic keeps flowing through the survivor alone for a while.
        after_exit = traffic.count()
        wait_until("requests after the replica left", lambda: traffic.count() >= after_exit + 20,
                   deadline=60)
        traffic.stop()

        self.assertEqual(traffic.failures, [], "requests failed during the rollout")
        self.assertEqual(front.refused, 0)
        self.assertGreater(routed_before, 0)
        self.assertGreater(traffic.streams, 10)
        self.assertGreater(traffic.plain, 10)

        # The survivor serves what both replicas learned, the leaver's agent included.
        self.assertEqual(self.source(b.port, "alpha"), "exact")
        self.assertEqual(self.source(b.port, "beta"), "exact")
        # The leaver flushed its state under its own key (at shutdown at the latest), alpha's
        # runs and whatever of the traffic it closed as runs: the next merges keep it.
        self.assertGreaterEqual(self.acc_runs("pod-a"), 4)
        self.assertIn('"alpha"', self.redis.command("GET", f"augur:{NS}:acc:pod-a"))
        # A replacement replica (the rollout's new pod) serves both from its first request.
        c = self.replica("pod-c")
        self.assertEqual(self.source(c.port, "alpha"), "exact")
        self.assertEqual(self.source(c.port, "beta"), "exact")

    def test_prestop_endpoint_removed_then_sigterm(self):
        def with_prestop(front, augur):
            # Deleting the pod: the endpoint goes, preStop sleeps, then the kubelet sends SIGTERM
            # and augur (shutdown_delay 0s) stops accepting and drains.
            front.remove("pod-a")
            time.sleep(1.0)
            augur.signal(signal.SIGTERM)

        self.rollout(with_prestop)

    def test_shutdown_delay_readiness_fails_while_serving(self):
        def with_shutdown_delay(front, augur):
            # No preStop: SIGTERM at once. augur's /readyz says 503 for shutdown_delay (2 s)
            # while it keeps accepting; the front's readiness poll must notice and stop routing.
            augur.signal(signal.SIGTERM)
            wait_until("the front to see /readyz 503", lambda: not front.is_ready("pod-a"),
                       deadline=10)
            self.assertIsNone(augur.proc.poll(), "augur left before readiness was seen failing")

        self.rollout(with_shutdown_delay)


if __name__ == "__main__":
    unittest.main()
