// x-mock-tool-calls parsing (see tool_calls.hpp).
#include "loadtest/mock/tool_calls.hpp"

#include <simdjson.h>

#include "common/json_string.hpp"

namespace augur::mock {

std::optional<std::string> parse_tool_calls(std::string_view header,
                                            std::vector<ToolCallSpec>& out) {
  namespace dom = simdjson::dom;
  out.clear();
  if (header.size() > kMaxToolCallsHeader) {
    return "longer than " + std::to_string(kMaxToolCallsHeader) + " bytes";
  }
  dom::parser parser;
  dom::element doc;
  dom::array calls;
  if (parser.parse(header.data(), header.size(), true).get(doc) != simdjson::SUCCESS ||
      doc.get_array().get(calls) != simdjson::SUCCESS) {
    return "not a JSON array";
  }
  if (calls.size() == 0 || calls.size() > kMaxToolCalls) {
    return "needs 1 to " + std::to_string(kMaxToolCalls) + " calls";
  }
  // The arguments are parsed with a second parser: the first one's document must stay alive.
  dom::parser args_parser;
  for (dom::element call : calls) {
    dom::object obj;
    if (call.get_object().get(obj) != simdjson::SUCCESS) return "a call is not an object";
    std::string_view name, arguments;
    bool has_name = false, has_arguments = false;
    for (auto field : obj) {
      if (field.key == "name") {
        if (field.value.get_string().get(name) != simdjson::SUCCESS) return "name not a string";
        has_name = true;
      } else if (field.key == "arguments") {
        if (field.value.get_string().get(arguments) != simdjson::SUCCESS) {
          return "arguments not a string";
        }
        has_arguments = true;
      } else {
        return "unknown key '" + std::string(field.key) + "'";
      }
    }
    if (!has_name || name.empty()) return "a call without a name";
    if (!has_arguments) return "a call without arguments";
    dom::element args;
    dom::object args_obj;
    if (args_parser.parse(arguments.data(), arguments.size(), true).get(args) !=
            simdjson::SUCCESS ||
        args.get_object().get(args_obj) != simdjson::SUCCESS) {
      return "arguments not a JSON object";
    }
    ToolCallSpec spec;
    append_json_chars(spec.name_json, name);
    spec.arguments = std::string(arguments);
    spec.input_json = simdjson::minify(args);
    out.push_back(std::move(spec));
  }
  return std::nullopt;
}

std::vector<std::size_t> argument_fragment_ends(std::string_view arguments) {
  constexpr std::size_t kMaxFragment = 16;
  const std::size_t n = arguments.size();
  std::size_t step = std::min(kMaxFragment, (n + 1) / 2);
  if (step == 0) step = 1;
  std::vector<std::size_t> ends;
  std::size_t at = 0;
  while (at < n) {
    std::size_t end = std::min(n, at + step);
    // Never split a UTF-8 sequence: continuation bytes (10xxxxxx) stay with their lead byte.
    while (end < n && (static_cast<unsigned char>(arguments[end]) & 0xC0) == 0x80) ++end;
    ends.push_back(end);
    at = end;
  }
  return ends;
}

}  // namespace augur::mock
