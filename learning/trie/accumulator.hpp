// Mergeable statistics behind every trie prediction: Welford moments (count, mean, M2; Chan's
// parallel merge) and a quantile sketch. Replicas keep their own accumulators and merge them, so
// the merge of two states must summarise exactly the union of their samples. Samples carry a
// weight (1 unless learning decays, see builder.hpp): means and percentiles are weighted, counts
// stay the number of samples.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "learning/trie/prediction.hpp"

namespace augur::trie {

// Sample weights never go below this, however often they are scaled down: a node whose samples
// are all very old still has percentiles (scaling every weight alike changes none of them).
inline constexpr double kMinWeight = 1e-280;
// Readers refuse a weight above this many times the sample count: the builder's weights stay
// below 2^40 (builder.hpp, decay), so anything beyond was not written by augur.
inline constexpr double kMaxWeightPerSample = 0x1p50;

// Count, total weight, weighted mean and weighted sum of squared deviations (M2). With unit
// weights this is Welford's algorithm, bit for bit. Not thread-safe; copyable value type.
class Moments {
 public:
  void add(double x) noexcept { add(x, 1.0); }
  // `weight` > 0 (values below kMinWeight count as kMinWeight).
  void add(double x, double weight) noexcept;
  // Chan et al.'s pairwise combination; `other`'s weights are multiplied by `scale` first.
  void merge(const Moments& other, double scale = 1.0) noexcept;
  // Multiplies every sample's weight by `factor` (> 0): the mean stays, M2 and weight scale.
  void scale(double factor) noexcept;

  std::uint64_t count() const noexcept { return count_; }
  double weight() const noexcept { return weight_; }
  double mean() const noexcept { return mean_; }
  double m2() const noexcept { return m2_; }
  double variance() const noexcept { return count_ > 1 ? m2_ / weight_ : 0; }

  // For deserialisation (`weight` < 0 means "equal to count", the unit-weight form). Throws
  // TrieError when the parts are inconsistent (negative or non-finite M2, non-finite mean, a weight
  // that is not positive and finite for a non-empty count).
  static Moments from_parts(std::uint64_t count, double mean, double m2, double weight = -1);

  bool operator==(const Moments&) const = default;

 private:
  std::uint64_t count_ = 0;
  double weight_ = 0;
  double mean_ = 0;
  double m2_ = 0;
};

// Quantiles with NAT's definition (numpy "linear": rank (n-1)q, interpolated between neighbours).
//
// Up to kExactLimit samples it keeps them all, so small nodes answer exactly what NAT would. Past
// that it becomes a DDSketch-style log-bucket histogram: bucket i holds |x| in (g^(i-1), g^i] with
// g = (1+a)/(1-a), and reports 2g^i/(g+1), within a = kRelativeAccuracy of every value in the
// bucket. Interpolating between two such values stays within a of NAT's exact answer (for values of
// one sign, kMinValue <= |x| <= kMaxValue), on any distribution. Unlike a t-digest the buckets do
// not depend on insertion or merge order: merging replicas' sketches gives exactly the sketch of
// all their samples. Memory is bounded by the value range (at most ~2,800 buckets between 1e-9 and
// 1e15), typically a few hundred.
//
// Weighted samples: the rank (n-1)q is taken in samples, then converted to weight with the mean
// weight per sample u = weight/n: the value at rank r is the one where the cumulative weight, in
// value order, passes (r + 0.5)u. With unit weights that is NAT's rank, unchanged; scaling every
// weight by one factor (decay) changes no quantile. Not thread-safe; copyable value type.
class QuantileSketch {
 public:
  static constexpr std::size_t kExactLimit = 128;
  static constexpr double kRelativeAccuracy = 0.01;
  // |x| below this counts as zero; above kMaxValue is stored in the top bucket (min/max stay
  // exact).
  static constexpr double kMinValue = 1e-9;
  static constexpr double kMaxValue = 1e15;

  // Adds one sample; a non-finite x is ignored (it cannot be a measurement).
  void add(double x) { add(x, 1.0); }
  void add(double x, double weight);
  // Adds `other`'s samples, their weights multiplied by `scale`.
  void merge(const QuantileSketch& other, double scale = 1.0);
  // Multiplies every sample's weight by `factor` (> 0; weights stay >= kMinWeight).
  void scale(double factor);

  std::uint64_t count() const noexcept { return count_; }
  double weight() const noexcept { return weight_; }
  bool exact() const noexcept { return exact_; }
  double min() const noexcept { return min_; }
  double max() const noexcept { return max_; }

  // Quantile q in [0, 1] (0.9 = p90); 0 when empty. NAT-exact while exact().
  double quantile(double q) const;
  // Several quantiles at once (one sort / one walk): out[i] = quantile(qs[i]).
  void quantiles(std::span<const double> qs, std::span<double> out) const;

  // Serialisable representation. Buckets are "offset + dense weights" per sign (whole numbers
  // with unit weights).
  struct Store {
    std::int32_t offset = 0;
    std::vector<double> counts;
    bool operator==(const Store&) const = default;
  };
  struct Parts {
    std::uint64_t count = 0;
    double weight = -1;  // total weight; < 0: equal to count (unit weights)
    double min = 0;
    double max = 0;
    bool exact = true;
    std::vector<double> samples;  // when exact
    std::vector<double> weights;  // samples[i]'s weight; empty: all 1
    double zero_count = 0;        // the rest: when !exact
    Store positive;
    Store negative;  // keys of |x| for x < 0
  };
  Parts parts() const;
  // Throws TrieError when the parts are inconsistent (weights that do not add up, keys out of
  // range, non-finite values, too many samples for the exact form).
  static QuantileSketch from_parts(Parts parts);

  bool operator==(const QuantileSketch&) const = default;

 private:
  void to_buckets();
  void add_to_buckets(double x, double w);
  // Sample value at 0-based rank r (r < count_), from the buckets.
  double bucket_value_at(std::uint64_t r) const;

  std::uint64_t count_ = 0;
  double weight_ = 0;
  double min_ = 0;
  double max_ = 0;
  bool exact_ = true;
  std::vector<double> samples_;
  std::vector<double> weights_;  // empty while every weight is 1
  double zero_count_ = 0;
  Store positive_;
  Store negative_;
};

// One metric of a prediction (remaining_calls, interarrival_ms or output_tokens): moments for the
// mean and count, the sketch for p50/p90/p95. Not thread-safe; copyable value type.
class MetricAccumulator {
 public:
  void add(double x) { add(x, 1.0); }
  void add(double x, double weight);
  void merge(const MetricAccumulator& other, double scale = 1.0);
  void scale(double factor);

  // NAT's PredictionMetrics (weighted mean and percentiles; sample_count is the number of samples);
  // all zero when there are no samples.
  MetricStats stats() const;

  const Moments& moments() const noexcept { return moments_; }
  const QuantileSketch& sketch() const noexcept { return sketch_; }
  // Throws TrieError when the two disagree on the sample count.
  static MetricAccumulator from_parts(Moments moments, QuantileSketch sketch);

  bool operator==(const MetricAccumulator&) const = default;

 private:
  Moments moments_;
  QuantileSketch sketch_;
};

}  // namespace augur::trie
