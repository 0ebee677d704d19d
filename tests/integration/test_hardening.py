"""Defects a production proxy cannot ship with, each through the real binary: a response that
reaches the wrong client, memory a peer can grow without bound, trailers smuggled in as headers,
framing RFC 9112 calls faulty, a reload racing keep-alive clients, a port taken twice, a config
that silently serves the demo mock, and non-LLM requests counted as agent calls."""

import json
import os
import resource
import signal
import socket
import subprocess
import tempfile
import time

from harness import (AUGUR_BIN, Augur, IntegrationTest, ScriptedUpstream, build_request, chat_body, config,
                     connect, metric_value, read_response, request, respond, wait_until)

CHAT = "/v1/chat/completions"


def stats(augur):
    resp = request(augur.admin_port, "GET", "/v1/augur/stats")
    assert resp.status == 200, resp.body
    return resp.json()


def numbered_upstream(extra_first=None, head_body=None, extra_later=None):
    """An upstream answering each request with its own sequence number as the body. Faults:
    extra_first: bytes sent right after the first response, in the same write (an unrequested
    response); head_body: bytes sent after a HEAD response's head (a body HEAD must not have);
    extra_later: bytes sent 300 ms after the first response, while the connection is idle."""
    served = {"n": 0}

    def handler(req, conn):
        served["n"] += 1
        n = served["n"]
        body = f"response-{n}".encode()
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                f"Content-Length: {len(body)}\r\n\r\n").encode()
        if req["method"] == "HEAD":
            conn.sendall(head + (head_body or b""))
            return True
        out = head + body
        if n == 1 and extra_first:
            out += extra_first
        conn.sendall(out)
        if n == 1 and extra_later:
            time.sleep(0.3)
            conn.sendall(extra_later)
        return True

    return handler


SMUGGLED = (b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 8\r\n\r\n"
            b"smuggled")


class ResponsesReachTheRightClient(IntegrationTest):
    def start(self, **faults):
        up = self.own(ScriptedUpstream(numbered_upstream(**faults)))
        augur = self.own(Augur(config([("up", up.url)], threads=1)))
        return up, augur

    def test_an_unrequested_response_never_answers_the_next_client(self):
        up, augur = self.start(extra_first=SMUGGLED)
        first = request(augur.port, "GET", "/v1/models")
        self.assertEqual(first.body, b"response-1")
        for _ in range(3):
            nxt = request(augur.port, "GET", "/v1/models")
            self.assertNotEqual(nxt.body, b"smuggled")
            self.assertTrue(nxt.body.startswith(b"response-"), nxt.body)
        self.assertEqual(
            metric_value(augur.admin_port, "augur_upstream_conn_discarded_total",
                         reason="unread_bytes"), 1)

    def test_a_head_response_with_a_body_never_answers_the_next_client(self):
        up, augur = self.start(head_body=SMUGGLED)
        resp = request(augur.port, "HEAD", "/v1/models")
        self.assertEqual(resp.status, 200)
        nxt = request(augur.port, "GET", "/v1/models")
        self.assertNotEqual(nxt.body, b"smuggled")
        self.assertTrue(nxt.body.startswith(b"response-"), nxt.body)

    def test_bytes_an_idle_pooled_connection_receives_never_answer_a_client(self):
        up, augur = self.start(extra_later=SMUGGLED)
        self.assertEqual(request(augur.port, "GET", "/v1/models").body, b"response-1")
        time.sleep(0.8)  # the unrequested response arrives while the connection is pooled
        nxt = request(augur.port, "GET", "/v1/models")
        self.assertNotEqual(nxt.body, b"smuggled")
        self.assertTrue(nxt.body.startswith(b"response-"), nxt.body)
        self.assertEqual(
            metric_value(augur.admin_port, "augur_upstream_conn_discarded_total",
                         reason="idle_bytes"), 1)


class ReloadMidConversation(IntegrationTest):
    """Each SIGHUP replaces the config every request reads; a keep-alive connection waiting for
    its next request must not keep reading the one a reload (picked up by another connection)
    released. The ASan+UBSan stage runs this test: a read of the released config is a report."""

    def test_keep_alive_clients_survive_reloads_picked_up_by_others(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn, body=b'"ok"') or True))

        def cfg(n):
            return config([("up", up.url)],
                          f"limits: {{ header_timeout: {10 + n}s, idle_timeout: {60 + n}s }}\n")

        augur = self.own(Augur(cfg(0)))
        clients = [connect(augur.port) for _ in range(4)]
        for c in clients:
            self.addCleanup(c.close)

        def ask(sock):
            sock.sendall(build_request("GET", "/v1/models"))
            resp, rest = read_response(sock)
            self.assertEqual(rest, b"")
            return resp

        for c in clients:
            self.assertEqual(ask(c).status, 200)
        for n in range(1, 6):
            before = stats(augur)["config"]["generation"]
            augur.rewrite_config(cfg(n))
            augur.signal(signal.SIGHUP)
            wait_until("the reload", lambda: stats(augur)["config"]["generation"] > before)
            # A new connection's request makes its io thread adopt the new config, releasing the
            # old one while the clients above sit between requests.
            self.assertEqual(request(augur.port, "GET", "/v1/models").status, 200)
            for c in clients:
                self.assertEqual(ask(c).status, 200)


def run_augur(*args, timeout=15):
    return subprocess.run([AUGUR_BIN, *args], capture_output=True, text=True, timeout=timeout)


class PortsAndConfigs(IntegrationTest):
    def test_a_second_augur_on_a_taken_port_exits_1_instead_of_sharing_it(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        first = self.own(Augur(config([("up", up.url)], threads=2)))
        second = run_augur("serve", "--config", first.config_path, "--listen",
                           f"127.0.0.1:{first.port}", "--admin-listen", "127.0.0.1:0")
        self.assertEqual(second.returncode, 1, second.stderr)
        self.assertIn(f"127.0.0.1:{first.port}", second.stderr)
        self.assertIn("in use", second.stderr)
        # The same for the admin port.
        third = run_augur("serve", "--config", first.config_path, "--listen", "127.0.0.1:0",
                          "--admin-listen", f"127.0.0.1:{first.admin_port}")
        self.assertEqual(third.returncode, 1, third.stderr)

    def write(self, text):
        fd, path = tempfile.mkstemp(suffix=".yaml", prefix="augur-test-")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_a_config_without_upstreams_is_an_error_not_the_demo_mock(self):
        path = self.write("listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\n")
        check = run_augur("check-config", path)
        self.assertEqual(check.returncode, 2, check.stdout)
        self.assertIn("upstreams", check.stderr)
        serve = run_augur("serve", "--config", path)
        self.assertEqual(serve.returncode, 2, serve.stdout)
        self.assertIn("upstreams", serve.stderr)
        # The demo is asked for by name (or by giving no config at all).
        demo = self.own(Augur(None, ["--demo", "--listen", "127.0.0.1:0", "--admin-listen",
                                     "127.0.0.1:0"]))
        self.assertEqual(request(demo.port, "POST", CHAT, chat_body()).status, 200)

    def test_check_config_loads_the_trie_file_serve_would_load(self):
        up = "upstreams: [ { name: up, url: 'http://127.0.0.1:9' } ]\n"
        missing = self.write(up + "prediction: { trie_file: /nonexistent/trie.json }\n")
        check = run_augur("check-config", missing)
        self.assertEqual(check.returncode, 2, check.stdout)
        self.assertIn("prediction.trie_file", check.stderr)
        fd, bad_trie = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            f.write('{"version": "1.0", "root": ')
        self.addCleanup(os.unlink, bad_trie)
        broken = self.write(up + f"prediction: {{ trie_file: {bad_trie} }}\n")
        check = run_augur("check-config", broken)
        self.assertEqual(check.returncode, 2, check.stdout)
        self.assertIn("prediction.trie_file", check.stderr)


def fd_limited(soft, hard):
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


class ConnectionCeilings(IntegrationTest):
    def test_the_fd_limit_is_raised_to_the_hard_limit_and_the_ceiling_logged(self):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config([("up", up.url)]), preexec=fd_limited(256, hard)))
        with open(f"/proc/{augur.proc.pid}/limits") as f:
            line = next(l for l in f if l.startswith("Max open files"))
        self.assertEqual(line.split()[3], str(hard), line)
        self.assertIn("connection ceiling", augur.stderr())

    def test_connections_over_max_connections_are_refused_counted_and_logged(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config([("up", up.url)], "limits: { max_connections: 2 }\n",
                                      threads=1)))
        held = [connect(augur.port) for _ in range(2)]
        for c in held:
            self.addCleanup(c.close)
            c.sendall(build_request("GET", "/v1/models"))
            self.assertEqual(read_response(c)[0].status, 200)
        with connect(augur.port) as extra:
            extra.settimeout(10)
            self.assertEqual(extra.recv(1), b"")  # closed at once
        self.assertEqual(metric_value(augur.admin_port, "augur_connections_refused_total",
                                      reason="max_connections"), 1)
        wait_until("the refusal logged", lambda: "max_connections" in augur.stderr())

    def test_the_admin_listener_backs_off_when_out_of_file_descriptors(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config([("up", up.url)], threads=1), preexec=fd_limited(64, 64)))
        # Warm up the paths the test drives (a request, a client closing, an admin request): the
        # UBSan build checks an object's dynamic type the first time a path meets it, with a
        # pipe(2) that fails while descriptors are exhausted, and would then report a bad vptr.
        self.assertEqual(request(augur.port, "GET", "/v1/models").status, 200)
        self.assertEqual(request(augur.admin_port, "GET", "/healthz").status, 200)
        # Use up augur's descriptors with idle client connections, then knock on the admin port.
        held = []
        for _ in range(80):
            try:
                held.append(connect(augur.port, timeout=2))
            except OSError:
                break
        for c in held:
            self.addCleanup(c.close)
        knockers = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", augur.admin_port))
            knockers.append(s)
            self.addCleanup(s.close)
        time.sleep(0.5)
        before = cpu_seconds(augur.proc.pid)
        time.sleep(2)
        used = cpu_seconds(augur.proc.pid) - before
        # A loop retrying accept() at once burns the whole 2 s; a backed-off one almost nothing.
        self.assertLess(used, 0.25, "augur spins while out of file descriptors")
        for c in held:
            c.close()
        for s in knockers:
            s.close()
        def healthy():
            try:
                return request(augur.admin_port, "GET", "/healthz", timeout=5).status == 200
            except OSError:  # refused or reset while augur frees its descriptors
                return False

        wait_until("the admin port serving again", healthy)


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid):
    """The most memory the process ever had resident (VmHWM): what a flood grew it to, even if it
    was freed again since."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


CHUNKED_POST = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: augur.test\r\n"
                b"Content-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
FLOOD = 24 * 1024 * 1024  # what a peer tries to make augur hold
PIECE = b"a" * 65536


def flood(sock, prefix, limit=FLOOD):
    """Sends prefix, then `limit` bytes of filler; returns how many filler bytes augur took before
    it closed the connection (all of them when it never did)."""
    sock.sendall(prefix)
    sent = 0
    try:
        while sent < limit:
            sock.sendall(PIECE)
            sent += len(PIECE)
    except (BrokenPipeError, ConnectionResetError):
        pass
    return sent


class MemoryPerConnection(IntegrationTest):
    """A line that never ends (a chunk size line with endless extensions, an endless trailer
    section) must not grow augur's memory: the request is refused and the connection closed after
    a bounded number of bytes, and an upstream doing the same gets its response cut."""

    def start(self, handler=None):
        up = self.own(ScriptedUpstream(handler or (lambda req, conn: respond(conn) or True)))
        augur = self.own(Augur(config([("up", up.url)], threads=1)))
        request(augur.port, "GET", "/v1/models")  # warm up: pools and buffers exist
        return augur

    def refused_without_growth(self, augur, prefix, status):
        before = peak_rss_kib(augur.proc.pid)
        with connect(augur.port) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
            sent = flood(s, prefix)
            s.settimeout(10)
            resp, _ = read_response(s)
        self.assertEqual(resp.status, status, resp.body)
        self.assertLess(sent, FLOOD, "augur read the whole flood")
        self.assertLess(peak_rss_kib(augur.proc.pid) - before, 8 * 1024)

    def test_an_endless_chunk_extension_line_is_refused(self):
        augur = self.start()
        self.refused_without_growth(augur, CHUNKED_POST + b"5;ext=", 400)

    def test_an_endless_trailer_section_is_refused(self):
        augur = self.start()
        self.refused_without_growth(augur, CHUNKED_POST + b"5\r\nhello\r\n0\r\nX-Trailer: ", 431)

    def test_an_upstream_sending_an_endless_chunk_line_is_cut_off(self):
        def endless(req, conn):
            if req["target"] == "/v1/models":  # the warm-up
                return respond(conn) or True
            conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=")
            try:
                for _ in range(FLOOD // len(PIECE)):
                    conn.sendall(PIECE)
            except OSError:
                pass
            return False

        augur = self.start(endless)
        before = peak_rss_kib(augur.proc.pid)
        with connect(augur.port) as s:
            s.sendall(build_request("GET", "/v1/endless"))
            resp, _ = read_response(s, timeout=30)
        self.assertEqual(resp.status, 502, resp.body)
        self.assertLess(peak_rss_kib(augur.proc.pid) - before, 8 * 1024)


class OnlyLlmCallsAreCalls(IntegrationTest):
    def test_models_embeddings_and_health_checks_get_no_hints_no_index_and_are_not_learned(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config(
            [f'{{ name: up, url: "{up.url}", hints: [nat_headers, prefix_headers, nvext] }}'],
            "learning: { enabled: true, rebuild_interval: 1h }\nsona: { enabled: false }\n")))
        run = {"x-nat-run-id": "run-1", "x-nat-function-path": "agent"}
        embeddings = {"model": "embed", "input": "hello"}
        sent = [
            ("GET", "/v1/models", b""),
            ("POST", "/v1/embeddings", json.dumps(embeddings).encode()),
            ("GET", "/health", b""),
            ("POST", "/v1/chat/completions", json.dumps(chat_body()).encode()),
            ("POST", "/base/v1/chat/completions", json.dumps(chat_body()).encode()),
        ]
        for method, path, body in sent:
            headers = dict(run, **({"Content-Type": "application/json"} if body else {}))
            self.assertEqual(request(augur.port, method, path, body, headers).status, 200)
        got = {r["target"]: dict(r["headers"]) for r in up.requests}
        for path in ("/v1/models", "/v1/embeddings", "/health"):
            hints = [h for h in got[path] if h.startswith(("x-nat-", "x-prefix-"))
                     and h not in run]
            self.assertEqual(hints, [], path)
        self.assertNotIn(b"nvext", up.requests[1]["body"])
        self.assertEqual(got["/v1/chat/completions"]["x-nat-call-index"], "1")
        self.assertEqual(got["/base/v1/chat/completions"]["x-nat-call-index"], "2")
        wait_until("the calls observed",
                   lambda: stats(augur)["learning"]["observations"] >= 2)
        time.sleep(0.3)
        self.assertEqual(stats(augur)["learning"]["observations"], 2)


class WhatANewcomerTripsOn(IntegrationTest):
    def write(self, text, folder=None):
        fd, path = tempfile.mkstemp(suffix=".yaml", prefix="augur-test-", dir=folder)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        self.addCleanup(os.unlink, path)
        return path

    def test_usage_errors_exit_2_with_a_plain_message(self):
        for args in (["--no-such-flag"], ["check-config"], ["trie", "lookup"],
                     ["serve", "--listen"], ["--demo", "--config", "x.yaml"]):
            with self.subTest(args=args):
                got = run_augur(*args)
                self.assertEqual(got.returncode, 2, got.stderr)
        self.assertEqual(run_augur("--help").returncode, 0)
        self.assertEqual(run_augur("--version").returncode, 0)
        got = run_augur("trie", "lookup", "--trie", "t.json", "--call-index", "0")
        self.assertEqual(got.returncode, 2)
        self.assertIn("call indices are whole numbers from 1", got.stderr)
        self.assertLess(len(got.stderr), 400, got.stderr)  # no 300-digit range

    def test_stats_report_the_bound_ports_and_count_configs_not_trie_publishes(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config([("up", up.url)], "learning: { rebuild_runs: 1 }\n"
                                      "context: { run_idle_timeout: 100ms }\n")))
        cfg = stats(augur)["config"]
        self.assertEqual(cfg["listen"], f"127.0.0.1:{augur.port}")
        self.assertEqual(cfg["admin_listen"], f"127.0.0.1:{augur.admin_port}")
        self.assertEqual(cfg["generation"], 1)
        for n in range(3):  # runs that close and make learning publish tries
            request(augur.port, "POST", CHAT, chat_body(),
                    {"x-nat-run-id": f"r{n}", "x-nat-run-end": "true"})
        wait_until("a learned trie", lambda: stats(augur)["trie"]["source"] == "learned")
        self.assertEqual(stats(augur)["config"]["generation"], 1)
        augur.signal(signal.SIGHUP)
        wait_until("the reload", lambda: stats(augur)["config"]["generation"] == 2)

    def test_access_log_takes_off_stdout_or_a_path_not_a_bare_word(self):
        up = "upstreams: [ { name: up, url: 'http://127.0.0.1:9' } ]\n"
        got = run_augur("check-config", self.write(up + "access_log: verbose\n"))
        self.assertEqual(got.returncode, 2)
        self.assertIn("access_log", got.stderr)
        self.assertIn("./verbose", got.stderr)

    def test_relative_paths_are_relative_to_the_config_files_folder(self):
        folder = tempfile.mkdtemp(prefix="augur-cfg-")
        self.addCleanup(lambda: subprocess.run(["rm", "-rf", folder]))
        trie = {"version": "1.0", "generated_at": "2026-01-01T00:00:00+00:00",
                "workflow_name": "w", "root": {"name": "root", "predictions_by_call_index": {},
                                                "predictions_any_index": None, "children": {}}}
        with open(os.path.join(folder, "trie.json"), "w") as f:
            json.dump(trie, f)
        text = config([("up", "http://127.0.0.1:9")], "prediction: { trie_file: trie.json }\n")
        path = self.write(text, folder=folder)
        got = subprocess.run([os.path.abspath(AUGUR_BIN), "check-config", path],
                             capture_output=True, text=True, cwd="/", timeout=15)
        self.assertEqual(got.returncode, 0, got.stderr)
        # serve, started elsewhere, finds the same file.
        served = subprocess.Popen([os.path.abspath(AUGUR_BIN), "serve", "--config", path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  cwd="/")
        self.addCleanup(served.kill)
        line = served.stdout.readline()
        self.assertIn("augur listening on", line, served.stderr.read() if not line else "")
        served.terminate()
        served.wait(timeout=30)
