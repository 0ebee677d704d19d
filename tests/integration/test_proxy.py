"""The proxy core through real sockets: passthrough, streaming, keep-alive, errors, signals."""

import json
import os
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import (AUGUR_BIN, Augur, IntegrationTest, Mock, ScriptedUpstream, build_request,
                     chat_body, config, connect, free_port, read_response, request, respond,
                     sse_events, stream_chat)


class Passthrough(IntegrationTest):
    def test_non_streaming_request_and_response_pass_byte_identical(self):
        upstream_body = b'{"id":"cmpl-1","object":"chat.completion","choices":[],"x":"\xc3\xa9"}'

        def handler(req, conn):
            respond(conn, body=upstream_body,
                    headers={"X-Upstream": "yes", "Keep-Alive": "timeout=5",
                             "Connection": "keep-alive, X-Drop-Me", "X-Drop-Me": "hop"})
            return True

        up = self.own(ScriptedUpstream(handler))
        augur = self.own(Augur(config([("up", up.url)])))
        sent = json.dumps(chat_body()).encode()
        resp = request(augur.port, "POST", "/v1/chat/completions?x=1", sent,
                       {"Content-Type": "application/json", "X-Client": "c1",
                        "Connection": "keep-alive, X-Secret", "X-Secret": "hop-by-hop",
                        "Proxy-Connection": "keep-alive", "TE": "trailers"})
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, upstream_body)  # the response body, byte for byte
        self.assertEqual(resp.header("x-upstream"), "yes")
        # Hop-by-hop fields, and the ones Connection names, stop at augur (RFC 9110 7.6.1).
        self.assertIsNone(resp.header("keep-alive"))
        self.assertIsNone(resp.header("x-drop-me"))

        req = up.requests[0]
        self.assertEqual(req["body"], sent)  # the request body, byte for byte
        self.assertEqual(req["method"], "POST")
        self.assertEqual(req["target"], "/v1/chat/completions?x=1")
        got = dict(req["headers"])
        self.assertEqual(got["x-client"], "c1")
        self.assertEqual(got["content-type"], "application/json")
        self.assertEqual(got["content-length"], str(len(sent)))
        self.assertEqual(got["host"], f"127.0.0.1:{up.port}")
        self.assertEqual(got["x-forwarded-for"], "127.0.0.1")
        self.assertEqual(got["x-forwarded-proto"], "http")
        for hop in ("x-secret", "proxy-connection", "te", "connection"):
            self.assertNotIn(hop, got)

    def test_bodies_larger_than_socket_buffers_cross_whole_to_a_slow_reader(self):
        # 8 MiB each way outgrows the kernel's socket buffers: augur's first, non-waiting write
        # sends part, and the rest goes out as the peer drains (the client reads only after a
        # pause, through a small receive buffer).
        content = "x" * (8 * 1024 * 1024)
        big_response = json.dumps({"object": "chat.completion", "padding": "y" * (8 * 1024 * 1024)})

        def handler(req, conn):
            respond(conn, body=big_response.encode())
            return True

        up = self.own(ScriptedUpstream(handler))
        augur = self.own(Augur(config([("up", up.url)])))
        sent = json.dumps(chat_body(messages=[{"role": "user", "content": content}])).encode()
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)  # before connect: a small window
            s.settimeout(60)
            s.connect(("127.0.0.1", augur.port))
            s.sendall(build_request("POST", "/v1/chat/completions", sent,
                                    {"Content-Type": "application/json"}))
            time.sleep(0.5)
            resp, _ = read_response(s, timeout=60)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.body, big_response.encode())
        forwarded = json.loads(up.requests[0]["body"])
        self.assertEqual(forwarded["messages"][0]["content"], content)

    def test_x_forwarded_for_is_appended(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn) or True))
        augur = self.own(Augur(config([("up", up.url)])))
        request(augur.port, "GET", "/v1/models", headers={"X-Forwarded-For": "10.1.2.3"})
        self.assertEqual(dict(up.requests[0]["headers"])["x-forwarded-for"], "10.1.2.3, 127.0.0.1")

    def test_base_path_and_routing_by_model_and_prefix(self):
        a = self.own(ScriptedUpstream(lambda req, conn: respond(conn, body=b'"a"') or True))
        b = self.own(ScriptedUpstream(lambda req, conn: respond(conn, body=b'"b"') or True))
        extra = ("routes:\n"
                 "  - { model: big-model, upstreams: [b] }\n"
                 "  - { path_prefix: /v1/embeddings, upstreams: [b] }\n")
        augur = self.own(Augur(config([("a", a.url + "/base"), ("b", b.url)], extra)))
        self.assertEqual(request(augur.port, "POST", "/v1/chat/completions",
                                 chat_body(model="big-model")).body, b'"b"')
        self.assertEqual(request(augur.port, "POST", "/v1/embeddings", {"input": "x"}).body, b'"b"')
        self.assertEqual(request(augur.port, "POST", "/v1/chat/completions",
                                 chat_body(model="small")).body, b'"a"')
        self.assertEqual(a.requests[0]["target"], "/base/v1/chat/completions")

    def test_upstream_error_statuses_pass_through_unchanged(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        for status in (400, 429, 500, 503):
            resp = request(augur.port, "POST", "/v1/chat/completions", chat_body(),
                           {"x-mock-status": str(status)})
            direct = request(mock.port, "POST", "/v1/chat/completions", chat_body(),
                             {"x-mock-status": str(status)})
            self.assertEqual(resp.status, status)
            self.assertEqual(resp.json()["error"], direct.json()["error"])


class Streaming(IntegrationTest):
    def test_sse_arrives_incrementally(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        tokens, delay_ms = 8, 250
        with connect(augur.port) as s:
            s.sendall(build_request("POST", "/v1/chat/completions",
                                    json.dumps(chat_body(stream=True)).encode(),
                                    {"Content-Type": "application/json",
                                     "x-mock-tokens": str(tokens),
                                     "x-mock-chunk-delay-ms": str(delay_ms)}))
            start = time.monotonic()
            buf = b""
            first_event_at = None
            while b"data: [DONE]" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
                if first_event_at is None and b"data: {" in buf:
                    first_event_at = time.monotonic() - start
            total = time.monotonic() - start
        head = buf.split(b"\r\n\r\n", 1)[0].decode().lower()
        self.assertIn("text/event-stream", head)
        self.assertIn("transfer-encoding: chunked", head)
        self.assertIn("x-accel-buffering: no", head)
        self.assertIn(b"data: [DONE]", buf)
        # The upstream spends (tokens-1)*delay between its first and last event; a proxy that
        # buffered would deliver the first event only at the end.
        upstream_span = (tokens - 1) * delay_ms / 1000
        self.assertIsNotNone(first_event_at)
        self.assertLess(first_event_at, total - upstream_span / 2,
                        f"first event after {first_event_at:.3f}s of {total:.3f}s")

    def test_http10_client_gets_a_close_delimited_stream_not_chunks(self):
        # HTTP/1.0 has no chunked coding: an unsized body must end with the connection.
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        with connect(augur.port) as s:
            s.sendall(build_request("POST", "/v1/chat/completions",
                                    json.dumps(chat_body(stream=True)).encode(),
                                    {"Content-Type": "application/json", "x-mock-tokens": "3"},
                                    version="HTTP/1.0"))
            buf = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break  # augur closed: the end of the body
                buf += chunk
        head, body = buf.split(b"\r\n\r\n", 1)
        head = head.decode().lower()
        self.assertNotIn("transfer-encoding", head)
        self.assertIn("connection: close", head)
        self.assertTrue(body.startswith(b"data: {"), body[:40])
        self.assertIn(b"data: [DONE]", body)

    def test_upstream_dying_mid_stream_ends_with_sse_error_event(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        resp = stream_chat(augur.port, {"x-mock-fault": "reset-mid-stream",
                                        "x-mock-fault-after": "2"})
        self.assertEqual(resp.status, 200)
        events = sse_events(resp)
        self.assertGreaterEqual(len(events), 3)
        self.assertTrue(events[0].startswith("data: {"))
        last = events[-1]
        self.assertTrue(last.startswith("data: "), last)
        err = json.loads(last[len("data: "):])["error"]
        self.assertIn("message", err)
        self.assertEqual(err["type"], "upstream_error")


class KeepAlive(IntegrationTest):
    def test_client_and_upstream_connections_are_reused(self):
        mock = self.own(Mock())
        # One io thread: upstream pools are per thread, and the second client must share it.
        augur = self.own(Augur(config([("mock", mock.url)], threads=1)))
        ids = set()
        with connect(augur.port) as s:
            buf = b""
            for i in range(5):
                s.sendall(build_request("POST", "/v1/chat/completions",
                                        json.dumps(chat_body()).encode(),
                                        {"Content-Type": "application/json"}))
                resp, buf = read_response(s, buf)
                self.assertEqual(resp.status, 200)
                ids.add(resp.header("x-mock-connection-id"))
                last_index = int(resp.header("x-mock-connection-requests"))
        self.assertEqual(len(ids), 1, "augur opened more than one upstream connection")
        self.assertEqual(last_index, 5)
        # A second client reuses the same pooled upstream connection.
        resp = request(augur.port, "POST", "/v1/chat/completions", chat_body())
        self.assertEqual(resp.header("x-mock-connection-id"), ids.pop())

    def test_pipelined_requests_are_answered_in_order(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        with connect(augur.port) as s:
            batch = b"".join(build_request("POST", "/v1/chat/completions",
                                           json.dumps(chat_body(model=f"m{i}")).encode(),
                                           {"Content-Type": "application/json"})
                             for i in range(4))
            s.sendall(batch)
            buf = b""
            for i in range(4):
                resp, buf = read_response(s, buf)
                self.assertEqual(resp.json()["model"], f"m{i}")

    def test_dead_pooled_connection_is_retried_transparently(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        # The mock answers, then drops the keep-alive connection without saying so.
        first = request(augur.port, "POST", "/v1/chat/completions", chat_body(),
                        {"x-mock-fault": "close-after-response"})
        self.assertEqual(first.status, 200)
        time.sleep(0.2)
        second = request(augur.port, "POST", "/v1/chat/completions", chat_body())
        self.assertEqual(second.status, 200)
        self.assertNotEqual(first.header("x-mock-connection-id"),
                            second.header("x-mock-connection-id"))


class EndOfStream(IntegrationTest):
    """A read that drains a socket makes augur's next read on it wait for epoll without trying
    first (proxy/net/socket_read.hpp). The one thing epoll does not report again is an end of stream
    that came in with the bytes of that read: these peers send their last bytes and their close
    together, and the timeouts are long, so a close augur overlooked would show as a hang."""

    ROUNDS = 20
    LONG = "limits: { idle_timeout: 300s }\n"

    def test_a_client_that_half_closes_after_its_request_is_answered_then_closed(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)], self.LONG)))
        for i in range(self.ROUNDS):
            with connect(augur.port, timeout=10) as s:
                # Corked, the request and the FIN leave in one segment: augur's read of the
                # request drains the socket and finds no later event for the close.
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
                s.sendall(build_request("POST", "/v1/chat/completions",
                                        json.dumps(chat_body()).encode(),
                                        {"Content-Type": "application/json"}))
                s.shutdown(socket.SHUT_WR)
                buf = b""
                while True:
                    chunk = s.recv(65536)  # times out (10 s) if augur keeps the connection
                    if not chunk:
                        break
                    buf += chunk
            self.assertTrue(buf.startswith(b"HTTP/1.1 200"), (i, buf[:80]))

    def test_a_pooled_connection_the_upstream_closed_with_its_response_is_retried(self):
        def handler(req, conn):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # response and FIN together
            respond(conn, body=b'{"ok":true}')  # keep-alive by default, then closed at once
            return False

        up = self.own(ScriptedUpstream(handler))
        slow = f'{{ name: up, url: "{up.url}", timeouts: {{ response_headers: 300s }} }}'
        augur = self.own(Augur(config([slow], self.LONG, threads=1)))
        with connect(augur.port, timeout=10) as s:
            buf = b""
            for i in range(self.ROUNDS):
                s.sendall(build_request("POST", "/v1/chat/completions",
                                        json.dumps(chat_body()).encode(),
                                        {"Content-Type": "application/json"}))
                resp, buf = read_response(s, buf, timeout=10)
                self.assertEqual((i, resp.status, resp.body), (i, 200, b'{"ok":true}'))
        self.assertEqual(up.connections, self.ROUNDS)  # each request found the last one closed

    def test_a_close_delimited_response_sent_with_its_close_is_relayed_whole(self):
        body = b'{"id":"cmpl-1","choices":[]}' * 50

        def handler(req, conn):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)  # response and FIN together
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         b"Connection: close\r\n\r\n" + body)
            return False

        up = self.own(ScriptedUpstream(handler))
        slow = f'{{ name: up, url: "{up.url}", timeouts: {{ stream_idle: 300s }} }}'
        augur = self.own(Augur(config([slow], self.LONG)))
        for i in range(self.ROUNDS):
            resp = request(augur.port, "POST", "/v1/chat/completions", chat_body(), timeout=10)
            self.assertEqual((i, resp.status, resp.body), (i, 200, body))


class Errors(IntegrationTest):
    def test_502_when_upstream_refuses(self):
        augur = self.own(Augur(config([("dead", self.dead_url())])))
        err = self.assertOpenAIError(request(augur.port, "POST", "/v1/chat/completions",
                                             chat_body()), 502)
        self.assertEqual(err["type"], "upstream_error")
        # Recently refused and nothing else to try: no upstream available.
        self.assertOpenAIError(request(augur.port, "POST", "/v1/chat/completions", chat_body()),
                               503)

    def test_failover_to_a_live_upstream(self):
        mock = self.own(Mock())
        extra = "routes:\n  - { upstreams: [dead, mock] }\n"
        augur = self.own(Augur(config([("dead", self.dead_url()),
                                       ("mock", mock.url)], extra)))
        for _ in range(3):
            self.assertEqual(request(augur.port, "POST", "/v1/chat/completions",
                                     chat_body()).status, 200)

    def test_failover_sends_only_the_live_upstreams_hint_formats(self):
        mock = self.own(Mock())
        dead = f'{{ name: dead, url: "{self.dead_url()}", hints: [nat_headers, nvext] }}'
        live = f'{{ name: mock, url: "{mock.url}", hints: [prefix_headers] }}'
        augur = self.own(Augur(config([dead, live], "routes:\n  - { upstreams: [dead, mock] }\n")))
        # The first request tries `dead` first (ties go to the first member), then fails over.
        resp = request(augur.port, "POST", "/v1/chat/completions", chat_body(),
                       {"x-nat-run-id": "r1"})
        self.assertEqual(resp.status, 200, resp.body)
        seen = resp.json()["mock"]
        self.assertNotIn("x-nat-remaining-llm-calls", seen["request_headers"])
        self.assertEqual(seen["request_headers"]["x-prefix-id"], "r1")
        body = json.loads(seen["request_body"])
        self.assertNotIn("nvext", body)
        self.assertEqual(body, chat_body())

    def test_502_when_upstream_resets_or_sends_garbage(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)])))
        for fault in ("reset-before-headers", "close-before-headers", "malformed"):
            err = self.assertOpenAIError(
                request(augur.port, "POST", "/v1/chat/completions", chat_body(),
                        {"x-mock-fault": fault}), 502)
            self.assertEqual(err["type"], "upstream_error", fault)
        # augur keeps serving.
        self.assertEqual(request(augur.port, "POST", "/v1/chat/completions", chat_body()).status,
                         200)

    def test_504_when_upstream_is_too_slow(self):
        mock = self.own(Mock())
        up = f'{{ name: mock, url: "{mock.url}", timeouts: {{ response_headers: 300ms }} }}'
        augur = self.own(Augur(config([up])))
        err = self.assertOpenAIError(request(augur.port, "POST", "/v1/chat/completions",
                                             chat_body(), {"x-mock-latency-ms": "3000"}), 504)
        self.assertEqual(err["type"], "timeout")

    def test_total_timeout_cuts_a_stream_with_an_sse_error(self):
        mock = self.own(Mock())
        up = f'{{ name: mock, url: "{mock.url}", timeouts: {{ total: 600ms }} }}'
        augur = self.own(Augur(config([up])))
        events = sse_events(stream_chat(augur.port, {"x-mock-tokens": "50",
                                                     "x-mock-chunk-delay-ms": "100"}))
        self.assertLess(len(events), 50)
        self.assertEqual(json.loads(events[-1][len("data: "):])["error"]["type"], "timeout")
        # Without a total timeout the same long stream is never cut.
        plain = self.own(Augur(config([("mock", mock.url)])))
        resp = stream_chat(plain.port, {"x-mock-tokens": "12", "x-mock-chunk-delay-ms": "100"})
        self.assertTrue(resp.body.rstrip().endswith(b"data: [DONE]"))

    def test_413_431_and_400(self):
        mock = self.own(Mock())
        extra = "limits: { max_body_bytes: 1000, max_header_bytes: 2048 }\n"
        augur = self.own(Augur(config([("mock", mock.url)], extra)))
        self.assertOpenAIError(request(augur.port, "POST", "/v1/chat/completions",
                                       b"x" * 5000, {"Content-Type": "application/json"}), 413)
        self.assertOpenAIError(request(augur.port, "GET", "/v1/models",
                                       headers={"X-Big": "y" * 4000}), 431)
        with connect(augur.port) as s:
            s.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            resp, _ = read_response(s)
        self.assertOpenAIError(resp, 400)
        # Request smuggling: both Content-Length and Transfer-Encoding.
        with connect(augur.port) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
            resp, _ = read_response(s)
        self.assertOpenAIError(resp, 400)

    def test_408_for_a_slow_client(self):
        mock = self.own(Mock())
        extra = "limits: { header_timeout: 500ms }\n"
        augur = self.own(Augur(config([("mock", mock.url)], extra)))
        with connect(augur.port) as s:
            s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")  # never finished
            resp, _ = read_response(s, timeout=10)
        self.assertOpenAIError(resp, 408)

    def test_client_disconnect_cancels_the_upstream_request(self):
        def handler(req, conn):
            conn.recv(1)  # blocks until augur closes its side: we never answer
            return False

        up = self.own(ScriptedUpstream(handler))
        augur = self.own(Augur(config([("up", up.url)])))
        s = connect(augur.port)
        s.sendall(build_request("POST", "/v1/chat/completions", json.dumps(chat_body()).encode(),
                                {"Content-Type": "application/json"}))
        deadline = time.monotonic() + 10
        while not up.requests and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertTrue(up.requests)
        s.close()
        while up.closed_connections == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        self.assertEqual(up.closed_connections, 1, "upstream request still open after client left")


class Signals(IntegrationTest):
    def test_sigterm_drains_an_in_flight_stream(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)], "shutdown_timeout: 20s\n")))
        s = connect(augur.port)
        s.sendall(build_request("POST", "/v1/chat/completions",
                                json.dumps(chat_body(stream=True)).encode(),
                                {"Content-Type": "application/json", "x-mock-tokens": "10",
                                 "x-mock-chunk-delay-ms": "150"}))
        first = s.recv(65536)
        self.assertIn(b"200", first.split(b"\r\n")[0])
        augur.signal(signal.SIGTERM)
        time.sleep(0.3)
        # New connections are refused while the stream is still being served.
        with self.assertRaises(OSError):
            connect(augur.port, timeout=2).close()
        buf = first
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
        s.close()
        self.assertIn(b"data: [DONE]", buf)
        self.assertEqual(augur.wait(timeout=20), 0)

    def test_sigterm_past_the_drain_deadline_cuts_the_stream_and_exits_cleanly(self):
        # The stream outlives shutdown_timeout: its session is torn down with the io threads.
        # Under ASan this is where a session touching the server's parts after them would show.
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)], "shutdown_timeout: 300ms\n")))
        s = connect(augur.port)
        s.sendall(build_request("POST", "/v1/chat/completions",
                                json.dumps(chat_body(stream=True)).encode(),
                                {"Content-Type": "application/json", "x-nat-run-id": "cut",
                                 "x-mock-tokens": "100", "x-mock-chunk-delay-ms": "200"}))
        first = s.recv(65536)
        self.assertIn(b"200", first.split(b"\r\n")[0])
        augur.signal(signal.SIGTERM)
        self.assertEqual(augur.wait(timeout=20), 0)
        buf = first
        while chunk := s.recv(65536):
            buf += chunk
        s.close()
        self.assertNotIn(b"data: [DONE]", buf)

    def test_shutdown_delay_keeps_serving_while_readyz_reports_503(self):
        up = self.own(ScriptedUpstream(lambda req, conn: respond(conn, body=b'"ok"') or True))
        augur = self.own(Augur(config([("up", up.url)], "shutdown_delay: 1500ms\n")))
        kept = connect(augur.port)
        self.addCleanup(kept.close)
        kept.sendall(build_request("GET", "/v1/models"))
        self.assertEqual(read_response(kept)[0].status, 200)
        augur.signal(signal.SIGTERM)
        time.sleep(0.2)
        self.assertEqual(request(augur.admin_port, "GET", "/readyz").status, 503)
        # A new connection is still served, told to close; the kept one closes after its next
        # response.
        resp = request(augur.port, "GET", "/v1/models")
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("connection"), "close")
        kept.sendall(build_request("GET", "/v1/models"))
        resp, _ = read_response(kept)
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.header("connection"), "close")
        self.assertEqual(augur.wait(timeout=20), 0)
        with self.assertRaises(OSError):
            request(augur.port, "GET", "/v1/models", timeout=2)

    def test_shutdown_delay_serves_the_next_request_of_a_connection_busy_at_sigterm(self):
        # A response that began before SIGTERM already told its client to keep alive; a client
        # that sends its next request right after must have it served (told to close), not see
        # the connection closed under it.
        def handler(req, conn):
            if req["target"] == "/slow":
                time.sleep(0.8)
            respond(conn, body=b'"ok"')
            return True

        up = self.own(ScriptedUpstream(handler))
        augur = self.own(Augur(config([("up", up.url)], "shutdown_delay: 2s\n")))
        kept = connect(augur.port)
        self.addCleanup(kept.close)
        kept.sendall(build_request("GET", "/slow"))
        time.sleep(0.3)
        augur.signal(signal.SIGTERM)
        first, _ = read_response(kept)
        self.assertEqual(first.status, 200)
        self.assertNotEqual(first.header("connection"), "close")
        kept.sendall(build_request("GET", "/v1/models"))
        second, _ = read_response(kept)
        self.assertEqual(second.status, 200)
        self.assertEqual(second.header("connection"), "close")
        self.assertEqual(augur.wait(timeout=20), 0)

    def test_sighup_reload_picks_up_a_new_upstream(self):
        a = self.own(ScriptedUpstream(lambda req, conn: respond(conn, body=b'"a"') or True))
        b = self.own(ScriptedUpstream(lambda req, conn: respond(conn, body=b'"b"') or True))
        augur = self.own(Augur(config([("a", a.url)])))
        self.assertEqual(request(augur.port, "GET", "/v1/models").body, b'"a"')
        # A broken new config is rejected and the running one kept.
        augur.rewrite_config("upstreams: [ {name: x, url: 'ftp://nope'} ]\n")
        augur.signal(signal.SIGHUP)
        time.sleep(0.5)
        self.assertEqual(request(augur.port, "GET", "/v1/models").body, b'"a"')
        augur.rewrite_config(config([("b", b.url)]))
        augur.signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        body = b""
        while time.monotonic() < deadline:
            body = request(augur.port, "GET", "/v1/models").body
            if body == b'"b"':
                break
            time.sleep(0.1)
        self.assertEqual(body, b'"b"')


class Config(IntegrationTest):
    def test_malformed_config_is_rejected_with_file_line_and_key(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write("listen: 127.0.0.1:0\nupstreams:\n  - name: a\n    url: http://127.0.0.1:1\n"
                    "    timeouts: { conect: 5s }\n")
            path = f.name
        self.addCleanup(os.unlink, path)
        check = subprocess.run([AUGUR_BIN, "check-config", path], capture_output=True, text=True)
        self.assertNotEqual(check.returncode, 0)
        self.assertIn(f"{path}:5:", check.stderr)
        self.assertIn("upstreams[0].timeouts.conect", check.stderr)
        serve = subprocess.run([AUGUR_BIN, "serve", "--config", path], capture_output=True,
                               text=True, timeout=30)
        self.assertNotEqual(serve.returncode, 0)
        self.assertIn(f"{path}:5:", serve.stderr)

    def test_admin_token_is_required_when_configured(self):
        mock = self.own(Mock())
        augur = self.own(Augur(config([("mock", mock.url)],
                                      admin="{ listen: 127.0.0.1:0, token: s3cret }")))
        # /healthz and /readyz are open (probes cannot send a Secret), whatever token is sent.
        for path, body in (("/healthz", b"ok\n"), ("/readyz", b"ready\n")):
            for headers in ({}, {"Authorization": "Bearer wrong"},
                            {"Authorization": "Bearer s3cret"}):
                resp = request(augur.admin_port, "GET", path, headers=headers)
                self.assertEqual(resp.status, 200, (path, headers))
                self.assertEqual(resp.body, body)
        # Everything else still needs the token, a query string or unknown path included.
        for path in ("/metrics", "/v1/augur/stats", "/v1/augur/trie", "/v1/augur/agents",
                     "/metrics?x=/healthz", "/healthz/../metrics", "/nope"):
            self.assertOpenAIError(request(augur.admin_port, "GET", path), 401)
            self.assertOpenAIError(request(augur.admin_port, "GET", path,
                                           headers={"Authorization": "Bearer wrong"}), 401)
        ok = request(augur.admin_port, "GET", "/metrics", headers={"Authorization": "Bearer s3cret"})
        self.assertEqual(ok.status, 200)
        # The proxy listener itself is not behind the admin token.
        self.assertEqual(request(augur.port, "GET", "/v1/models").status, 200)

    def test_embedded_default_serves_the_bundled_mock(self):
        augur = self.own(Augur(None, ["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"]))
        resp = request(augur.port, "POST", "/v1/chat/completions", chat_body())
        self.assertEqual(resp.status, 200)
        self.assertEqual(resp.json()["object"], "chat.completion")
        self.assertEqual(request(augur.admin_port, "GET", "/healthz").status, 200)
        self.assertEqual(request(augur.admin_port, "GET", "/readyz").status, 200)


if __name__ == "__main__":
    unittest.main()
