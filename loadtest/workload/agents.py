"""Agent shapes and the seeded ground truth that augur's workload generator replays.

A run is planned in full before its first call, from an RNG seeded by (seed, run number): a list of
steps, each one LLM call or several made in parallel, every call carrying what the mock upstream
should produce (output tokens, latency) and how long the agent waits before sending it (think or
tool time: the real inter-arrival). Medians depend on the function path and call index, with
lognormal noise, so there is something to learn that a static default cannot know.
"""

import math
import random
from dataclasses import dataclass, field

# Lognormal spreads (sigma of log): output lengths, think/tool times, upstream latency.
TOKEN_SIGMA = 0.2
THINK_SIGMA = 0.3
LATENCY_SIGMA = 0.2

# Output-length medians per function (the last name of the path) for its first call. Agent calls
# grow with the call index (the prompt carries more history); final answers are longer.
TOKENS = {
    "react_agent": 70,
    "planner": 240,
    "orchestrator": 130,
    "research_agent": 90,
    "writer_agent": 420,
    "web_search": 45,
    "summarize": 210,
}
FINAL_ANSWER_FACTOR = 2.0
INDEX_GROWTH = 0.15  # agent call k: median × (1 + INDEX_GROWTH·(k−1))
AGENTS = {"react_agent", "planner", "orchestrator", "research_agent", "writer_agent"}

# Time to first token and per-token decode time of the simulated model (ms).
TTFT_MS = {"planner": 60, "orchestrator": 50, "writer_agent": 50}
DEFAULT_TTFT_MS = 30
TPOT_MS = 1

# Tool time before the next LLM call (ms medians). web_search fetches results, then an LLM reads
# them (path .../web_search); calculator uses no LLM; summarize is an LLM call right away.
SEARCH_FETCH_MS = 180
CALCULATOR_MS = 40
DISPATCH_MS = 8  # framework overhead between a call's end and the next call in the same function
RETURN_MS = 4  # a tool handing its result back to the agent

# The `drift` scenario multiplies output lengths of these functions once it starts.
DRIFT_FUNCTIONS = ("web_search", "summarize")
# The `novel` scenario renames functions to names augur has never seen but similar to known ones.
NOVEL_NAMES = {
    "web_search": "web_search_tool",
    "summarize": "summarize_docs",
    "research_agent": "research_agent_v2",
}

SHAPES = ("react", "research", "planner", "nested")
SHAPE_WEIGHTS = (0.35, 0.15, 0.25, 0.25)


@dataclass
class Call:
    """One planned LLM call: what to send and what the mock should do."""

    path: tuple  # function names, root first
    index: int  # the 1-based index augur should assign within (run, path)
    tokens: int  # x-mock-tokens: the true output length
    latency_ms: int  # upstream time before headers (non-streaming: the whole answer)
    first_token_ms: int  # streaming: headers -> first token
    chunk_ms: int  # streaming: between tokens
    stream: bool
    before_ms: float  # wait between the previous step's end and sending this call (unscaled)
    # Headerless mode (replay.py --headers none) only; planning them draws nothing from the RNG,
    # so the calls above are the same either way. `conv`: the conversation this call continues
    # (an agent holds one per run, its path; an LLM tool call is a conversation of its own,
    # path#index). `tool_calls`: what the answer to this call asks for, in order, as
    # (tool name, child conversation or None for a tool without an LLM); the children start with
    # the task text the call's arguments carry.
    conv: str = ""
    tool_calls: list = field(default_factory=list)


@dataclass
class Plan:
    """A run planned up front; steps run in order, the calls of one step in parallel."""

    number: int
    shape: str
    steps: list = field(default_factory=list)
    drifted: bool = False
    novel: bool = False

    def calls(self):
        return [c for step in self.steps for c in step]


@dataclass
class Scenario:
    """Which variations apply to a run: decided from when it starts."""

    drift: bool = False  # output lengths of DRIFT_FUNCTIONS × drift_factor
    drift_factor: float = 4.0
    novel: bool = False  # this run uses NOVEL_NAMES
    noise: float = 1.0  # multiplies every lognormal sigma (0 = no noise)


def lognormal(rng, median, sigma):
    return median * math.exp(rng.gauss(0.0, sigma))


def token_median(path, index, final=False):
    """The true median output length of call `index` on `path` (before any drift)."""
    name = canonical(path[-1])
    base = TOKENS[name]
    if name in AGENTS:
        base *= 1.0 + INDEX_GROWTH * (index - 1)
        if final:
            base *= FINAL_ANSWER_FACTOR
    return base


def canonical(name):
    """A renamed (novel) function's original name: its ground truth is the original's."""
    for old, new in NOVEL_NAMES.items():
        if name == new:
            return old
    return name


class Planner:
    """Builds one run's plan; `rng` is that run's own generator, so a run number and a seed
    always give the same plan whichever thread executes it."""

    def __init__(self, rng, scenario, stream_share):
        self.rng = rng
        self.scenario = scenario
        self.stream_share = stream_share
        self.counts = {}  # path -> calls planned so far (the call index augur will assign)
        self.steps = []
        self.pending_ms = 0.0  # wait accumulated since the last step
        self.latest = {}  # path -> the last call planned on it (the parent of its tool calls)

    def name(self, n):
        return NOVEL_NAMES.get(n, n) if self.scenario.novel else n

    def noisy(self, median, sigma):
        return lognormal(self.rng, median, sigma * self.scenario.noise)

    def wait(self, median_ms):
        self.pending_ms += self.noisy(median_ms, THINK_SIGMA)

    def call(self, path, final=False, before_ms=None):
        """Plans one call on `path` (a tuple of names); returns it without adding a step."""
        path = tuple(self.name(n) for n in path)
        index = self.counts.get(path, 0) + 1
        self.counts[path] = index
        median = token_median(path, index, final)
        if self.scenario.drift and canonical(path[-1]) in DRIFT_FUNCTIONS:
            median *= self.scenario.drift_factor
        tokens = max(1, round(self.noisy(median, TOKEN_SIGMA)))
        ttft = self.noisy(TTFT_MS.get(canonical(path[-1]), DEFAULT_TTFT_MS), LATENCY_SIGMA)
        stream = self.rng.random() < self.stream_share
        conv = "/".join(path)
        if canonical(path[-1]) not in AGENTS:
            conv += f"#{index}"
        c = Call(path=path, index=index, tokens=tokens,
                 latency_ms=round(ttft) if stream else round(ttft + TPOT_MS * tokens),
                 first_token_ms=0, chunk_ms=TPOT_MS if stream else 0, stream=stream,
                 before_ms=self.pending_ms if before_ms is None else before_ms, conv=conv)
        self.latest[path] = c
        return c

    def step(self, path, final=False):
        """Plans one sequential call after the wait accumulated so far."""
        c = self.call(path, final)
        self.steps.append([c])
        self.pending_ms = 0.0
        return c

    def parallel(self, calls):
        self.steps.append(calls)
        self.pending_ms = 0.0

    def tool(self, agent_path, tool):
        """A tool an agent invokes between its LLM calls; some tools call an LLM themselves.
        The agent's last call asks for it (headerless mode answers that call with the tool call)."""
        parent = self.latest[tuple(self.name(n) for n in agent_path)]
        if tool == "calculator":
            self.wait(CALCULATOR_MS)
            parent.tool_calls.append(("calculator", None))
        elif tool == "web_search":
            self.wait(SEARCH_FETCH_MS)
            c = self.step(agent_path + ("web_search",))
            parent.tool_calls.append((c.path[-1], c.conv))
            self.wait(RETURN_MS)
        elif tool == "summarize":
            self.wait(DISPATCH_MS)
            c = self.step(agent_path + ("summarize",))
            parent.tool_calls.append((c.path[-1], c.conv))
            self.wait(RETURN_MS)

    def react_loop(self, agent_path, iterations, tools):
        """ReAct: think (LLM), act (tool), … ; the last iteration answers without a tool."""
        for i in range(1, iterations + 1):
            self.wait(DISPATCH_MS)
            self.step(agent_path, final=(i == iterations))
            if i < iterations:
                tool = tools[(i - 1) % len(tools)]
                if self.rng.random() < 0.15:  # now and then the agent picks another tool
                    tool = self.rng.choice(("web_search", "calculator", "summarize"))
                self.tool(agent_path, tool)


def plan_react(p, workflow, iterations):
    p.react_loop((workflow, "react_agent"), iterations, ("web_search", "calculator", "summarize"))


def plan_planner(p):
    """A planner fans out parallel searches (each a fetch then an LLM read), then synthesises;
    sometimes it re-plans for a second round."""
    rounds = 2 if p.rng.random() < 0.2 else 1
    for r in range(1, rounds + 1):
        p.wait(DISPATCH_MS)
        planner = p.step(("planner_workflow", "planner"))
        width = p.rng.choices((2, 3, 4), (0.3, 0.5, 0.2))[0]
        branches = [p.call(("planner_workflow", "executor", "web_search"),
                           before_ms=p.pending_ms + p.noisy(SEARCH_FETCH_MS, THINK_SIGMA))
                    for _ in range(width)]
        # The plan's answer asks for the searches at once: parallel tool calls.
        planner.tool_calls.extend((b.path[-1], b.conv) for b in branches)
        p.parallel(branches)
        p.wait(RETURN_MS)
    p.wait(DISPATCH_MS)
    p.step(("planner_workflow", "planner"), final=True)


def plan_nested(p):
    """An orchestrator with two sub-agents: a researcher (ReAct over web_search) and a writer
    (draft, summarize, polish); paths three and four names deep."""
    root = ("orchestrator_workflow", "orchestrator")
    orchestrator = p.step(root)
    p.wait(DISPATCH_MS)
    p.react_loop(root + ("research_agent",), p.rng.choices((2, 3), (0.6, 0.4))[0],
                 ("web_search",))
    research = p.latest[tuple(p.name(n) for n in root + ("research_agent",))]
    p.wait(RETURN_MS)
    writer = root + ("writer_agent",)
    w = p.step(writer)
    # The orchestrator's first answer hands both sub-agents their tasks (agents as tools); the
    # framework runs them one after the other, as the plan does.
    orchestrator.tool_calls.extend([(research.path[-1], research.conv), (w.path[-1], w.conv)])
    p.tool(writer, "summarize")
    p.step(writer, final=True)
    p.wait(RETURN_MS)
    p.step(root, final=True)


def plan_run(seed, number, scenario, stream_share=0.3):
    """The plan of run `number` under `seed`: deterministic in (seed, number, scenario)."""
    rng = random.Random(f"augur-workload/{seed}/{number}")
    shape = rng.choices(SHAPES, SHAPE_WEIGHTS)[0]
    p = Planner(rng, scenario, stream_share)
    if shape == "react":
        plan_react(p, "react_workflow", rng.choices((3, 4), (0.7, 0.3))[0])
    elif shape == "research":
        plan_react(p, "research_workflow", rng.choices((6, 7, 8), (0.25, 0.5, 0.25))[0])
    elif shape == "planner":
        plan_planner(p)
    else:
        plan_nested(p)
    return Plan(number=number, shape=shape, steps=p.steps, drifted=scenario.drift,
                novel=scenario.novel)
