"""Headerless mode (replay.py --headers none): the request bodies real agent frameworks send, with no
run or session header at all, so augur has to infer the run from the conversations themselves.

Every function that calls an LLM is an agent with its own system prompt (per-run bits a real
template has, both words with digits: today's date, a customer account id) and tools list. An agent holds one
conversation per run, grown as a framework grows it: the next call = the previous call's messages
+ the assistant message the mock returned (parsed from its answer in that dialect, streamed or
not) + one tool result per tool call. An LLM tool (web_search's read, summarize) or a sub-agent is
a new conversation whose first user message is the task text its parent's tool call carried in
`{"input": ...}` (the OpenAI Agents SDK's agent-as-tool). The mock is told which tool calls to
answer with through x-mock-tool-calls. Three dialects: chat completions, Responses, Messages.
Standard library only.
"""

import datetime
import json
import random

import agents

DIALECTS = ("chat", "responses", "messages")
PATHS = {"chat": "/v1/chat/completions", "responses": "/v1/responses", "messages": "/v1/messages"}

# What each function is; the system prompt starts with it.
ROLES = {
    "react_agent": "a ReAct assistant: think, call one tool, read its result, repeat, then answer",
    "research_agent": "a research sub-agent: search the web until the question is answered",
    "planner": "a planner: split the question into searches run in parallel, then synthesise",
    "orchestrator": "an orchestrator: hand research and writing to your sub-agents, then reply",
    "writer_agent": "a writer sub-agent: draft, summarize the sources, polish",
    "web_search": "a search result reader: extract what answers the query from the pages",
    "summarize": "a summarizer: condense the given text",
}
# The tools each function's LLM is offered (canonical names; a novel run renames them).
TOOLS = {
    "react_agent": ("web_search", "calculator", "summarize"),
    "research_agent": ("web_search", "calculator", "summarize"),
    "planner": ("web_search",),
    "orchestrator": ("research_agent", "writer_agent"),
    "writer_agent": ("summarize",),
    "web_search": (),
    "summarize": (),
}
TOOL_DESCRIPTIONS = {
    "web_search": "Search the web and read the results.",
    "calculator": "Evaluate an arithmetic expression.",
    "summarize": "Summarize a text.",
    "research_agent": "A sub-agent that researches a question.",
    "writer_agent": "A sub-agent that writes a report.",
}
TOPICS = ("KV cache reuse", "speculative decoding", "prefix routing", "batch scheduling",
          "tail latency", "GPU memory pressure", "agent observability", "token budgets",
          "retrieval quality", "prompt caching", "queue fairness", "model distillation")


def tool_schema(dialect, name):
    """A function tool in the dialect's shape; sub-agents and LLM tools take {"input": str}."""
    canon = agents.canonical(name)
    if canon == "calculator":
        params = {"type": "object", "properties": {"expression": {"type": "string"}},
                  "required": ["expression"]}
    else:
        params = {"type": "object", "properties": {"input": {"type": "string"}},
                  "required": ["input"]}
    desc = TOOL_DESCRIPTIONS[canon]
    if dialect == "chat":
        return {"type": "function",
                "function": {"name": name, "description": desc, "parameters": params}}
    if dialect == "responses":
        return {"type": "function", "name": name, "description": desc, "parameters": params}
    return {"name": name, "description": desc, "input_schema": params}


class Answer:
    """What the mock answered, parsed: the assistant turn to append to the history (a chat
    message, Responses output items, or a Messages assistant message), its text, its tool calls
    as (id, name, arguments text), and usage's output tokens."""

    def __init__(self, assistant, text, tool_calls, tokens):
        self.assistant = assistant
        self.text = text
        self.tool_calls = tool_calls
        self.tokens = tokens


def sse_data(data):
    """The JSON payloads of an SSE body, in order (data: lines; [DONE] skipped)."""
    out = []
    for line in data.split(b"\n"):
        if line.startswith(b"data:"):
            payload = line[5:].strip()
            if payload and payload != b"[DONE]":
                out.append(json.loads(payload))
    return out


def parse_chat(data, stream):
    if not stream:
        body = json.loads(data)
        msg = body["choices"][0]["message"]
        calls = [(t["id"], t["function"]["name"], t["function"]["arguments"])
                 for t in msg.get("tool_calls") or []]
        return Answer(msg, msg.get("content") or "", calls,
                      int(body["usage"]["completion_tokens"]))
    text, calls, tokens = [], {}, None
    for event in sse_data(data):
        if "error" in event:
            raise ValueError(f"stream error: {event['error']}")
        if event.get("usage"):
            tokens = int(event["usage"]["completion_tokens"])
        for choice in event.get("choices") or []:
            delta = choice.get("delta") or {}
            if delta.get("content"):
                text.append(delta["content"])
            for t in delta.get("tool_calls") or []:
                c = calls.setdefault(t["index"], {"id": None, "name": None, "args": []})
                c["id"] = t.get("id") or c["id"]
                fn = t.get("function") or {}
                c["name"] = fn.get("name") or c["name"]
                c["args"].append(fn.get("arguments") or "")
    if tokens is None:
        raise ValueError("stream without a usage chunk")
    tool_calls = [(c["id"], c["name"], "".join(c["args"])) for _, c in sorted(calls.items())]
    if tool_calls:
        msg = {"role": "assistant", "content": None,
               "tool_calls": [{"id": i, "type": "function",
                               "function": {"name": n, "arguments": a}}
                              for i, n, a in tool_calls]}
    else:
        msg = {"role": "assistant", "content": "".join(text)}
    return Answer(msg, "".join(text), tool_calls, tokens)


def _responses_answer(items, tokens):
    calls = [(i["call_id"], i["name"], i["arguments"]) for i in items
             if i["type"] == "function_call"]
    text = "".join(p.get("text", "") for i in items if i["type"] == "message"
                   for p in i["content"])
    return Answer(items, text, calls, tokens)


def parse_responses(data, stream):
    if not stream:
        body = json.loads(data)
        return _responses_answer(body["output"], int(body["usage"]["output_tokens"]))
    items, tokens = {}, None
    for event in sse_data(data):
        kind = event.get("type")
        if kind == "error":
            raise ValueError(f"stream error: {event}")
        if kind == "response.output_item.done":
            items[event["output_index"]] = event["item"]
        elif kind in ("response.completed", "response.incomplete"):
            tokens = int(event["response"]["usage"]["output_tokens"])
    if tokens is None:
        raise ValueError("stream without response.completed")
    return _responses_answer([items[k] for k in sorted(items)], tokens)


def _messages_answer(blocks, tokens):
    calls = [(b["id"], b["name"], json.dumps(b["input"])) for b in blocks
             if b["type"] == "tool_use"]
    text = "".join(b["text"] for b in blocks if b["type"] == "text")
    return Answer({"role": "assistant", "content": blocks}, text, calls, tokens)


def parse_messages(data, stream):
    if not stream:
        body = json.loads(data)
        return _messages_answer(body["content"], int(body["usage"]["output_tokens"]))
    blocks, partial, tokens = {}, {}, None
    for event in sse_data(data):
        kind = event.get("type")
        if kind == "error":
            raise ValueError(f"stream error: {event}")
        if kind == "content_block_start":
            blocks[event["index"]] = dict(event["content_block"])
        elif kind == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                blocks[event["index"]]["text"] += delta["text"]
            elif delta["type"] == "input_json_delta":
                partial.setdefault(event["index"], []).append(delta["partial_json"])
        elif kind == "message_delta":
            tokens = int(event["usage"]["output_tokens"])
    if tokens is None:
        raise ValueError("stream without message_delta usage")
    for k, parts in partial.items():
        blocks[k]["input"] = json.loads("".join(parts))
    return _messages_answer([blocks[k] for k in sorted(blocks)], tokens)


PARSERS = {"chat": parse_chat, "responses": parse_responses, "messages": parse_messages}


def arguments_input(arguments):
    """The task text a tool call hands its child: its arguments' "input" (None when absent)."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return None
    return value.get("input") if isinstance(value, dict) else None


class Conversation:
    """One agent's conversation within a run: the fixed part of its body and the growing list."""

    def __init__(self, dialect, system, tools, first_text):
        self.dialect = dialect
        self.system = system
        self.tools = tools
        self.first_text = first_text
        # Chat carries the system prompt as the first message; the others in their own field.
        self.history = [{"role": "user", "content": first_text}]
        if dialect == "chat":
            self.history.insert(0, {"role": "system", "content": system})
        self.answer = None  # the last call's Answer (None before the first, or when it failed)
        self.calls = 0
        self.last_call = None  # the agents.Call sent last

    def extend(self, results):
        """Appends the last answer and one result per tool call it made (`results`: texts, in
        the order of the answer's tool calls), as the dialect's frameworks do."""
        a = self.answer
        if a is None:  # the previous call failed: what a framework retrying would resend
            a = Answer({"role": "assistant", "content": "(no answer)"}, "", [], 0)
            if self.dialect == "responses":
                a.assistant = [{"role": "assistant", "content": "(no answer)"}]
        if self.dialect == "responses":
            self.history.extend(a.assistant)
        else:
            self.history.append(a.assistant)
        if not a.tool_calls:
            self.history.append({"role": "user", "content": "Continue."})
            return
        pairs = list(zip(a.tool_calls, results))
        if self.dialect == "chat":
            self.history.extend({"role": "tool", "tool_call_id": cid, "content": r}
                                for (cid, _, _), r in pairs)
        elif self.dialect == "responses":
            self.history.extend({"type": "function_call_output", "call_id": cid, "output": r}
                                for (cid, _, _), r in pairs)
        else:
            self.history.append({"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": cid, "content": r}
                for (cid, _, _), r in pairs]})

    def body(self, stream):
        """The request body of the next call (a dict; the history is copied)."""
        body = {"model": "workload-model"}
        if self.dialect == "chat":
            body["messages"] = list(self.history)
        elif self.dialect == "responses":
            body["instructions"] = self.system
            body["input"] = list(self.history)
        else:
            body["max_tokens"] = 8192
            body["system"] = self.system
            body["messages"] = list(self.history)
        if self.tools:
            body["tools"] = self.tools
        if stream:
            body["stream"] = True
            if self.dialect == "chat":
                body["stream_options"] = {"include_usage": True}
        return body


class RunConversations:
    """The conversations of one run: which dialect, the per-run template bits, each agent's
    conversation, the task texts parents hand their children and the children's answers.
    Deterministic in (seed, run number) from its own RNG, so the plan's RNG is untouched."""

    def __init__(self, seed, number, run_id, novel, dialects):
        rng = random.Random(f"augur-workload-conversation/{seed}/{number}")
        self.dialect = rng.choice(dialects)
        self.run_id = run_id
        self.novel = novel
        day = datetime.date(2026, 1, 1) + datetime.timedelta(days=rng.randrange(365))
        self.date = day.isoformat()
        self.account = f"ACCT-{rng.randrange(10 ** 7):07d}"
        self.topic = rng.choice(TOPICS)
        self.rng = rng
        self.task = f"[{run_id}] Customer question about {self.topic}: what should we change?"
        self.convs = {}  # conv id -> Conversation
        self.child_task = {}  # child conv id -> the task text its parent's tool call carries
        self.answers = {}  # conv id -> its last answer's text (a tool result for its parent)
        self.children = 0
        self.last_specs = {}  # conv id -> the tool calls its last call asked the mock for

    def name(self, n):
        return agents.NOVEL_NAMES.get(n, n) if self.novel else n

    def system_prompt(self, path):
        canon = agents.canonical(path[-1])
        return (f"You are {ROLES[canon]}. Workflow: {path[0]}. Today is {self.date}. "
                f"You serve customer account {self.account}. "
                f"Be accurate and brief.")

    def conversation(self, call):
        """The call's conversation, started (system prompt, tools, first user message) when this
        is its first call."""
        conv = self.convs.get(call.conv)
        if conv is None:
            canon = agents.canonical(call.path[-1])
            tools = [tool_schema(self.dialect, self.name(t)) for t in TOOLS[canon]]
            first = self.child_task.get(call.conv, self.task)
            conv = Conversation(self.dialect, self.system_prompt(call.path), tools, first)
            self.convs[call.conv] = conv
        return conv

    def tool_calls_for(self, call):
        """x-mock-tool-calls for `call`: [{"name", "arguments"}], giving each child its task
        text (unique within the run, so no two conversations of one agent start alike)."""
        out = []
        for name, child in call.tool_calls:
            if child is None:
                a, b = self.rng.randrange(2, 99), self.rng.randrange(2, 99)
                args = {"expression": f"{a} * {b}"}
            else:
                self.children += 1
                text = (f"[{self.run_id} task {self.children}] {agents.canonical(name)}: "
                        f"{self.rng.choice(TOPICS)} for {self.topic}")
                self.child_task[child] = text
                args = {"input": text}
            out.append({"name": name, "arguments": json.dumps(args)})
        return out

    def results_for(self, call):
        """The tool results the next call of `call`'s conversation appends: each child's answer,
        a calculator's value."""
        out = []
        for (_, child), spec in zip(call.tool_calls, self.last_specs.get(call.conv, [])):
            if child is None:
                expr = json.loads(spec["arguments"])["expression"]
                a, b = (int(x) for x in expr.split(" * "))
                out.append(str(a * b))
            else:
                out.append(self.answers.get(child, "(no result)"))
        return out

    def prepare(self, call):
        """(path, body dict, x-mock-tool-calls list) of the next call `call`."""
        conv = self.conversation(call)
        if conv.calls > 0:
            conv.extend(self.results_for(conv.last_call))
        specs = self.tool_calls_for(call)
        self.last_specs[call.conv] = specs
        conv.last_call = call
        conv.calls += 1
        return PATHS[self.dialect], conv.body(call.stream), specs

    def finish(self, call, answer):
        """Records the answer to `call` (None when it failed)."""
        self.convs[call.conv].answer = answer
        if answer is not None:
            self.answers[call.conv] = answer.text


def answered_as_asked(answer, specs):
    """Whether the mock's answer made exactly the tool calls x-mock-tool-calls asked for."""
    got = [(n, json.loads(a)) for _, n, a in answer.tool_calls]
    return got == [(s["name"], json.loads(s["arguments"])) for s in specs]
