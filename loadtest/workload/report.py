"""Scores a replayed workload: for every call, the hints augur injected against what then happened,
and against the static NAT defaults; per time window and overall after warm-up.

Error per hint = |log((predicted + 1) / (actual + 1))|; the +1 keeps "0 calls remaining" (a run's
last call) meaningful. Pure functions over the call records replay.py produces.
"""

import math
from collections import Counter, defaultdict

HINTS = ("remaining", "osl", "iat")
# NAT's static defaults: what an agent framework sends when it has no profile.
STATIC = {"remaining": 10, "osl": 512, "iat": 250}
HINT_HEADERS = {
    "remaining": "x-nat-remaining-llm-calls",
    "osl": "x-nat-expected-output-tokens",
    "iat": "x-nat-interarrival-ms",
    "sensitivity": "x-nat-latency-sensitivity",
    "call_index": "x-nat-call-index",
    "source": "x-nat-prediction-source",
}


def hint_error(predicted, actual):
    return abs(math.log((predicted + 1.0) / (actual + 1.0)))


def scored(call):
    """Whether a call counts towards errors: it succeeded and augur's hints were read."""
    return call["ok"] and call["hints_read"]


def mean(values):
    return sum(values) / len(values) if values else None


def ratio(static, augur):
    """static / augur: how many times lower augur's error is; None when undefined."""
    if static is None or augur is None or augur == 0:
        return None
    return static / augur


def summarize(calls, fits=None):
    """Counts, mean error per hint (augur, static, optionally in-sample fits by name), sources."""
    ok = [c for c in calls if scored(c)]
    out = {
        "calls": len(calls),
        "failed": sum(1 for c in calls if not c["ok"]),
        "hints_missing": sum(1 for c in calls if c["ok"] and not c["hints_read"]),
        "error": {},
        "sources": {},
    }
    for h in HINTS:
        pairs = [(c["hints"][h], c["actual"][h]) for c in ok if c["actual"][h] is not None]
        augur = mean([hint_error(p, a) for p, a in pairs])
        static = mean([hint_error(STATIC[h], a) for _, a in pairs])
        entry = {"n": len(pairs), "augur": augur, "static": static, "ratio": ratio(static, augur)}
        for name, fit in (fits or {}).items():
            entry[name] = mean([fit(c, h) for c in ok if c["actual"][h] is not None])
        out["error"][h] = entry
    sources = Counter(c["hints"]["source"] for c in ok)
    out["sources"] = {s: n / len(ok) for s, n in sorted(sources.items())} if ok else {}
    return out


def by_source(calls):
    """Mean augur error per hint for each prediction source (cf. augur_prediction_error_ratio)."""
    groups = defaultdict(list)
    for c in calls:
        if scored(c):
            groups[c["hints"]["source"]].append(c)
    out = {}
    for source, cs in sorted(groups.items()):
        out[source] = {"calls": len(cs)}
        for h in HINTS:
            errs = [hint_error(c["hints"][h], c["actual"][h]) for c in cs
                    if c["actual"][h] is not None]
            out[source][h] = mean(errs)
    return out


def quantile(values, q):
    """Linear-interpolated quantile of a non-empty list."""
    v = sorted(values)
    pos = q * (len(v) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(v) - 1)
    return v[lo] + (v[hi] - v[lo]) * (pos - lo)


def in_sample_fit(calls, nat_prefixes):
    """The error a trie fitted to these very calls would have had: per (path, call index) the
    mean remaining, p90 output tokens and mean inter-arrival, as augur's hints use them.
    nat_prefixes: as NAT's builder does, a call also feeds every prefix of its path, so an
    agent's index-k prediction mixes in its tools' index-k calls (what augur's trie can reach at
    best); without, each path keeps its own calls (the noise floor of the ground truth)."""
    groups = defaultdict(lambda: defaultdict(list))
    for c in calls:
        if not scored(c):
            continue
        names = c["path"].split("/")
        prefixes = range(1, len(names) + 1) if nat_prefixes else [len(names)]
        for k in prefixes:
            g = groups[("/".join(names[:k]), c["hints"]["call_index"])]
            for h in HINTS:
                if c["actual"][h] is not None:
                    g[h].append(c["actual"][h])
    predicted = {}
    for key, g in groups.items():
        predicted[key] = {
            "remaining": mean(g["remaining"]) if g["remaining"] else STATIC["remaining"],
            "osl": quantile(g["osl"], 0.9) if g["osl"] else STATIC["osl"],
            "iat": mean(g["iat"]) if g["iat"] else STATIC["iat"],
        }

    def fit(call, hint):
        p = predicted[(call["path"], call["hints"]["call_index"])][hint]
        return hint_error(round(p), call["actual"][hint])

    return fit


def attribution(calls):
    """Headerless replays: how augur's inferred runs (the x-prefix-id it sent upstream) match the
    true runs. A follow-up is every call of a true run but its first (calls of its sub-agents and
    LLM tools included: they belong to the top-level run); it is attributed when its observed run
    id equals the one observed on the true run's first call. A merged run is an observed id seen
    in more than one true run. Split by kind: calls continuing a conversation, and calls starting
    one (a sub-agent's or tool's first call, found through its parent's tool-call arguments)."""
    runs = defaultdict(list)
    for c in calls:
        runs[c["run"]].append(c)
    owners = defaultdict(set)
    kinds = {"continuation": [0, 0], "child_start": [0, 0]}
    for run, cs in runs.items():
        cs = sorted(cs, key=lambda c: c["start_s"])
        first = cs[0].get("observed_run")
        for c in cs:
            if c.get("observed_run") is not None:
                owners[c["observed_run"]].add(run)
        for c in cs[1:]:
            k = kinds["child_start" if c.get("conv_start") else "continuation"]
            k[0] += 1
            k[1] += first is not None and c.get("observed_run") == first
    follow = sum(k[0] for k in kinds.values())
    same = sum(k[1] for k in kinds.values())
    return {
        "true_runs": len(runs),
        "observed_runs": len(owners),
        "follow_ups": follow,
        "attributed": same,
        "share": same / follow if follow else None,
        "by_kind": {name: {"calls": n, "share": a / n if n else None}
                    for name, (n, a) in kinds.items()},
        "merged_runs": sum(1 for rs in owners.values() if len(rs) > 1),
        "calls_without_run_id": sum(1 for c in calls if c.get("observed_run") is None),
    }


def build(calls, elapsed_s, windows=10, meta=None):
    """The whole report as a JSON-able dict. Calls go to windows by start time; 'after_warmup'
    holds the calls of runs that started after the warm-up."""
    width = elapsed_s / windows if elapsed_s > 0 else 1.0
    buckets = [[] for _ in range(windows)]
    for c in calls:
        buckets[min(windows - 1, int(c["start_s"] / width))].append(c)
    report = dict(meta or {})
    report["elapsed_s"] = elapsed_s
    report["failed_requests"] = sum(1 for c in calls if not c["ok"])
    report["windows"] = []
    for i, b in enumerate(buckets):
        w = summarize(b)
        w["start_s"] = i * width
        w["end_s"] = (i + 1) * width
        report["windows"].append(w)
    warm = [c for c in calls if c["after_warmup"]]
    fits = {"trie_fit": in_sample_fit(warm, True), "path_fit": in_sample_fit(warm, False)}
    report["after_warmup"] = summarize(warm, fits)
    report["after_warmup"]["by_source"] = by_source(warm)
    # The scenario's runs apart from the rest: a novel name answered from its parent node is
    # labelled by the source of that node, so sources alone do not show novelty.
    for flag in ("novel", "drifted"):
        marked = [c for c in warm if c.get(flag)]
        if marked:
            report["after_warmup"][f"{flag}_runs"] = summarize(marked)
            report["after_warmup"][f"other_runs_than_{flag}"] = summarize(
                [c for c in warm if not c.get(flag)])
    report["all"] = summarize(calls)
    if any(c.get("headerless") for c in calls):
        report["attribution"] = attribution(calls)
    return report


def improvement_shortfalls(report, factor, hints):
    """Hints whose after-warm-up error is not at least `factor` times lower than static's."""
    short = []
    for h in hints:
        e = report["after_warmup"]["error"][h]
        if e["n"] == 0 or e["ratio"] is None or e["ratio"] < factor:
            short.append(h)
    return short


def _fmt(x, digits=2):
    return "-" if x is None else f"{x:.{digits}f}"


def _sources(shares):
    return " ".join(f"{s} {round(100 * v)}%" for s, v in shares.items()) or "-"


def format_text(report):
    """Human-readable report: one line per window, then the after-warm-up summary."""
    known = [f"{k} {report[k]}" for k in ("scenario", "seed", "concurrency") if k in report]
    lines = [
        f"augur workload: {', '.join(known + [str(report.get('runs')) + ' runs'])}, "
        f"{report['all']['calls']} calls in {report['elapsed_s']:.1f} s, "
        f"{report['failed_requests']} failed, {report['all']['hints_missing']} without hints",
        "error per hint = |log((pred+1)/(actual+1))|, augur / static NAT defaults (static÷augur)",
        f"{'window':>13} {'calls':>6} {'fail':>4}  " +
        "  ".join(f"{h:>20}" for h in HINTS) + "  sources",
    ]
    for w in report["windows"]:
        cells = []
        for h in HINTS:
            e = w["error"][h]
            ratio_text = _fmt(e["ratio"], 1)
            cells.append(f"{_fmt(e['augur']):>5}/{_fmt(e['static']):>5} ({ratio_text:>5}x)")
        digits = 0 if w["end_s"] - w["start_s"] >= 5 else 1
        span = f"{w['start_s']:.{digits}f}-{w['end_s']:.{digits}f}s"
        lines.append(f"{span:>13} {w['calls']:>6} {w['failed']:>4}  " +
                     "  ".join(f"{c:>20}" for c in cells) + "  " + _sources(w["sources"]))
    a = report["after_warmup"]
    lines.append(f"after warm-up ({a['calls']} calls of runs started after "
                 f"{report.get('warmup', 'the recorded warm-up')}):")
    for h in HINTS:
        e = a["error"][h]
        lines.append(f"  {h:>9}: augur {_fmt(e['augur'], 3)}  static {_fmt(e['static'], 3)}  "
                     f"ratio {_fmt(e['ratio'], 2)}x  in-sample fits: "
                     f"trie {_fmt(e.get('trie_fit'), 3)} path {_fmt(e.get('path_fit'), 3)}"
                     f"  (n={e['n']})")
    lines.append(f"  sources: {_sources(a['sources'])}")
    for source, s in a["by_source"].items():
        errs = " ".join(f"{h} {_fmt(s[h], 3)}" for h in HINTS)
        lines.append(f"    {source:>9} ({s['calls']} calls): {errs}")
    if "attribution" in report:
        t = report["attribution"]
        pct = lambda x: _fmt(None if x is None else 100 * x, 1)  # noqa: E731
        kinds = ", ".join(f"{k.replace('_', ' ')} {pct(v['share'])}% of {v['calls']}"
                          for k, v in t["by_kind"].items())
        share = pct(t["share"])
        lines.append(f"run attribution (headerless): {share}% of {t['follow_ups']} follow-up "
                     f"calls on their true run's id ({kinds}); merged runs: "
                     f"{t['merged_runs']}; {t['observed_runs']} observed run ids for "
                     f"{t['true_runs']} true runs; {t['calls_without_run_id']} calls without "
                     f"x-prefix-id")
    for flag in ("novel", "drifted"):
        for key, label in ((f"{flag}_runs", f"{flag} runs"),
                           (f"other_runs_than_{flag}", "other runs")):
            if key in a:
                s = a[key]
                errs = " ".join(f"{h} {_fmt(s['error'][h]['augur'], 3)}/"
                                f"{_fmt(s['error'][h]['static'], 3)}" for h in HINTS)
                lines.append(f"  {label:>12} ({s['calls']} calls), augur/static: {errs}")
    return "\n".join(lines)


def main(argv=None):
    """Re-scores call records written by `replay.py --calls-out` (no augur needed)."""
    import argparse
    import json

    p = argparse.ArgumentParser(description="Re-score a replay's call records.")
    p.add_argument("calls", help="JSON Lines from replay.py --calls-out")
    p.add_argument("--windows", type=int, default=10)
    args = p.parse_args(argv)
    with open(args.calls) as f:
        calls = [json.loads(line) for line in f if line.strip()]
    elapsed = max((c["end_s"] for c in calls), default=0.0)
    meta = {"runs": len({c["run"] for c in calls})}
    print(format_text(build(calls, elapsed, args.windows, meta)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
