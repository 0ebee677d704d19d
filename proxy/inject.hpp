// Hint injection: turns a prediction into the integer hint values of DESIGN.md "Values" and writes
// them in each upstream's formats (x-nat-* / x-prefix-* headers, nvext body fields, Dynamo priority
// header). Pure functions over headers and body, no sockets, so every byte written is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "learning/trie/prediction.hpp"
#include "proxy/context.hpp"
#include "proxy/request_head.hpp"
#include "proxy/request_info.hpp"

namespace augur::proxy {

// The hint values for one call, already rounded and with fallbacks applied.
struct Hints {
  std::string prefix_id;  // the run id; printable ASCII only
  std::uint32_t call_index = 1;
  std::uint32_t calls_in_run = 1;
  trie::Source source =
      trie::Source::static_fallback;  // static_fallback when there was no prediction
  std::int64_t remaining = 0;         // LLM calls after this one; 0 = this is the run's last call
  std::int64_t total_requests = 1;    // calls_in_run + remaining (>= 1)
  std::int64_t osl = 1;               // expected output tokens, p90 (>= 1)
  std::int64_t iat_ms = 1;            // ms until the run's next call (>= 1)
  int latency_sensitivity = 1;        // 1..scale
  int scale = 5;                      // sensitivity scale (config prediction.sensitivity_scale)

  // Which values came from config `prediction.static` rather than the prediction (for metrics:
  // prediction-error ratios are only meaningful for predicted values).
  struct {
    bool remaining = true;
    bool total_requests = true;
    bool osl = true;
    bool iat = true;
    bool latency_sensitivity = true;
  } from_static;
};

// DESIGN.md "Values": remaining = round(remaining_calls.mean), 0 kept; osl =
// round(output_tokens.p90); iat = round(interarrival_ms.mean); latency_sensitivity from the
// prediction when within 1..scale; total_requests = calls_in_run + remaining. A metric with
// sample_count 0, a non-finite or negative value, or an osl/iat/total_requests below 1 falls back
// to `fallback` for that field alone; `p == nullptr` means everything is static and the source is
// reported as static_fallback. remaining has no static value of its own: when it is missing it is
// derived from the static total_requests as max(1, total_requests - calls_in_run) (never 0, which
// would claim "last call"), and total_requests is then the static value itself. Values are capped
// at INT32_MAX. Never fails; thread-safe (pure).
Hints resolve_hints(const trie::Prediction* p, trie::Source source, const CallContext& ctx,
                    const config::StaticPrediction& fallback, int scale);

// What apply_hints did to the body.
enum class BodyOutcome : std::uint8_t {
  untouched,          // nvext not configured for this upstream
  nvext_written,      // body spliced, Content-Length updated
  skipped_not_json,   // nvext configured but the body is not a JSON object (RequestInfo.json false)
  skipped_malformed,  // RequestInfo said JSON but the scanner disagreed (body/info mismatch)
};

struct InjectResult {
  unsigned headers_set = 0;  // header fields written (set, replacing any client value)
  BodyOutcome body = BodyOutcome::untouched;
  bool cache_control = false;  // nvext.cache_control was written (not when remaining is 0)
};

// Hint headers augur writes. strip_client_hints removes exactly these.
inline constexpr std::string_view kHintHeaders[] = {"x-nat-remaining-llm-calls",
                                                    "x-nat-interarrival-ms",
                                                    "x-nat-expected-output-tokens",
                                                    "x-nat-latency-sensitivity",
                                                    "x-nat-prediction-source",
                                                    "x-prefix-total-requests",
                                                    "x-prefix-osl",
                                                    "x-prefix-iat",
                                                    "x-prefix-latency-sensitivity",
                                                    "x-dynamo-request-priority"};

// Removes every hint header a client may have sent (call unless context.trust_client_hints), so a
// client cannot smuggle its own priority to the router. Context headers are inputs, not hints, and
// are kept: x-nat-run-id, x-nat-function-path, x-nat-call-index, x-prefix-id, x-dynamo-session-id,
// x-nat-run-end, x-dynamo-session-final. The two of those augur also writes (x-nat-call-index with
// nat_headers, x-prefix-id with prefix_headers) are replaced by apply_hints, never duplicated.
// Never fails; not thread-safe for the same `headers` (plain mutation).
void strip_client_hints(RequestHead& headers);

// The priority sent for `h` under `mode`. normal: latency_sensitivity (Dynamo >= 1.1, higher is
// more important). inverted: (scale + 1) - latency_sensitivity, i.e. the same 1..scale range
// reversed, so the most sensitive call gets 1 and no call gets 0 (which backends read as "no
// priority").
int priority_value(const Hints& h, config::PriorityMode mode);

// "LOW" / "MEDIUM" / "HIGH" as NAT's x-prefix-osl (<256, <1024, else) and x-prefix-iat (<100, <500,
// else ms).
std::string_view osl_bucket(std::int64_t osl);
std::string_view iat_bucket(std::int64_t iat_ms);

// nvext.cache_control.ttl: remaining x iat ms rounded up to whole seconds, rendered "Nm" when whole
// minutes else "Ns". nullopt when remaining is 0: pinning the prefix of a run that just made its
// last call only wastes KV cache (Dynamo would clamp any ttl up to 300 s).
std::optional<std::string> cache_ttl(const Hints& h);

// Writes `h` in each format of `rules.hints`. Headers are set (a client value of the same name is
// replaced). nvext: merges nvext.agent_hints {osl, priority, latency_sensitivity, and unless
// rules.nvext_strict prefix_id, total_requests, iat} and nvext.cache_control {type "ephemeral",
// ttl} into the body, keeping every other key the client sent (augur's values replace same-named
// ones, in place), by splicing text into the original bytes in one linear pass (never
// re-serialising the body). On success Content-Length is set to the new size and Transfer-Encoding
// removed (the body is fully buffered and re-sent with a known length). When the body is not a JSON
// object it is left byte-for-byte untouched and the outcome says why. Header values never contain
// CR, LF or other control characters. Never throws except std::bad_alloc; not thread-safe for the
// same arguments.
InjectResult apply_hints(RequestHead& headers, std::string& body, const Hints& h,
                         const config::Upstream& rules, const RequestInfo& info);

}  // namespace augur::proxy
