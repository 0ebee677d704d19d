"""RFC 9112 conformance of the requests augur accepts, as a table: each row is the raw bytes a
client sends on a fresh connection and the verdict HTTP/1.1 gives them (the status augur must
answer, whether the connection must close, what the upstream must or must not receive). The
verdicts are written from RFC 9112 and RFC 9110, not from what augur does: the parser's other
oracle is Beast (the differential fuzzer), which passes whatever both get wrong.

Where the RFC lets a server choose (reject or repair, 400 or another 4xx), a row lists every
verdict it allows, unless augur documents its choice (README.md, Proxy behaviour), in which case
the row expects that choice. Rows run one after another against one augur and one recording
upstream; every socket read is bounded, so a hang fails its row and the run goes on."""

import json
import re
import socket
import threading
import time
import unittest

from harness import (TEST_THREADS, Augur, IntegrationTest, ScriptedUpstream, config, connect,
                     read_response, read_until, respond)

MAX_HEADER_BYTES = 8 * 1024  # limits.max_header_bytes below: small, to keep the 431 rows small
MAX_BODY_BYTES = 64 * 1024
READ_TIMEOUT = 8.0  # per row; augur's own header/body timeouts (3 s) answer 408 well before
CLOSE_WAIT = 2.0    # how long a connection that must close may take to close

# --- The upstream: records what augur forwards ----------------------------------------------


class Unparseable(Exception):
    def __init__(self, why, raw):
        super().__init__(why)
        self.raw = raw


def recv_more(conn, buf, n, deadline):
    while len(buf) < n:
        conn.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def read_forwarded(conn, buf):
    """One request as augur forwarded it: (record, bytes after it). The body is decoded whether
    augur sent it sized or chunked; a chunked body's trailer fields are kept apart."""
    deadline = time.monotonic() + 60
    buf = read_until(conn, buf, b"\r\n\r\n", deadline)
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise Unparseable("request line is not METHOD SP TARGET SP VERSION", buf)
    fields = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not name or name != name.strip(b" \t"):
            raise Unparseable(f"field line {line!r}", buf)
        fields.append((name.lower(), value.strip(b" \t")))
    record = {"method": parts[0].decode("latin-1"), "target": parts[1].decode("latin-1"),
              "version": parts[2].decode("latin-1"), "raw_head": head, "fields": fields,
              "headers": [(n.decode("latin-1"), v.decode("latin-1")) for n, v in fields],
              "trailers": [], "chunked": False}
    te = [v for n, v in fields if n == b"transfer-encoding"]
    cl = [v for n, v in fields if n == b"content-length"]
    if te:
        if te[-1].lower() != b"chunked" or len(te) != 1 or cl:
            raise Unparseable("framing augur must not forward", buf)
        record["chunked"] = True
        body = b""
        while True:
            rest = read_until(conn, rest, b"\r\n", deadline)
            size_line, _, rest = rest.partition(b"\r\n")
            try:
                size = int(size_line.split(b";")[0], 16)
            except ValueError:
                raise Unparseable(f"chunk size line {size_line!r}", buf + rest) from None
            if size == 0:
                while True:
                    rest = read_until(conn, rest, b"\r\n", deadline)
                    line, _, rest = rest.partition(b"\r\n")
                    if not line:
                        break
                    name, _, value = line.partition(b":")
                    record["trailers"].append((name.lower(), value.strip(b" \t")))
                break
            rest = recv_more(conn, rest, size + 2, deadline)
            if rest[size:size + 2] != b"\r\n":
                raise Unparseable("chunk data not followed by CRLF", buf + rest)
            body += rest[:size]
            rest = rest[size + 2:]
        record["body"] = body
        return record, rest
    if len(cl) > 1 or (cl and not cl[0].isdigit()):
        raise Unparseable(f"Content-Length {cl!r}", buf)
    n = int(cl[0]) if cl else 0
    rest = recv_more(conn, rest, n, deadline)
    record["body"] = rest[:n]
    return record, rest[n:]


class RecordingUpstream(ScriptedUpstream):
    """Answers every request 200 with {"target": the target it got}, keeping the connection, and
    records each request (raw head, field lines as bytes, decoded body, trailers). A request it
    cannot parse is recorded as {"unparseable": why, "raw": bytes} and its connection closed."""

    def __init__(self):
        super().__init__(self.answer)

    @staticmethod
    def answer(req, conn):
        respond(conn, body=json.dumps({"target": req["target"]}).encode())
        return True

    def _serve(self, conn):
        buf = b""
        try:
            while True:
                try:
                    req, buf = read_forwarded(conn, buf)
                except Unparseable as e:
                    with self.lock:
                        self.requests.append({"unparseable": str(e), "raw": e.raw,
                                              "target": None})
                    break
                except (ConnectionError, OSError):
                    break
                with self.lock:
                    self.requests.append(req)
                if not self.handler(req, conn):
                    break
        finally:
            with self.lock:
                self.closed_connections += 1
            try:
                conn.close()
            except OSError:
                pass

    def received(self):
        with self.lock:
            return list(self.requests)


# --- Rows and verdicts ----------------------------------------------------------------------

INTERIM = "read one interim (1xx) response"  # a step of a row sent in parts
PAUSE = "pause 300 ms"                       # another: lets augur see a head without its body
FOLLOW_UP = b"GET /follow-up HTTP/1.1\r\nHost: augur.test\r\n\r\n"
DOCUMENTED = {400: "bad_request", 413: "request_too_large", 431: "headers_too_large"}


class Row:
    """A name, the RFC section, what the client sends (bytes, or a list of bytes and steps), and
    the verdicts the RFC allows: the row passes when augur matches one of them. `requests`: how
    many requests the bytes hold; `http10`: the request is HTTP/1.0 (persistence is opt-in)."""

    def __init__(self, name, rfc, send, *verdicts, requests=1, http10=False):
        self.name, self.rfc, self.send, self.verdicts = name, rfc, send, verdicts
        self.requests, self.http10 = requests, http10


class Reject:
    """The request is refused with one of `statuses` and the OpenAI-style error body, nothing
    reaches the upstream, and the connection is closed. `after`: pipelined requests before it
    that are answered normally (and forwarded) first."""

    def __init__(self, *statuses, after=0):
        self.statuses, self.after = statuses, after

    def __str__(self):
        return "/".join(map(str, self.statuses)) + " and close" + \
            (f" after {self.after} answered" if self.after else "")

    def problems(self, obs):
        p = []
        answered = obs.responses[:self.after]
        if any(r.status != 200 for r in answered) or len(answered) < self.after:
            p.append(f"the first {self.after} request(s) should be answered 200")
        if len(obs.responses) <= self.after:
            p.append("no rejection: " + (obs.error or "no more responses"))
            return p
        resp = obs.responses[self.after]
        if resp.status not in self.statuses:
            return p + [f"status {resp.status}"]
        if len(obs.responses) > self.after + 1:
            p.append("responses after the rejection")
        p += error_body_problems(resp)
        if obs.closed is not True:
            p.append("connection left open after the rejection")
        if len(obs.forwarded) != self.after:
            p.append(f"upstream got {len(obs.forwarded) - self.after} request(s) it must not")
        return p


class Accept:
    """The request is forwarded and the upstream's 200 relayed. `targets`: the targets the upstream
    must get, in order; `checks`: functions of the forwarded requests returning a problem or None;
    `close`: True (must close after), False (must stay open: a follow-up request on it must be
    answered), None (either, as long as the response says which); `interim`: True (one 100
    before the response), False (no 1xx), None (either)."""

    def __init__(self, *checks, n=1, targets=None, close=False, interim=None):
        self.checks, self.n, self.targets, self.close, self.interim = \
            checks, n, targets, close, interim

    def __str__(self):
        return f"{self.n} forwarded and answered 200" + {
            True: ", then close", False: ", connection kept", None: ""}[self.close]

    def problems(self, obs):
        if len(obs.responses) < self.n or any(r.status != 200 for r in obs.responses):
            return [f"statuses {[r.status for r in obs.responses]}" +
                    (f", {obs.error}" if obs.error else "")]
        p = []
        if len(obs.responses) > self.n:
            p.append(f"{len(obs.responses)} responses for {self.n} request(s)")
        if self.interim is True and [r.status for r in obs.interim] != [100]:
            p.append(f"interim responses {[r.status for r in obs.interim]}, expected [100]")
        if self.interim is False and obs.interim:
            p.append(f"interim responses {[r.status for r in obs.interim]}, expected none")
        fwd = obs.forwarded
        bad = [r for r in fwd if "unparseable" in r]
        if bad:
            return p + [f"upstream could not parse what augur sent: {bad[0]['unparseable']}: "
                        f"{bad[0]['raw'][:300]!r}"]
        if len(fwd) != self.n:
            return p + [f"upstream got {len(fwd)} request(s), expected {self.n}"]
        echoed = [echoed_target(r) for r in obs.responses[:self.n]]
        if echoed != [r["target"] for r in fwd]:
            p.append(f"responses out of order: {echoed}")
        if self.targets is not None and [r["target"] for r in fwd] != self.targets:
            p.append(f"upstream targets {[r['target'] for r in fwd]}, expected {self.targets}")
        for check in self.checks:
            problem = check(fwd)
            if problem:
                p.append(problem)
        close = self.close if self.close is not None else not obs.announced_persistent
        if close and obs.closed is not True:
            p.append("connection left open, expected it closed")
        if not close and obs.follow_up != 200:
            p.append(f"connection not usable after the response (follow-up: {obs.follow_up})")
        return p


def echoed_target(resp):
    """The target the upstream's answer names (it echoes each request's), None if it does not."""
    try:
        return json.loads(resp.body).get("target")
    except (ValueError, AttributeError):
        return None


def error_body_problems(resp):
    try:
        err = resp.json()["error"]
        keys_ok = all(k in err for k in ("message", "type", "param", "code"))
    except (ValueError, KeyError, TypeError):
        return [f"body is not the OpenAI-style error: {resp.body[:200]!r}"]
    p = []
    if resp.header("content-type") != "application/json":
        p.append(f"content-type {resp.header('content-type')!r}")
    if not keys_ok or not err["message"] or err["param"] is not None:
        p.append(f"error object {err!r}")
    if resp.status in DOCUMENTED and (err.get("type") != "invalid_request_error" or
                                      err.get("code") != DOCUMENTED[resp.status]):
        p.append(f"type/code {err.get('type')}/{err.get('code')}, documented "
                 f"invalid_request_error/{DOCUMENTED[resp.status]}")
    return p


# Checks on what the upstream received (the list of forwarded requests).

def body(expected, i=0):
    return lambda fwd: None if fwd[i]["body"] == expected else \
        f"upstream body {fwd[i]['body'][:100]!r}, expected {expected[:100]!r}"


def method(expected, i=0):
    return lambda fwd: None if fwd[i]["method"] == expected else \
        f"upstream method {fwd[i]['method']!r}, expected {expected!r}"


def values(fwd, name, i=0):
    return [v for n, v in fwd[i]["fields"] if n == name]


def field(name, value, i=0):
    """Exactly one `name` field line, whose value is `value` byte for byte."""
    return lambda fwd: None if values(fwd, name, i) == [value] else \
        f"upstream {name.decode()} lines {values(fwd, name, i)!r}, expected [{value!r}]"


def field_like(name, pattern, i=0):
    def check(fwd):
        got = values(fwd, name, i)
        if len(got) == 1 and re.fullmatch(pattern, got[0]):
            return None
        return f"upstream {name.decode()} lines {got!r}, expected one matching {pattern!r}"
    return check


def no_field(name, i=0):
    return lambda fwd: None if not values(fwd, name, i) else \
        f"upstream got {name.decode()}: {values(fwd, name, i)!r} as a header field"


def no_field_value(name, value, i=0):
    return lambda fwd: None if value not in values(fwd, name, i) else \
        f"upstream got {name.decode()}: {value!r} as a header field"


def one_line_per_field(i=0):
    """No field line of the forwarded head starts with whitespace (no obs-fold passed on)."""
    def check(fwd):
        folded = [l for l in fwd[i]["raw_head"].split(b"\r\n")[1:] if l[:1] in (b" ", b"\t")]
        return f"upstream head has continuation lines {folded!r}" if folded else None
    return check


# --- Bytes ----------------------------------------------------------------------------------

HOST = b"Host: augur.test\r\n"
CHAT = b"/v1/chat/completions"
MODELS = b"/v1/models"


def req(method=b"POST", target=CHAT, version=b"HTTP/1.1", fields=HOST, content=b""):
    return method + b" " + target + b" " + version + b"\r\n" + fields + b"\r\n" + content


def get(target=MODELS, version=b"HTTP/1.1", fields=HOST):
    return req(b"GET", target, version, fields)


def sized(fields=b"Content-Length: 5\r\n", content=b"hello", version=b"HTTP/1.1"):
    """A POST of `content` framed by `fields` (after Host)."""
    return req(version=version, fields=HOST + fields, content=content)


def chunked(chunks, fields=b"Transfer-Encoding: chunked\r\n"):
    """A chunked POST: `chunks` is the whole message body, last chunk and trailers included."""
    return req(fields=HOST + fields, content=chunks)


HELLO = b"5\r\nhello\r\n0\r\n\r\n"  # "hello", chunked


def with_ext(ext):
    """A chunked "hello" whose first chunk-size line carries `ext` after the size."""
    return chunked(b"5" + ext + b"\r\nhello\r\n0\r\n\r\n")


def with_field(line):
    """A GET with one extra field line (given without its CRLF)."""
    return get(fields=HOST + line + b"\r\n")


OK = Accept()
BAD = Reject(400)

# --- The table ------------------------------------------------------------------------------

HAPPY_PATH = [
    # RFC 9112 6.2: Content-Length frames the body; 9.3: HTTP/1.1 connections persist.
    Row("post with content-length", "9112 6.2", sized(), Accept(body(b"hello"), method("POST"))),
    Row("get without a body", "9112 3", get(), Accept(body(b""), method("GET"),
                                                      targets=["/v1/models"])),
    # RFC 9112 7.1: the chunked coding; the upstream must get the decoded content.
    Row("chunked post", "9112 7.1", chunked(b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        Accept(body(b"hello world"))),
    # RFC 9112 9.3: an HTTP/1.0 keep-alive request may persist if the server says so in its
    # response (Connection: keep-alive); otherwise the server closes. Either, consistently.
    Row("http/1.0 keep-alive", "9112 9.3, C.2.2",
        sized(b"Connection: keep-alive\r\nContent-Length: 5\r\n", version=b"HTTP/1.0"),
        Accept(body(b"hello"), close=None), http10=True),
    # RFC 9112 9.3: HTTP/1.0 without keep-alive: the connection closes after the response.
    Row("http/1.0 closes by default", "9112 9.3", get(version=b"HTTP/1.0"),
        Accept(close=True), http10=True),
    # RFC 9112 3.2: Host is required of HTTP/1.1 requests only.
    Row("http/1.0 without host", "9112 3.2", get(version=b"HTTP/1.0", fields=b""),
        Accept(close=True), http10=True),
    # RFC 9112 9.6: a server that receives "close" MUST close after its response.
    Row("connection: close", "9112 9.6", get(fields=HOST + b"Connection: close\r\n"),
        Accept(close=True)),
    # RFC 9110 10.1.1: a server that waits for the content sends 100 (Continue) first.
    Row("expect 100-continue", "9110 10.1.1",
        [req(fields=HOST + b"Expect: 100-continue\r\nContent-Length: 5\r\n"), INTERIM, b"hello"],
        Accept(body(b"hello"), interim=True)),
    # RFC 9110 10.1.1: "A server that receives a 100-continue expectation in an HTTP/1.0 request
    # MUST ignore that expectation": no 100, even while the body has not arrived.
    Row("expect 100-continue in http/1.0", "9110 10.1.1",
        [req(version=b"HTTP/1.0", fields=HOST + b"Expect: 100-continue\r\nContent-Length: 5\r\n"),
         PAUSE, b"hello"],
        Accept(body(b"hello"), interim=False, close=True), http10=True),
    # RFC 9112 9.3.2: pipelined requests are answered in the order received.
    Row("three pipelined gets", "9112 9.3.2",
        get(b"/v1/models?n=1") + get(b"/v1/models?n=2") + get(b"/v1/models?n=3"),
        Accept(n=3, targets=["/v1/models?n=1", "/v1/models?n=2", "/v1/models?n=3"]), requests=3),
    Row("pipelined post then get", "9112 9.3.2", sized() + get(),
        Accept(body(b"hello"), n=2, targets=["/v1/chat/completions", "/v1/models"]), requests=2),
    # RFC 9112 9.3.2 and 9110 5.1: the first request is answered; the second, with a field name
    # that is not a token, is rejected after it, and the connection closed.
    Row("pipelined get then malformed", "9112 9.3.2, 9110 5.1",
        get() + get(fields=HOST + b"Fo@o: x\r\n"), Reject(400, after=1), requests=2),
    # RFC 9112 2.2: a server SHOULD ignore at least one empty line before the request-line.
    Row("empty line before the request line", "9112 2.2", b"\r\n" + get(), OK),
    # RFC 9112 5: fields that fit the configured limit are accepted.
    Row("head just under max_header_bytes", "9112 5",
        get(fields=HOST + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 480) for i in range(12))),
        Accept(field(b"x-pad-11", b"p" * 480))),
]

CONTENT_LENGTH = [
    # RFC 9112 6.1 and 6.3(3): CL with TE may be rejected, or processed by TE alone and the
    # connection closed. augur documents rejection (README, Proxy behaviour): 400.
    Row("content-length then transfer-encoding", "9112 6.1, 6.3",
        chunked(HELLO, b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), BAD),
    Row("transfer-encoding then content-length", "9112 6.1, 6.3",
        chunked(HELLO, b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"), BAD),
    # RFC 9112 6.3(5): an invalid Content-Length: 400 and close (MUST).
    Row("two content-length lines, different", "9112 6.3(5), 9110 8.6",
        sized(b"Content-Length: 5\r\nContent-Length: 6\r\n", b"hello!"), BAD),
    Row("content-length list, different", "9112 6.3(5), 9110 8.6",
        sized(b"Content-Length: 5, 6\r\n", b"hello!"), BAD),
    # RFC 9110 8.6: identical values may be rejected or replaced by a single valid field; if
    # accepted, the upstream must get one Content-Length: 5 and the 5 bytes.
    Row("two content-length lines, same", "9110 8.6",
        sized(b"Content-Length: 5\r\nContent-Length: 5\r\n"),
        Accept(body(b"hello"), field(b"content-length", b"5"))),
    Row("content-length list, same", "9110 8.6", sized(b"Content-Length: 5, 5\r\n"),
        Accept(body(b"hello"), field(b"content-length", b"5"))),
    # RFC 9110 8.6: Content-Length = 1*DIGIT. Anything else is invalid: 400 (9112 6.3(5)).
    Row("content-length +5", "9110 8.6", sized(b"Content-Length: +5\r\n"), BAD),
    Row("content-length -5", "9110 8.6", sized(b"Content-Length: -5\r\n"), BAD),
    Row("content-length '5 5'", "9110 8.6", sized(b"Content-Length: 5 5\r\n"), BAD),
    Row("content-length 0x5", "9110 8.6", sized(b"Content-Length: 0x5\r\n"), BAD),
    Row("content-length empty", "9110 8.6", sized(b"Content-Length: \r\n"), BAD),
    Row("content-length abc", "9110 8.6", sized(b"Content-Length: abc\r\n"), BAD),
    Row("content-length 5a", "9110 8.6", sized(b"Content-Length: 5a\r\n"), BAD),
    # RFC 9110 8.6: recipients MUST prevent integer overflow. 2^64 + 5 wraps to 5 in a 64-bit
    # parser. Invalid framing (400), or a valid number too large to accept (413).
    Row("content-length 2^64 + 5", "9110 8.6, 9112 6.3(5)",
        sized(b"Content-Length: 18446744073709551621\r\n"), Reject(400, 413)),
    # RFC 9110 15.5.14: content larger than the server will accept: 413.
    Row("content-length over max_body_bytes", "9110 15.5.14",
        sized(b"Content-Length: 99999999999\r\n", b""), Reject(413)),
    # RFC 9110 8.6: 1*DIGIT allows leading zeros: this is 5.
    Row("content-length 005", "9110 8.6", sized(b"Content-Length: 005\r\n"),
        Accept(body(b"hello"))),
    # RFC 9112 5.1: OWS around a field value is not part of it.
    Row("content-length with OWS", "9112 5.1", sized(b"Content-Length: \t5 \r\n"),
        Accept(body(b"hello"))),
]

TRANSFER_ENCODING = [
    # RFC 9112 6.3(4): in a request, chunked not the final coding: 400 and close (MUST).
    Row("te: chunked, gzip", "9112 6.3(4)", chunked(HELLO, b"Transfer-Encoding: chunked, gzip\r\n"),
        BAD),
    Row("te: gzip", "9112 6.3(4)", chunked(HELLO, b"Transfer-Encoding: gzip\r\n"), BAD),
    Row("te: identity", "9112 6.3(4)", chunked(HELLO, b"Transfer-Encoding: identity\r\n"), BAD),
    Row("te: xchunked", "9112 6.3(4)", chunked(HELLO, b"Transfer-Encoding: xchunked\r\n"), BAD),
    # An empty Transfer-Encoding is present without chunked last: 400 (9112 6.3(4)).
    Row("te: empty", "9112 6.3(4)", chunked(HELLO, b"Transfer-Encoding: \r\n"), BAD),
    # RFC 9112 6.1: framing is sound but gzip is a coding augur does not implement: the RFC says
    # 501 (SHOULD); augur documents 400 for "a transfer coding other than chunked".
    Row("te: gzip, chunked", "9112 6.1, README",
        chunked(HELLO, b"Transfer-Encoding: gzip, chunked\r\n"), Reject(400, 501)),
    # RFC 9112 6.1: "A sender MUST NOT apply the chunked transfer coding more than once"; the
    # content would still be chunk-encoded after one decoding: invalid, 400.
    Row("te: chunked on two lines", "9112 6.1",
        chunked(HELLO, b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), BAD),
    Row("te: chunked, chunked", "9112 6.1",
        chunked(HELLO, b"Transfer-Encoding: chunked, chunked\r\n"), BAD),
    # RFC 9112 7: "The chunked coding does not define any parameters. Their presence SHOULD be
    # treated as an error."
    Row("te: chunked;foo=bar", "9112 7", chunked(HELLO, b"Transfer-Encoding: chunked;foo=bar\r\n"),
        BAD),
    # RFC 9112 7: transfer-coding names are case-insensitive.
    Row("te: Chunked", "9112 7", chunked(HELLO, b"Transfer-Encoding: Chunked\r\n"),
        Accept(body(b"hello"))),
    Row("te: CHUNKED with OWS", "9112 7, 5.1", chunked(HELLO, b"Transfer-Encoding:  CHUNKED \r\n"),
        Accept(body(b"hello"))),
    # RFC 9110 5.6.1: a recipient MUST parse and ignore a reasonable number of empty list
    # elements: ", chunked" is chunked.
    Row("te: , chunked", "9110 5.6.1", chunked(HELLO, b"Transfer-Encoding: , chunked\r\n"),
        Accept(body(b"hello"))),
    # RFC 9112 6.1: TE in an HTTP/1.0 message MUST be treated as faulty framing, even with a
    # Content-Length, and the connection closed: 400.
    Row("te in http/1.0", "9112 6.1",
        req(version=b"HTTP/1.0", fields=HOST + b"Transfer-Encoding: chunked\r\n", content=HELLO),
        BAD, http10=True),
    Row("te and content-length in http/1.0", "9112 6.1",
        req(version=b"HTTP/1.0",
            fields=HOST + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            content=b"hello"), BAD, http10=True),
]

HOST_FIELD = [
    # RFC 9112 3.2: "A server MUST respond with a 400 (Bad Request) status code to any HTTP/1.1
    # request message that lacks a Host header field and to any request message that contains
    # more than one Host header field line or a Host header field with an invalid field value."
    Row("http/1.1 without host", "9112 3.2", get(fields=b""), BAD),
    Row("two host lines", "9112 3.2", get(fields=HOST + HOST), BAD),
    Row("host: a, b", "9112 3.2, 9110 7.2", get(fields=b"Host: a, b\r\n"), BAD),
    Row("host: a/b", "9112 3.2, 9110 7.2 (uri-host)", get(fields=b"Host: a/b\r\n"), BAD),
    Row("host: a b", "9112 3.2, 9110 7.2 (uri-host)", get(fields=b"Host: a b\r\n"), BAD),
    Row("host with a valid port", "9110 7.2", get(fields=b"Host: example.com:8080\r\n"), OK),
]

FIELD_SYNTAX = [
    # RFC 9112 5.2: a server MUST reject obs-fold with 400 or replace each obs-fold with SP
    # before forwarding. Per the brief, accepted: the upstream gets the value on one line.
    Row("obs-fold with SP", "9112 5.2", with_field(b"X-Folded: a\r\n b"),
        Accept(field_like(b"x-folded", rb"a +b"), one_line_per_field())),
    Row("obs-fold with HTAB", "9112 5.2", with_field(b"X-Folded: a\r\n\tb"),
        Accept(field_like(b"x-folded", rb"a +b"), one_line_per_field())),
    # RFC 9112 2.2: whitespace between the start-line and the first field: reject, or drop each
    # whitespace-preceded line. The line is the only Host, so dropping it leaves no Host: 400
    # either way (9112 3.2).
    Row("whitespace before the first field line", "9112 2.2, 3.2",
        b"GET /v1/models HTTP/1.1\r\n Host: augur.test\r\n\r\n", BAD),
    # RFC 9112 2.2: a bare CR MUST make the element invalid or be replaced by SP. In a value
    # that is "a b" (still a valid value), so either verdict.
    Row("bare CR in a field value", "9112 2.2", with_field(b"X-A: a\rb"),
        BAD, Accept(field(b"x-a", b"a b"))),
    # Replaced by SP the name holds a space: invalid either way (9112 5.1).
    Row("bare CR in a field name", "9112 2.2, 5.1", with_field(b"X-\rA: b"), BAD),
    # Replaced by SP the target holds a space: invalid either way (9112 3).
    Row("bare CR in the request target", "9112 2.2, 3", get(b"/v1/mo\rdels"), BAD),
    # Ending the Host line with a bare CR: replaced by SP, Host is "augur.test X-A: b", an invalid
    # Host value (9112 3.2): 400 either way.
    Row("bare CR ending a field line", "9112 2.2, 3.2",
        b"GET /v1/models HTTP/1.1\r\nHost: augur.test\rX-A: b\r\n\r\n", BAD),
    # RFC 9112 2.2: a recipient MAY recognise a bare LF as a line terminator. augur's policy is
    # to reject it (the brief): 400.
    Row("bare LF terminators", "9112 2.2 (augur policy)",
        b"GET /v1/models HTTP/1.1\nHost: augur.test\n\n", BAD),
    Row("bare LF ending one field line", "9112 2.2 (augur policy)",
        b"GET /v1/models HTTP/1.1\r\nHost: augur.test\r\nX-A: a\nX-B: b\r\n\r\n", BAD),
    Row("bare LF ending the request line", "9112 2.2 (augur policy)",
        b"GET /v1/models HTTP/1.1\nHost: augur.test\r\n\r\n", BAD),
    # RFC 9110 5.5: NUL in a value MUST be rejected or replaced by SP before forwarding.
    Row("NUL in a field value", "9110 5.5", with_field(b"X-A: a\x00b"),
        BAD, Accept(field(b"x-a", b"a b"))),
    # RFC 9110 5.5: other CTLs are invalid; retaining them is only for a safe context, which a
    # downstream HTTP parser is not: 400.
    Row("0x01 in a field value", "9110 5.5", with_field(b"X-A: a\x01b"), BAD),
    Row("ESC in a field value", "9110 5.5", with_field(b"X-A: a\x1bb"), BAD),
    Row("DEL in a field value", "9110 5.5", with_field(b"X-A: a\x7fb"), BAD),
    # RFC 9110 5.5: field-vchar includes obs-text and values may hold SP and HTAB: forwarded as
    # sent, byte for byte.
    Row("obs-text in a field value", "9110 5.5", with_field(b"X-Obs: caf\xe9 \x80\xff"),
        Accept(field(b"x-obs", b"caf\xe9 \x80\xff"))),
    Row("HTAB inside a field value", "9110 5.5", with_field(b"X-Tab: a\tb"),
        Accept(field(b"x-tab", b"a\tb"))),
    # RFC 9112 5.1: "A server MUST reject, with a response status code of 400 (Bad Request), any
    # received request message that contains whitespace between a header field name and colon."
    Row("'Host : x'", "9112 5.1", get(fields=HOST + b"Host : x\r\n"), BAD),
    Row("'X-A : x'", "9112 5.1", with_field(b"X-A : x"), BAD),
    Row("'Foo<HTAB>: x'", "9112 5.1", with_field(b"Foo\t: x"), BAD),
    # RFC 9110 5.1: field-name = token (1*tchar).
    Row("empty field name", "9110 5.1", with_field(b": x"), BAD),
    Row("'@' in a field name", "9110 5.1, 5.6.2", with_field(b"Fo@o: x"), BAD),
    Row("SP inside a field name", "9110 5.1, 5.6.2", with_field(b"Fo o: x"), BAD),
    Row("'{' in a field name", "9110 5.1, 5.6.2", with_field(b"X{A}: x"), BAD),
    Row("non-ASCII in a field name", "9110 5.1, 5.6.2", with_field(b"X-\xe9: x"), BAD),
    # RFC 9112 5: field-line = field-name ":" OWS field-value OWS.
    Row("field line without a colon", "9112 5", with_field(b"NoColonHere"), BAD),
]

REQUEST_LINE = [
    # RFC 9112 3: request-line = method SP request-target SP HTTP-version; recipients of an
    # invalid one SHOULD answer 400 (or 301 with the target encoded, not applicable here). They
    # MAY instead split on whitespace, so extra SP is 400 or the request as if single-spaced.
    Row("two SP after the method", "9112 3", b"GET  /v1/models HTTP/1.1\r\n" + HOST + b"\r\n",
        BAD, Accept(targets=["/v1/models"])),
    Row("SP after the version", "9112 3", b"GET /v1/models HTTP/1.1 \r\n" + HOST + b"\r\n",
        BAD, Accept(targets=["/v1/models"])),
    Row("SP before the method", "9112 3", b" GET /v1/models HTTP/1.1\r\n" + HOST + b"\r\n",
        BAD, Accept(targets=["/v1/models"])),
    Row("missing version", "9112 3", b"GET /v1/models\r\n" + HOST + b"\r\n", BAD),
    Row("missing target", "9112 3", b"GET HTTP/1.1\r\n" + HOST + b"\r\n", BAD),
    Row("missing method", "9112 3", b"/v1/models HTTP/1.1\r\n" + HOST + b"\r\n", BAD),
    # RFC 9110 6.2 / 15.6.6: a major version augur does not speak: 505, or 400.
    Row("HTTP/2.0", "9110 6.2, 15.6.6", get(version=b"HTTP/2.0"), Reject(400, 505)),
    # RFC 9110 6.2: a recipient that implements the major version and receives a higher minor
    # one "SHOULD process the message as if it were in the highest minor version within that
    # major version to which the recipient is conformant": HTTP/1.2 is served as HTTP/1.1.
    Row("HTTP/1.2 served as 1.1", "9110 6.2", get(version=b"HTTP/1.2"), Accept(close=None)),
    # RFC 9112 2.3: HTTP-version = HTTP-name "/" DIGIT "." DIGIT; HTTP-name is case-sensitive.
    Row("HTTP/1.10", "9112 2.3", get(version=b"HTTP/1.10"), BAD),
    Row("HTTP/01.1", "9112 2.3", get(version=b"HTTP/01.1"), BAD),
    Row("http/1.1 in lower case", "9112 2.3", get(version=b"http/1.1"), BAD),
    # RFC 9110 9.1: method = token.
    Row("'@' in the method", "9110 9.1, 5.6.2", b"GE@T /v1/models HTTP/1.1\r\n" + HOST + b"\r\n",
        BAD),
    Row("'(' in the method", "9110 9.1, 5.6.2", b"G(ET /v1/models HTTP/1.1\r\n" + HOST + b"\r\n",
        BAD),
    # RFC 9112 3.2: the target is a URI form; no SP, CTL or raw non-ASCII byte in it.
    Row("SP in the target", "9112 3, 3.2", get(b"/v1/mo dels"), BAD),
    Row("0x01 in the target", "9112 3.2", get(b"/v1/mo\x01dels"), BAD),
    Row("DEL in the target", "9112 3.2", get(b"/v1/mo\x7fdels"), BAD),
    Row("non-ASCII in the target", "9112 3.2, 3986 3.3", get(b"/v1/caf\xe9"), BAD),
    # Not origin-form (no leading "/"), not absolute-form, not authority-form for CONNECT.
    Row("target without a leading slash", "9112 3.2", get(b"v1/models"), BAD),
]

TARGET_FORMS = [
    # RFC 9112 3.2.2: "A server MUST accept the absolute-form in requests". augur forwards to
    # its upstream in origin-form (9112 3.2.1), the path and query of the target.
    Row("absolute-form", "9112 3.2.2, 3.2.1",
        req(target=b"http://example.com/v1/chat/completions",
            fields=b"Host: example.com\r\nContent-Length: 5\r\n", content=b"hello"),
        Accept(body(b"hello"), targets=["/v1/chat/completions"])),
    Row("absolute-form with a query, other host", "9112 3.2.2",
        get(b"http://example.com/v1/models?x=1", fields=b"Host: other.test\r\n"),
        Accept(targets=["/v1/models?x=1"])),
    # RFC 9112 3.2.1: an empty path is sent as "/".
    Row("absolute-form with an empty path", "9112 3.2.2, 3.2.1",
        get(b"http://example.com", fields=b"Host: example.com\r\n"), Accept(targets=["/"])),
    # RFC 9112 3.2: an HTTP/1.1 request without Host is 400, whatever its target form.
    Row("absolute-form without host", "9112 3.2", get(b"http://example.com/v1/models", fields=b""),
        BAD),
    # RFC 9112 3.2.3: authority-form is only for CONNECT.
    Row("authority-form with GET", "9112 3.2.3", get(b"example.com:443",
                                                    fields=b"Host: example.com:443\r\n"), BAD),
    # RFC 9110 9.3.6: augur is not a forward proxy: refuse CONNECT (400, 405 or 501 all say
    # so), never pass it to the upstream.
    Row("CONNECT", "9110 9.3.6, 15.5.6, 15.6.2",
        req(b"CONNECT", b"example.com:443", fields=b"Host: example.com:443\r\n"),
        Reject(400, 405, 501)),
    # RFC 9112 3.2.4: asterisk-form is only for OPTIONS.
    Row("asterisk-form with GET", "9112 3.2.4", get(b"*"), BAD),
]

CHUNKED_BODIES = [
    # RFC 9112 7.1: chunk-size = 1*HEXDIG; recipients MUST prevent integer overflow. 2^64 + 5
    # wraps to 5 in a 64-bit parser: invalid (400), or a size too large to accept (413).
    Row("chunk size 2^64 + 5", "9112 7.1", chunked(b"10000000000000005\r\nhello\r\n0\r\n\r\n"),
        Reject(400, 413)),
    Row("chunk size of 17 hex digits", "9112 7.1",
        chunked(b"fffffffffffffffff\r\nhello\r\n0\r\n\r\n"), Reject(400, 413)),
    # A valid size, over max_body_bytes: 413 (9110 15.5.14).
    Row("chunk size 2^64 - 1", "9112 7.1, 9110 15.5.14",
        chunked(b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), Reject(413)),
    Row("chunk size 0x5", "9112 7.1", chunked(b"0x5\r\nhello\r\n0\r\n\r\n"), BAD),
    Row("chunk size with leading SP", "9112 7.1", chunked(b" 5\r\nhello\r\n0\r\n\r\n"), BAD),
    # BWS is only allowed before ";" of a chunk-ext.
    Row("chunk size with trailing SP", "9112 7.1", chunked(b"5 \r\nhello\r\n0\r\n\r\n"), BAD),
    Row("empty chunk size", "9112 7.1", chunked(b"\r\nhello\r\n0\r\n\r\n"), BAD),
    Row("chunk size g", "9112 7.1", chunked(b"g\r\nhello\r\n0\r\n\r\n"), BAD),
    Row("chunk size -5", "9112 7.1", chunked(b"-5\r\nhello\r\n0\r\n\r\n"), BAD),
    # chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
    Row("no CRLF after chunk data", "9112 7.1", chunked(b"5\r\nhello0\r\n\r\n"), BAD),
    Row("chunk data longer than its size", "9112 7.1", chunked(b"3\r\nhello\r\n0\r\n\r\n"), BAD),
    Row("bare LF after chunk data", "9112 7.1, 2.2 (augur policy)",
        chunked(b"5\r\nhello\n0\r\n\r\n"), BAD),
    Row("chunk sizes in upper case and with leading zeros", "9112 7.1",
        chunked(b"000A\r\n0123456789\r\n0\r\n\r\n"), Accept(body(b"0123456789"))),
    # last-chunk = 1*("0") [ chunk-ext ] CRLF
    Row("last chunk 000", "9112 7.1", chunked(b"5\r\nhello\r\n000\r\n\r\n"),
        Accept(body(b"hello"))),
    # RFC 9112 7.1.1: chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] ),
    # chunk-ext-val = token / quoted-string. Unrecognised extensions MUST be ignored: the
    # content reaches the upstream intact.
    Row("chunk ext name", "9112 7.1.1", with_ext(b";foo"), Accept(body(b"hello"))),
    Row("chunk ext name=token", "9112 7.1.1", with_ext(b";foo=bar"), Accept(body(b"hello"))),
    Row("chunk ext quoted string", "9112 7.1.1, 9110 5.6.4",
        with_ext(b';foo="quoted \\"string\\""'), Accept(body(b"hello"))),
    Row("chunk ext quoted obs-text", "9112 7.1.1, 9110 5.6.4", with_ext(b';foo="caf\xe9"'),
        Accept(body(b"hello"))),
    Row("chunk exts, several", "9112 7.1.1", with_ext(b';a;b=c;d="e"'), Accept(body(b"hello"))),
    Row("chunk ext with BWS", "9112 7.1.1", with_ext(b" ; foo = bar"), Accept(body(b"hello"))),
    Row("chunk ext on the last chunk", "9112 7.1", chunked(b"5\r\nhello\r\n0;foo=bar\r\n\r\n"),
        Accept(body(b"hello"))),
    Row("chunk ext with 0x01 in a token", "9112 7.1.1", with_ext(b";foo=b\x01r"), BAD),
    Row("chunk ext with 0x01 in a quoted string", "9112 7.1.1, 9110 5.6.4",
        with_ext(b';foo="b\x01r"'), BAD),
    Row("chunk ext with an unterminated quote", "9112 7.1.1, 9110 5.6.4", with_ext(b';foo="bar'),
        BAD),
    Row("chunk ext without a name", "9112 7.1.1", with_ext(b";=bar"), BAD),
    Row("chunk ext ';' alone", "9112 7.1.1", with_ext(b";"), BAD),
    # RFC 9112 7.1.1: "A server ought to limit the total length of chunk extensions received in
    # a request ... and generate an appropriate 4xx (Client Error) response if that amount is
    # exceeded": 400. The 64 KiB line is complete; the 1 MiB one never ends, so only a bounded
    # read can answer it before the body timeout (which would answer 408).
    Row("64 KiB chunk ext line", "9112 7.1.1", with_ext(b";x=" + b"a" * (64 * 1024)), BAD),
    Row("1 MiB chunk ext line, unterminated", "9112 7.1.1",
        chunked(b"5;x=" + b"a" * (1024 * 1024)), BAD),
    # RFC 9110 6.5.1: a recipient MUST NOT merge a trailer field into the header section; it
    # forwards trailers separately or discards them.
    Row("trailer section", "9112 7.1.2, 9110 6.5.1",
        chunked(b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"),
        Accept(body(b"hello"), no_field(b"x-trailer"))),
    # RFC 9110 6.5.1: framing fields are never taken from trailers. A sender MUST NOT send a
    # field in trailers unless its definition allows it, which Content-Length's does not: 400
    # (an invalid message), or the trailer ignored and the 5 bytes forwarded.
    Row("content-length in trailers", "9110 6.5.1, 6.5",
        chunked(b"5\r\nhello\r\n0\r\nContent-Length: 100\r\n\r\n"),
        BAD, Accept(body(b"hello"), no_field_value(b"content-length", b"100"))),
    # RFC 9112 7.1.2: trailer-section = *( field-line CRLF ).
    Row("invalid trailer field line", "9112 7.1.2, 5.1",
        chunked(b"5\r\nhello\r\n0\r\nBad Name: x\r\n\r\n"), BAD),
    # A trailer section over max_header_bytes: refused like an oversized head (431) or as a bad
    # request (400), and closed.
    Row("trailers over max_header_bytes", "9112 7.1.2, 6585 5",
        chunked(b"5\r\nhello\r\n0\r\nX-Big: " + b"t" * (MAX_HEADER_BYTES + 2048) + b"\r\n\r\n"),
        Reject(431, 400)),
]

LIMITS = [
    # RFC 9112 3: a target longer than the server will parse MUST get 414; augur documents 431
    # for a head over max_header_bytes (the request line counts).
    Row("request line over max_header_bytes", "9112 3, 9110 15.5.15, 6585 5",
        get(b"/v1/models?q=" + b"a" * (MAX_HEADER_BYTES + 2048)), Reject(431, 414)),
    # RFC 6585 5: 431 for header fields too large, individually or collectively.
    Row("one field over max_header_bytes", "6585 5",
        with_field(b"X-Big: " + b"b" * (MAX_HEADER_BYTES + 2048)), Reject(431)),
    Row("fields over max_header_bytes in total", "6585 5",
        get(fields=HOST + b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 480) for i in range(20))),
        Reject(431)),
]

# --- Running a row --------------------------------------------------------------------------


class Observation:
    def __init__(self):
        self.interim = []      # 1xx responses
        self.responses = []    # final responses, in order
        self.error = None      # why fewer responses than requests arrived (hang, close, garbage)
        self.closed = None     # whether augur closed the connection after its last response
        self.after_bytes = b""  # bytes augur sent after its last response (none expected)
        self.follow_up = None  # the follow-up request's status, or what went wrong
        self.announced_persistent = False
        self.forwarded = []    # what the upstream received for this row
        self.send_error = None


def persistent(resp, http10):
    tokens = [t.strip().lower() for t in (resp.header("connection") or "").split(",")]
    return "keep-alive" in tokens if http10 else "close" not in tokens


def close_delimited(resp):
    return resp.header("content-length") is None and \
        "chunked" not in (resp.header("transfer-encoding") or "").lower()


def sender(sock, data, obs):
    try:
        sock.sendall(data)
    except OSError as e:  # augur closed first: expected for rows it refuses early
        obs.send_error = e


def read_final(sock, buf, obs, deadline):
    """Reads responses up to the next final one; returns the bytes left, or None on error."""
    while True:
        try:
            resp, buf = read_response(sock, buf, timeout=max(0.01, deadline - time.monotonic()))
        except socket.timeout:
            obs.error = f"no complete response within {READ_TIMEOUT:.0f} s (hang)"
            return None
        except ConnectionError as e:
            obs.error = f"connection closed or reset before a complete response ({e})"
            obs.closed = True
            return None
        except (ValueError, IndexError) as e:
            obs.error = f"unparseable response ({e}): {buf[:200]!r}"
            return None
        if resp.status >= 200:
            obs.responses.append(resp)
            if close_delimited(resp) and resp.status not in (204, 304):
                obs.closed = True  # read_response read it to the end of the connection
            return buf
        obs.interim.append(resp)


def probe_closed(sock, buf, obs):
    if buf:
        obs.closed, obs.after_bytes = False, buf
        return
    sock.settimeout(CLOSE_WAIT)
    try:
        data = sock.recv(65536)
        obs.closed = not data
        obs.after_bytes = data
    except socket.timeout:
        obs.closed = False
    except ConnectionError:
        obs.closed = True


def run_row(port, row, up):
    obs = Observation()
    before = len(up.received())
    sock = connect(port, timeout=READ_TIMEOUT)
    deadline = time.monotonic() + READ_TIMEOUT
    thread = None
    buf = b""
    try:
        if isinstance(row.send, bytes):
            # A thread sends, so a large request cannot block the reading of an early answer.
            thread = threading.Thread(target=sender, args=(sock, row.send, obs), daemon=True)
            thread.start()
        else:
            for step in row.send:
                if step is INTERIM:
                    try:
                        resp, buf = read_response(sock, buf, timeout=3.0)
                    except (socket.timeout, ConnectionError, ValueError) as e:
                        obs.error = f"no interim response before the body was sent ({e!r})"
                        continue
                    (obs.interim if resp.status < 200 else obs.responses).append(resp)
                    if resp.status >= 200:
                        obs.error = f"final response {resp.status} before the body was sent"
                elif step is PAUSE:
                    time.sleep(0.3)
                else:
                    sock.sendall(step)
        while len(obs.responses) < row.requests and obs.closed is None and \
                obs.error is None and all(r.status < 400 for r in obs.responses):
            buf = read_final(sock, buf, obs, deadline)
            if buf is None:
                break
        obs.forwarded = up.received()[before:]
        if obs.responses and obs.closed is None and obs.error is None:
            last = obs.responses[-1]
            obs.announced_persistent = last.status < 400 and persistent(last, row.http10)
            if not obs.announced_persistent:
                probe_closed(sock, buf, obs)
            else:
                if thread:
                    thread.join(timeout=READ_TIMEOUT)  # the follow-up must not interleave with it
                if thread and thread.is_alive():
                    obs.follow_up = "not sent: augur answered before reading the whole request"
                else:
                    follow_up(sock, buf, obs, up)
    finally:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()
        if thread:
            thread.join(timeout=READ_TIMEOUT)
    return obs


def follow_up(sock, buf, obs, up):
    """A second request on the connection: answered (200, forwarded as /follow-up) only if augur
    kept the connection usable and framed the row's request exactly."""
    try:
        sock.sendall(FOLLOW_UP)
        resp, _ = read_response(sock, buf, timeout=READ_TIMEOUT)
    except socket.timeout:
        obs.follow_up, obs.closed = f"no response within {READ_TIMEOUT:.0f} s", False
        return
    except ConnectionError:
        obs.follow_up, obs.closed = "connection closed", True
        return
    except (ValueError, IndexError) as e:
        obs.follow_up, obs.closed = f"unparseable response ({e})", False
        return
    obs.closed = False
    last = up.received()[-1:]
    if resp.status == 200 and last and last[0]["target"] == "/follow-up":
        obs.follow_up = 200
    else:
        obs.follow_up = f"{resp.status} {resp.body[:120]!r}"


def summary(resp):
    try:
        err = resp.json()["error"]
        return f"{resp.status} ({err.get('code')}: {err.get('message')})"
    except (ValueError, KeyError, TypeError):
        return f"{resp.status}"


def client_fields(record):
    """The forwarded fields augur does not write itself, long values shortened."""
    own = (b"host", b"content-length", b"x-forwarded-for", b"x-forwarded-proto")
    return ", ".join(n.decode("latin-1") + ": " + (repr(v) if len(v) <= 40 else
                                                   f"<{len(v)} bytes>")
                     for n, v in record["fields"] if n not in own and not n.startswith(b"x-nat-"))


def describe(obs):
    parts = []
    if obs.interim:
        parts.append("interim " + ", ".join(str(r.status) for r in obs.interim))
    parts.append("answered " + ", ".join(summary(r) for r in obs.responses)
                 if obs.responses else "no response")
    if obs.error:
        parts.append(obs.error)
    if isinstance(obs.send_error, socket.timeout):
        parts.append("the client's send timed out (augur stopped reading)")
    if obs.closed is True:
        parts.append("closed the connection")
    elif obs.closed is False:
        parts.append("kept the connection open" +
                     (f" (follow-up: {obs.follow_up})" if obs.follow_up is not None else "") +
                     (f", then sent {obs.after_bytes[:80]!r}" if obs.after_bytes else ""))
    if not obs.forwarded:
        parts.append("upstream got nothing")
    for r in obs.forwarded:
        if "unparseable" in r:
            parts.append(f"upstream got unparseable bytes ({r['unparseable']})")
        else:
            parts.append(f"upstream got {r['method']} {r['target']} body {r['body'][:60]!r}" +
                         (f" fields {client_fields(r)}" if client_fields(r) else "") +
                         (f" trailers {r['trailers']!r}" if r["trailers"] else ""))
    return "; ".join(parts)


class Rfc9112(IntegrationTest):
    @classmethod
    def setUpClass(cls):
        cls.up = RecordingUpstream()
        cls.addClassCleanup(cls.up.close)
        cls.augur = Augur(config(
            [("up", cls.up.url)],
            f"limits: {{ max_header_bytes: {MAX_HEADER_BYTES // 1024}KiB, "
            f"max_body_bytes: {MAX_BODY_BYTES // 1024}KiB, "
            "header_timeout: 3s, body_timeout: 3s }\n"
            "learning: { enabled: false }\nsona: { enabled: false }\n", threads=TEST_THREADS))
        cls.addClassCleanup(cls.augur.close)

    def check(self, table):
        for row in table:
            with self.subTest(row.name):
                self.assertIsNone(self.augur.proc.poll(), "augur exited")
                obs = run_row(self.augur.port, row, self.up)
                outcomes = [(v, v.problems(obs)) for v in row.verdicts]
                if all(problems for _, problems in outcomes):
                    expected = " or ".join(str(v) for v, _ in outcomes)
                    why = " | ".join("; ".join(problems) for _, problems in outcomes)
                    self.fail(f"[RFC {row.rfc}] expected {expected}: {why}\n"
                              f"    augur: {describe(obs)}")

    def test_happy_path(self):
        self.check(HAPPY_PATH)

    def test_content_length(self):
        self.check(CONTENT_LENGTH)

    def test_transfer_encoding(self):
        self.check(TRANSFER_ENCODING)

    def test_host(self):
        self.check(HOST_FIELD)

    def test_field_syntax(self):
        self.check(FIELD_SYNTAX)

    def test_request_line(self):
        self.check(REQUEST_LINE)

    def test_target_forms(self):
        self.check(TARGET_FORMS)

    def test_chunked_bodies(self):
        self.check(CHUNKED_BODIES)

    def test_limits(self):
        self.check(LIMITS)


ALL_ROWS = (HAPPY_PATH + CONTENT_LENGTH + TRANSFER_ENCODING + HOST_FIELD + FIELD_SYNTAX +
            REQUEST_LINE + TARGET_FORMS + CHUNKED_BODIES + LIMITS)

if __name__ == "__main__":
    unittest.main()
