// What the proxy hands to learning for every call it forwarded: where the call came from, what
// augur predicted and injected, and what then happened (timings, output tokens, status). Plain
// values, so the proxy can move one into the learning queue without sharing anything with the
// learner.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "learning/trie/prediction.hpp"

namespace augur::learning {

// The hint values augur injected for a call (not their wire formats) and where they came from.
struct InjectedHints {
  trie::Source source = trie::Source::static_fallback;
  std::int64_t remaining = 0;
  std::int64_t osl = 0;
  std::int64_t iat_ms = 0;
  int latency_sensitivity = 0;
  // Values taken from config `prediction.static` rather than a prediction; prediction error is
  // reported for these under source "static".
  bool remaining_static = true;
  bool osl_static = true;
  bool iat_static = true;
  // Samples and spread (p90 - p50) behind remaining, osl and iat (0 for static values).
  std::array<std::uint64_t, 3> samples{};
  std::array<std::int64_t, 3> spread{};
  // What Dynamo was told beyond the values.
  std::optional<int> priority;
  bool speculative_prefill = false;  // asked Dynamo to prefill for the run's next call
  bool session_final = false;        // told Dynamo the session ends here
  bool final_predicted = false;      // ... because the prediction said so (not the client)
};

// The request facts SONA embeds (a call's shape, known before it is forwarded).
struct RequestShape {
  std::string model;
  std::size_t request_bytes = 0;
  std::optional<std::int64_t> max_tokens;
  std::uint32_t message_count = 0;
  bool tools = false;
  bool stream = false;
};

struct CallObservation {
  std::string run_id;
  bool run_id_from_client = false;  // false: a generated id, the call is a run of its own
  bool run_end = false;             // the client marked this as the run's last call
  std::vector<std::string> path;
  std::uint32_t call_index = 1;
  std::uint32_t calls_in_run = 1;
  RequestShape shape;
  InjectedHints hints;

  // Unix epoch milliseconds (system clock): when augur had the whole request, when the response
  // ended. ended_at_ms is absent when no response was relayed to the end.
  std::int64_t started_at_ms = 0;
  std::optional<std::int64_t> ended_at_ms;
  // From started_at, in milliseconds (steady clock): response headers, first content token.
  std::optional<double> ttfb_ms;
  std::optional<double> first_token_ms;
  // usage.completion_tokens (JSON body or a stream's usage chunk); else, for streams, the number of
  // content deltas seen. Absent when neither was available.
  std::optional<std::uint64_t> output_tokens;
  int status = 0;       // upstream HTTP status; 0 when none was received
  bool failed = false;  // no complete response (transport failure, timeout, client gone)
};

}  // namespace augur::learning
