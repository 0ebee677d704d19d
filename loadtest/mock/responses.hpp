// String-append builders for the mock upstream's OpenAI JSON bodies and SSE events. No JSON library
// on purpose: the mock is the upstream in proxy benchmarks, so a response must cost as little CPU
// as possible. Every function appends to `out` (callers reuse one buffer per connection) and is
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "loadtest/mock/request_scan.hpp"
#include "loadtest/mock/tool_calls.hpp"

namespace augur::mock {

// What a completion response says about itself; shared by the full body and the stream events.
struct CompletionInfo {
  bool chat = true;          // chat.completion(s) vs text_completion (legacy /v1/completions)
  std::uint64_t id = 0;      // rendered "chatcmpl-mock-<id>" / "cmpl-mock-<id>"
  std::int64_t created = 0;  // unix seconds
  std::string_view model;    // already JSON-escaped (echoed from the request or the default)
  std::uint64_t seed = 0;    // picks the words
  std::int64_t prompt_tokens = 0;
  std::int64_t completion_tokens = 0;
  std::string_view finish_reason = "stop";
  bool usage_null_in_chunks = false;  // OpenAI adds "usage":null to chunks when usage is requested
  // x-mock-tool-calls (chat only): the assistant message makes these calls instead of answering
  // text; completion_tokens is still the usage reported. Null: a text answer.
  const std::vector<ToolCallSpec>* tool_calls = nullptr;
};

void append_int(std::string& out, std::int64_t value);

// The text of output token `index` (0-based): a space and a word, deterministic in (seed, index),
// JSON-safe as is.
void append_token(std::string& out, std::uint64_t seed, std::int64_t index);

// Whole non-streaming body without its closing '}', so the caller may add members (the "mock" echo,
// padding) before close_object().
void append_completion_open(std::string& out, const CompletionInfo& info);

// Adds ,"padding":"xxx…" so that, once closed with '}', out holds at least `size` bytes.
void append_padding_and_close(std::string& out, std::size_t size);

// One SSE event "data: {...}\n\n" (no HTTP chunk framing): the chunk carrying token `index`.
void append_token_event(std::string& out, const CompletionInfo& info, std::int64_t index);
// The chunk with an empty delta and finish_reason.
void append_finish_event(std::string& out, const CompletionInfo& info);
// The usage chunk: "choices": [] and "usage": {...}.
void append_usage_event(std::string& out, const CompletionInfo& info);

// One answer in the Responses or Messages dialect: a text message of `output_tokens` words, or
// (tool_call) a call of tool `tool_name` with arguments "{}", which counts as one output token.
struct DialectInfo {
  Dialect dialect = Dialect::responses;
  std::uint64_t id = 0;      // rendered resp_mock-<id>, msg_mock-<id>, fc_mock-<id>, …
  std::int64_t created = 0;  // unix seconds (Responses created_at)
  std::string_view model;    // already JSON-escaped
  std::uint64_t seed = 0;
  std::int64_t input_tokens = 0;
  std::int64_t output_tokens = 0;  // text tokens; ignored for a tool call
  bool truncated = false;          // the request's max_output_tokens / max_tokens cut the text
  bool tool_call = false;
  std::string_view tool_name;  // JSON-escaped
  // Echoed into a Responses object (raw JSON values; null data() = absent, written as null or []).
  std::string_view instructions, max_output_tokens, tools, previous_response_id;
  // x-mock-tool-calls: the answer makes exactly these calls (output_tokens is the usage reported);
  // overrides tool_call. Null: as above.
  const std::vector<ToolCallSpec>* tool_calls = nullptr;
};

// Output tokens the answer reports in its usage: the text's, or 1 for a tool call.
std::int64_t dialect_output_tokens(const DialectInfo& info);

// Whole non-streaming body without its closing '}' (a Responses `response` object or a Messages
// `message`), like append_completion_open().
void append_dialect_open(std::string& out, const DialectInfo& info);

// Streaming, as SSE events "event: <type>\ndata: {...}\n\n": the events before the first delta,
// delta `index` (0 ≤ index < dialect_delta_count(); one text word, or the tool call's arguments),
// and the events after the last delta. Every Responses event carries its sequence_number.
std::int64_t dialect_delta_count(const DialectInfo& info);
void append_dialect_prelude(std::string& out, const DialectInfo& info);
void append_dialect_delta(std::string& out, const DialectInfo& info, std::int64_t index);
void append_dialect_epilogue(std::string& out, const DialectInfo& info);

// An x-mock-tool-calls answer streamed: [events sent with the headers (may be empty), one event
// group per argument fragment (the deltas the stream paces), the events after the last fragment].
// Chat: chunks with delta.tool_calls (a chunk with id, type, name and empty arguments, then one per
// fragment), the finish chunk, the usage chunk when `include_usage`, [DONE]. Responses and
// Messages: the dialect's function_call / tool_use events, one output item or content block per
// call.
std::vector<std::string> tool_call_chat_events(const CompletionInfo& info, bool include_usage);
std::vector<std::string> tool_call_dialect_events(const DialectInfo& info);

// Anthropic's error body: {"type":"error","error":{"type":…,"message":…}}; `message` is escaped.
void append_anthropic_error_body(std::string& out, std::string_view message, int status);

// {"error":{"message":…,"type":…,"param":null,"code":…}}; `message` is escaped here. An empty
// `code` is written as null.
void append_error_body(std::string& out, std::string_view message, std::string_view type,
                       std::string_view code);

// Dynamo's 400 for a body its frontend cannot deserialize, as axum serialises its ErrorMessage:
// {"message":"Failed to deserialize the JSON body into the target type: <serde_error>",
// "type":"Bad Request","code":400}. `serde_error` is escaped here.
void append_dynamo_deserialize_error(std::string& out, std::string_view serde_error);

// The OpenAI error `type` conventionally used for an HTTP status.
std::string_view error_type_for_status(int status);

}  // namespace augur::mock
