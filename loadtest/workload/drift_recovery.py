#!/usr/bin/env python3
"""How fast augur's hints recover after the `drift` scenario's change: reads the call records of a
replay (replay.py --calls-out FILE) and reports the mean output-token hint error per time window
for the calls on the drifted functions (web_search, summarize), the level before the drift, and
how long after the drift the error is back under a factor (default 1.2) of that level.

  python3 loadtest/workload/drift_recovery.py CALLS.jsonl --drift-at 120 [--window 10]

"back under" is reported twice: the first window below the threshold, and the first window from
which every later window stays below it ("settled"). Standard library only.
"""

import argparse
import json
import math
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import agents  # noqa: E402
import report  # noqa: E402


def load(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def drifted_function(call):
    return agents.canonical(call["path"].split("/")[-1]) in agents.DRIFT_FUNCTIONS


def osl_error(call):
    return report.hint_error(call["hints"]["osl"], call["actual"]["osl"])


def windows(calls, width, end):
    """Mean osl error of the calls started in each [k*width, (k+1)*width) up to `end`."""
    out = []
    for k in range(int(math.ceil(end / width))):
        errs = [osl_error(c) for c in calls if k * width <= c["start_s"] < (k + 1) * width]
        out.append((k * width, sum(errs) / len(errs) if errs else None, len(errs)))
    return out


def recovery(calls, drift_at, width, warmup, factor):
    scored = [c for c in calls if report.scored(c) and c["actual"]["osl"] is not None
              and drifted_function(c)]
    # Whole windows only: the replay stops starting runs at its end, so the last one is partial.
    end = max(c["start_s"] for c in scored) if scored else 0
    per_window = windows(scored, width, math.floor(end / width) * width)
    before = [osl_error(c) for c in scored if warmup <= c["start_s"] < drift_at]
    level = sum(before) / len(before) if before else None
    threshold = level * factor if level is not None else None
    after = [(t, e) for t, e, n in per_window if t >= drift_at and e is not None]
    first = next((t for t, e in after if e < threshold), None)
    settled = None
    for i, (t, _) in enumerate(after):
        if all(e < threshold for _, e in after[i:]):
            settled = t
            break
    peak = max((e for _, e in after), default=None)
    return {
        "pre_drift_error": level,
        "threshold": threshold,
        "peak_error": peak,
        "first_below_s": None if first is None else first + width - drift_at,
        "settled_below_s": None if settled is None else settled + width - drift_at,
        "windows": per_window,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("calls", help="replay.py --calls-out file")
    p.add_argument("--drift-at", type=float, required=True, help="seconds, as given to replay.py")
    p.add_argument("--window", type=float, default=10.0, help="seconds per window")
    p.add_argument("--warmup", type=float, default=20.0, help="seconds left out before the level")
    p.add_argument("--factor", type=float, default=1.2)
    p.add_argument("--json", metavar="FILE")
    args = p.parse_args(argv)
    r = recovery(load(args.calls), args.drift_at, args.window, args.warmup, args.factor)
    fmt = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    print(f"drifted functions' osl error: before the drift {fmt(r['pre_drift_error'])}, "
          f"threshold {fmt(r['threshold'])} ({args.factor:g}x), peak after {fmt(r['peak_error'])}")
    print(f"back under the threshold: first window ending {fmt(r['first_below_s'])} s after the "
          f"drift, for good from {fmt(r['settled_below_s'])} s")
    print("window_start_s error calls")
    for t, e, n in r["windows"]:
        print(f"{t:>8.0f} {fmt(e):>6} {n:>5}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(r, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
