#!/usr/bin/env python3
"""Memory cost of idle keep-alive client connections: opens N connections to augur, sends one
request on each (so each is a used keep-alive connection, as an agent's would be), leaves them all
idle, and reports augur's RSS growth per connection; then checks augur still answers at once and
that closing them brings its open-connection count back. Standard library only.

  loadtest/idle_connections.py --connections 10000          # starts the mock and augur itself
  loadtest/idle_connections.py --port P --admin-port A --pid PID   # an augur already running

Binaries: AUGUR_BIN / MOCK_BIN (default build-release/, else build/). Exit 1 when a check fails
(--max-kib-per-connection, the request after, the connection count), 2 on a setup error.
"""

import argparse
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
REQUEST = (b"GET /v1/models HTTP/1.1\r\nHost: augur.test\r\nConnection: keep-alive\r\n"
           b"User-Agent: idle-connections\r\n\r\n")


def raise_fd_limit(needed):
    """Raises this process's soft RLIMIT_NOFILE to the hard limit (children inherit it); returns
    the new soft limit, which may still be below `needed` when the hard limit is."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = hard if hard == resource.RLIM_INFINITY else max(soft, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        soft = target
    return soft


def rss_kib(pid):
    """VmRSS of a process in KiB, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def http_get(port, path, timeout=10.0):
    """One GET on a fresh connection; (status, body bytes). Reads a Content-Length response."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def stats(admin_port):
    status, body = http_get(admin_port, "/v1/augur/stats")
    if status != 200:
        raise RuntimeError(f"stats answered {status}")
    return json.loads(body)


def read_one_response(sock, deadline):
    """Reads one Content-Length response off a blocking socket; returns its status."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed mid-body")
        rest += chunk
    return int(head.split(b" ", 2)[1])


def open_idle(port, n, batch=256, timeout=60.0):
    """Opens n connections to port in batches; each sends one keep-alive request and reads the
    answer. Returns the open sockets (the caller closes them). Raises on any failure."""
    socks = []
    deadline = time.monotonic() + timeout
    while len(socks) < n:
        group = []
        for _ in range(min(batch, n - len(socks))):
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.sendall(REQUEST)
            group.append(s)
        for s in group:
            status = read_one_response(s, deadline)
            if status != 200:
                raise RuntimeError(f"request on an idle-to-be connection answered {status}")
        socks.extend(group)
    return socks


def wait_for(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def measure(port, admin_port, pid, n, settle=2.0):
    """Warms augur up, opens n idle keep-alive connections and measures. Returns a dict:
    rss_before_kib, rss_idle_kib, kib_per_connection, connections_open (while idle), fds_idle,
    request_ms (one fresh request while they are idle, status in request_status),
    rss_after_close_kib and connections_open_after_close."""
    warm = open_idle(port, min(n, 256))
    for s in warm:
        s.close()
    wait_for(lambda: stats(admin_port)["proxy"]["connections_open"] == 0, 10)
    time.sleep(settle)
    base_open = stats(admin_port)["proxy"]["connections_open"]
    result = {"connections": n, "rss_before_kib": rss_kib(pid), "fds_before": open_fds(pid)}

    socks = open_idle(port, n)
    try:
        time.sleep(settle)
        result["rss_idle_kib"] = rss_kib(pid)
        result["fds_idle"] = open_fds(pid)
        result["connections_open"] = stats(admin_port)["proxy"]["connections_open"] - base_open
        result["kib_per_connection"] = round(
            (result["rss_idle_kib"] - result["rss_before_kib"]) / n, 2)
        start = time.monotonic()
        status, _ = http_get(port, "/v1/models")
        result["request_ms"] = round((time.monotonic() - start) * 1e3, 2)
        result["request_status"] = status
    finally:
        for s in socks:
            s.close()
    wait_for(lambda: stats(admin_port)["proxy"]["connections_open"] == base_open, 30)
    result["connections_open_after_close"] = stats(admin_port)["proxy"]["connections_open"] - base_open
    time.sleep(settle)
    result["rss_after_close_kib"] = rss_kib(pid)
    return result


def binary(env, release, debug):
    if os.environ.get(env):
        return os.environ[env]
    for candidate in (os.path.join(REPO, release), os.path.join(REPO, debug)):
        if os.access(candidate, os.X_OK):
            return candidate
    raise SystemExit(f"idle_connections.py: no {release} or {debug}; set {env}")


def start(argv, marker):
    """Starts argv, waits for the stdout line containing marker; returns (process, line)."""
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if marker in line:
            return proc, line
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"idle_connections.py: {argv[0]} did not start")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--port", type=int, help="an augur already running (with --admin-port, --pid)")
    p.add_argument("--admin-port", type=int)
    p.add_argument("--pid", type=int)
    p.add_argument("--max-kib-per-connection", type=float, default=0,
                   help="exit 1 above this (0: report only)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    args = p.parse_args()

    soft = raise_fd_limit(args.connections + 512)
    if soft < args.connections + 512:
        print(f"idle_connections.py: RLIMIT_NOFILE hard limit {soft} is below "
              f"{args.connections + 512}", file=sys.stderr)
        return 2

    procs = []
    config_path = None
    try:
        if args.port:
            port, admin_port, pid = args.port, args.admin_port, args.pid
        else:
            mock, line = start([binary("MOCK_BIN", "build-release/loadtest/mock/augur-mock-upstream",
                                       "build/loadtest/mock/augur-mock-upstream"),
                                "--listen", "127.0.0.1:0", "--no-echo"], "listening on")
            procs.append(mock)
            mock_port = int(line.rsplit(":", 1)[1])
            fd, config_path = tempfile.mkstemp(suffix=".yaml", prefix="augur-idle-")
            with os.fdopen(fd, "w") as f:
                # Idle connections must outlive the measurement; max_connections above N.
                f.write("listen: 127.0.0.1:0\nadmin: { listen: 127.0.0.1:0 }\nthreads: 1\n"
                        f"upstreams:\n  - {{ name: mock, url: \"http://127.0.0.1:{mock_port}\" }}\n"
                        "limits: { idle_timeout: 10m }\n")
            augur, line = start([binary("AUGUR_BIN", "build-release/app/augur", "build/app/augur"),
                                 "serve", "--config", config_path], "augur listening on")
            procs.append(augur)
            words = line.split()
            port = int(words[3].rsplit(":", 1)[1])
            admin_port = int(words[5].rsplit(":", 1)[1])
            pid = augur.pid
        r = measure(port, admin_port, pid, args.connections)
    finally:
        for proc in reversed(procs):
            proc.terminate()
            proc.wait(timeout=30)
        if config_path:
            os.unlink(config_path)

    if args.json:
        print(json.dumps(r))
    else:
        print(f"connections            {r['connections']} (augur counted {r['connections_open']})")
        print(f"augur RSS before       {r['rss_before_kib']} KiB")
        print(f"augur RSS idle         {r['rss_idle_kib']} KiB "
              f"(+{r['rss_idle_kib'] - r['rss_before_kib']} KiB)")
        print(f"per connection         {r['kib_per_connection']} KiB")
        print(f"augur fds              {r['fds_before']} -> {r['fds_idle']}")
        print(f"request while idle     {r['request_status']} in {r['request_ms']} ms")
        print(f"after closing them     {r['connections_open_after_close']} open, "
              f"RSS {r['rss_after_close_kib']} KiB")
    ok = (r["request_status"] == 200 and r["connections_open"] == r["connections"]
          and r["connections_open_after_close"] == 0
          and (not args.max_kib_per_connection
               or r["kib_per_connection"] <= args.max_kib_per_connection))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
