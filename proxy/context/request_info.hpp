// The few facts augur needs from an OpenAI-style request body (model, token limit, streaming,
// message/tool counts, NAT's nvext prefix id), read once per request. The JSON parser stays inside
// request_info.cpp; callers see only this plain struct.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/http/dialect.hpp"

namespace augur::proxy {

// A configured name for inferred agents (config `context.agents`): it matches when the system
// prompt contains `system_prompt_contains` (when set) and the request's tools include every name
// in `tools`. The first matching rule names the agent.
struct AgentRule {
  std::string name;
  std::string system_prompt_contains;
  std::vector<std::string> tools;
};

inline constexpr std::size_t kMaxToolNames = 32;  // tool names kept per request (for display)

// What run inference needs from an LLM call's conversation, as hashes: no prompt text is kept.
struct ConversationShape {
  // Chained hashes of the message list (Responses: input items), seeded by the agent: prefix[i]
  // covers messages 0..i. A later call whose list extends this one's holds prefix.back() at the
  // same position. Empty: the body has no message list.
  std::vector<std::uint64_t> prefix;
  // Position of the last message that opens a user turn (user text, not a tool result); -1: none.
  std::int64_t last_user_turn = -1;
  // The agent's identity: its system prompt / instructions (words holding digits masked, so dates
  // and ids in a template do not make a new agent) and its tool names (in any order).
  std::uint64_t agent = 0;
  std::uint64_t task = 0;          // the first user turn's text by its words; 0 when none
  std::vector<std::string> tools;  // the tool names, at most kMaxToolNames (sanitised)
  std::string agent_name;          // the first matching AgentRule's name; "" when none

  bool operator==(const ConversationShape&) const = default;
};

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
  ConversationShape conversation;  // LLM dialects only (parse_request_body's `dialect`)

  bool operator==(const RequestInfo&) const = default;
};

// Whether a request is an LLM call: a POST (`post`) of a JSON object to an LLM API
// (`info.dialect`). Only those are counted in runs, get hints and are learned from.
bool is_llm_call(bool post, const RequestInfo& info);

// Reads the fields above from `body`, a request to `dialect`'s API; for an LLM dialect also the
// conversation's shape, naming the agent by the first of `rules` that matches. Anything that is
// not a JSON object (empty, truncated, not UTF-8, nested too deeply, a bare array…) yields a
// RequestInfo with json == false; fields of the wrong type are left at their defaults; messages of
// unexpected shapes are hashed as they are. Never throws. Thread-safe: the parser is thread-local.
// `conversation` false skips the conversation (a call whose headers name its run needs none).
RequestInfo parse_request_body(std::string_view body, Dialect dialect = Dialect::none,
                               std::span<const AgentRule> rules = {}, bool conversation = true);
// The same, into `info` (overwritten): the memory its lists hold is reused, which spares a
// connection that parses one body per request a few allocations each time. `padded`: the caller
// owns kJsonPadding readable bytes past the body's end (their values do not matter), so the
// parser reads the body where it is instead of copying it into a padded buffer of its own.
void parse_request_body(RequestInfo& info, std::string_view body, Dialect dialect,
                        std::span<const AgentRule> rules, bool conversation, bool padded = false);

// How many bytes past a body's end the JSON parser may read (simdjson's SIMDJSON_PADDING).
inline constexpr std::size_t kJsonPadding = 64;

}  // namespace augur::proxy
