// The few facts augur needs from an OpenAI-style request body (model, token limit, streaming,
// message/tool counts, NAT's nvext prefix id), read once per request. The JSON parser stays inside
// request_info.cpp; callers see only this plain struct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "proxy/http/dialect.hpp"

namespace augur::proxy {

struct RequestInfo {
  // The body is one valid JSON object (UTF-8 checked, nesting within the parser's depth limit).
  // Only then may the nvext splice touch it; every other field is defaulted when this is false.
  bool json = false;
  Dialect dialect = Dialect::none;  // the request target's API (set by the caller: dialect_of)
  std::string model;                // "" when absent or not a string
  std::optional<std::int64_t> max_tokens;  // max_completion_tokens, max_output_tokens, max_tokens
  bool stream = false;
  bool include_usage = false;        // stream_options.include_usage
  std::string nvext_prefix_id;       // nvext.agent_hints.prefix_id, raw ("" when absent)
  std::string previous_response_id;  // Responses: the response this call continues ("" if none)
  std::size_t message_count = 0;     // elements of `messages` (Responses: `input`) when an array
  bool has_tools = false;            // `tools` is a non-empty array
  bool has_nvext = false;            // `nvext` is an object
  // Every top-level key was seen and none is `nvext` (hand-built RequestInfos leave this false, so
  // the nvext splice scans the body itself).
  bool no_nvext_key = false;
};

// Whether a request is an LLM call: a POST (`post`) of a JSON object to an LLM API
// (`info.dialect`). Only those are counted in runs, get hints and are learned from.
bool is_llm_call(bool post, const RequestInfo& info);

// Reads the fields above from `body`. Anything that is not a JSON object (empty, truncated, not
// UTF-8, nested too deeply, a bare array…) yields a RequestInfo with json == false; fields of the
// wrong type are left at their defaults. Never throws. Thread-safe: the parser is thread-local.
RequestInfo parse_request_body(std::string_view body);

}  // namespace augur::proxy
