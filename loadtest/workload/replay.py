#!/usr/bin/env python3
"""augur's workload generator: drives augur like many concurrent agents, then reports how far
augur's injected hints were from what happened, next to NAT's static defaults.

Each worker thread replays runs one after another on its own keep-alive connections (a planner's
parallel branches get one each). The mock upstream behind augur produces what agents.py's ground
truth says, through its x-mock-* control headers, and echoes the headers augur sent it, which is
how the hints are read back. Standard library only.
"""

import argparse
import gzip
import http.client
import json
import math
import os
import random
import sys
import threading
import time
from urllib.parse import urlsplit

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agents  # noqa: E402
import conversation  # noqa: E402
import report  # noqa: E402

SCENARIOS = ("steady", "drift", "novel")
CHAT_PATH = "/v1/chat/completions"
DYNAMO_PRIORITY_HEADER = "x-dynamo-request-priority"
# The run id augur assigned a call, as its prefix_headers hints tell the upstream.
PREFIX_ID_HEADER = "x-prefix-id"
HEADER_MODES = ("nat", "none")
WARMUP_SHARE = 0.2  # default warm-up: this share of the duration (or of the runs)


class Connection:
    """One keep-alive HTTP/1.1 connection; reopened on the next call after any error.
    Not thread-safe: each thread owns its connections."""

    def __init__(self, host, port, timeout):
        self.host, self.port, self.timeout = host, port, timeout
        self.conn = None

    def post(self, target, body, headers):
        """Sends one request and reads the whole response: (status, response, body bytes).
        Raises OSError / http.client.HTTPException on failure (the connection is dropped).
        A reused connection that fails before any response byte is retried once on a new one:
        the server closed it while idle (augur's limits.idle_timeout) as the request left, the
        keep-alive race every HTTP/1.1 client handles (OpenAI's SDK retries connection errors)."""
        for attempt in (0, 1):
            reused = self.conn is not None
            if not reused:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", target, body=body, headers=headers)
                resp = self.conn.getresponse()
            except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
                self.close()
                if reused and attempt == 0:
                    continue
                raise
            except BaseException:
                self.close()
                raise
            try:
                return resp.status, resp, resp.read()
            except BaseException:
                self.close()
                raise
        raise AssertionError("unreachable")

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def completion_tokens(data, stream):
    """usage.completion_tokens of a response body (a JSON object or an SSE stream); raises
    ValueError when there is none or the stream reported an error."""
    if not stream:
        return int(json.loads(data)["usage"]["completion_tokens"])
    tokens = None
    for line in data.split(b"\n"):
        if not line.startswith(b"data:"):
            continue
        payload = line[5:].strip()
        if payload == b"[DONE]":
            continue
        event = json.loads(payload)
        if "error" in event:
            raise ValueError(f"stream error: {event['error']}")
        if event.get("usage"):
            tokens = int(event["usage"]["completion_tokens"])
    if tokens is None:
        raise ValueError("stream without a usage chunk")
    return tokens


def prompt_tokens(data, stream):
    """usage.prompt_tokens of a response body (JSON or SSE), or None when there is none."""
    try:
        if not stream:
            return int(json.loads(data)["usage"]["prompt_tokens"])
        for line in data.split(b"\n"):
            payload = line[5:].strip() if line.startswith(b"data:") else b""
            if payload and payload != b"[DONE]":
                usage = json.loads(payload).get("usage")
                if usage:
                    return int(usage["prompt_tokens"])
    except (ValueError, KeyError, TypeError):
        pass
    return None


def echoed_header(resp, name):
    """One request header as augur sent it upstream (the mock's echo), or None."""
    echo = resp.getheader("x-mock-request-headers")
    return json.loads(echo).get(name) if echo else None


def injected_hints(resp):
    """The x-nat-* hints augur sent upstream, from the mock's echo of its request headers.
    Returns (hints dict, whether all of them were present)."""
    hints = {k: None for k in report.HINT_HEADERS}
    echo = resp.getheader("x-mock-request-headers")
    if not echo:
        return hints, False
    seen = json.loads(echo)
    for key, header in report.HINT_HEADERS.items():
        value = seen.get(header)
        if value is None:
            continue
        hints[key] = value if key == "source" else int(value)
    return hints, all(v is not None for v in hints.values())


def request_body(call, run_id):
    body = {
        "model": "workload-model",
        "messages": [
            {"role": "system", "content": f"You are {call.path[-1]}."},
            {"role": "user", "content": f"{run_id}: {'/'.join(call.path)} call {call.index}"},
        ],
    }
    if call.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def new_record(call, last, **extra):
    """A call's record before it is sent (both modes)."""
    return {"path": "/".join(call.path), "planned_index": call.index, "last": last,
            "stream": call.stream, "tokens_planned": call.tokens, "status": None, "ok": False,
            "error": None, "tokens": None, "hints_read": False,
            "hints": {k: None for k in report.HINT_HEADERS}, **extra}


def read_echo(rec, status, resp, trace):
    """What the mock says augur sent it: the hints, the run id (x-prefix-id) and, with `trace`,
    the Dynamo priority."""
    rec["status"] = status
    rec["hints"], rec["hints_read"] = injected_hints(resp)
    rec["observed_run"] = echoed_header(resp, PREFIX_ID_HEADER)
    if trace:
        priority = echoed_header(resp, DYNAMO_PRIORITY_HEADER)
        rec["dynamo_priority"] = int(priority) if priority is not None else None


def send(conn, call, run_id, last, time_scale=1.0, trace=False):
    """Makes one call; returns its record (times filled in by the caller's clock). With `trace`
    the record also gets the mock's usage.prompt_tokens and augur's x-dynamo-request-priority."""
    scaled = lambda ms: str(round(ms * time_scale))  # noqa: E731
    headers = {
        "Content-Type": "application/json",
        "x-nat-run-id": run_id,
        "x-nat-function-path": "/".join(call.path),
        "x-mock-tokens": str(call.tokens),
        "x-mock-latency-ms": scaled(call.latency_ms),
    }
    if call.stream:
        headers["x-mock-first-token-delay-ms"] = scaled(call.first_token_ms)
        headers["x-mock-chunk-delay-ms"] = scaled(call.chunk_ms)
    if last:
        headers["x-nat-run-end"] = "true"
    rec = new_record(call, last)
    try:
        status, resp, data = conn.post(CHAT_PATH, request_body(call, run_id), headers)
        read_echo(rec, status, resp, trace)
        if trace:
            rec["prompt_tokens"] = prompt_tokens(data, call.stream) if status == 200 else None
        if status != 200:
            rec["error"] = f"HTTP {status}: {data[:200]!r}"
        else:
            rec["tokens"] = completion_tokens(data, call.stream)
            rec["ok"] = True
    except (OSError, http.client.HTTPException, ValueError, KeyError) as e:
        rec["error"] = f"{type(e).__name__}: {e}"
    return rec


def send_headerless(conn, call, rc, time_scale=1.0, trace=False, capture=None):
    """--headers none: makes one call of a run whose conversations `rc`
    (conversation.RunConversations) holds, as a framework would send it: no x-nat-* or other run
    header, the conversation so far as the body; only the mock's x-mock-* controls besides. The
    record also gets the dialect, the conversation, and the run id augur assigned (x-prefix-id,
    echoed by the mock). `capture`, a list, receives what was sent and answered (self-checks)."""
    scaled = lambda ms: str(round(ms * time_scale))  # noqa: E731
    target, body, specs = rc.prepare(call)
    latency_ms, chunk_ms = call.latency_ms, call.chunk_ms
    if call.stream and specs:
        # A tool-call stream sends a few argument fragments, not one event per token: the decode
        # time moves before the headers so the call still lasts as long as planned.
        latency_ms, chunk_ms = call.latency_ms + call.chunk_ms * call.tokens, 0
    headers = {
        "Content-Type": "application/json",
        "x-mock-tokens": str(call.tokens),
        "x-mock-latency-ms": scaled(latency_ms),
    }
    if call.stream:
        headers["x-mock-first-token-delay-ms"] = scaled(call.first_token_ms)
        headers["x-mock-chunk-delay-ms"] = scaled(chunk_ms)
    if specs:
        headers["x-mock-tool-calls"] = json.dumps(specs)
    conv = rc.convs[call.conv]
    rec = new_record(call, False, headerless=True, dialect=rc.dialect, conv=call.conv,
                     conv_start=conv.calls == 1, observed_run=None)
    answer = None
    try:
        status, resp, data = conn.post(target, json.dumps(body).encode(), headers)
        read_echo(rec, status, resp, trace)
        if trace:
            rec["prompt_tokens"] = None
        if status != 200:
            rec["error"] = f"HTTP {status}: {data[:200]!r}"
        else:
            answer = conversation.PARSERS[rc.dialect](data, call.stream)
            if not conversation.answered_as_asked(answer, specs):
                raise ValueError(f"the mock answered tool calls {answer.tool_calls}, "
                                 f"not {specs}")
            rec["tokens"] = answer.tokens
            rec["ok"] = True
    except (OSError, http.client.HTTPException, ValueError, KeyError, TypeError) as e:
        rec["error"] = f"{type(e).__name__}: {e}"
        answer = None
    rc.finish(call, answer)
    if capture is not None:
        capture.append({"run": rc.run_id, "conv": call.conv, "target": target, "body": body,
                        "headers": headers, "specs": specs, "ok": rec["ok"],
                        "answer": None if answer is None else {
                            "assistant": answer.assistant, "text": answer.text,
                            "tool_calls": answer.tool_calls}})
    return rec


def fill_actuals(records):
    """What happened after each call of a finished run, as augur's trie builder defines it:
    remaining = calls of the run that ended after this one; iat = start of the first call that
    started once this one ended, minus its end (none for the run's last)."""
    order = sorted(records, key=lambda r: (r["end_s"], r["start_s"]))
    for pos, r in enumerate(order):
        later = [o["start_s"] for o in records if o is not r and o["start_s"] >= r["end_s"]]
        r["actual"] = {
            "remaining": len(order) - pos - 1,
            "osl": r["tokens"],
            "iat": (min(later) - r["end_s"]) * 1000.0 if later else None,
        }


def trace_records(plan, records, run_start_s, time_scale):
    """--trace: one record per LLM call of a finished run, in plan order (`records` is too), with
    the run's step structure, the ground truth and the hints augur injected. Times from the plan
    are unscaled ms; start_s/end_s are what this replay measured (scaled by --time-scale).
    true_remaining_* count the calls of later steps only (a parallel sibling is not after this
    call); actual_remaining is augur's own definition (calls of the run that ended after it)."""
    calls = [(si, j, len(step), c)
             for si, step in enumerate(plan.steps) for j, c in enumerate(step)]
    tokens = [r["tokens"] if r["tokens"] is not None else c.tokens
              for (_, _, _, c), r in zip(calls, records)]
    out = []
    for k, ((si, j, width, c), r) in enumerate(zip(calls, records)):
        later = [t for (sj, _, _, _), t in zip(calls, tokens) if sj > si]
        nxt = plan.steps[si + 1] if si + 1 < len(plan.steps) else None
        hints = dict(r["hints"])
        hints["dynamo_priority"] = r.get("dynamo_priority")
        out.append({
            "run": r["run"], "run_number": plan.number, "shape": plan.shape,
            "after_warmup": r["after_warmup"], "run_start_s": round(run_start_s, 4),
            "step": si, "branch": j, "width": width, "steps": len(plan.steps), "call": k,
            "path": r["path"], "call_index": c.index, "stream": c.stream,
            "before_ms": round(c.before_ms, 2),
            "next_think_ms": round(min(n.before_ms for n in nxt), 2) if nxt else None,
            "output_tokens": tokens[k], "prompt_tokens": r.get("prompt_tokens"),
            "true_remaining_calls": len(later), "true_remaining_tokens": sum(later),
            "actual_remaining": r["actual"]["remaining"],
            "start_s": round(r["start_s"], 4), "end_s": round(r["end_s"], 4), "ok": r["ok"],
            "hints_read": r["hints_read"], "hints": hints, "time_scale": time_scale,
        })
    return out


class Workload:
    """Shared state of one replay: the run counter, scenario phases and collected records."""

    def __init__(self, args):
        self.args = args
        url = urlsplit(args.url)
        self.host, self.port = url.hostname, url.port or 80
        self.lock = threading.Lock()
        self.next_number = 0
        self.calls = []
        self.runs = []  # DESIGN.md run records
        self.trace = []  # --trace: one record per LLM call, for loadtest/sim/schedule_sim.py
        self.t0 = 0.0
        self.wall0 = 0.0
        self.capture = None  # a list: headerless calls' bodies and answers (self-checks)

    def phase_reached(self, number, started_s, at_s):
        """Scenario phases start at a time (--duration) or, with --runs and no time given, at
        a share of the runs, so a --runs replay is the same whatever the machine's speed."""
        if at_s is not None:
            return started_s >= at_s
        if self.args.runs:
            return number >= math.ceil(WARMUP_SHARE * self.args.runs)
        return started_s >= WARMUP_SHARE * self.args.duration

    def take_run(self):
        with self.lock:
            elapsed = time.monotonic() - self.t0
            if self.args.runs:
                if self.next_number >= self.args.runs:
                    return None
            elif elapsed >= self.args.duration:
                return None
            n = self.next_number
            self.next_number += 1
            return n, elapsed

    def scenario(self, number, started_s):
        a = self.args
        s = agents.Scenario(drift_factor=a.drift_factor, noise=a.noise)
        after_warmup = self.phase_reached(number, started_s, a.warmup)
        if a.scenario == "drift":
            drift_at = a.drift_at
            if drift_at is None and not a.runs:
                drift_at = 0.5 * a.duration
            s.drift = (started_s >= drift_at) if drift_at is not None else \
                number >= a.runs // 2
        if a.scenario == "novel":
            coin = random.Random(f"augur-workload-novel/{a.seed}/{number}").random()
            s.novel = after_warmup and coin < a.novel_share
        return s, after_warmup

    def sleep_ms(self, ms):
        if ms > 0:
            time.sleep(ms * self.args.time_scale / 1000.0)

    def timed_send(self, conn, call, run_id, last, rc=None):
        start = time.monotonic()
        if rc is not None:
            rec = send_headerless(conn, call, rc, self.args.time_scale,
                                  trace=bool(self.args.trace), capture=self.capture)
            rec["last"] = last
        else:
            rec = send(conn, call, run_id, last, self.args.time_scale,
                       trace=bool(self.args.trace))
        rec["start_s"] = start - self.t0
        rec["end_s"] = time.monotonic() - self.t0
        return rec

    def run_one(self, number, started_s, conns):
        scenario, after_warmup = self.scenario(number, started_s)
        plan = agents.plan_run(self.args.seed, number, scenario, self.args.stream_share)
        run_id = f"{self.args.run_id_prefix}{self.args.seed}-{number}"
        rc = None
        if self.args.headers == "none":
            rc = conversation.RunConversations(self.args.seed, number, run_id, plan.novel,
                                               self.args.dialects)
        records = []
        last_step = len(plan.steps) - 1
        for si, step in enumerate(plan.steps):
            last = si == last_step
            if len(step) == 1:
                self.sleep_ms(step[0].before_ms)
                records.append(self.timed_send(conns[0], step[0], run_id, last, rc))
                continue
            while len(conns) < len(step):
                conns.append(Connection(self.host, self.port, self.args.timeout))
            results = [None] * len(step)

            def branch(j, call):
                self.sleep_ms(call.before_ms)
                results[j] = self.timed_send(conns[j], call, run_id, False, rc)

            threads = [threading.Thread(target=branch, args=(j, c)) for j, c in enumerate(step)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            records.extend(results)
        fill_actuals(records)
        for r in records:
            r.update(run=run_id, run_number=number, shape=plan.shape, novel=plan.novel,
                     drifted=plan.drifted, after_warmup=after_warmup)
        if self.args.trace:
            trace = trace_records(plan, records, started_s, self.args.time_scale)
            with self.lock:
                self.trace.extend(trace)
        return records

    def run_record(self, records):
        ms = lambda s: int(round((self.wall0 + s) * 1000))  # noqa: E731
        return {
            "run_id": records[0]["run"],
            "started_at_ms": ms(min(r["start_s"] for r in records)),
            "ended_at_ms": ms(max(r["end_s"] for r in records)),
            "calls": [{"kind": "llm", "path": r["path"].split("/"),
                       "call_index": r["hints"]["call_index"] or r["planned_index"],
                       "started_at_ms": ms(r["start_s"]), "ended_at_ms": ms(r["end_s"]),
                       "output_tokens": r["tokens"] or 0, "status": r["status"] or 0}
                      for r in sorted(records, key=lambda r: r["start_s"])],
        }

    def worker(self):
        conns = [Connection(self.host, self.port, self.args.timeout)]
        try:
            while True:
                taken = self.take_run()
                if taken is None:
                    return
                records = self.run_one(*taken, conns)
                with self.lock:
                    self.calls.extend(records)
                    self.runs.append(self.run_record(records))
        finally:
            for c in conns:
                c.close()

    def run(self):
        """Replays the workload; returns the elapsed seconds."""
        self.t0 = time.monotonic()
        self.wall0 = time.time()
        threads = [threading.Thread(target=self.worker, name=f"agent-{i}")
                   for i in range(self.args.concurrency)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - self.t0


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Drive augur like concurrent agents and report hint error vs static defaults.")
    p.add_argument("--url", default="http://127.0.0.1:8080", help="augur's proxy listener")
    p.add_argument("--scenario", choices=SCENARIOS, default="steady")
    p.add_argument("--headers", choices=HEADER_MODES, default="nat",
                   help="nat: x-nat-run-id/-function-path/-run-end on every call (chat only); "
                        "none: no run headers at all, conversations as frameworks send them, "
                        "augur infers the runs")
    p.add_argument("--dialects",
                   help="comma-separated of chat,responses,messages, one per run from the seed "
                        "(default: all three with --headers none; nat mode speaks chat only)")
    p.add_argument("--concurrency", type=int, default=16, help="runs in flight (threads)")
    length = p.add_mutually_exclusive_group()
    length.add_argument("--duration", type=float, help="seconds to start runs for (default 60)")
    length.add_argument("--runs", type=int, help="replay exactly this many runs")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--time-scale", type=float, default=1.0,
                   help="multiplies think/tool waits and upstream latency (0.1 = ten times faster)")
    p.add_argument("--stream-share", type=float, default=0.3, help="share of streamed calls")
    p.add_argument("--warmup", type=float,
                   help="seconds; default 20%% of --duration (with --runs: the first 20%% of runs)")
    p.add_argument("--drift-at", type=float,
                   help="drift: seconds; default half of --duration (with --runs: half the runs)")
    p.add_argument("--drift-factor", type=float, default=4.0)
    p.add_argument("--novel-share", type=float, default=0.3,
                   help="novel: share of runs after warm-up that use unseen function names")
    p.add_argument("--noise", type=float, default=1.0,
                   help="multiplies the ground truth's lognormal spreads (0 = none)")
    p.add_argument("--windows", type=int, default=10)
    p.add_argument("--timeout", type=float, default=60.0, help="per-request socket timeout (s)")
    p.add_argument("--run-id-prefix", default="wl", help="run ids are PREFIX<seed>-<number>")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument("--calls-out", metavar="FILE", help="write every call record (JSON Lines)")
    p.add_argument("--runs-out", metavar="FILE",
                   help="write run records (DESIGN.md format, for `augur trie build --runs`)")
    p.add_argument("--trace", metavar="FILE",
                   help="write a per-call trace for loadtest/sim/schedule_sim.py (JSON Lines; "
                        "gzip when FILE ends in .gz): step structure, ground truth, hints")
    p.add_argument("--assert-improvement", type=float, metavar="X",
                   help="exit 3 unless after warm-up augur's error is ≥X times lower than static")
    p.add_argument("--assert-hints", default="remaining,osl",
                   help="hints --assert-improvement checks (comma-separated: remaining,osl,iat)")
    args = p.parse_args(argv)
    if args.runs is None and args.duration is None:
        args.duration = 60.0
    if args.concurrency < 1 or (args.runs is not None and args.runs < 1):
        p.error("--concurrency and --runs must be at least 1")
    if args.dialects is None:
        args.dialects = "chat" if args.headers == "nat" else ",".join(conversation.DIALECTS)
    args.dialects = tuple(d for d in args.dialects.split(",") if d)
    if not args.dialects or any(d not in conversation.DIALECTS for d in args.dialects):
        p.error(f"--dialects takes a comma-separated subset of {','.join(conversation.DIALECTS)}")
    if args.headers == "nat" and args.dialects != ("chat",):
        p.error("--dialects other than chat needs --headers none")
    args.assert_hints = [h for h in args.assert_hints.split(",") if h]
    for h in args.assert_hints:
        if h not in report.HINTS:
            p.error(f"unknown hint '{h}' in --assert-hints")
    return args


def replay(args, trace_out=None, capture=None):
    """Runs the workload; returns (report dict, call records, run records). The --trace records
    are appended to `trace_out` (a list) when given; with --headers none, `capture` (a list)
    receives every call's body, tool calls asked for and parsed answer."""
    w = Workload(args)
    w.capture = capture
    elapsed = w.run()
    w.calls.sort(key=lambda c: c["start_s"])
    w.runs.sort(key=lambda r: r["started_at_ms"])
    if trace_out is not None:
        trace_out.extend(sorted(w.trace, key=lambda t: (t["run_start_s"], t["run_number"],
                                                        t["call"])))
    warmup = (f"{args.warmup:g} s" if args.warmup is not None else
              f"run {math.ceil(WARMUP_SHARE * args.runs)}" if args.runs else
              f"{WARMUP_SHARE * args.duration:g} s")
    meta = {"scenario": args.scenario, "seed": args.seed, "concurrency": args.concurrency,
            "runs": len(w.runs), "time_scale": args.time_scale, "warmup": warmup,
            "headers": args.headers}
    if args.headers == "none":
        meta["dialects"] = list(args.dialects)
    return report.build(w.calls, elapsed, args.windows, meta), w.calls, w.runs


def write_lines(path, items):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt") as f:
        for item in items:
            f.write(json.dumps(item) + "\n")


def main(argv=None):
    args = parse_args(argv)
    trace = [] if args.trace else None
    rep, calls, runs = replay(args, trace)
    print(report.format_text(rep), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rep, f, indent=2)
    if args.calls_out:
        write_lines(args.calls_out, calls)
    if args.runs_out:
        write_lines(args.runs_out, runs)
    if args.trace:
        write_lines(args.trace, trace)
    if rep["failed_requests"]:
        first = next(c for c in calls if not c["ok"])
        print(f"FAILED: {rep['failed_requests']} requests failed (first: {first['error']})",
              file=sys.stderr)
        return 1
    if args.assert_improvement is not None:
        short = report.improvement_shortfalls(rep, args.assert_improvement, args.assert_hints)
        if short:
            print(f"FAILED: after warm-up, error not {args.assert_improvement:g}x lower than "
                  f"static for: {', '.join(short)}", file=sys.stderr)
            return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
