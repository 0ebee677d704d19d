#include "learning/engine/trajectory.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace augur::learning {

double outcome_score(StepOutcome o) {
  switch (o) {
    case StepOutcome::success:
      return 1.0;
    case StepOutcome::partial:
      return 0.6;
    case StepOutcome::failure:
      return 0.0;
  }
  return 0.0;
}

double HintErrors::confidence() const {
  double sum = 0;
  int n = 0;
  for (const auto& e : {remaining_calls, output_tokens, interarrival_ms}) {
    if (e) sum += *e, ++n;
  }
  return n == 0 ? 1.0 : std::exp(-sum / n);
}

namespace {

StepOutcome outcome_of(const CallObservation& c) {
  if (c.status == 0) return StepOutcome::failure;
  if (c.failed || c.status < 200 || c.status >= 300) return StepOutcome::partial;
  return StepOutcome::success;
}

std::string join(const std::vector<std::string>& path) {
  std::string out;
  for (const auto& name : path) {
    if (!out.empty()) out += '/';
    out += name;
  }
  return out;
}

}  // namespace

Trajectory make_trajectory(const ClosedRun& run, const std::vector<HintErrors>& errors) {
  Trajectory t;
  t.run_id = run.record.run_id;
  t.started_at_ms = run.record.started_at_ms;
  t.completed_at_ms = run.record.ended_at_ms.value_or(run.record.started_at_ms);

  // Steps in end order, as the builder sees the run.
  std::vector<std::size_t> order(run.calls.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return run.calls[a].ended_at_ms.value_or(run.calls[a].started_at_ms) <
           run.calls[b].ended_at_ms.value_or(run.calls[b].started_at_ms);
  });
  std::size_t successes = 0;
  double quality_sum = 0;
  for (const std::size_t i : order) {
    const auto& c = run.calls[i];
    TrajectoryStep s;
    s.index = t.steps.size();
    s.action = join(c.path);
    s.call_index = c.call_index;
    s.outcome = outcome_of(c);
    if (i < errors.size()) s.errors = errors[i];
    s.latency_ms = static_cast<double>(c.ended_at_ms.value_or(c.started_at_ms) - c.started_at_ms);
    s.ttfb_ms = c.ttfb_ms;
    s.output_tokens = c.output_tokens;
    t.total_output_tokens += c.output_tokens.value_or(0);
    successes += s.outcome == StepOutcome::success ? 1 : 0;
    quality_sum += s.quality();
    t.steps.push_back(std::move(s));
  }

  if (t.steps.empty()) {
    t.verdict = {Verdict::Kind::partial, 0};
    t.quality = 0;
    return t;
  }
  const double ratio = static_cast<double>(successes) / static_cast<double>(t.steps.size());
  double factor = 1.0;
  if (successes == t.steps.size()) {
    t.verdict = {Verdict::Kind::success, 1.0};
  } else if (successes == 0) {
    t.verdict = {Verdict::Kind::failure, 0.0};
    factor = 0.3;
  } else {
    t.verdict = {Verdict::Kind::partial, ratio};
    factor = 0.5 + 0.5 * ratio;
  }
  t.quality = quality_sum / static_cast<double>(t.steps.size()) * factor;
  return t;
}

}  // namespace augur::learning
