// Fuzzes the response meter: a flags byte (event stream or JSON body; dialect), a split byte, then
// a response body from an upstream. The meter must never fail on any bytes, keep its bounds (at
// most kMaxTasks task texts), and read the same usage and tool-call texts whether the body comes
// whole or in two pieces at the split byte (reads may split anywhere).
#include <string>

#include "fuzz/fuzz_check.hpp"
#include "proxy/observe/response_meter.hpp"

namespace {
namespace proxy = augur::proxy;
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool stream = data[0] & 1;
  constexpr proxy::Dialect kDialects[] = {proxy::Dialect::chat_completions,
                                          proxy::Dialect::completions, proxy::Dialect::responses,
                                          proxy::Dialect::messages};
  const proxy::Dialect dialect = kDialects[(data[0] >> 1) & 3];
  const std::string_view body = augur::fuzz::as_text(data + 2, size - 2);
  const std::size_t split = body.empty() ? 0 : data[1] % (body.size() + 1);

  proxy::ResponseMeter whole, parts;
  whole.reset(stream, dialect);
  parts.reset(stream, dialect);
  whole.feed(body);
  parts.feed(body.substr(0, split));
  parts.feed(body.substr(split));
  const auto tasks = whole.tool_tasks();
  FUZZ_CHECK(tasks.size() <= proxy::ResponseMeter::kMaxTasks);
  FUZZ_CHECK(whole.response_id().size() <= proxy::ResponseMeter::kMaxIdBytes);
  FUZZ_CHECK(parts.tool_tasks() == tasks);
  FUZZ_CHECK(parts.output_tokens() == whole.output_tokens());
  FUZZ_CHECK(parts.response_id() == whole.response_id());
  return 0;
}
