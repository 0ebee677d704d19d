// Builders for the mock upstream's OpenAI-shaped output (see responses.hpp). Field order follows
// OpenAI's own responses so captured bodies look familiar.
#include "loadtest/mock/responses.hpp"

#include <array>
#include <charconv>
#include <utility>
#include <vector>

#include "common/json_string.hpp"

namespace augur::mock {
namespace {

// A fixed vocabulary; token words are chosen by hash so output is deterministic per seed.
constexpr std::array<std::string_view, 64> kWords = {
    "the",   "agent",  "calls",  "a",       "tool",   "and",    "reads",   "result",
    "then",  "plans",  "next",   "step",    "with",   "care",   "for",     "latency",
    "cache", "prefix", "token",  "router",  "worker", "decode", "prefill", "batch",
    "queue", "stream", "chunk",  "answer",  "reason", "search", "query",   "index",
    "model", "output", "input",  "context", "window", "memory", "state",   "update",
    "value", "signal", "path",   "node",    "tree",   "branch", "leaf",    "run",
    "call",  "time",   "fast",   "slow",    "short",  "long",   "first",   "last",
    "mock",  "server", "client", "request", "reply",  "header", "body",    "done"};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

void append_head(std::string& out, const CompletionInfo& info, std::string_view object) {
  out += R"({"id":")";
  out += info.chat ? "chatcmpl-mock-" : "cmpl-mock-";
  append_int(out, static_cast<std::int64_t>(info.id));
  out += R"(","object":")";
  out += object;
  out += R"(","created":)";
  append_int(out, info.created);
  out += R"(,"model":")";
  out += info.model;
  out += '"';
}

void append_usage(std::string& out, const CompletionInfo& info) {
  out += R"("usage":{"prompt_tokens":)";
  append_int(out, info.prompt_tokens);
  out += R"(,"completion_tokens":)";
  append_int(out, info.completion_tokens);
  out += R"(,"total_tokens":)";
  append_int(out, info.prompt_tokens + info.completion_tokens);
  out += '}';
}

// "<prefix><response id>-<call index>": ids of the calls x-mock-tool-calls asks for.
void append_call_id(std::string& out, std::string_view prefix, std::uint64_t id, std::size_t i) {
  out += prefix;
  append_int(out, static_cast<std::int64_t>(id));
  out += '-';
  append_int(out, static_cast<std::int64_t>(i));
}

void append_event_tail(std::string& out, const CompletionInfo& info) {
  out += ']';
  if (info.usage_null_in_chunks) out += R"(,"usage":null)";
  out += "}\n\n";
}

}  // namespace

void append_int(std::string& out, std::int64_t value) {
  char buf[24];
  const auto res = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, res.ptr);
}

void append_token(std::string& out, std::uint64_t seed, std::int64_t index) {
  const std::uint64_t h = splitmix64(seed * 0x100000001b3ULL + static_cast<std::uint64_t>(index));
  out += ' ';
  out += kWords[h % kWords.size()];
}

void append_completion_open(std::string& out, const CompletionInfo& info) {
  append_head(out, info, info.chat ? "chat.completion" : "text_completion");
  if (info.chat && info.tool_calls != nullptr) {
    out += R"(,"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[)";
    for (std::size_t i = 0; i < info.tool_calls->size(); ++i) {
      const ToolCallSpec& call = (*info.tool_calls)[i];
      if (i > 0) out += ',';
      out += R"({"id":")";
      append_call_id(out, "call_mock-", info.id, i);
      out += R"(","type":"function","function":{"name":")";
      out += call.name_json;
      out += R"(","arguments":")";
      append_json_chars(out, call.arguments);
      out += R"("}})";
    }
    out += R"(]},"logprobs":null,"finish_reason":")";
    out += info.finish_reason;
    out += R"("}],)";
    append_usage(out, info);
    return;
  }
  out += info.chat ? R"(,"choices":[{"index":0,"message":{"role":"assistant","content":")"
                   : R"(,"choices":[{"index":0,"text":")";
  for (std::int64_t i = 0; i < info.completion_tokens; ++i) append_token(out, info.seed, i);
  out += info.chat ? R"("},"logprobs":null,"finish_reason":")"
                   : R"(","logprobs":null,"finish_reason":")";
  out += info.finish_reason;
  out += R"("}],)";
  append_usage(out, info);
}

void append_padding_and_close(std::string& out, std::size_t size) {
  constexpr std::string_view kOpen = R"(,"padding":")";
  const std::size_t fixed = out.size() + kOpen.size() + 2;  // closing quote and brace
  if (size > out.size() + 1) {
    out += kOpen;
    if (size > fixed) out.append(size - fixed, 'x');
    out += '"';
  }
  out += '}';
}

void append_token_event(std::string& out, const CompletionInfo& info, std::int64_t index) {
  out += "data: ";
  append_head(out, info, info.chat ? "chat.completion.chunk" : "text_completion");
  if (info.chat) {
    out += index == 0 ? R"(,"choices":[{"index":0,"delta":{"role":"assistant","content":")"
                      : R"(,"choices":[{"index":0,"delta":{"content":")";
    append_token(out, info.seed, index);
    out += R"("},"logprobs":null,"finish_reason":null})";
  } else {
    out += R"(,"choices":[{"index":0,"text":")";
    append_token(out, info.seed, index);
    out += R"(","logprobs":null,"finish_reason":null})";
  }
  append_event_tail(out, info);
}

void append_finish_event(std::string& out, const CompletionInfo& info) {
  out += "data: ";
  append_head(out, info, info.chat ? "chat.completion.chunk" : "text_completion");
  out += info.chat ? R"(,"choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":")"
                   : R"(,"choices":[{"index":0,"text":"","logprobs":null,"finish_reason":")";
  out += info.finish_reason;
  out += R"("})";
  append_event_tail(out, info);
}

void append_usage_event(std::string& out, const CompletionInfo& info) {
  out += "data: ";
  append_head(out, info, info.chat ? "chat.completion.chunk" : "text_completion");
  out += R"(,"choices":[],)";
  append_usage(out, info);
  out += "}\n\n";
}

namespace {

// Writes "event: <type>\ndata: {"type":"<type>"" and, for Responses, the sequence_number; the
// caller adds the rest of the object and close_event().
void open_event(std::string& out, std::string_view type, const std::int64_t* sequence) {
  out += "event: ";
  out += type;
  out += "\ndata: {\"type\":\"";
  out += type;
  out += '"';
  if (sequence != nullptr) {
    out += R"(,"sequence_number":)";
    append_int(out, *sequence);
  }
}

void close_event(std::string& out) { out += "}\n\n"; }

void append_id(std::string& out, std::string_view prefix, std::uint64_t id) {
  out += prefix;
  append_int(out, static_cast<std::int64_t>(id));
}

// A raw JSON value from the request (or `otherwise` when absent). Line breaks in it can only be
// whitespace between tokens (inside strings they are escaped); they become spaces, as an SSE data
// line must not contain one.
void append_raw_or(std::string& out, std::string_view raw, std::string_view otherwise) {
  if (raw.data() == nullptr) {
    out += otherwise;
    return;
  }
  const std::size_t at = out.size();
  out += raw;
  for (std::size_t i = at; i < out.size(); ++i) {
    if (out[i] == '\n' || out[i] == '\r') out[i] = ' ';
  }
}

void append_text(std::string& out, const DialectInfo& info) {
  for (std::int64_t i = 0; i < info.output_tokens; ++i) append_token(out, info.seed, i);
}

// --- OpenAI Responses ---

// The arguments of every tool call, as a JSON string.
constexpr std::string_view kToolArgumentsJson = R"("{}")";

// Events before the first delta: created, in_progress, output_item.added, and for a message
// content_part.added.
std::int64_t responses_prelude_count(const DialectInfo& info) { return info.tool_call ? 3 : 4; }

void append_item_id(std::string& out, const DialectInfo& info) {
  append_id(out, info.tool_call ? "fc_mock-" : "msg_mock-", info.id);
}

void append_output_text_part(std::string& out, const DialectInfo& info, bool done) {
  out += R"({"type":"output_text","annotations":[],"logprobs":[],"text":")";
  if (done) append_text(out, info);
  out += R"("})";
}

// One output item: in progress (empty) or done (whole).
void append_output_item(std::string& out, const DialectInfo& info, bool done) {
  out += R"({"id":")";
  append_item_id(out, info);
  if (info.tool_call) {
    out += R"(","type":"function_call","status":")";
    out += done ? "completed" : "in_progress";
    out += R"(","arguments":)";
    out += done ? kToolArgumentsJson : R"("")";
    out += R"(,"call_id":")";
    append_id(out, "call_mock-", info.id);
    out += R"(","name":")";
    out += info.tool_name;
    out += R"("})";
    return;
  }
  out += R"(","type":"message","status":")";
  out += !done ? "in_progress" : info.truncated ? "incomplete" : "completed";
  out += R"(","content":[)";
  if (done) append_output_text_part(out, info, true);
  out += R"(],"role":"assistant"})";
}

// Output item `i` of an x-mock-tool-calls answer: in progress (no arguments yet) or done.
void append_function_call_item(std::string& out, const DialectInfo& info, std::size_t i,
                               bool done) {
  const ToolCallSpec& call = (*info.tool_calls)[i];
  out += R"({"id":")";
  append_call_id(out, "fc_mock-", info.id, i);
  out += R"(","type":"function_call","status":")";
  out += done ? "completed" : "in_progress";
  out += R"(","arguments":")";
  if (done) append_json_chars(out, call.arguments);
  out += R"(","call_id":")";
  append_call_id(out, "call_mock-", info.id, i);
  out += R"(","name":")";
  out += call.name_json;
  out += R"("})";
}

// The `response` object; `done` adds the output and usage (in_progress has neither).
void append_response_object(std::string& out, const DialectInfo& info, bool done) {
  const bool incomplete = done && info.truncated && !info.tool_call;
  out += R"({"id":")";
  append_id(out, "resp_mock-", info.id);
  out += R"(","object":"response","created_at":)";
  append_int(out, info.created);
  out += R"(,"status":")";
  out += !done ? "in_progress" : incomplete ? "incomplete" : "completed";
  out += R"(","error":null,"incomplete_details":)";
  out += incomplete ? R"({"reason":"max_output_tokens"})" : "null";
  out += R"(,"instructions":)";
  append_raw_or(out, info.instructions, "null");
  out += R"(,"max_output_tokens":)";
  append_raw_or(out, info.max_output_tokens, "null");
  out += R"(,"model":")";
  out += info.model;
  out += R"(","output":[)";
  if (done && info.tool_calls != nullptr) {
    for (std::size_t i = 0; i < info.tool_calls->size(); ++i) {
      if (i > 0) out += ',';
      append_function_call_item(out, info, i, true);
    }
  } else if (done) {
    append_output_item(out, info, true);
  }
  out += R"(],"parallel_tool_calls":true,"previous_response_id":)";
  if (info.previous_response_id.data() != nullptr) {
    out += '"';
    out += info.previous_response_id;
    out += '"';
  } else {
    out += "null";
  }
  out += R"(,"reasoning":{"effort":null,"summary":null},"store":true,"temperature":1.0,)"
         R"("text":{"format":{"type":"text"}},"tool_choice":"auto","tools":)";
  append_raw_or(out, info.tools, "[]");
  out += R"(,"top_p":1.0,"truncation":"disabled","usage":)";
  if (done) {
    const std::int64_t output = dialect_output_tokens(info);
    out += R"({"input_tokens":)";
    append_int(out, info.input_tokens);
    out += R"(,"input_tokens_details":{"cached_tokens":0},"output_tokens":)";
    append_int(out, output);
    out += R"(,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":)";
    append_int(out, info.input_tokens + output);
    out += '}';
  } else {
    out += "null";
  }
  out += R"(,"user":null,"metadata":{})";
}

// "item_id":"…","output_index":0 (and "content_index":0 for message parts).
void append_item_ref(std::string& out, const DialectInfo& info, bool content_index) {
  out += R"(,"item_id":")";
  append_item_id(out, info);
  out += R"(","output_index":0)";
  if (content_index) out += R"(,"content_index":0)";
}

void append_responses_prelude(std::string& out, const DialectInfo& info) {
  std::int64_t seq = 0;
  for (const std::string_view type : {"response.created", "response.in_progress"}) {
    open_event(out, type, &seq);
    out += R"(,"response":)";
    append_response_object(out, info, false);
    out += '}';
    close_event(out);
    ++seq;
  }
  open_event(out, "response.output_item.added", &seq);
  out += R"(,"output_index":0,"item":)";
  append_output_item(out, info, false);
  close_event(out);
  ++seq;
  if (!info.tool_call) {
    open_event(out, "response.content_part.added", &seq);
    append_item_ref(out, info, true);
    out += R"(,"part":)";
    append_output_text_part(out, info, false);
    close_event(out);
  }
}

void append_responses_delta(std::string& out, const DialectInfo& info, std::int64_t index) {
  const std::int64_t seq = responses_prelude_count(info) + index;
  if (info.tool_call) {
    open_event(out, "response.function_call_arguments.delta", &seq);
    append_item_ref(out, info, false);
    out += R"(,"delta":)";
    out += kToolArgumentsJson;
  } else {
    open_event(out, "response.output_text.delta", &seq);
    append_item_ref(out, info, true);
    out += R"(,"delta":")";
    append_token(out, info.seed, index);
    out += R"(","logprobs":[])";
  }
  close_event(out);
}

void append_responses_epilogue(std::string& out, const DialectInfo& info) {
  std::int64_t seq = responses_prelude_count(info) + dialect_delta_count(info);
  if (info.tool_call) {
    open_event(out, "response.function_call_arguments.done", &seq);
    append_item_ref(out, info, false);
    out += R"(,"name":")";
    out += info.tool_name;
    out += R"(","arguments":)";
    out += kToolArgumentsJson;
    close_event(out);
    ++seq;
  } else {
    open_event(out, "response.output_text.done", &seq);
    append_item_ref(out, info, true);
    out += R"(,"text":")";
    append_text(out, info);
    out += R"(","logprobs":[])";
    close_event(out);
    ++seq;
    open_event(out, "response.content_part.done", &seq);
    append_item_ref(out, info, true);
    out += R"(,"part":)";
    append_output_text_part(out, info, true);
    close_event(out);
    ++seq;
  }
  open_event(out, "response.output_item.done", &seq);
  out += R"(,"output_index":0,"item":)";
  append_output_item(out, info, true);
  close_event(out);
  ++seq;
  // The real API ends a response cut by max_output_tokens with response.incomplete.
  open_event(out, info.truncated && !info.tool_call ? "response.incomplete" : "response.completed",
             &seq);
  out += R"(,"response":)";
  append_response_object(out, info, true);
  out += '}';
  close_event(out);
}

// --- Anthropic Messages ---

std::string_view stop_reason(const DialectInfo& info) {
  return info.tool_call || info.tool_calls != nullptr ? "tool_use"
         : info.truncated                             ? "max_tokens"
                                                      : "end_turn";
}

// The content block as content_block_start shows it (empty) or the whole one.
void append_content_block(std::string& out, const DialectInfo& info, bool done) {
  if (info.tool_call) {
    out += R"({"type":"tool_use","id":")";
    append_id(out, "toolu_mock-", info.id);
    out += R"(","name":")";
    out += info.tool_name;
    out += R"(","input":{}})";
  } else {
    out += R"({"type":"text","text":")";
    if (done) append_text(out, info);
    out += R"("})";
  }
}

// Content block `i` of an x-mock-tool-calls answer: as content_block_start shows it (input {}) or
// whole (input: the arguments as an object).
void append_tool_use_block(std::string& out, const DialectInfo& info, std::size_t i, bool done) {
  const ToolCallSpec& call = (*info.tool_calls)[i];
  out += R"({"type":"tool_use","id":")";
  append_call_id(out, "toolu_mock-", info.id, i);
  out += R"(","name":")";
  out += call.name_json;
  out += R"(","input":)";
  out += done ? std::string_view(call.input_json) : std::string_view("{}");
  out += '}';
}

// The message without its closing '}': content empty and no stop_reason while streaming.
void append_message_open(std::string& out, const DialectInfo& info, bool done) {
  out += R"({"id":")";
  append_id(out, "msg_mock-", info.id);
  out += R"(","type":"message","role":"assistant","model":")";
  out += info.model;
  out += R"(","content":[)";
  if (done && info.tool_calls != nullptr) {
    for (std::size_t i = 0; i < info.tool_calls->size(); ++i) {
      if (i > 0) out += ',';
      append_tool_use_block(out, info, i, true);
    }
  } else if (done) {
    append_content_block(out, info, true);
  }
  out += R"(],"stop_reason":)";
  if (done) {
    out += '"';
    out += stop_reason(info);
    out += '"';
  } else {
    out += "null";
  }
  out += R"(,"stop_sequence":null,"usage":{"input_tokens":)";
  append_int(out, info.input_tokens);
  out += R"(,"output_tokens":)";
  append_int(out, done ? dialect_output_tokens(info) : 1);
  out += '}';
}

void append_messages_prelude(std::string& out, const DialectInfo& info) {
  open_event(out, "message_start", nullptr);
  out += R"(,"message":)";
  append_message_open(out, info, false);
  out += '}';
  close_event(out);
  open_event(out, "content_block_start", nullptr);
  out += R"(,"index":0,"content_block":)";
  append_content_block(out, info, false);
  close_event(out);
  open_event(out, "ping", nullptr);
  close_event(out);
}

void append_messages_delta(std::string& out, const DialectInfo& info, std::int64_t index) {
  open_event(out, "content_block_delta", nullptr);
  if (info.tool_call) {
    out += R"(,"index":0,"delta":{"type":"input_json_delta","partial_json":)";
    out += kToolArgumentsJson;
    out += '}';
  } else {
    out += R"(,"index":0,"delta":{"type":"text_delta","text":")";
    append_token(out, info.seed, index);
    out += R"("})";
  }
  close_event(out);
}

void append_messages_epilogue(std::string& out, const DialectInfo& info) {
  open_event(out, "content_block_stop", nullptr);
  out += R"(,"index":0)";
  close_event(out);
  open_event(out, "message_delta", nullptr);
  out += R"(,"delta":{"stop_reason":")";
  out += stop_reason(info);
  out += R"(","stop_sequence":null},"usage":{"output_tokens":)";
  append_int(out, dialect_output_tokens(info));
  out += '}';
  close_event(out);
  open_event(out, "message_stop", nullptr);
  close_event(out);
}

}  // namespace

std::int64_t dialect_output_tokens(const DialectInfo& info) {
  return info.tool_call ? 1 : info.output_tokens;
}

std::int64_t dialect_delta_count(const DialectInfo& info) {
  return info.tool_call ? 1 : info.output_tokens;
}

void append_dialect_open(std::string& out, const DialectInfo& info) {
  if (info.dialect == Dialect::responses) {
    append_response_object(out, info, true);
  } else {
    append_message_open(out, info, true);
  }
}

void append_dialect_prelude(std::string& out, const DialectInfo& info) {
  if (info.dialect == Dialect::responses) {
    append_responses_prelude(out, info);
  } else {
    append_messages_prelude(out, info);
  }
}

void append_dialect_delta(std::string& out, const DialectInfo& info, std::int64_t index) {
  if (info.dialect == Dialect::responses) {
    append_responses_delta(out, info, index);
  } else {
    append_messages_delta(out, info, index);
  }
}

void append_dialect_epilogue(std::string& out, const DialectInfo& info) {
  if (info.dialect == Dialect::responses) {
    append_responses_epilogue(out, info);
  } else {
    append_messages_epilogue(out, info);
  }
}

namespace {

// Builds a stream as groups of events: [before the first delta, one group per delta, after the
// last delta]. Events written between two deltas go out with the later one.
struct EventGroups {
  std::vector<std::string> groups = std::vector<std::string>(1);  // [0]: sent with the headers
  std::string pending;

  std::string& prelude() { return groups.front(); }
  // Ends a group with the delta just written to `pending`.
  void end_delta() {
    groups.push_back(std::move(pending));
    pending.clear();
  }
  std::vector<std::string> finish() {
    groups.push_back(std::move(pending));
    return std::move(groups);
  }
};

// One chat.completion.chunk of a tool-call stream: delta.tool_calls[0] for call `i`, either its
// opening (id, type, name, empty arguments; the stream's first also has the role) or fragment
// [from, to) of its arguments.
void append_tool_call_chunk(std::string& out, const CompletionInfo& info, std::size_t i,
                            bool opening, std::string_view fragment) {
  const ToolCallSpec& call = (*info.tool_calls)[i];
  out += "data: ";
  append_head(out, info, "chat.completion.chunk");
  out += R"(,"choices":[{"index":0,"delta":{)";
  if (opening && i == 0) out += R"("role":"assistant","content":null,)";
  out += R"("tool_calls":[{"index":)";
  append_int(out, static_cast<std::int64_t>(i));
  if (opening) {
    out += R"(,"id":")";
    append_call_id(out, "call_mock-", info.id, i);
    out += R"(","type":"function","function":{"name":")";
    out += call.name_json;
    out += R"(","arguments":""}}]},"logprobs":null,"finish_reason":null})";
  } else {
    out += R"(,"function":{"arguments":")";
    append_json_chars(out, fragment);
    out += R"("}}]},"logprobs":null,"finish_reason":null})";
  }
  append_event_tail(out, info);
}

// Calls `each(i, fragment)` for every argument fragment of every call, in order.
template <class Fn>
void for_each_fragment(const std::vector<ToolCallSpec>& calls, std::size_t i, Fn&& each) {
  const std::string_view args = calls[i].arguments;
  std::size_t at = 0;
  for (const std::size_t end : argument_fragment_ends(args)) {
    each(args.substr(at, end - at));
    at = end;
  }
}

}  // namespace

std::vector<std::string> tool_call_chat_events(const CompletionInfo& info, bool include_usage) {
  EventGroups g;
  const auto& calls = *info.tool_calls;
  for (std::size_t i = 0; i < calls.size(); ++i) {
    append_tool_call_chunk(g.pending, info, i, true, {});
    for_each_fragment(calls, i, [&](std::string_view fragment) {
      append_tool_call_chunk(g.pending, info, i, false, fragment);
      g.end_delta();
    });
  }
  append_finish_event(g.pending, info);
  if (include_usage) append_usage_event(g.pending, info);
  g.pending += "data: [DONE]\n\n";
  return g.finish();
}

std::vector<std::string> tool_call_dialect_events(const DialectInfo& info) {
  EventGroups g;
  const auto& calls = *info.tool_calls;
  if (info.dialect == Dialect::responses) {
    std::int64_t seq = 0;
    for (const std::string_view type : {"response.created", "response.in_progress"}) {
      open_event(g.prelude(), type, &seq);
      g.prelude() += R"(,"response":)";
      append_response_object(g.prelude(), info, false);
      g.prelude() += '}';
      close_event(g.prelude());
      ++seq;
    }
    // "item_id":"fc_…","output_index":i
    const auto item_ref = [&](std::string& out, std::size_t i) {
      out += R"(,"item_id":")";
      append_call_id(out, "fc_mock-", info.id, i);
      out += R"(","output_index":)";
      append_int(out, static_cast<std::int64_t>(i));
    };
    for (std::size_t i = 0; i < calls.size(); ++i) {
      std::string& out = g.pending;
      open_event(out, "response.output_item.added", &seq);
      out += R"(,"output_index":)";
      append_int(out, static_cast<std::int64_t>(i));
      out += R"(,"item":)";
      append_function_call_item(out, info, i, false);
      close_event(out);
      ++seq;
      for_each_fragment(calls, i, [&](std::string_view fragment) {
        open_event(g.pending, "response.function_call_arguments.delta", &seq);
        item_ref(g.pending, i);
        g.pending += R"(,"delta":")";
        append_json_chars(g.pending, fragment);
        g.pending += '"';
        close_event(g.pending);
        ++seq;
        g.end_delta();
      });
      open_event(g.pending, "response.function_call_arguments.done", &seq);
      item_ref(g.pending, i);
      g.pending += R"(,"name":")";
      g.pending += calls[i].name_json;
      g.pending += R"(","arguments":")";
      append_json_chars(g.pending, calls[i].arguments);
      g.pending += '"';
      close_event(g.pending);
      ++seq;
      open_event(g.pending, "response.output_item.done", &seq);
      g.pending += R"(,"output_index":)";
      append_int(g.pending, static_cast<std::int64_t>(i));
      g.pending += R"(,"item":)";
      append_function_call_item(g.pending, info, i, true);
      close_event(g.pending);
      ++seq;
    }
    open_event(g.pending, "response.completed", &seq);
    g.pending += R"(,"response":)";
    append_response_object(g.pending, info, true);
    g.pending += '}';
    close_event(g.pending);
    return g.finish();
  }

  open_event(g.prelude(), "message_start", nullptr);
  g.prelude() += R"(,"message":)";
  append_message_open(g.prelude(), info, false);
  g.prelude() += '}';
  close_event(g.prelude());
  for (std::size_t i = 0; i < calls.size(); ++i) {
    std::string& out = i == 0 ? g.prelude() : g.pending;
    open_event(out, "content_block_start", nullptr);
    out += R"(,"index":)";
    append_int(out, static_cast<std::int64_t>(i));
    out += R"(,"content_block":)";
    append_tool_use_block(out, info, i, false);
    close_event(out);
    if (i == 0) {
      open_event(out, "ping", nullptr);
      close_event(out);
    }
    for_each_fragment(calls, i, [&](std::string_view fragment) {
      open_event(g.pending, "content_block_delta", nullptr);
      g.pending += R"(,"index":)";
      append_int(g.pending, static_cast<std::int64_t>(i));
      g.pending += R"(,"delta":{"type":"input_json_delta","partial_json":")";
      append_json_chars(g.pending, fragment);
      g.pending += R"("})";
      close_event(g.pending);
      g.end_delta();
    });
    open_event(g.pending, "content_block_stop", nullptr);
    g.pending += R"(,"index":)";
    append_int(g.pending, static_cast<std::int64_t>(i));
    close_event(g.pending);
  }
  open_event(g.pending, "message_delta", nullptr);
  g.pending +=
      R"(,"delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":)";
  append_int(g.pending, dialect_output_tokens(info));
  g.pending += '}';
  close_event(g.pending);
  open_event(g.pending, "message_stop", nullptr);
  close_event(g.pending);
  return g.finish();
}

void append_anthropic_error_body(std::string& out, std::string_view message, int status) {
  std::string_view type;
  switch (status) {
    case 400:
    case 422:
      type = "invalid_request_error";
      break;
    case 413:
      type = "request_too_large";
      break;
    case 401:
      type = "authentication_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 529:
      type = "overloaded_error";
      break;
    default:
      type = status >= 500 ? "api_error" : "invalid_request_error";
  }
  out += R"({"type":"error","error":{"type":")";
  out += type;
  out += R"(","message":")";
  append_json_chars(out, message);
  out += R"("}})";
}

void append_error_body(std::string& out, std::string_view message, std::string_view type,
                       std::string_view code) {
  out += R"({"error":{"message":")";
  append_json_chars(out, message);
  out += R"(","type":")";
  out += type;
  out += R"(","param":null,"code":)";
  if (code.empty()) {
    out += "null";
  } else {
    out += '"';
    append_json_chars(out, code);
    out += '"';
  }
  out += "}}";
}

void append_dynamo_deserialize_error(std::string& out, std::string_view serde_error) {
  // Dynamo's ErrorMessage {message, type (serde rename of error_type: the status's canonical
  // reason), code (u16), details (omitted when None)}, members in declaration order.
  out += R"({"message":"Failed to deserialize the JSON body into the target type: )";
  append_json_chars(out, serde_error);
  out += R"(","type":"Bad Request","code":400})";
}

std::string_view error_type_for_status(int status) {
  switch (status) {
    case 400:
    case 404:
    case 409:
    case 413:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 429:
      return "rate_limit_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

}  // namespace augur::mock
