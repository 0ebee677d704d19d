// Fuzzes request context extraction: arbitrary header fields and body through parse_request_body,
// parse_client_context and extract_context. Input: "name: value" lines, a blank line, the body.
// Checks what the rest of augur relies on: ids and names are bounded printable ASCII (they go into
// upstream headers and JSON), call indices are in range, and non-JSON bodies report no fields.
#include <chrono>
#include <string>

#include "fuzz/fuzz_check.hpp"
#include "proxy/context/call_context.hpp"
#include "proxy/context/request_info.hpp"

namespace {

using augur::fuzz::split_once;
namespace proxy = augur::proxy;

// Printable ASCII, no blank at either end, at most `max` bytes: what sanitize_token promises.
bool safe_token(std::string_view s, std::size_t max) {
  if (s.empty() || s.size() > max || s.front() == ' ' || s.back() == ' ') return false;
  for (unsigned char c : s) {
    if (c < 0x20 || c > 0x7E) return false;
  }
  return true;
}

// More permissive than the wire (Beast's parser rejects control bytes in names and values), so
// the extraction code sees everything it could possibly be handed.
proxy::RequestHead header_fields(std::string_view block) {
  proxy::RequestHead fields;
  while (!block.empty()) {
    auto [line, rest] = split_once(block, "\n");
    block = rest;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    auto [name, value] = split_once(line, ":");
    if (name.empty()) continue;
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    fields.insert(name, value);
  }
  return fields;
}

void check_info(const proxy::RequestInfo& info) {
  if (info.json) return;
  FUZZ_CHECK(info.model.empty() && !info.max_tokens && !info.stream && !info.include_usage &&
             info.nvext_prefix_id.empty() && info.message_count == 0 && !info.has_tools &&
             !info.has_nvext);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [head, body] = split_once(augur::fuzz::as_text(data, size), "\n\n");
  const proxy::RequestHead headers = header_fields(head);
  const proxy::RequestInfo info = proxy::parse_request_body(body);
  check_info(info);

  const proxy::ClientContext client = proxy::parse_client_context(headers, info);
  if (client.run_id) FUZZ_CHECK(safe_token(*client.run_id, proxy::kMaxRunIdBytes));
  FUZZ_CHECK(client.path.size() <= proxy::kMaxPathNames);
  for (const std::string& name : client.path) FUZZ_CHECK(safe_token(name, proxy::kMaxNameBytes));
  if (client.call_index) {
    FUZZ_CHECK(*client.call_index >= 1 && *client.call_index <= proxy::kMaxCallIndex);
  }

  // Twice through one table: the second call of the same run and path is counted on.
  static proxy::RunTable runs(64, std::chrono::seconds(30), 4);
  const auto now = proxy::Clock::time_point{} + std::chrono::seconds(1);
  const proxy::CallContext first = proxy::extract_context(headers, info, runs, now);
  const proxy::CallContext second = proxy::extract_context(headers, info, runs, now);
  for (const proxy::CallContext* ctx : {&first, &second}) {
    FUZZ_CHECK(safe_token(ctx->run_id, proxy::kMaxRunIdBytes));
    FUZZ_CHECK(ctx->path == client.path);
    FUZZ_CHECK(ctx->call_index >= 1 && ctx->calls_in_run >= 1);
  }
  if (client.run_id && !client.run_end && !client.call_index) {
    FUZZ_CHECK(second.call_index == first.call_index + 1);
    FUZZ_CHECK(second.calls_in_run == first.calls_in_run + 1);
  }
  runs.forget(first.run_id);
  return 0;
}
