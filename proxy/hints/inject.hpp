// Hint injection: turns a prediction into the integer hint values (docs/design.md, Values), decides
// what Dynamo is told (priority, speculative prefill, session end), and writes them in each
// upstream's formats (x-nat-* / x-prefix-* / x-dynamo-* headers, nvext body fields). Pure
// functions over headers and body, no sockets, so every byte written is unit-tested.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "learning/trie/prediction.hpp"
#include "proxy/context/call_context.hpp"
#include "proxy/context/request_info.hpp"
#include "proxy/http/request_head.hpp"

namespace augur::proxy {

// The hint values for one call, already rounded and with fallbacks applied.
struct Hints {
  std::string prefix_id;  // the run id; printable ASCII only
  std::string parent_id;  // the parent run, when the client said (printable ASCII); "" otherwise
  bool session_known = false;  // the run id came from the client: a session Dynamo can follow
  bool client_final = false;   // the client marked this call as its run's last
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

  // What stands behind a value: its sample count and spread (p90 - p50, rounded); 0 and 0 for a
  // static value. Lets a router or an operator tell a learned 300 from a guessed 512.
  struct Evidence {
    std::uint64_t samples = 0;
    std::int64_t spread = 0;
  };
  Evidence remaining_evidence, osl_evidence, iat_evidence;
  double remaining_p90 = -1;  // the prediction's remaining_calls p90; < 0 when unknown

  // What Dynamo is told beyond the values (decide_dynamo).
  std::optional<int> priority;       // nullopt: dynamo.priority off
  bool strict_priority = false;      // send the priority as strict_priority too
  bool speculative_prefill = false;  // another call of the run is predicted: prefill for it
  bool session_final = false;        // the session ends with this call
  bool final_predicted = false;      // session_final said by the prediction, not the client
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
  skipped_dialect,    // an API the upstream's nvext_dialects leaves out (Responses, Messages)
};

struct InjectResult {
  unsigned headers_set = 0;  // header fields written (set, replacing any client value)
  BodyOutcome body = BodyOutcome::untouched;
  bool cache_control = false;  // nvext_nat's cache_control was written (not when remaining is 0)
};

// Hint headers augur writes. strip_client_hints removes exactly these.
inline constexpr std::string_view kHintHeaders[] = {"x-nat-remaining-llm-calls",
                                                    "x-nat-interarrival-ms",
                                                    "x-nat-expected-output-tokens",
                                                    "x-nat-latency-sensitivity",
                                                    "x-nat-prediction-source",
                                                    "x-nat-prediction-samples",
                                                    "x-nat-prediction-spread",
                                                    "x-prefix-total-requests",
                                                    "x-prefix-osl",
                                                    "x-prefix-iat",
                                                    "x-prefix-latency-sensitivity",
                                                    "x-dynamo-request-priority",
                                                    "x-dynamo-request-strict-priority"};

// Removes every hint header a client may have sent (call unless context.trust_client_hints), so a
// client cannot smuggle its own priority to the router. Context headers are inputs, not hints, and
// are kept: x-nat-run-id, x-nat-function-path, x-nat-call-index, x-prefix-id, x-dynamo-session-id,
// x-nat-run-end, x-dynamo-session-final. The two of those augur also writes (x-nat-call-index with
// nat_headers, x-prefix-id with prefix_headers) are replaced by apply_hints, never duplicated.
// Never fails; not thread-safe for the same `headers` (plain mutation).
void strip_client_hints(RequestHead& headers);

// dynamo.priority: remaining_work. W = (remaining + 1) x osl, the output tokens this call and the
// predicted rest of the run will generate (each call estimated at this call's osl); the priority
// is 10 for W under 256 tokens and one level lower for each doubling, down to 1 (W >= ~131k):
// max(1, 10 - floor(log2(1 + W / 256))). Higher is sooner in Dynamo, so the run closest to done
// goes first: shortest remaining work first across runs, from predictions. Pure.
int remaining_work_priority(std::int64_t remaining, std::int64_t osl);

// Fills h.priority, strict_priority, speculative_prefill, session_final and final_predicted from
// the values and `d`: priority per d.priority; speculative_prefill when another call of the run is
// predicted (remaining >= 1 from a prediction with at least d.min_samples samples; never from
// static fallbacks, never on the client's last call); session_final when the client marked the
// last call, or (d.session_final predicted) when remaining is 0 from a prediction with at least
// d.min_samples samples whose p90 is also under 0.5 (nine in ten such calls were last calls).
// Pure.
void decide_dynamo(Hints& h, const config::Dynamo& d);

// "LOW" / "MEDIUM" / "HIGH" as NAT's x-prefix-osl (<256, <1024, else) and x-prefix-iat (<100, <500,
// else ms).
std::string_view osl_bucket(std::int64_t osl);
std::string_view iat_bucket(std::int64_t iat_ms);

// nvext.cache_control.ttl: remaining x iat ms rounded up to whole seconds, rendered "Nm" when whole
// minutes else "Ns". nullopt when remaining is 0: pinning the prefix of a run that just made its
// last call only wastes KV cache (Dynamo would clamp any ttl up to 300 s).
std::optional<std::string> cache_ttl(const Hints& h);

// Writes `h` in each format of `rules.hints`. Headers are set (a client value of the same name is
// replaced):
// - nat_headers: the six x-nat-* values, plus x-nat-prediction-samples and x-nat-prediction-spread
//   as RFC 8941 dictionaries ("remaining=12, osl=12, iat=9");
// - prefix_headers: x-prefix-*;
// - dynamo_headers: x-dynamo-request-priority (and -strict-priority), and for a run the client
//   named, x-dynamo-session-id, x-dynamo-parent-session-id (when known) and
//   x-dynamo-session-final: true (when final).
// nvext formats merge into the body's nvext object: nvext (Dynamo 1.3+) agent_hints {osl,
// priority, speculative_prefill (only when true), strict_priority (when asked)} and nothing
// else; nvext_nat NAT v1.8's agent_hints {osl, priority, latency_sensitivity, prefix_id,
// total_requests, iat} and cache_control {type "ephemeral", ttl}. Every other key the client sent
// is kept (augur's values replace same-named ones, in place), by splicing text into the original
// bytes in one linear pass (never re-serialising the body). On success Content-Length is set to the
// new size and Transfer-Encoding removed. When the body is not a JSON object it is left
// byte-for-byte untouched and the outcome says why. Header values never contain CR, LF or other
// control characters. Never throws except std::bad_alloc; not thread-safe for the same arguments.
InjectResult apply_hints(RequestHead& headers, std::string& body, const Hints& h,
                         const config::Upstream& rules, const RequestInfo& info);

}  // namespace augur::proxy
