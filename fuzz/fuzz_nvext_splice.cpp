// Fuzzes the nvext body splice (apply_hints with every hint format) on arbitrary bodies and hint
// values. Input: 4 control bytes (formats and flags, remaining, osl, sensitivity), a prefix id up
// to the first newline, then the body. Checks that a body the request parser accepted comes out as
// valid JSON carrying augur's values with every other member the client sent unchanged, that any
// other body is left byte for byte, that Content-Length is the body's size, and that no header
// value carries a control byte.
#include <simdjson.h>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "fuzz/fuzz_check.hpp"
#include "proxy/context/request_info.hpp"
#include "proxy/hints/inject.hpp"

namespace {

namespace dom = simdjson::dom;
namespace proxy = augur::proxy;
using augur::config::HintFormat;

// The members of `object` (in order, duplicates kept) whose key is not in `replaced`, each with
// its minified value: what the splice must carry over untouched.
std::vector<std::pair<std::string, std::string>> kept_members(
    dom::object object, const std::set<std::string_view>& replaced) {
  std::vector<std::pair<std::string, std::string>> out;
  for (dom::key_value_pair kv : object) {
    if (replaced.count(kv.key) == 0) out.emplace_back(kv.key, simdjson::minify(kv.value));
  }
  return out;
}

// The first member `key` of `e`, when `e` is an object that has one.
bool member(dom::element e, std::string_view key, dom::element& out) {
  dom::object o;
  return e.get_object().get(o) == simdjson::SUCCESS && o[key].get(out) == simdjson::SUCCESS;
}

std::int64_t int_at(dom::element doc, std::string_view pointer) {
  std::int64_t v = -1;
  FUZZ_CHECK(doc.at_pointer(pointer).get_int64().get(v) == simdjson::SUCCESS);
  return v;
}

// `in` and `out` are the same member before and after the splice. When the client sent an object
// there, augur merged into it: every member outside `replaced` must be carried over unchanged.
// (A non-object is replaced wholesale, so there is nothing to compare.)
void check_level(dom::element in, dom::element out, const std::set<std::string_view>& replaced) {
  dom::object in_object, out_object;
  if (in.get_object().get(in_object) != simdjson::SUCCESS) return;
  FUZZ_CHECK(out.get_object().get(out_object) == simdjson::SUCCESS);
  FUZZ_CHECK(kept_members(in_object, replaced) == kept_members(out_object, replaced));
}

bool safe_header_value(std::string_view v) {
  for (unsigned char c : v) {
    if (c < 0x20 || c == 0x7F) return false;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 4) return 0;
  const std::uint8_t flags = data[0];
  auto [prefix_id, body_in] =
      augur::fuzz::split_once(augur::fuzz::as_text(data + 4, size - 4), "\n");

  proxy::Hints h;
  h.prefix_id.assign(prefix_id);
  h.remaining = data[1] % 8 == 0 ? 0 : data[1] * 1000;  // 0: no cache_control
  h.iat_ms = 1 + data[1] * 37;
  h.osl = 1 + data[2] * 13;
  h.latency_sensitivity = 1 + data[3] % 5;
  h.total_requests = h.remaining + 1;
  h.session_known = true;
  h.remaining_evidence.samples = data[2];
  augur::config::Dynamo dynamo;
  if (flags & 2) dynamo.priority = augur::config::Dynamo::Priority::remaining_work;
  if (flags & 32) dynamo.strict_priority = true;
  proxy::decide_dynamo(h, dynamo);
  // nvext (Dynamo 1.3+) or nvext_nat (NAT's body).
  const bool nat = (flags & 1) != 0;
  augur::config::Upstream rules;
  rules.name = "fuzz";
  if (flags & 4) rules.hints.push_back(HintFormat::nat_headers);
  if (flags & 8) rules.hints.push_back(HintFormat::prefix_headers);
  if (flags & 16) rules.hints.push_back(HintFormat::dynamo_headers);
  rules.hints.push_back(nat ? HintFormat::nvext_nat : HintFormat::nvext);

  const std::string original(body_in);
  std::string body = original;
  const proxy::RequestInfo info = proxy::parse_request_body(body);
  proxy::RequestHead headers;
  headers.set(boost::beast::http::field::transfer_encoding, "chunked");
  const proxy::InjectResult result = proxy::apply_hints(headers, body, h, rules, info);

  headers.for_each(
      [](auto, std::string_view, std::string_view value) { FUZZ_CHECK(safe_header_value(value)); });
  // Without an nvext key the splice skips its scan; it must make exactly the merge's edit.
  if (info.json && info.no_nvext_key) {
    proxy::RequestInfo scanned = info;
    scanned.no_nvext_key = false;
    std::string merged = original;
    proxy::RequestHead other;
    proxy::apply_hints(other, merged, h, rules, scanned);
    FUZZ_CHECK(merged == body);
  }
  if (!info.json) {
    FUZZ_CHECK(result.body == proxy::BodyOutcome::skipped_not_json);
    FUZZ_CHECK(body == original);
    return 0;
  }
  // simdjson validated the body, so the scanner must agree it is an object it can splice.
  FUZZ_CHECK(result.body == proxy::BodyOutcome::nvext_written);
  FUZZ_CHECK(headers[boost::beast::http::field::content_length] == std::to_string(body.size()));
  FUZZ_CHECK(!headers.find(boost::beast::http::field::transfer_encoding));

  static dom::parser in_parser, out_parser;
  dom::element in_doc, out_doc;
  FUZZ_CHECK(in_parser.parse(original).get(in_doc) == simdjson::SUCCESS);
  const auto out_error = out_parser.parse(body).get(out_doc);
  if (out_error != simdjson::SUCCESS) {
    std::fprintf(stderr, "spliced body is not JSON (%s):\n%s\n", simdjson::error_message(out_error),
                 body.c_str());
  }
  FUZZ_CHECK(out_error == simdjson::SUCCESS);

  FUZZ_CHECK(int_at(out_doc, "/nvext/agent_hints/osl") == h.osl);
  FUZZ_CHECK(int_at(out_doc, "/nvext/agent_hints/priority") == *h.priority);
  if (nat) {
    FUZZ_CHECK(int_at(out_doc, "/nvext/agent_hints/latency_sensitivity") == h.latency_sensitivity);
    FUZZ_CHECK(int_at(out_doc, "/nvext/agent_hints/iat") == h.iat_ms);
  }
  FUZZ_CHECK(result.cache_control == (nat && h.remaining > 0));

  // Everything else the client sent is still there, unchanged, at every level augur touched.
  std::set<std::string_view> hint_keys = {"osl", "priority"};
  if (nat) {
    hint_keys.insert({"latency_sensitivity", "prefix_id", "total_requests", "iat"});
  } else {
    if (h.speculative_prefill) hint_keys.insert("speculative_prefill");
    if (h.strict_priority) hint_keys.insert("strict_priority");
  }
  std::set<std::string_view> nvext_keys = {"agent_hints"};
  if (result.cache_control) nvext_keys.insert("cache_control");
  check_level(in_doc, out_doc, {"nvext"});
  dom::element in_nvext, out_nvext, in_child, out_child;
  if (member(in_doc, "nvext", in_nvext)) {
    FUZZ_CHECK(member(out_doc, "nvext", out_nvext));
    check_level(in_nvext, out_nvext, nvext_keys);
    if (member(in_nvext, "agent_hints", in_child)) {
      FUZZ_CHECK(member(out_nvext, "agent_hints", out_child));
      check_level(in_child, out_child, hint_keys);
    }
    if (result.cache_control && member(in_nvext, "cache_control", in_child)) {
      FUZZ_CHECK(member(out_nvext, "cache_control", out_child));
      check_level(in_child, out_child, {"type", "ttl"});
    }
  }
  return 0;
}
