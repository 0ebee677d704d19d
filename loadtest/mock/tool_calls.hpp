// x-mock-tool-calls: the tool calls a test or the workload generator wants the mock's answer to
// make (name and arguments of each), in any of the three dialects. Parsed with simdjson, only on
// the requests that carry the header, so the mock's usual path stays free of a JSON library.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace augur::mock {

// Upper bound for the header value: the calls are echoed into every answer, so a runaway value
// must not make the mock build huge bodies.
constexpr std::size_t kMaxToolCallsHeader = 16 * 1024;
// Upper bound on the number of calls in one answer.
constexpr std::size_t kMaxToolCalls = 64;

struct ToolCallSpec {
  std::string name_json;   // the tool's name, JSON-escaped (no quotes)
  std::string arguments;   // the arguments' JSON text exactly as given (decoded from its string)
  std::string input_json;  // the same object minified: Anthropic's `tool_use.input`
};

// Parses `[{"name": "...", "arguments": "<JSON object text>"}, ...]` (1 to kMaxToolCalls entries,
// no other keys, a non-empty name, arguments a string holding a JSON object). Returns the reason
// it is malformed, or nullopt with `out` filled. Thread-safe.
std::optional<std::string> parse_tool_calls(std::string_view header,
                                            std::vector<ToolCallSpec>& out);

// Where a call's arguments are cut for streaming: at least two non-empty fragments (arguments are
// an object, so at least "{}"), at most 16 bytes each, never inside a UTF-8 sequence. Returns the
// fragments' end offsets (the last one is arguments.size()).
std::vector<std::size_t> argument_fragment_ends(std::string_view arguments);

}  // namespace augur::mock
