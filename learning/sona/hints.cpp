// Log-space conversions of hint values.
#include "learning/sona/hints.hpp"

#include <algorithm>
#include <cmath>

namespace augur::sona {

namespace {
float lg(double v) { return static_cast<float>(std::log1p(std::max(0.0, v))); }
double ex(float v) { return std::max(0.0, std::expm1(static_cast<double>(v))); }
}  // namespace

HintVector to_log(const HintValues& v) noexcept {
  return {lg(v.remaining_calls), lg(v.output_tokens), lg(v.interarrival_ms),
          lg(v.latency_sensitivity)};
}

HintValues from_log(const HintVector& v) noexcept {
  return {ex(v[0]), ex(v[1]), ex(v[2]), ex(v[3])};
}

Target to_target(const Observed& o) noexcept {
  Target t;
  const std::optional<double>* values[kHints] = {&o.remaining_calls, &o.output_tokens,
                                                 &o.interarrival_ms, &o.latency_sensitivity};
  for (std::size_t h = 0; h < kHints; ++h) {
    const auto& v = *values[h];
    if (v && std::isfinite(*v) && *v >= 0) {
      t.value[h] = lg(*v);
      t.present[h] = true;
    }
  }
  return t;
}

double log_error(double predicted, double actual) noexcept {
  return std::fabs(std::log((std::max(0.0, predicted) + 1) / (std::max(0.0, actual) + 1)));
}

}  // namespace augur::sona
