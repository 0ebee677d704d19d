// simdjson adapter for RequestInfo: one validating DOM parse of the request body, then a handful of
// key lookups. The DOM parser (not On Demand) is used on purpose: it checks the whole document, so
// `json == true` guarantees the nvext splice in inject.cpp works on well-formed JSON.
#include "proxy/context/request_info.hpp"

#include <simdjson.h>

#include <limits>
#include <new>

#include "common/literal.hpp"
#include "proxy/context/conversation_shape.hpp"

namespace augur::proxy {
namespace {

namespace dom = simdjson::dom;

// Parsers keep their buffers between documents, which is what makes reuse cheap; a thread keeps one
// sized for ordinary requests, and rare huge bodies get a throw-away parser so a single long prompt
// does not pin tens of MB per io thread for the life of the process.
constexpr std::size_t kReusableParserLimit = 1u << 20;
static_assert(kJsonPadding == simdjson::SIMDJSON_PADDING);

std::optional<std::int64_t> as_int(dom::element e) {
  std::int64_t i = 0;
  if (e.get_int64().get(i) == simdjson::SUCCESS) return i;
  std::uint64_t u = 0;
  if (e.get_uint64().get(u) == simdjson::SUCCESS) return std::numeric_limits<std::int64_t>::max();
  double d = 0;
  // Some clients send 256.0; accept integral doubles in range, nothing else.
  if (e.get_double().get(d) == simdjson::SUCCESS && d >= -9.0e18 && d <= 9.0e18 &&
      d == static_cast<double>(static_cast<std::int64_t>(d))) {
    return static_cast<std::int64_t>(d);
  }
  return std::nullopt;
}

// A response id longer than this is cut (OpenAI's are ~50 bytes); it is only a lookup key.
constexpr std::size_t kMaxResponseIdBytes = 128;

// One pass over the top-level members (a lookup per key would rescan the object each time). The
// first occurrence of a duplicated key wins, as a lookup would have it.
void read_fields(dom::object root, RequestInfo& info) {
  enum : unsigned {
    model = 1,
    max_completion = 2,
    max = 4,
    stream = 8,
    options = 16,
    messages = 32,
    tools = 64,
    nvext = 128
  };
  unsigned seen = 0;
  std::optional<std::int64_t> max_completion_tokens, max_tokens;
  const auto first = [&seen](unsigned bit) {
    const bool was = seen & bit;
    seen |= bit;
    return !was;
  };
  std::string_view s;
  bool b = false;
  dom::array arr;
  dom::object obj;
  bool nvext_key = false;
  for (const dom::key_value_pair field : root) {
    const std::string_view key = field.key;
    const dom::element e = field.value;
    if (is_literal(key, "model")) {
      if (first(model) && e.get_string().get(s) == simdjson::SUCCESS) info.model.assign(s);
    } else if (is_literal(key, "max_completion_tokens") || is_literal(key, "max_output_tokens")) {
      // Chat completions' newer name, and Responses' (Messages uses max_tokens).
      if (first(max_completion)) max_completion_tokens = as_int(e);
    } else if (is_literal(key, "max_tokens")) {
      if (first(max)) max_tokens = as_int(e);
    } else if (is_literal(key, "stream")) {
      if (first(stream) && e.get_bool().get(b) == simdjson::SUCCESS) info.stream = b;
    } else if (is_literal(key, "stream_options")) {
      if (first(options) && e.get_object().get(obj) == simdjson::SUCCESS &&
          obj["include_usage"].get_bool().get(b) == simdjson::SUCCESS) {
        info.include_usage = b;
      }
    } else if (is_literal(key, "messages") || is_literal(key, "input")) {
      // Chat's and Messages' message list, Responses' input items (or one input string).
      if (!first(messages)) continue;
      if (e.get_array().get(arr) == simdjson::SUCCESS) {
        info.message_count = arr.size();
      } else if (e.is_string()) {
        info.message_count = 1;
      }
    } else if (is_literal(key, "tools")) {
      if (first(tools) && e.get_array().get(arr) == simdjson::SUCCESS) {
        info.has_tools = arr.begin() != arr.end();
      }
    } else if (is_literal(key, "previous_response_id")) {
      if (e.get_string().get(s) == simdjson::SUCCESS && info.previous_response_id.empty()) {
        info.previous_response_id.assign(s.substr(0, kMaxResponseIdBytes));
      }
    } else if (is_literal(key, "nvext")) {
      nvext_key = true;
      if (!first(nvext) || e.get_object().get(obj) != simdjson::SUCCESS) continue;
      info.has_nvext = true;
      dom::object hints;
      dom::element id;
      if (obj["agent_hints"].get_object().get(hints) == simdjson::SUCCESS &&
          hints["prefix_id"].get(id) == simdjson::SUCCESS &&
          id.get_string().get(s) == simdjson::SUCCESS) {
        info.nvext_prefix_id.assign(s);
      }
    }
  }
  info.max_tokens = max_completion_tokens ? max_completion_tokens : max_tokens;
  info.no_nvext_key = !nvext_key;
}

// Resets `info` to a default RequestInfo for `dialect`, keeping its lists' memory.
void reset(RequestInfo& info, Dialect dialect) {
  std::vector<std::uint64_t> prefix = std::move(info.conversation.prefix);
  std::vector<std::string> tools = std::move(info.conversation.tools);
  info = RequestInfo{};
  info.dialect = dialect;
  prefix.clear();
  info.conversation.prefix = std::move(prefix);
  info.conversation.tools = std::move(tools);  // read_conversation reuses its strings, then trims
}

// Whether the conversation was read (which sets its tool names).
bool parse_with(dom::parser& parser, std::string_view body, std::span<const AgentRule> rules,
                bool conversation, bool padded, RequestInfo& info) {
  dom::element doc;
  // Unless the caller's buffer is padded, realloc_if_needed copies the body into one that is.
  if (parser.parse(body.data(), body.size(), !padded).get(doc) != simdjson::SUCCESS) return false;
  dom::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) return false;
  info.json = true;
  read_fields(root, info);
  if (!conversation || info.dialect == Dialect::none) return false;
  read_conversation(root, rules, info.conversation);
  return true;
}

}  // namespace

void parse_request_body(RequestInfo& info, std::string_view body, Dialect dialect,
                        std::span<const AgentRule> rules, bool conversation, bool padded) {
  reset(info, dialect);
  bool read = false;
  // simdjson rejects an empty document itself, but skipping it avoids touching the parser at all
  // for the common GET / empty-body case.
  if (!body.empty()) {
    try {
      if (body.size() > kReusableParserLimit) {
        dom::parser once;
        read = parse_with(once, body, rules, conversation, padded, info);
      } else {
        thread_local dom::parser parser;
        read = parse_with(parser, body, rules, conversation, padded, info);
      }
    } catch (const std::bad_alloc&) {
      // Only allocation can throw here (all lookups use error codes): treat as "not JSON" so the
      // request is forwarded untouched rather than failed.
      reset(info, dialect);
    }
  }
  if (!read) info.conversation.tools.clear();  // names the last body left for reuse
}

RequestInfo parse_request_body(std::string_view body, Dialect dialect,
                               std::span<const AgentRule> rules, bool conversation) {
  RequestInfo info;
  parse_request_body(info, body, dialect, rules, conversation);
  return info;
}

bool is_llm_call(bool post, const RequestInfo& info) {
  return post && info.json && info.dialect != Dialect::none;
}

}  // namespace augur::proxy
