#!/usr/bin/env python3
"""Scheduling with augur's hints: a discrete-event model of one Dynamo-like worker.

The real Dynamo needs GPUs; this replays the agent runs of a trace that replay.py recorded against
a real augur (`--trace`) through a model of one worker: a queue in front of an engine that runs up
to B requests at once (continuous batching). Each run arrives at a seeded Poisson time and then
issues its calls as the workload generator does: a step's calls when the previous step's calls
have all completed plus the agent's think/tool time before each (parallel branches together). The
queue is ordered by policy; the same arrivals are replayed under every policy.

Engine: a request holds a slot for its prefill (prompt tokens × prefill time per token), then
decodes its true output tokens; with b requests in slots each decodes one token per
tpot × (1 + growth·(b − 1)). A request is admitted when a slot is free, the best queued one first.

Policies (lower heap key first; ties in arrival order):
  fcfs                 arrival order (also what static headers give: every request the same bump)
  latency_sensitivity  Dynamo's FCFS key: arrival − max(priority, 0) × bump, priority = augur's
                       x-nat-latency-sensitivity (1..5)
  remaining_work       the same key, priority = remaining_work_priority(augur's predicted
                       remaining calls, predicted osl), or x-dynamo-request-priority when the
                       trace has it
  mapping_oracle       the same key, the same mapping fed the true inputs: (true remaining calls
                       + 1) × this call's true output tokens (what perfect hints would give)
  oracle               the same key, priority from the run's TRUE remaining output tokens
  srw_predicted        shortest remaining work first, no FCFS bump: W = (remaining + 1) × osl
  srw_oracle           the same with the true W (this call's tokens + the later steps' tokens)
  srw_mapping_oracle   (not in the default set) the same with the mapping's W on true inputs
  wspt_remaining_work, wspt_oracle (not in the default set): Dynamo's WSPT key
                       (1 + priority) / prompt tokens

The bump defaults to 1 s per priority level: Dynamo's FCFS key is max(priority, 0) − arrival
in seconds (lib/kv-router/src/scheduling/policy.rs). Standard library only; deterministic for a
seed. `python3 schedule_sim.py --help`; figures and caveats in loadtest/README.md.
"""

import argparse
import gzip
import heapq
import json
import math
import random
import sys
from dataclasses import dataclass, field

# NAT's static defaults (report.py's STATIC): used when a call's hints were not read.
STATIC_REMAINING, STATIC_OSL, STATIC_SENSITIVITY = 10, 512, 1
INF = float("inf")
MIN_GAIN = 0.02  # the oracle's gain over FCFS below which "share of the oracle's gain" is not shown


def remaining_work_priority(remaining, osl):
    """augur's dynamo.priority: remaining_work mapping. W = (remaining + 1) × osl tokens this call
    and the rest of the run will generate; 10 below 256 tokens, one level less per doubling, at
    least 1 (from ~131k tokens)."""
    w = (max(0, remaining) + 1) * max(0, osl)
    return work_priority(w)


def work_priority(w):
    """The same mapping from a work figure W in tokens."""
    return max(1, 10 - math.floor(math.log2(1 + w / 256.0)))


@dataclass
class Engine:
    slots: int = 16  # B: requests decoding at once
    tpot_ms: float = 10.0  # per output token with one request running
    growth: float = 0.02  # per-token time grows by this share per extra running request
    prefill_ms_per_token: float = 0.1

    def tpot_s(self, running):
        return self.tpot_ms * (1.0 + self.growth * max(0, running - 1)) / 1000.0

    def prefill_s(self, prompt):
        return prompt * self.prefill_ms_per_token / 1000.0

    def full_batch_service_s(self, call):
        """Slot time of a call when every slot is busy: the unit of offered load."""
        return self.prefill_s(call.prompt) + call.tokens * self.tpot_s(self.slots)


@dataclass
class Call:
    tokens: int
    prompt: int
    before_s: float  # wait after the previous step completes (the run's arrival for step 0)
    w_pred: float  # (predicted remaining + 1) × predicted osl
    w_true: float  # this call's tokens + the later steps' tokens
    w_map: float = 0.0  # the mapping's own formula on true inputs: (true remaining + 1) × tokens
    prio: dict = field(default_factory=dict)  # priority source -> priority


@dataclass
class Run:
    name: str
    shape: str
    steps: list  # lists of Call


@dataclass
class Policy:
    name: str
    kind: str  # fcfs | bump | srw | wspt
    source: str = ""  # Call.prio key (bump, wspt) or "pred"/"true" (srw)
    oracle: str = ""  # the policy whose gain over fcfs this one is compared with

    def key(self, call, t, bump_s):
        if self.kind == "fcfs":
            return t
        if self.kind == "bump":
            return t - max(call.prio[self.source], 0) * bump_s
        if self.kind == "srw":
            return {"pred": call.w_pred, "true": call.w_true, "map": call.w_map}[self.source]
        if self.kind == "wspt":
            return -(1.0 + max(call.prio[self.source], 0)) / max(call.prompt, 1)
        raise ValueError(self.kind)


POLICIES = {
    "fcfs": Policy("fcfs", "fcfs"),
    "latency_sensitivity": Policy("latency_sensitivity", "bump", "sensitivity", "oracle"),
    "remaining_work": Policy("remaining_work", "bump", "remaining_work", "oracle"),
    "oracle": Policy("oracle", "bump", "oracle", "oracle"),
    "mapping_oracle": Policy("mapping_oracle", "bump", "mapping_oracle", "oracle"),
    "srw_predicted": Policy("srw_predicted", "srw", "pred", "srw_oracle"),
    "srw_oracle": Policy("srw_oracle", "srw", "true", "srw_oracle"),
    "srw_mapping_oracle": Policy("srw_mapping_oracle", "srw", "map", "srw_oracle"),
    "wspt_remaining_work": Policy("wspt_remaining_work", "wspt", "remaining_work", "wspt_oracle"),
    "wspt_oracle": Policy("wspt_oracle", "wspt", "oracle", "wspt_oracle"),
}
DEFAULT_POLICIES = ("fcfs", "latency_sensitivity", "remaining_work", "mapping_oracle", "oracle",
                    "srw_predicted", "srw_oracle")


# ---------------------------------------------------------------------------------------------
# Trace


def open_text(path):
    return gzip.open(path, "rt") if path.endswith(".gz") else open(path)


def load_trace(path, include_warmup=False):
    """Runs from a replay.py --trace file: (runs, info). Runs with a failed call are dropped;
    with include_warmup False so are runs started in the replay's warm-up (the trie was still
    being learned)."""
    by_run = {}
    with open_text(path) as f:
        for line in f:
            if line.strip():
                rec = json.loads(line)
                by_run.setdefault(rec["run"], []).append(rec)
    info = {"runs_in_trace": len(by_run), "calls_in_trace": sum(map(len, by_run.values())),
            "dropped_warmup": 0, "dropped_failed": 0, "hints_missing": 0,
            "dynamo_priority": 0, "calls": 0, "sources": {}}
    runs = []
    for name, recs in by_run.items():
        if not include_warmup and not recs[0]["after_warmup"]:
            info["dropped_warmup"] += 1
            continue
        if not all(r["ok"] for r in recs):
            info["dropped_failed"] += 1
            continue
        recs.sort(key=lambda r: r["call"])
        steps = [[] for _ in range(recs[0]["steps"])]
        for r in recs:
            steps[r["step"]].append(make_call(r, info))
        runs.append(Run(name=name, shape=recs[0]["shape"], steps=steps))
    runs.sort(key=lambda r: r.name)
    if not runs:
        raise SystemExit(f"{path}: no complete runs to replay")
    return runs, info


def make_call(r, info):
    h = r["hints"] if r.get("hints_read") else {}
    rem, osl, sens = h.get("remaining"), h.get("osl"), h.get("sensitivity")
    if rem is None or osl is None or sens is None:
        info["hints_missing"] += 1
        rem = STATIC_REMAINING if rem is None else rem
        osl = STATIC_OSL if osl is None else osl
        sens = STATIC_SENSITIVITY if sens is None else sens
    info["calls"] += 1
    src = h.get("source") or "none"
    info["sources"][src] = info["sources"].get(src, 0) + 1
    tokens = int(r["output_tokens"])
    prompt = int(r["prompt_tokens"] or 1)
    w_true = tokens + int(r["true_remaining_tokens"])
    w_map = (int(r["true_remaining_calls"]) + 1) * tokens
    dyn = h.get("dynamo_priority")
    if dyn is not None:
        info["dynamo_priority"] += 1
    prio = {"sensitivity": int(sens),
            "remaining_work": int(dyn) if dyn is not None else remaining_work_priority(rem, osl),
            "oracle": work_priority(w_true), "mapping_oracle": work_priority(w_map)}
    return Call(tokens=tokens, prompt=prompt, before_s=float(r["before_ms"]) / 1000.0,
                w_pred=(max(0, rem) + 1) * max(0, osl), w_true=w_true, w_map=w_map, prio=prio)


# ---------------------------------------------------------------------------------------------
# Simulation


def arrivals(runs, n, rate, seed):
    """n run arrivals: (time s, run) with Poisson gaps at `rate` runs/s; the trace's runs in a
    seeded shuffle, cycled. The same for every policy (common random numbers)."""
    rng = random.Random(f"augur-schedule-sim/{seed}")
    order = []
    while len(order) < n:
        cycle = list(runs)
        rng.shuffle(cycle)
        order.extend(cycle)
    t, out = 0.0, []
    for run in order[:n]:
        t += rng.expovariate(rate)
        out.append((t, run))
    return out


@dataclass
class Active:
    """One call in flight in the simulation."""

    call: Call
    run_i: int
    issued: float
    admitted: float = -1.0
    done: float = -1.0
    prefill_left: float = 0.0
    tokens_left: float = 0.0


class Sim:
    """One worker, one policy, one arrival sequence."""

    def __init__(self, engine, policy, bump_s, window):
        self.engine, self.policy, self.bump_s = engine, policy, bump_s
        self.w0, self.w1 = window  # measurement window for time averages (s)
        self.t = 0.0
        self.seq = 0
        self.issues = []  # heap (time, seq, run index, call)
        self.queue = []  # heap (key, issued, seq, Active)
        self.running = []
        self.calls = []  # every Active, for statistics
        self.queue_area = 0.0  # ∫ queue length dt over the window
        self.slot_area = 0.0  # ∫ running dt over the window
        self.total_slot_s = 0.0  # ∫ running dt over the whole simulation
        self.total_busy_s = 0.0  # time with at least one request running
        self.tokens_done = 0

    def schedule_step(self, run_i, step, t0):
        for call in step:
            self.seq += 1
            heapq.heappush(self.issues, (t0 + call.before_s, self.seq, run_i, call))

    def advance(self, t1):
        dt = t1 - self.t
        if dt < 0:
            raise AssertionError("time went backwards")
        b = len(self.running)
        lo, hi = max(self.t, self.w0), min(t1, self.w1)
        if hi > lo:
            self.queue_area += len(self.queue) * (hi - lo)
            self.slot_area += b * (hi - lo)
        self.total_slot_s += b * dt
        if b:
            self.total_busy_s += dt
            tpot = self.engine.tpot_s(b)
            for a in self.running:
                rest = dt
                if a.prefill_left > 0:
                    used = min(rest, a.prefill_left)
                    a.prefill_left -= used
                    rest -= used
                if rest > 0:
                    a.tokens_left -= rest / tpot
        self.t = t1

    def admit(self, a):
        a.admitted = self.t
        a.prefill_left = self.engine.prefill_s(a.call.prompt)
        a.tokens_left = float(a.call.tokens)
        self.running.append(a)

    def issue(self, run_i, call):
        a = Active(call=call, run_i=run_i, issued=self.t)
        self.calls.append(a)
        if len(self.running) < self.engine.slots and not self.queue:
            self.admit(a)
        else:
            self.seq += 1
            key = self.policy.key(call, self.t, self.bump_s)
            heapq.heappush(self.queue, (key, self.t, self.seq, a))

    def next_completion(self):
        """(time, Active) of the running request that finishes first, or (INF, None)."""
        if not self.running:
            return INF, None
        tpot = self.engine.tpot_s(len(self.running))
        best, who = INF, None
        for a in self.running:
            left = a.prefill_left + max(0.0, a.tokens_left) * tpot
            if left < best:
                best, who = left, a
        return self.t + best, who

    def run(self, arrivals_list):
        """Replays the runs; returns per-run (arrival index, first issue, last done, shape) and
        fills self.calls."""
        runs = [r for _, r in arrivals_list]
        step_of = [0] * len(runs)
        left_in_step = [0] * len(runs)
        first_issue = [INF] * len(runs)
        last_done = [0.0] * len(runs)
        for i, (t, run) in enumerate(arrivals_list):
            self.schedule_step(i, run.steps[0], t)
            left_in_step[i] = len(run.steps[0])
        while self.issues or self.running or self.queue:
            t_issue = self.issues[0][0] if self.issues else INF
            t_done, who = self.next_completion()
            if t_issue <= t_done:
                _, _, i, call = heapq.heappop(self.issues)
                self.advance(t_issue)
                first_issue[i] = min(first_issue[i], self.t)
                self.issue(i, call)
                continue
            self.advance(t_done)
            who.prefill_left, who.tokens_left = 0.0, 0.0
            finished = [a for a in self.running
                        if a is who or (a.prefill_left <= 0 and a.tokens_left <= 1e-9)]
            for a in finished:
                self.running.remove(a)
                a.done = self.t
                self.tokens_done += a.call.tokens
            while self.queue and len(self.running) < self.engine.slots:
                self.admit(heapq.heappop(self.queue)[3])
            for a in finished:
                i = a.run_i
                left_in_step[i] -= 1
                if left_in_step[i]:
                    continue
                step_of[i] += 1
                if step_of[i] < len(runs[i].steps):
                    nxt = runs[i].steps[step_of[i]]
                    left_in_step[i] = len(nxt)
                    self.schedule_step(i, nxt, self.t)
                else:
                    last_done[i] = self.t
        return [(i, first_issue[i], last_done[i], runs[i].shape) for i in range(len(runs))]


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values, q):
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    return s[max(0, math.ceil(q / 100.0 * len(s)) - 1)]


def mean(values):
    return sum(values) / len(values) if values else float("nan")


def ranks(values):
    """Average ranks (ties share theirs), 0-based."""
    order = sorted(range(len(values)), key=values.__getitem__)
    r = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2.0
        i = j + 1
    return r


def spearman(xs, ys):
    rx, ry = ranks(xs), ranks(ys)
    mx, my = mean(rx), mean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    vx = sum((a - mx) ** 2 for a in rx)
    vy = sum((b - my) ** 2 for b in ry)
    return cov / math.sqrt(vx * vy) if vx and vy else float("nan")


def offered_rate(runs, engine, load):
    """Runs/s that offer `load` × the engine's slot time at a full batch."""
    per_run = mean([sum(engine.full_batch_service_s(c) for step in r.steps for c in step)
                    for r in runs])
    return load * engine.slots / per_run, per_run


def simulate_level(runs, engine, policies, load, n_runs, seeds, bump_s, trim):
    """Every policy at one load level, pooled over seeds: {policy: metrics}."""
    rate, slot_s_per_run = offered_rate(runs, engine, load)
    pooled = {p: {"run": [], "call": [], "queue": [], "shape": {}, "qlen": [], "util": [],
                  "busy": [], "slot": [], "tokens": [], "seed_run_mean": []} for p in policies}
    lo, hi = int(trim * n_runs), n_runs - int(trim * n_runs)
    for seed in seeds:
        arr = arrivals(runs, n_runs, rate, seed)
        window = (arr[lo][0], arr[hi - 1][0])
        for name in policies:
            sim = Sim(engine, POLICIES[name], bump_s, window)
            m = pooled[name]
            measured = set()
            seed_runs = []
            for i, first, last, shape in sim.run(arr):
                if lo <= i < hi:
                    measured.add(i)
                    seed_runs.append(last - first)
                    m["shape"].setdefault(shape, []).append(last - first)
            m["run"].extend(seed_runs)
            m["seed_run_mean"].append(mean(seed_runs))
            for a in sim.calls:
                if a.run_i in measured:
                    m["call"].append(a.done - a.issued)
                    m["queue"].append(a.admitted - a.issued)
            span = window[1] - window[0]
            m["qlen"].append(sim.queue_area / span)
            m["util"].append(sim.slot_area / span / engine.slots)
            m["busy"].append(sim.total_busy_s)
            m["slot"].append(sim.total_slot_s)
            m["tokens"].append(sim.tokens_done)
    out = {}
    for name, m in pooled.items():
        out[name] = {
            "run_mean": mean(m["run"]), "run_p90": percentile(m["run"], 90),
            "call_mean": mean(m["call"]), "call_p90": percentile(m["call"], 90),
            "queue_mean": mean(m["queue"]), "queue_p90": percentile(m["queue"], 90),
            "queue_len": mean(m["qlen"]), "utilisation": mean(m["util"]),
            "shape_mean": {s: mean(v) for s, v in sorted(m["shape"].items())},
            "runs": len(m["run"]), "calls": len(m["call"]),
            "busy_s": m["busy"], "slot_s": m["slot"], "tokens": m["tokens"],
            "seed_run_mean": m["seed_run_mean"],
        }
    fcfs = out["fcfs"]
    for name, r in out.items():
        # Paired by seed (the same arrivals): the spread of the gain over FCFS across seeds.
        deltas = [p - f for p, f in zip(r["seed_run_mean"], fcfs["seed_run_mean"])]
        r["delta_run_mean"] = r["run_mean"] - fcfs["run_mean"]
        r["delta_run_mean_range"] = (min(deltas), max(deltas))
        ref = POLICIES[name].oracle
        for metric in ("run_mean", "run_p90"):
            r[f"gain_{metric}"] = None
            if ref and ref in out:
                base, best = fcfs[metric], out[ref][metric]
                # A share of a gain the oracle does not have (< MIN_GAIN of FCFS) means nothing.
                if base - best >= MIN_GAIN * base:
                    r[f"gain_{metric}"] = (base - r[metric]) / (base - best)
    return {"load": load, "rate_runs_s": rate, "slot_s_per_run": slot_s_per_run,
            "policies": out}


# ---------------------------------------------------------------------------------------------
# Output

DESCRIPTIONS = {
    "fcfs": "arrival order (= static headers)",
    "latency_sensitivity": "FCFS bump, priority = x-nat-latency-sensitivity",
    "remaining_work": "FCFS bump, priority from augur's remaining × osl",
    "oracle": "FCFS bump, priority from the true remaining work",
    "mapping_oracle": "FCFS bump, the mapping on true remaining calls and osl",
    "srw_mapping_oracle": "shortest (true remaining+1)×true osl first",
    "srw_predicted": "shortest predicted (remaining+1)×osl first",
    "srw_oracle": "shortest true remaining work first",
    "wspt_remaining_work": "Dynamo WSPT, (1+priority)/prompt, augur's priority",
    "wspt_oracle": "Dynamo WSPT, (1+priority)/prompt, true priority",
}


def pct(x):
    return "–" if x is None else f"{100 * x:.0f}%"


def markdown(level, engine):
    lines = [
        f"Offered load {level['load']:.2f} ({level['rate_runs_s']:.3f} runs/s; "
        f"{level['slot_s_per_run']:.2f} slot-s per run at a full batch of {engine.slots}):",
        "",
        "| policy | run time mean / p90 (s) | Δ run mean vs fcfs (s, seed range) "
        "| call latency mean / p90 (s) | queueing mean (s) | queue length | utilisation "
        "| share of the oracle's gain: run mean / p90 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, r in level["policies"].items():
        d, (dlo, dhi) = r["delta_run_mean"], r["delta_run_mean_range"]
        delta = "–" if name == "fcfs" else f"{d:+.2f} ({dlo:+.2f}…{dhi:+.2f})"
        lines.append(
            f"| `{name}` | {r['run_mean']:.2f} / {r['run_p90']:.2f} | {delta} | "
            f"{r['call_mean']:.3f} / {r['call_p90']:.3f} | {r['queue_mean']:.3f} | "
            f"{r['queue_len']:.2f} | {100 * r['utilisation']:.1f}% | "
            f"{pct(r['gain_run_mean'])} / {pct(r['gain_run_p90'])} |")
    shapes = sorted({s for r in level["policies"].values() for s in r["shape_mean"]})
    lines += ["", "Mean run time by shape (s):", "",
              "| policy | " + " | ".join(shapes) + " |",
              "|---|" + "---|" * len(shapes)]
    for name, r in level["policies"].items():
        lines.append(f"| `{name}` | " + " | ".join(f"{r['shape_mean'].get(s, float('nan')):.2f}"
                                                  for s in shapes) + " |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description="Replay a replay.py --trace through a model of one Dynamo-like worker under "
                    "several queue policies.")
    p.add_argument("trace", help="JSON Lines from replay.py --trace (.gz read as gzip)")
    p.add_argument("--loads", default="0.8,0.95",
                   help="offered loads: share of the engine's slot time at a full batch")
    p.add_argument("--runs", type=int, default=3000, help="run arrivals per seed and load")
    p.add_argument("--seeds", default="1,2,3,4,5", help="arrival seeds; results are pooled")
    p.add_argument("--policies", default=",".join(DEFAULT_POLICIES),
                   help=f"comma-separated, from: {', '.join(POLICIES)}")
    p.add_argument("--slots", type=int, default=Engine.slots, help="B: concurrent requests")
    p.add_argument("--tpot-ms", type=float, default=Engine.tpot_ms,
                   help="per-token decode time with one request running")
    p.add_argument("--tpot-growth", type=float, default=Engine.growth,
                   help="per-token time × (1 + G·(running − 1))")
    p.add_argument("--prefill-ms-per-token", type=float, default=Engine.prefill_ms_per_token)
    p.add_argument("--bump-s", type=float, default=1.0,
                   help="FCFS arrival-time bump per priority level (Dynamo: 1 s, its "
                        "priority_jump is in seconds)")
    p.add_argument("--trim", type=float, default=0.1,
                   help="share of arrivals left out of statistics at each end (fill, drain)")
    p.add_argument("--include-warmup", action="store_true",
                   help="also replay runs the replay started during its warm-up")
    p.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    args = p.parse_args(argv)
    args.loads = [float(x) for x in args.loads.split(",") if x]
    args.seeds = [int(x) for x in args.seeds.split(",") if x]
    args.policies = [x for x in args.policies.split(",") if x]
    for name in args.policies:
        if name not in POLICIES:
            p.error(f"unknown policy '{name}'")
    if "fcfs" not in args.policies:
        args.policies.insert(0, "fcfs")
    if not args.loads or not args.seeds or args.runs < 10 or not 0 <= args.trim < 0.5:
        p.error("need loads, seeds, --runs ≥ 10 and 0 ≤ --trim < 0.5")
    return args


def main(argv=None):
    args = parse_args(argv)
    runs, info = load_trace(args.trace, args.include_warmup)
    engine = Engine(slots=args.slots, tpot_ms=args.tpot_ms, growth=args.tpot_growth,
                    prefill_ms_per_token=args.prefill_ms_per_token)
    calls = [c for r in runs for s in r.steps for c in s]
    src = ("x-dynamo-request-priority as augur injected it"
           if info["dynamo_priority"] == info["calls"] else
           f"x-dynamo-request-priority on {info['dynamo_priority']} of {info['calls']} calls, "
           "the rest computed from augur's remaining and osl"
           if info["dynamo_priority"] else
           "computed from augur's x-nat-remaining-llm-calls and x-nat-expected-output-tokens "
           "(the trace has no x-dynamo-request-priority)")
    print(f"trace {args.trace}: {info['runs_in_trace']} runs, {info['calls_in_trace']} calls; "
          f"replaying {len(runs)} runs ({len(calls)} calls; dropped: {info['dropped_warmup']} "
          f"warm-up, {info['dropped_failed']} with a failed call); hints missing on "
          f"{info['hints_missing']} calls; sources {info['sources']}")
    print(f"remaining_work priority: {src}")
    hist = {}
    for c in calls:
        for k in ("sensitivity", "remaining_work", "mapping_oracle", "oracle"):
            hist.setdefault(k, {}).setdefault(c.prio[k], 0)
            hist[k][c.prio[k]] += 1
    print("priority histograms: " + "; ".join(
        f"{k} {dict(sorted(v.items()))}" for k, v in hist.items()))
    for k in ("remaining_work", "mapping_oracle"):
        same = sum(c.prio[k] == c.prio["oracle"] for c in calls) / len(calls)
        near = sum(abs(c.prio[k] - c.prio["oracle"]) <= 1 for c in calls) / len(calls)
        w = [c.w_pred if k == "remaining_work" else c.w_map for c in calls]
        rho = spearman(w, [c.w_true for c in calls])
        print(f"{k} priority = oracle's on {100 * same:.0f}% of calls, within one level on "
              f"{100 * near:.0f}%; rank correlation of its W with the true W {rho:.2f}")
    print(f"engine: {engine.slots} slots, {engine.tpot_ms:g} ms/token × (1 + {engine.growth:g}·"
          f"(running−1)), prefill {engine.prefill_ms_per_token:g} ms/prompt token; bump "
          f"{args.bump_s:g} s per priority level; {args.runs} runs per seed, seeds "
          f"{args.seeds}, statistics on the middle {100 * (1 - 2 * args.trim):.0f}% of arrivals")
    results = []
    for load in args.loads:
        level = simulate_level(runs, engine, args.policies, load, args.runs, args.seeds,
                               args.bump_s, args.trim)
        results.append(level)
        print()
        print(markdown(level, engine))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"trace": args.trace, "info": info, "engine": engine.__dict__,
                       "bump_s": args.bump_s, "runs": args.runs, "seeds": args.seeds,
                       "levels": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
