// simdjson adapter for RequestInfo: one validating DOM parse of the request body, then a handful of
// key lookups. The DOM parser (not On Demand) is used on purpose: it checks the whole document, so
// `json == true` guarantees the nvext splice in inject.cpp works on well-formed JSON.
#include "proxy/request_info.hpp"

#include <simdjson.h>

#include <limits>
#include <new>

namespace augur::proxy {
namespace {

namespace dom = simdjson::dom;

// Parsers keep their buffers between documents, which is what makes reuse cheap; a thread keeps one
// sized for ordinary requests, and rare huge bodies get a throw-away parser so a single long prompt
// does not pin tens of MB per io thread for the life of the process.
constexpr std::size_t kReusableParserLimit = 1u << 20;

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

void read_fields(dom::object root, RequestInfo& info) {
  dom::element e;
  std::string_view s;
  bool b = false;

  if (root["model"].get(e) == simdjson::SUCCESS && e.get_string().get(s) == simdjson::SUCCESS) {
    info.model.assign(s);
  }
  if (root["max_completion_tokens"].get(e) == simdjson::SUCCESS) info.max_tokens = as_int(e);
  if (!info.max_tokens && root["max_tokens"].get(e) == simdjson::SUCCESS) {
    info.max_tokens = as_int(e);
  }
  if (root["stream"].get(e) == simdjson::SUCCESS && e.get_bool().get(b) == simdjson::SUCCESS) {
    info.stream = b;
  }
  if (root["stream_options"].get(e) == simdjson::SUCCESS && e.is_object() &&
      e["include_usage"].get_bool().get(b) == simdjson::SUCCESS) {
    info.include_usage = b;
  }
  dom::array arr;
  if (root["messages"].get(e) == simdjson::SUCCESS && e.get_array().get(arr) == simdjson::SUCCESS) {
    info.message_count = arr.size();
  }
  if (root["tools"].get(e) == simdjson::SUCCESS && e.get_array().get(arr) == simdjson::SUCCESS) {
    info.has_tools = arr.begin() != arr.end();
  }
  dom::object nvext;
  if (root["nvext"].get(e) == simdjson::SUCCESS && e.get_object().get(nvext) == simdjson::SUCCESS) {
    info.has_nvext = true;
    dom::object hints;
    if (nvext["agent_hints"].get(e) == simdjson::SUCCESS &&
        e.get_object().get(hints) == simdjson::SUCCESS &&
        hints["prefix_id"].get(e) == simdjson::SUCCESS &&
        e.get_string().get(s) == simdjson::SUCCESS) {
      info.nvext_prefix_id.assign(s);
    }
  }
}

RequestInfo parse_with(dom::parser& parser, std::string_view body) {
  RequestInfo info;
  dom::element doc;
  // realloc_if_needed: copies into a padded buffer (simdjson reads up to 64 bytes past the end).
  if (parser.parse(body.data(), body.size(), true).get(doc) != simdjson::SUCCESS) return info;
  dom::object root;
  if (doc.get_object().get(root) != simdjson::SUCCESS) return info;
  info.json = true;
  read_fields(root, info);
  return info;
}

}  // namespace

RequestInfo parse_request_body(std::string_view body) {
  // simdjson rejects an empty document itself, but skipping it avoids touching the parser at all
  // for the common GET / empty-body case.
  if (body.empty()) return {};
  try {
    if (body.size() > kReusableParserLimit) {
      dom::parser once;
      return parse_with(once, body);
    }
    thread_local dom::parser parser;
    return parse_with(parser, body);
  } catch (const std::bad_alloc&) {
    // Only allocation can throw here (all lookups use error codes): treat as "not JSON" so the
    // request is forwarded untouched rather than failed.
    return {};
  }
}

}  // namespace augur::proxy
