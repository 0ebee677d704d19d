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

}  // namespace augur::mock
