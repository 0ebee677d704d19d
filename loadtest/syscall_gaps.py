#!/usr/bin/env python3
"""Where a proxy's time goes between its system calls, from `perf script` output of the
raw_syscalls:sys_enter/sys_exit tracepoints (loadtest/syscalls_proxy.sh --gaps records it).

A gap is user-space time: from one system call's return to the next one's entry, on the
thread that serves the requests. Gaps that end in epoll_wait come after the proxy's last write of a wake-up, so at one
connection they overlap the peer's work; every other gap lies between a read and the write it
causes, on the request's path. The proxies share a CPU with the upstream, and a gap or a call
during which the proxy was preempted also holds the upstream's run: the totals are therefore
medians times how often they occur, not sums, per step and pair of file descriptors. Reads `perf script --ns -F
tid,time,event,trace` on stdin; prints one Markdown table row.

usage: perf script --ns -i FILE -F tid,time,event,trace | syscall_gaps.py --requests N --name NAME
"""
import argparse
import re
import statistics
import sys
from collections import defaultdict

SYSCALL_NAMES = {
    0: "read", 1: "write", 3: "close", 16: "ioctl", 19: "readv", 20: "writev", 43: "accept",
    44: "sendto", 45: "recvfrom", 46: "sendmsg", 47: "recvmsg", 52: "getpeername",
    54: "setsockopt", 55: "getsockopt", 232: "epoll_wait", 233: "epoll_ctl", 281: "epoll_pwait",
    286: "timerfd_settime", 288: "accept4",
}
WAITS = {"epoll_wait", "epoll_pwait"}
EVENT = re.compile(r"\s*(\d+)\s+([\d.]+):\s+raw_syscalls:sys_(enter|exit): NR (\d+)(?: \(([0-9a-f]+))?")


def read_calls(lines):
    """(thread, name, first argument, entered µs, returned µs) for every complete system call, in
    order. The first argument is the file descriptor of the calls that matter here."""
    open_calls = {}
    calls = []
    for line in lines:
        m = EVENT.match(line)
        if not m:
            continue
        tid, when, kind, nr = int(m[1]), float(m[2]) * 1e6, m[3], int(m[4])
        if kind == "enter":
            open_calls[tid] = (SYSCALL_NAMES.get(nr, f"nr{nr}"), m[5], when)
        elif tid in open_calls:
            name, fd, entered = open_calls.pop(tid)
            calls.append((tid, name, fd, entered, when))
    return calls


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, required=True, help="requests served meanwhile")
    parser.add_argument("--name", required=True, help="the proxy's name for the table")
    args = parser.parse_args()

    by_thread = defaultdict(list)
    for call in read_calls(sys.stdin):
        by_thread[call[0]].append(call)
    if not by_thread:
        sys.exit(f"syscall_gaps: no system calls for {args.name} in the trace")
    # The thread that serves the requests makes by far the most calls (augur's learning thread,
    # sleeping in futex waits, is not on a request's path).
    io_thread = max(by_thread.values(), key=len)
    # Grouped by file descriptors too: the same step on the client's and on the upstream's
    # connection does different work (a request is parsed and rewritten, a response is not).
    gaps = defaultdict(list)
    in_calls = defaultdict(list)
    for before, after in zip(io_thread, io_thread[1:]):
        gaps[(before[1], after[1], before[2], after[2])].append(after[3] - before[4])
    for _, name, fd, entered, returned in io_thread:
        in_calls[(name, fd)].append(returned - entered)

    def typical(groups):
        """µs per request the groups take: each one's median times how often it occurs."""
        return sum(statistics.median(v) * len(v) for v in groups) / args.requests

    on_path = typical(v for k, v in gaps.items() if k[1] not in WAITS)
    before_wait = typical(v for k, v in gaps.items() if k[1] in WAITS)
    kernel = typical(v for k, v in in_calls.items() if k[0] not in WAITS)
    steps = defaultdict(list)
    for (before, after, _, _), v in gaps.items():
        steps[(before, after)].append(v)
    shown = ", ".join(
        f"{a}→{b} {sum(map(len, groups)) / args.requests:.2f}× {typical(groups):.2f}"
        for (a, b), groups in sorted(steps.items(), key=lambda kv: -sum(map(len, kv[1])))
        if sum(map(len, groups)) / args.requests >= 0.05
    )
    print(f"| {args.name} | {on_path:.1f} | {before_wait:.1f} | {kernel:.1f} | {shown} |")

if __name__ == "__main__":
    main()
