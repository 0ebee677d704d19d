"""Defects a production proxy cannot ship with, each through the real binary: a response that
reaches the wrong client, memory a peer can grow without bound, trailers smuggled in as headers,
framing RFC 9112 calls faulty, a reload racing keep-alive clients, a port taken twice, a config
that silently serves the demo mock, and non-LLM requests counted as agent calls."""

import json
import os
import socket
import time

from harness import (Augur, IntegrationTest, ScriptedUpstream, build_request, chat_body, config,
                     connect, metric_value, read_response, request, respond)

CHAT = "/v1/chat/completions"


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
