// A closed run as a trajectory (after the seed's trajectory model): one step per LLM call with its
// outcome, latency, tokens and a confidence that says how right augur's hints were, a verdict for
// the whole run and a quality score. SONA learns from these; operators see their quality.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "learning/engine/run_tracker.hpp"

namespace augur::learning {

enum class StepOutcome : std::uint8_t {
  success,  // a whole response with a 2xx status
  partial,  // a response, but an error status or cut short
  failure,  // no response
};

// The seed's outcome scores: success 1, partial 0.6, failure 0.
double outcome_score(StepOutcome o);

// |log((predicted+1)/(actual+1))| of the hints that could be checked for one call, and the actual
// values they were checked against (by the builder's definitions).
struct HintErrors {
  std::optional<double> remaining_calls;
  std::optional<double> output_tokens;
  std::optional<double> interarrival_ms;
  std::optional<double> actual_remaining_calls;
  std::optional<double> actual_interarrival_ms;

  // exp(−mean error): 1 when every checked hint was exact, 0.5 when they were off by a factor of
  // two on average; 1 when nothing could be checked.
  double confidence() const;
};

struct TrajectoryStep {
  std::size_t index = 0;  // 0-based, in the run's end order
  std::string action;     // the function path, names joined by '/'
  std::uint32_t call_index = 1;
  StepOutcome outcome = StepOutcome::success;
  HintErrors errors;
  double latency_ms = 0;
  std::optional<double> ttfb_ms;
  std::optional<std::uint64_t> output_tokens;

  double quality() const { return outcome_score(outcome) * errors.confidence(); }
};

struct Verdict {
  enum class Kind : std::uint8_t { success, partial, failure } kind = Kind::success;
  double completion_ratio = 1;  // share of steps that succeeded
};

struct Trajectory {
  std::string run_id;
  std::vector<TrajectoryStep> steps;
  Verdict verdict;
  double quality = 0;  // mean step quality × verdict factor (1, 0.5 + 0.5 × ratio, 0.3)
  std::int64_t started_at_ms = 0;
  std::int64_t completed_at_ms = 0;
  std::uint64_t total_output_tokens = 0;
};

// The trajectory of a closed run; `errors[i]` belongs to run.calls[i]. Pure function.
Trajectory make_trajectory(const ClosedRun& run, const std::vector<HintErrors>& errors);

}  // namespace augur::learning
