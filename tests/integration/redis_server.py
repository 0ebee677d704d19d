"""A real redis-server for integration tests: started on a free loopback port, stopped at close,
a minimal RESP client (standard library only) to look at and tamper with what augur stored, and
augur replicas sharing learning through it under a small seeded agent workload."""

import contextlib
import json
import random
import shutil
import socket
import subprocess
import threading
import time
import types

from harness import Augur, agent_call, config, free_port

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


class RespError(Exception):
    pass


def _read_reply(f):
    line = f.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RespError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2].decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise RespError(f"unexpected reply {line!r}")


class RedisServer:
    def __init__(self, port=None, debug=False):
        """debug: allow the DEBUG command (off by default since Redis 7), e.g. DEBUG SLEEP."""
        self.port = port or free_port()
        self.debug = debug
        self.url = f"redis://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self):
        self.proc = subprocess.Popen(
            [REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", *(["--enable-debug-command", "yes"] if self.debug else [])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                if self.command("PING") == "PONG":
                    return
            except (OSError, ConnectionError, RespError):
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)

    def command(self, *args, timeout=10):
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            parts = [f"*{len(args)}\r\n".encode()]
            for a in args:
                b = a if isinstance(a, bytes) else str(a).encode()
                parts.append(b"$%d\r\n%s\r\n" % (len(b), b))
            s.sendall(b"".join(parts))
            return _read_reply(s.makefile("rb"))

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def close(self):
        self.kill()


NS = "it"


def tokens_for(index, rng):
    # Output length depends on the call index, with noise: something real to learn.
    return int(rng.lognormvariate(0, 0.3) * 80 * index)


class ReplicaWorkload:
    """Mixed into an IntegrationTest that sets self.mock: augur replicas with a Redis store
    (namespace NS) and agent runs through them."""

    def replica(self, redis_url, name, interval="300ms", runs=0):
        up = f'{{ name: mock, url: "{self.mock.url}", hints: [nat_headers] }}'
        extra = (f"learning: {{ rebuild_interval: {interval}, rebuild_runs: {runs} }}\n"
                 f'store: {{ kind: redis, url: "{redis_url}", namespace: {NS}, replica: {name} }}\n')
        return self.own(Augur(config([up], extra)))

    def call(self, augur, run, path, tokens=10, last=False):
        return agent_call(augur.port, run, path, tokens, last)

    def agent_run(self, augur, run, rng):
        """One run: planner, then 2-4 calls of agent/tool, then a final planner call; returns
        the statuses."""
        statuses = []
        n = rng.randint(2, 4)
        calls = [("planner", 1)] + [("planner/tool", i + 1) for i in range(n)] + [("planner", 2)]
        for k, (path, index) in enumerate(calls):
            resp = self.call(augur, run, path, tokens_for(index, rng), last=(k == len(calls) - 1))
            statuses.append(resp.status)
        return statuses

    @contextlib.contextmanager
    def background_runs(self, augur, prefix, seed):
        """Agent runs through augur on a thread for the duration of the with block; yields an
        object whose done_runs and failures (non-200 statuses) the block may watch."""
        work = types.SimpleNamespace(done_runs=0, failures=[])
        stop = threading.Event()
        rng = random.Random(seed)

        def loop():
            while not stop.is_set():
                statuses = self.agent_run(augur, f"{prefix}{work.done_runs}", rng)
                work.failures.extend(s for s in statuses if s != 200)
                work.done_runs += 1

        t = threading.Thread(target=loop)
        t.start()
        try:
            yield work
        finally:
            stop.set()
            t.join()

    def published(self, redis):
        text = redis.command("GET", f"augur:{NS}:trie")
        return json.loads(text) if text else None

    def wait(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)
        self.fail(f"timed out waiting for {what}")

    def calls_in(self, trie):
        return trie["root"]["predictions_any_index"]["remaining_calls"]["sample_count"] if trie else 0

    def acc_runs(self, redis, replica):
        state = redis.command("GET", f"augur:{NS}:acc:{replica}")
        return json.loads(state)["runs"] if state else 0
