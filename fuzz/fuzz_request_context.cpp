// Fuzzes request context extraction: arbitrary header fields and body through parse_request_body
// (as a chat completions call, so the conversation is read too), parse_client_context and
// extract_context with run inference. Input: "name: value" lines, a blank line, the body. Checks
// what the rest of augur relies on: ids and names are bounded printable ASCII (they go into
// upstream headers and JSON), call indices are in range, non-JSON bodies report no fields and
// no conversation, and an inferred run continues when the same conversation grows.
#include <chrono>
#include <string>

#include "common/text_hash.hpp"
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
  const auto& conv = info.conversation;
  FUZZ_CHECK(conv.tools.size() <= proxy::kMaxToolNames);
  FUZZ_CHECK(conv.last_user_turn < static_cast<std::int64_t>(conv.prefix.size()));
  if (info.json) return;
  FUZZ_CHECK(info.model.empty() && !info.max_tokens && !info.stream && !info.include_usage &&
             info.nvext_prefix_id.empty() && info.message_count == 0 && !info.has_tools &&
             !info.has_nvext && conv.prefix.empty() && conv.tools.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto [head, body] = split_once(augur::fuzz::as_text(data, size), "\n\n");
  const proxy::RequestHead headers = header_fields(head);
  static const std::vector<proxy::AgentRule> rules = {{"named", "You", {}}};
  const proxy::RequestInfo info =
      proxy::parse_request_body(body, proxy::Dialect::chat_completions, rules);
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
  static proxy::ConversationTable conversations(64);
  const auto now = proxy::Clock::time_point{} + std::chrono::seconds(1);
  const proxy::CallContext first = proxy::extract_context(headers, info, runs, now, &conversations);
  const proxy::CallContext second =
      proxy::extract_context(headers, info, runs, now, &conversations);
  for (const proxy::CallContext* ctx : {&first, &second}) {
    FUZZ_CHECK(safe_token(ctx->run_id, proxy::kMaxRunIdBytes));
    if (!client.path.empty()) FUZZ_CHECK(ctx->path == client.path);
    FUZZ_CHECK(ctx->path.size() <= proxy::kMaxPathNames);
    for (const std::string& name : ctx->path) FUZZ_CHECK(safe_token(name, proxy::kMaxNameBytes));
    FUZZ_CHECK(ctx->call_index >= 1 && ctx->calls_in_run >= 1);
  }
  // A conversation that grows by one tool result continues the inferred run.
  if (!client.run_id && !client.run_end && second.source == proxy::RunSource::conversation) {
    proxy::RequestInfo grown = info;
    grown.conversation.prefix.push_back(augur::mix(info.conversation.prefix.back(), 7));
    const proxy::CallContext third =
        proxy::extract_context(headers, grown, runs, now, &conversations);
    FUZZ_CHECK(third.run_id == second.run_id);
    runs.forget(third.run_id);
  }
  if (client.run_id && !client.run_end && !client.call_index) {
    FUZZ_CHECK(second.call_index == first.call_index + 1);
    FUZZ_CHECK(second.calls_in_run == first.calls_in_run + 1);
  }
  runs.forget(first.run_id);
  runs.forget(second.run_id);
  return 0;
}
