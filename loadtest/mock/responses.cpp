// Builders for the mock upstream's OpenAI-shaped output (see responses.hpp). Field order follows
// OpenAI's own responses so captured bodies look familiar.
#include "loadtest/mock/responses.hpp"

#include <array>
#include <charconv>

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
