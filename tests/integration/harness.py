"""Shared plumbing for augur's integration tests: real processes on loopback, real sockets.

Starts augur and augur-mock-upstream as child processes on ephemeral ports (they print the port
they bound), offers a scripted raw-socket upstream for faults the mock cannot express, and small
HTTP helpers. Binary locations come from the environment CTest sets (AUGUR_BIN, MOCK_BIN).
"""

import json
import os
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

AUGUR_BIN = os.environ.get("AUGUR_BIN", "build/app/augur")
MOCK_BIN = os.environ.get("MOCK_BIN", "build/loadtest/mock/augur-mock-upstream")
STARTUP_TIMEOUT = 30.0
DEADLINE = 90.0  # for waits on eventual state: generous, the machine may be busy compiling


def wait_until(what, probe, deadline=DEADLINE):
    """Polls probe() until it returns a true value; returns it, or fails naming `what`."""
    end = time.monotonic() + deadline
    last = None
    while time.monotonic() < end:
        last = probe()
        if last:
            return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what} (last: {last!r})")

# io threads in the configs config() writes; the TSan build sets 2 so the threads' races show.
TEST_THREADS = int(os.environ.get("AUGUR_TEST_THREADS", "1"))


def wait_for_line(proc, pattern, timeout=STARTUP_TIMEOUT):
    """Reads proc's stdout until a line matches pattern; returns the match."""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern)
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise RuntimeError(f"process exited with {proc.returncode} before '{pattern}'")
            continue
        m = rx.search(line)
        if m:
            return m
    raise RuntimeError(f"timed out waiting for '{pattern}'")


class Process:
    """A child process that announced its ports; stopped (SIGTERM, then SIGKILL) on close."""

    def __init__(self, argv, pattern, env=None, preexec=None, cwd=None):
        self.argv = argv
        self.stderr_file = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self.stderr_file,
                                     text=True, env=env, preexec_fn=preexec, cwd=cwd)
        self.match = wait_for_line(self.proc, pattern)

    def signal(self, signo):
        self.proc.send_signal(signo)

    def wait(self, timeout=30):
        return self.proc.wait(timeout=timeout)

    def stderr(self):
        self.stderr_file.seek(0)
        return self.stderr_file.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()


class Mock(Process):
    def __init__(self, *extra):
        super().__init__([MOCK_BIN, "--listen", "127.0.0.1:0", *extra],
                         r"listening on ([\d.]+):(\d+)")
        self.port = int(self.match.group(2))
        self.url = f"http://127.0.0.1:{self.port}"


class Augur(Process):
    """augur serve with a YAML config written from text (or no config: the embedded default)."""

    def __init__(self, config_text=None, extra_args=(), preexec=None, cwd=None, env=None):
        self.config_path = None
        argv = [os.path.abspath(AUGUR_BIN), "serve"]
        if config_text is not None:
            fd, self.config_path = tempfile.mkstemp(suffix=".yaml", prefix="augur-test-")
            with os.fdopen(fd, "w") as f:
                f.write(config_text)
            argv += ["--config", self.config_path]
        argv += list(extra_args)
        super().__init__(argv, r"augur listening on ([\d.]+):(\d+) admin ([\d.]+):(\d+)",
                         env=env, preexec=preexec, cwd=cwd)
        self.port = int(self.match.group(2))
        self.admin_port = int(self.match.group(4))

    def rewrite_config(self, text):
        with open(self.config_path, "w") as f:
            f.write(text)

    def close(self):
        super().close()
        if self.config_path and os.path.exists(self.config_path):
            os.unlink(self.config_path)


def config(upstreams, extra="", admin="{ listen: 127.0.0.1:0 }", threads=None):
    """A config on ephemeral ports. upstreams: list of (name, url) or YAML flow mappings.
    threads: io threads, TEST_THREADS unless a test depends on one (pools are per thread)."""
    lines = ["listen: 127.0.0.1:0", f"admin: {admin}", f"threads: {threads or TEST_THREADS}",
             "upstreams:"]
    for u in upstreams:
        if isinstance(u, tuple):
            lines.append(f"  - {{ name: {u[0]}, url: \"{u[1]}\" }}")
        else:
            lines.append("  - " + u)
    return "\n".join(lines) + "\n" + extra


# --- HTTP on raw sockets --------------------------------------------------------------------


class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name lower-cased, value)
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k == name.lower():
                return v
        return None

    def json(self):
        return json.loads(self.body)


def read_until(sock, buf, marker, deadline):
    while marker not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def read_response(sock, buf=b"", timeout=30.0, head=False):
    """Reads one HTTP/1.1 response (Content-Length, chunked, or close-delimited)."""
    deadline = time.monotonic() + timeout
    buf = read_until(sock, buf, b"\r\n\r\n", deadline)
    head_bytes, _, rest = buf.partition(b"\r\n\r\n")
    lines = head_bytes.decode("latin-1").split("\r\n")
    _, status, reason = (lines[0].split(" ", 2) + [""])[:3]
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip().lower(), v.strip()))
    resp = RawResponse(int(status), reason, headers, b"")
    if head or resp.status in (204, 304) or resp.status < 200:
        return resp, rest
    te = resp.header("transfer-encoding")
    cl = resp.header("content-length")
    if te and "chunked" in te.lower():
        body = b""
        while True:
            rest = read_until(sock, rest, b"\r\n", deadline)
            size_line, _, rest = rest.partition(b"\r\n")
            size = int(size_line.split(b";")[0], 16)
            if size == 0:
                rest = read_until(sock, rest, b"\r\n", deadline)
                _, _, rest = rest.partition(b"\r\n")
                break
            while len(rest) < size + 2:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed mid-chunk")
                rest += chunk
            body += rest[:size]
            rest = rest[size + 2:]
        resp.body = body
        return resp, rest
    if cl is not None:
        n = int(cl)
        while len(rest) < n:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed mid-body")
            rest += chunk
        resp.body = rest[:n]
        return resp, rest[n:]
    body = rest
    while True:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    resp.body = body
    return resp, b""


def build_request(method, path, body=b"", headers=None, version="HTTP/1.1"):
    headers = dict(headers or {})
    headers.setdefault("Host", "augur.test")
    if body or method in ("POST", "PUT", "PATCH"):
        headers.setdefault("Content-Length", str(len(body)))
    head = f"{method} {path} {version}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode("latin-1") + b"\r\n" + body


def connect(port, timeout=30.0):
    return socket.create_connection(("127.0.0.1", port), timeout=timeout)


def request(port, method, path, body=b"", headers=None, timeout=30.0):
    """One request on a fresh connection."""
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers = dict(headers or {})
        headers.setdefault("Content-Type", "application/json")
    with connect(port, timeout) as s:
        s.sendall(build_request(method, path, body, headers))
        resp, _ = read_response(s, timeout=timeout, head=(method == "HEAD"))
        return resp


def stream_chat(port, headers=None, timeout=30.0):
    """A streamed chat completion on a fresh connection; returns the whole decoded response."""
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    with connect(port, timeout) as s:
        s.sendall(build_request("POST", "/v1/chat/completions",
                                json.dumps(chat_body(stream=True)).encode(), h))
        resp, _ = read_response(s, timeout=timeout)
    return resp


def sse_events(resp):
    return [e for e in resp.body.decode().split("\n\n") if e.strip()]


def chat_body(stream=False, **extra):
    body = {"model": "test-model", "messages": [{"role": "user", "content": "hello"}]}
    if stream:
        body["stream"] = True
    body.update(extra)
    return body


def agent_call(port, run, path, tokens=10, last=False):
    """One chat completion of agent run `run` on function path `path`, with NAT's context headers
    (x-nat-run-end on the run's last call); the mock answers with `tokens` output tokens."""
    headers = {"x-nat-run-id": run, "x-nat-function-path": path, "x-mock-tokens": str(tokens)}
    if last:
        headers["x-nat-run-end"] = "true"
    return request(port, "POST", "/v1/chat/completions", chat_body(), headers)


# --- A scripted upstream for exact bytes and faults ------------------------------------------


class ScriptedUpstream:
    """A raw-socket HTTP upstream on loopback. `handler(request_dict, conn)` writes whatever it
    wants to conn (a socket) and returns True to keep the connection for another request. It
    records every request (method, target, headers, body) and every connection's fate."""

    def __init__(self, handler):
        self.handler = handler
        self.requests = []
        self.connections = 0
        self.closed_connections = 0
        self.events = []  # (time, what)
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.running = True
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        buf = b""
        try:
            while True:
                try:
                    buf = read_until(conn, buf, b"\r\n\r\n", time.monotonic() + 60)
                except (ConnectionError, socket.timeout, OSError):
                    break
                head, _, rest = buf.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = []
                for line in lines[1:]:
                    k, _, v = line.partition(":")
                    headers.append((k.strip().lower(), v.strip()))
                n = int(dict(headers).get("content-length", "0"))
                while len(rest) < n:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                req = {"method": method, "target": target, "headers": headers,
                       "body": rest[:n], "raw_head": head}
                buf = rest[n:]
                with self.lock:
                    self.requests.append(req)
                if not self.handler(req, conn):
                    break
        finally:
            with self.lock:
                self.closed_connections += 1
                self.events.append((time.monotonic(), "closed"))
            try:
                conn.close()
            except OSError:
                pass

    def close(self):
        self.running = False
        self.sock.close()


def respond(conn, status=200, body=b"{}", headers=None, reason="OK"):
    headers = dict(headers or {})
    headers.setdefault("Content-Type", "application/json")
    headers["Content-Length"] = str(len(body))
    head = f"HTTP/1.1 {status} {reason}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    conn.sendall(head.encode() + b"\r\n" + body)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class IntegrationTest(unittest.TestCase):
    """Closes whatever a test registered with self.own(), in reverse order."""

    def own(self, thing):
        self.addCleanup(thing.close)
        return thing

    def dead_url(self):
        """A loopback URL that refuses connections for the rest of the test. The port stays bound
        (never listening), so no process started meanwhile, such as a parallel test's server on
        an ephemeral port, can take it; a port that was merely free once could be reused."""
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.addCleanup(s.close)
        return f"http://127.0.0.1:{s.getsockname()[1]}"

    def assertOpenAIError(self, resp, status):
        self.assertEqual(resp.status, status, resp.body)
        self.assertEqual(resp.header("content-type"), "application/json")
        err = resp.json()["error"]
        for key in ("message", "type", "param", "code"):
            self.assertIn(key, err)
        self.assertTrue(err["message"])
        return err


def metric_value(admin_port, name, **labels):
    """The value of one sample of augur's /metrics (labels must match exactly those given, in any
    order), or None when no such sample is exported."""
    resp = request(admin_port, "GET", "/metrics")
    assert resp.status == 200, resp.body
    want = {k: str(v) for k, v in labels.items()}
    for line in resp.body.decode().splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        series, _, value = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        if metric != name:
            continue
        got = {}
        for pair in filter(None, rest.rstrip("}").split(",")):
            k, _, v = pair.partition("=")
            got[k] = v.strip('"')
        if got == want:
            return float(value)
    return None
