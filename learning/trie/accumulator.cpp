#include "learning/trie/accumulator.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>

#include "learning/trie/trie.hpp"

namespace augur::trie {

// ---- Moments ---------------------------------------------------------------------------------

void Moments::add(double x, double weight) noexcept {
  const double w = std::max(weight, kMinWeight);
  ++count_;
  weight_ += w;
  const double delta = x - mean_;
  // delta * w / W rather than delta * (w / W): with w = 1 this is Welford's delta / n, bit for bit.
  mean_ += delta * w / weight_;
  m2_ += w * delta * (x - mean_);
}

void Moments::merge(const Moments& other, double scale) noexcept {
  if (other.count_ == 0) return;
  if (count_ == 0) {
    *this = other;
    if (scale != 1.0) this->scale(scale);
    return;
  }
  const double na = weight_;
  const double nb = std::max(other.weight_ * scale, kMinWeight);
  const double n = na + nb;
  const double delta = other.mean_ - mean_;
  mean_ += delta * (nb / n);
  m2_ += other.m2_ * scale + delta * delta * (na * nb / n);
  weight_ = n;
  count_ += other.count_;
}

void Moments::scale(double factor) noexcept {
  if (count_ == 0) return;
  weight_ = std::max(weight_ * factor, kMinWeight);
  m2_ *= factor;
}

Moments Moments::from_parts(std::uint64_t count, double mean, double m2, double weight) {
  if (!std::isfinite(mean) || !std::isfinite(m2) || m2 < 0) {
    throw TrieError("moments: mean and m2 must be finite and m2 >= 0");
  }
  if (count == 0 && (mean != 0 || m2 != 0 || weight > 0)) {
    throw TrieError("moments: empty but not zero");
  }
  if (weight < 0) weight = static_cast<double>(count);
  if (count > 0 && !(std::isfinite(weight) && weight >= kMinWeight)) {
    throw TrieError("moments: weight must be positive and finite");
  }
  Moments m;
  m.count_ = count;
  m.weight_ = weight;
  m.mean_ = mean;
  m.m2_ = m2;
  return m;
}

// ---- QuantileSketch --------------------------------------------------------------------------

namespace {

constexpr double kGamma =
    (1 + QuantileSketch::kRelativeAccuracy) / (1 - QuantileSketch::kRelativeAccuracy);

struct Mapping {
  double log_gamma;
  double inv_log_gamma;
  std::int32_t min_key;
  std::int32_t max_key;
};

const Mapping& mapping() {
  static const Mapping m = [] {
    Mapping r{};
    r.log_gamma = std::log(kGamma);
    r.inv_log_gamma = 1.0 / r.log_gamma;
    r.min_key =
        static_cast<std::int32_t>(std::ceil(std::log(QuantileSketch::kMinValue) * r.inv_log_gamma));
    r.max_key =
        static_cast<std::int32_t>(std::ceil(std::log(QuantileSketch::kMaxValue) * r.inv_log_gamma));
    return r;
  }();
  return m;
}

// Bucket key of |x| >= kMinValue: the i with g^(i-1) < |x| <= g^i (up to rounding at the edges,
// which is harmless: the same x always lands in the same bucket).
std::int32_t key_of(double magnitude) {
  const Mapping& m = mapping();
  if (magnitude >= QuantileSketch::kMaxValue) return m.max_key;
  const auto k = static_cast<std::int32_t>(std::ceil(std::log(magnitude) * m.inv_log_gamma));
  return std::clamp(k, m.min_key, m.max_key);
}

// The value reported for bucket `key`: within kRelativeAccuracy of both bucket edges.
double value_of(std::int32_t key) {
  return std::exp(static_cast<double>(key) * mapping().log_gamma) * (2.0 / (kGamma + 1.0));
}

void store_add(QuantileSketch::Store& s, std::int32_t key, double n) {
  if (s.counts.empty()) {
    s.offset = key;
    s.counts.assign(1, n);
    return;
  }
  if (key < s.offset) {
    s.counts.insert(s.counts.begin(), static_cast<std::size_t>(s.offset - key), 0);
    s.offset = key;
  } else if (static_cast<std::size_t>(key - s.offset) >= s.counts.size()) {
    s.counts.resize(static_cast<std::size_t>(key - s.offset) + 1, 0);
  }
  s.counts[static_cast<std::size_t>(key - s.offset)] += n;
}

void store_merge(QuantileSketch::Store& into, const QuantileSketch::Store& from) {
  for (std::size_t i = 0; i < from.counts.size(); ++i) {
    if (from.counts[i] != 0) {
      store_add(into, from.offset + static_cast<std::int32_t>(i), from.counts[i]);
    }
  }
}

double store_total(const QuantileSketch::Store& s) {
  double total = 0;
  for (const double c : s.counts) total += c;
  return total;
}

// A weight scaled by `factor`, kept at or above kMinWeight (an empty bucket stays empty).
double scaled(double w, double factor) { return w == 0 ? 0 : std::max(w * factor, kMinWeight); }

// numpy "linear" percentile over something that yields the r-th smallest sample.
template <typename ValueAt>
double interpolate(std::uint64_t n, double q, const ValueAt& value_at) {
  q = std::clamp(q, 0.0, 1.0);
  const double rank = static_cast<double>(n - 1) * q;
  const double lo = std::floor(rank);
  const auto lo_rank = static_cast<std::uint64_t>(lo);
  const double a = value_at(lo_rank);
  const double frac = rank - lo;
  if (frac == 0 || lo_rank + 1 >= n) return a;
  const double b = value_at(lo_rank + 1);
  return a + (b - a) * frac;
}

}  // namespace

void QuantileSketch::add(double x, double weight) {
  if (!std::isfinite(x)) return;
  const double w = std::max(weight, kMinWeight);
  if (count_ == 0) {
    min_ = max_ = x;
  } else {
    min_ = std::min(min_, x);
    max_ = std::max(max_, x);
  }
  ++count_;
  weight_ += w;
  if (exact_) {
    if (w != 1.0 || !weights_.empty()) {
      weights_.resize(samples_.size(), 1.0);  // the unit weights so far, once one is not 1
      weights_.push_back(w);
    }
    samples_.push_back(x);
    if (samples_.size() > kExactLimit) to_buckets();
    return;
  }
  add_to_buckets(x, w);
}

void QuantileSketch::add_to_buckets(double x, double w) {
  const double magnitude = std::fabs(x);
  if (magnitude < kMinValue) {
    zero_count_ += w;
  } else if (x > 0) {
    store_add(positive_, key_of(magnitude), w);
  } else {
    store_add(negative_, key_of(magnitude), w);
  }
}

void QuantileSketch::to_buckets() {
  exact_ = false;
  for (std::size_t i = 0; i < samples_.size(); ++i) {
    add_to_buckets(samples_[i], weights_.empty() ? 1.0 : weights_[i]);
  }
  samples_.clear();
  samples_.shrink_to_fit();
  weights_.clear();
  weights_.shrink_to_fit();
}

void QuantileSketch::merge(const QuantileSketch& other, double scale) {
  if (other.count_ == 0) return;
  if (scale != 1.0) {
    QuantileSketch scaled_other = other;
    scaled_other.scale(scale);
    merge(scaled_other);
    return;
  }
  if (count_ == 0) {
    *this = other;
    return;
  }
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  weight_ += other.weight_;
  if (exact_ && other.exact_ && samples_.size() + other.samples_.size() <= kExactLimit) {
    if (weights_.empty() && !other.weights_.empty()) weights_.assign(samples_.size(), 1.0);
    samples_.insert(samples_.end(), other.samples_.begin(), other.samples_.end());
    if (!weights_.empty()) {
      if (other.weights_.empty()) {
        weights_.resize(samples_.size(), 1.0);
      } else {
        weights_.insert(weights_.end(), other.weights_.begin(), other.weights_.end());
      }
    }
    return;
  }
  // Past the limit both sides become buckets; because buckets are a pure function of the values,
  // this is exactly the sketch one accumulator fed every sample would hold.
  if (exact_) to_buckets();
  if (other.exact_) {
    for (std::size_t i = 0; i < other.samples_.size(); ++i) {
      add_to_buckets(other.samples_[i], other.weights_.empty() ? 1.0 : other.weights_[i]);
    }
  } else {
    zero_count_ += other.zero_count_;
    store_merge(positive_, other.positive_);
    store_merge(negative_, other.negative_);
  }
}

void QuantileSketch::scale(double factor) {
  if (count_ == 0 || factor == 1.0) return;
  double total = 0;
  if (exact_) {
    if (weights_.empty()) weights_.assign(samples_.size(), 1.0);
    for (double& w : weights_) total += (w = scaled(w, factor));
  } else {
    total += (zero_count_ = scaled(zero_count_, factor));
    for (Store* s : {&positive_, &negative_}) {
      for (double& c : s->counts) total += (c = scaled(c, factor));
    }
  }
  weight_ = std::max(total, kMinWeight);
}

double QuantileSketch::bucket_value_at(std::uint64_t r) const {
  // The extremes are known exactly.
  if (r == 0) return min_;
  if (r + 1 >= count_) return max_;
  // Sorted order: negative buckets from the largest magnitude down, zeros, positive buckets up.
  // The sample of rank r is where the cumulative weight passes the middle of its share.
  const double target = (static_cast<double>(r) + 0.5) * (weight_ / static_cast<double>(count_));
  double v = 0;
  double seen = 0;
  bool found = false;
  for (std::size_t i = negative_.counts.size(); i-- > 0 && !found;) {
    seen += negative_.counts[i];
    if (target < seen) {
      v = -value_of(negative_.offset + static_cast<std::int32_t>(i));
      found = true;
    }
  }
  if (!found) {
    seen += zero_count_;
    if (target < seen) found = true;  // v = 0
  }
  for (std::size_t i = 0; i < positive_.counts.size() && !found; ++i) {
    seen += positive_.counts[i];
    if (target < seen) {
      v = value_of(positive_.offset + static_cast<std::int32_t>(i));
      found = true;
    }
  }
  if (!found) v = max_;
  // Clamping to the exact extremes only ever moves a bucket value towards the truth.
  return std::clamp(v, min_, max_);
}

double QuantileSketch::quantile(double q) const {
  double out = 0;
  quantiles(std::span<const double>(&q, 1), std::span<double>(&out, 1));
  return out;
}

void QuantileSketch::quantiles(std::span<const double> qs, std::span<double> out) const {
  if (count_ == 0) {
    std::fill(out.begin(), out.end(), 0.0);
    return;
  }
  if (exact_ && weights_.empty()) {
    std::array<double, kExactLimit> sorted;
    std::copy(samples_.begin(), samples_.end(), sorted.begin());
    std::sort(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(samples_.size()));
    for (std::size_t i = 0; i < qs.size(); ++i) {
      out[i] = interpolate(count_, qs[i], [&](std::uint64_t r) { return sorted[r]; });
    }
    return;
  }
  if (exact_) {
    // Weighted samples in value order with their cumulative weights.
    const std::size_t n = samples_.size();
    std::array<std::uint8_t, kExactLimit> order;
    for (std::size_t i = 0; i < n; ++i) order[i] = static_cast<std::uint8_t>(i);
    std::sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n),
              [&](std::uint8_t a, std::uint8_t b) { return samples_[a] < samples_[b]; });
    std::array<double, kExactLimit> cumulative;
    double running = 0;
    for (std::size_t i = 0; i < n; ++i) cumulative[i] = running += weights_[order[i]];
    const double unit = running / static_cast<double>(n);
    const auto value_at = [&](std::uint64_t r) {
      const double target = (static_cast<double>(r) + 0.5) * unit;
      const auto end = cumulative.begin() + static_cast<std::ptrdiff_t>(n);
      const auto it = std::upper_bound(cumulative.begin(), end, target);
      const auto k = static_cast<std::size_t>(std::min(it, end - 1) - cumulative.begin());
      return samples_[order[k]];
    };
    for (std::size_t i = 0; i < qs.size(); ++i) out[i] = interpolate(count_, qs[i], value_at);
    return;
  }
  for (std::size_t i = 0; i < qs.size(); ++i) {
    out[i] = interpolate(count_, qs[i], [&](std::uint64_t r) { return bucket_value_at(r); });
  }
}

QuantileSketch::Parts QuantileSketch::parts() const {
  Parts p;
  p.count = count_;
  p.weight = weight_ == static_cast<double>(count_) ? -1 : weight_;
  p.min = min_;
  p.max = max_;
  p.exact = exact_;
  p.samples = samples_;
  p.weights = weights_;
  p.zero_count = zero_count_;
  p.positive = positive_;
  p.negative = negative_;
  return p;
}

namespace {

bool valid_weight(double w) { return std::isfinite(w) && w >= 0; }

}  // namespace

QuantileSketch QuantileSketch::from_parts(Parts p) {
  if (!std::isfinite(p.min) || !std::isfinite(p.max) || (p.count > 0 && p.min > p.max)) {
    throw TrieError("sketch: min/max must be finite and ordered");
  }
  const Mapping& m = mapping();
  QuantileSketch s;
  s.count_ = p.count;
  s.min_ = p.count > 0 ? p.min : 0;
  s.max_ = p.count > 0 ? p.max : 0;
  s.exact_ = p.exact;
  const bool unit = p.weight < 0;
  const double weight = unit ? static_cast<double>(p.count) : p.weight;
  if (!std::isfinite(weight) || (p.count > 0 && weight < kMinWeight) ||
      weight > static_cast<double>(p.count) * kMaxWeightPerSample) {
    throw TrieError("sketch: weight out of range");
  }
  s.weight_ = weight;
  // Weights written as a sum of doubles come back as the same sum only up to rounding.
  const auto adds_up = [&](double total) {
    return unit ? total == weight : std::fabs(total - weight) <= 1e-6 * weight;
  };
  if (p.exact) {
    if (p.samples.size() != p.count || p.samples.size() > kExactLimit) {
      throw TrieError("sketch: sample list does not match its count");
    }
    for (const double x : p.samples) {
      if (!std::isfinite(x) || x < s.min_ || x > s.max_) {
        throw TrieError("sketch: sample outside [min, max]");
      }
    }
    if (!p.weights.empty()) {
      if (p.weights.size() != p.samples.size()) {
        throw TrieError("sketch: weight list does not match the samples");
      }
      double total = 0;
      for (const double w : p.weights) {
        if (!valid_weight(w) || w < kMinWeight) throw TrieError("sketch: bad sample weight");
        total += w;
      }
      if (!adds_up(total)) throw TrieError("sketch: sample weights do not add up to the weight");
    } else if (!unit && p.weight != static_cast<double>(p.count)) {
      throw TrieError("sketch: sample weights do not add up to the weight");
    }
    s.samples_ = std::move(p.samples);
    s.weights_ = std::move(p.weights);
    return s;
  }
  for (const Store* store : {&p.positive, &p.negative}) {
    if (store->counts.empty()) continue;
    const std::int64_t last =
        std::int64_t{store->offset} + static_cast<std::int64_t>(store->counts.size()) - 1;
    if (store->offset < m.min_key || last > m.max_key)
      throw TrieError("sketch: bucket key out of range");
    for (const double c : store->counts) {
      if (!valid_weight(c)) throw TrieError("sketch: bad bucket weight");
    }
  }
  if (!valid_weight(p.zero_count)) throw TrieError("sketch: bad bucket weight");
  const double total = p.zero_count + store_total(p.positive) + store_total(p.negative);
  if (!adds_up(total) || p.count <= kExactLimit) {
    throw TrieError("sketch: bucket counts do not add up to the sample count");
  }
  s.zero_count_ = p.zero_count;
  s.positive_ = std::move(p.positive);
  s.negative_ = std::move(p.negative);
  return s;
}

// ---- MetricAccumulator -----------------------------------------------------------------------

void MetricAccumulator::add(double x, double weight) {
  if (!std::isfinite(x)) return;
  moments_.add(x, weight);
  sketch_.add(x, weight);
}

void MetricAccumulator::merge(const MetricAccumulator& other, double scale) {
  moments_.merge(other.moments_, scale);
  sketch_.merge(other.sketch_, scale);
}

void MetricAccumulator::scale(double factor) {
  moments_.scale(factor);
  sketch_.scale(factor);
}

MetricStats MetricAccumulator::stats() const {
  MetricStats s;
  if (moments_.count() == 0) return s;
  static constexpr std::array<double, 3> kQs{0.50, 0.90, 0.95};
  std::array<double, 3> q{};
  sketch_.quantiles(kQs, q);
  s.sample_count = moments_.count();
  s.mean = moments_.mean();
  s.p50 = q[0];
  s.p90 = q[1];
  s.p95 = q[2];
  return s;
}

MetricAccumulator MetricAccumulator::from_parts(Moments moments, QuantileSketch sketch) {
  if (moments.count() != sketch.count()) {
    throw TrieError("metric: moments and sketch disagree on the sample count");
  }
  MetricAccumulator a;
  a.moments_ = moments;
  a.sketch_ = std::move(sketch);
  return a;
}

}  // namespace augur::trie
