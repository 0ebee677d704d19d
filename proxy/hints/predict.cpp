#include "proxy/hints/predict.hpp"

#include <algorithm>
#include <array>
#include <cmath>

#include "learning/sona/engine.hpp"
#include "learning/trie/lookup.hpp"

namespace augur::proxy {

namespace {

bool weak(trie::Source source, const trie::Prediction* p) {
  return source == trie::Source::ancestor || source == trie::Source::root ||
         source == trie::Source::static_fallback || p == nullptr ||
         p->output_tokens.sample_count < kWeakSamples;
}

std::int64_t rounded(double v) { return static_cast<std::int64_t>(std::llround(v)); }

// SONA's values where its patterns have seen them; the trie's (or static) elsewhere. Output
// tokens and remaining calls are what SONA measurably improves (loadtest/README.md).
void refine(Hints& h, const sona::Suggestion& s) {
  bool used = false;
  // The patterns' evidence: the trajectories behind them; no spread or p90 of their own.
  const Hints::Evidence evidence{s.samples, 0};
  if (s.known[static_cast<std::size_t>(sona::Hint::output_tokens)]) {
    const auto osl = rounded(s.values.output_tokens);
    if (osl >= 1) {
      h.osl = osl;
      h.from_static.osl = false;
      h.osl_evidence = evidence;
      used = true;
    }
  }
  if (s.known[static_cast<std::size_t>(sona::Hint::remaining_calls)]) {
    h.remaining = std::max<std::int64_t>(0, rounded(s.values.remaining_calls));
    h.total_requests = std::max<std::int64_t>(1, h.calls_in_run + h.remaining);
    h.from_static.remaining = false;
    h.from_static.total_requests = false;
    h.remaining_evidence = evidence;
    h.remaining_p90 = -1;  // unknown: never a predicted session end
    used = true;
  }
  if (used) h.source = trie::Source::pattern;
}

// Asks SONA about the call (the trie's answer weak or not decides the confidence bar) and takes
// its values where it is confident.
void refine_with_sona(Hints& hints, const sona::Engine& sona, const CallContext& ctx,
                      const RequestInfo& info, std::size_t body_bytes, trie::Source source,
                      const trie::Prediction* found, Clock::time_point now) {
  sona::CallFeatures f;
  f.path = ctx.path;
  f.call_index = ctx.call_index;
  f.model = info.model;
  f.request_bytes = body_bytes;
  f.max_tokens = info.max_tokens;
  f.message_count = static_cast<std::uint32_t>(info.message_count);
  f.tools = info.has_tools;
  f.stream = info.stream;
  const double bar = sona.config().min_confidence;
  if (const auto s = sona.suggest_call(f, weak(source, found) ? bar / 4 : bar, now)) {
    refine(hints, *s);
  }
}

}  // namespace

Hints predict(const config::Config& config, const trie::Trie* trie, const CallContext& ctx,
              const RequestInfo& info, std::size_t body_bytes, const sona::Engine* sona,
              Clock::time_point now) {
  const auto& cfg = config.prediction;
  const trie::Prediction* found = nullptr;
  trie::Source source = trie::Source::static_fallback;
  if (trie) {
    std::array<std::string_view, 64> names;
    const std::size_t depth = std::min(ctx.path.size(), names.size());
    for (std::size_t i = 0; i < depth; ++i) names[i] = ctx.path[i];
    if (const auto r = trie::lookup(*trie, {names.data(), depth}, ctx.call_index)) {
      found = r->prediction;
      source = r->source;
    }
  }
  Hints hints = resolve_hints(found, source, ctx, cfg.fallback, cfg.sensitivity_scale);
  if (sona != nullptr) refine_with_sona(hints, *sona, ctx, info, body_bytes, source, found, now);
  decide_dynamo(hints, config.dynamo);
  return hints;
}

}  // namespace augur::proxy
