// The four hints SONA predicts, what the proxy observed afterwards, and what SONA suggests. SONA
// learns in log space (log(1 + value)), where a factor-of-two error weighs the same on 20 tokens
// as on 2,000 and 0 remaining calls stays meaningful.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>

namespace augur::sona {

// Order of the hints in every HintVector.
enum class Hint : std::size_t {
  remaining_calls,
  output_tokens,
  interarrival_ms,
  latency_sensitivity
};
constexpr std::size_t kHints = 4;

struct HintValues {
  double remaining_calls = 0;
  double output_tokens = 0;
  double interarrival_ms = 0;
  double latency_sensitivity = 0;
  bool operator==(const HintValues&) const = default;
};

// What happened after a call; any value may be missing (no next call, no usage block, ...).
struct Observed {
  std::optional<double> remaining_calls;
  std::optional<double> output_tokens;
  std::optional<double> interarrival_ms;
  std::optional<double> latency_sensitivity;
  bool failed = false;
};

struct Suggestion {
  HintValues values;
  double confidence = 0;      // 0..1; suggest() withholds those below min_confidence
  std::uint64_t samples = 0;  // trajectories behind the patterns that answered
  // Which values the patterns have observed (a run's last calls never see an inter-arrival
  // time); for the others keep the trie's value.
  std::array<bool, 4> known{};
};

// Hints in log space, one float each.
using HintVector = std::array<float, kHints>;

// log(1 + max(0, v)) for each hint.
HintVector to_log(const HintValues& v) noexcept;

// The inverse of to_log, clamped at 0.
HintValues from_log(const HintVector& v) noexcept;

// Log-space targets for the observed hints, and which of them are present.
struct Target {
  HintVector value{};
  std::array<bool, kHints> present{};
  bool any() const noexcept { return present[0] || present[1] || present[2] || present[3]; }
};
Target to_target(const Observed& o) noexcept;

// |log((predicted + 1) / (actual + 1))|: the error metric of the evaluation and of the workload
// generator.
double log_error(double predicted, double actual) noexcept;

}  // namespace augur::sona
