#include "learning/engine/sona_feedback.hpp"

#include "learning/sona/engine.hpp"

namespace augur::learning {

sona::CallFeatures features_of(const CallObservation& call) {
  sona::CallFeatures f;
  f.path = call.path;
  f.call_index = call.call_index;
  f.model = call.shape.model;
  f.request_bytes = call.shape.request_bytes;
  f.max_tokens = call.shape.max_tokens;
  f.message_count = call.shape.message_count;
  f.tools = call.shape.tools;
  f.stream = call.shape.stream;
  return f;
}

void teach(sona::Engine& engine, const Trajectory& trajectory, const ClosedRun& run,
           const std::vector<HintErrors>& checks) {
  (void)trajectory;  // its quality is recomputed by SONA from injected vs actual
  sona::Embedding embedding;
  for (std::size_t i = 0; i < run.calls.size(); ++i) {
    const auto& call = run.calls[i];
    engine.embed(features_of(call), embedding);
    sona::HintValues injected;
    injected.remaining_calls = static_cast<double>(call.hints.remaining);
    injected.output_tokens = static_cast<double>(call.hints.osl);
    injected.interarrival_ms = static_cast<double>(call.hints.iat_ms);
    injected.latency_sensitivity = call.hints.latency_sensitivity;
    sona::Observed actual;
    actual.failed = call.failed;
    if (i < checks.size()) {
      actual.remaining_calls = checks[i].actual_remaining_calls;
      actual.interarrival_ms = checks[i].actual_interarrival_ms;
    }
    if (call.output_tokens) actual.output_tokens = static_cast<double>(*call.output_tokens);
    engine.learn(embedding, injected, actual);
  }
  const auto now = sona::Engine::Clock::now();
  if (engine.background_due(now)) engine.background_cycle(now);
}

}  // namespace augur::learning
