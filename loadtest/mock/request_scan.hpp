// Minimal scan of an OpenAI request body for the few fields the mock upstream acts on (model,
// stream, stream_options.include_usage, max_tokens, where nvext is). Not a JSON library: it walks
// the top-level object once, skipping values it does not need, so a request costs well under a
// microsecond.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace augur::mock {

struct RequestFields {
  bool is_object = false;  // the body is one well-formed JSON object (trailing whitespace allowed)
  bool stream = false;     // "stream": true
  bool include_usage = false;  // "stream_options": {"include_usage": true}
  // Contents of the "model" string exactly as written (JSON escapes kept), so it can be echoed
  // into a JSON response verbatim. Empty when absent or not a string.
  std::string_view model;
  // "max_tokens", else "max_completion_tokens", when it is a non-negative integer.
  std::optional<std::int64_t> max_tokens;
  // The first top-level "nvext" member's value as written (a view into the body; null data()
  // when there is none), and the key of a second one (its contents, without the quotes): Dynamo
  // checks the first and rejects the repeat (nvext_check.hpp).
  std::string_view nvext;
  std::string_view nvext_repeat_key;
};

// Never fails: fields it cannot find keep their defaults, and is_object says whether the whole body
// was valid. Thread-safe (pure). The returned views point into `body`.
RequestFields scan_request(std::string_view body);

// The two agent API dialects the mock speaks besides Chat Completions.
enum class Dialect {
  responses,  // OpenAI Responses API, POST /v1/responses
  messages,   // Anthropic Messages API, POST /v1/messages
};

// What the mock reads from a Responses or Messages request. A separate walk from scan_request(),
// so the chat path pays nothing for these fields. Raw views keep JSON escapes, so they can be
// written back into a JSON response as they are.
struct DialectFields {
  bool is_object = false;
  bool stream = false;
  std::string_view model;  // contents of the "model" string; empty when absent
  // "max_output_tokens" (Responses) or "max_tokens" (Messages), when a non-negative integer.
  std::optional<std::int64_t> max_tokens;
  // Raw JSON values as written (null data() when absent): "instructions" (Responses) or "system"
  // (Messages), "max_output_tokens", "tools".
  std::string_view instructions;
  std::string_view max_tokens_raw;
  std::string_view tools;
  // Contents of "previous_response_id" when it is a string (Responses); null data() otherwise.
  std::string_view previous_response_id;
  // Contents of the first tool's "name" (or "function"."name") string; empty when no tool has one.
  std::string_view tool_name;
  // Tool results the conversation already holds: Responses input items of type
  // "function_call_output", Messages user content blocks of type "tool_result".
  std::int64_t tool_results = 0;
};

// Like scan_request(): never fails, pure, views into `body`.
DialectFields scan_dialect_request(std::string_view body, Dialect dialect);

}  // namespace augur::mock
