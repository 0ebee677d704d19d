// What augur predicts for one LLM call: the NAT LLMCallPrediction (three metric summaries plus a
// latency sensitivity) and where the answer came from. Shared by the trie, SONA and the proxy.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace augur::trie {

// NAT's PredictionMetrics. sample_count 0 means "no samples" (all fields 0).
struct MetricStats {
  std::uint64_t sample_count = 0;
  double mean = 0;
  double p50 = 0;
  double p90 = 0;
  double p95 = 0;
  bool operator==(const MetricStats&) const = default;
};

// NAT's LLMCallPrediction.
struct Prediction {
  MetricStats remaining_calls;
  MetricStats interarrival_ms;
  MetricStats output_tokens;
  std::optional<int> latency_sensitivity;  // 1..scale; null in JSON when absent
  bool operator==(const Prediction&) const = default;
};

// Where a prediction came from, in the order a lookup falls back.
enum class Source : std::uint8_t { exact, any_index, ancestor, root, pattern, static_fallback };

constexpr std::string_view to_string(Source s) {
  switch (s) {
    case Source::exact:
      return "exact";
    case Source::any_index:
      return "any_index";
    case Source::ancestor:
      return "ancestor";
    case Source::root:
      return "root";
    case Source::pattern:
      return "pattern";
    case Source::static_fallback:
      return "static";
  }
  return "static";
}

}  // namespace augur::trie
