// The ReasoningBank: learned patterns (a unit centroid in embedding space plus the hint statistics
// observed for the calls near it) with top-k cosine search, capacity-bounded storage that evicts
// the least confident pattern, weighted consolidation of near-duplicates and pruning by age and
// quality. Owned by the learning thread; the request path reads published copies (engine.hpp).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "learning/sona/hints.hpp"

namespace augur::sona {

// Weighted mean and variance (log space) of each hint's observations; mergeable.
struct HintStats {
  std::array<double, kHints> weight{};
  std::array<double, kHints> mean{};
  std::array<double, kHints> m2{};

  void add(const Target& t, double w = 1);
  // Moves each observed hint's mean a fraction `rate` toward the target (exponential forgetting:
  // how the instant loop tracks drift between background cycles).
  void add_ema(const Target& t, double rate);
  void merge(const HintStats& o);  // as if o's observations had been added here
  void decay(double factor);       // forget: scales every weight (means unchanged)
  double variance(std::size_t h) const;
  double samples() const;  // the largest per-hint weight
};

// The last kRecent observations of one hint, in arrival order. Their median is what a pattern
// predicts: the evaluation's error |log(pred/actual)| is minimised by the median, not the mean,
// and a short window turns over within a few dozen calls when the upstream drifts.
class RecentValues {
 public:
  static constexpr std::size_t kRecent = 32;
  void push(float v) noexcept;
  void append(const RecentValues& newer) noexcept;  // newer's values, oldest first
  std::size_t size() const noexcept { return n_; }
  // 0 when empty. Computed on the first read after a change and kept: patterns are read (every
  // blend, for each of the top matches) far more often than they change. Not thread-safe, like
  // the bank that owns it.
  float median() const noexcept;

 private:
  std::array<float, kRecent> v_{};
  std::size_t n_ = 0, head_ = 0;  // head_: where the next value goes
  mutable float median_ = 0;
  mutable bool median_known_ = true;  // median_ is the median of the values now held
};

struct Pattern {
  std::uint64_t id = 0;
  std::vector<float> centroid;  // unit length
  double size = 0;              // trajectories behind it (decayed)
  HintStats stats;
  std::array<RecentValues, kHints> recent;
  double avg_quality = 0;  // mean trajectory quality (how good the hints were), 0..1
  std::uint64_t created_cycle = 0;
  std::uint64_t updated_cycle = 0;
  std::uint64_t access_count = 0;

  // From sample count and outcome spread: size/(size+3) · 1/(1 + rms log-space stddev).
  double confidence() const;
  // Hint h's prediction (log space): the median of the recent values, else the mean.
  float value(std::size_t h) const;
  // Records one observation: statistics (EMA when rate > 0, else plain) and recent values.
  void observe(const Target& t, double rate);
  // Weighted merge of another pattern into this one (centroid renormalised).
  void merge(const Pattern& o);
};

struct Match {
  std::size_t index;  // into patterns()
  float similarity;
};

// Single-threaded.
class ReasoningBank {
 public:
  ReasoningBank(std::size_t dim, std::size_t capacity);

  std::size_t dim() const noexcept { return dim_; }
  std::size_t capacity() const noexcept { return capacity_; }
  std::size_t size() const noexcept { return patterns_.size(); }
  const std::vector<Pattern>& patterns() const noexcept { return patterns_; }
  Pattern& at(std::size_t i) { return patterns_[i]; }
  // Centroids, size() x dim, row-major (what a published snapshot copies).
  std::span<const float> centroids() const noexcept { return matrix_; }

  // The k most similar patterns to q (unit length), best first. Empty if the bank is.
  std::vector<Match> find_similar(std::span<const float> q, std::size_t k) const;

  // Adds p (centroid normalised here; id assigned when 0). At capacity the least confident
  // pattern is evicted first. Returns the new pattern's index.
  std::size_t store(Pattern p);

  // Merges p into the most similar pattern when their cosine exceeds `threshold`, else stores it.
  // Returns the index p ended up in.
  std::size_t store_or_merge(Pattern p, double threshold);

  // Merges every pair whose cosine exceeds `threshold` (weighted by size). Returns merges done.
  std::size_t consolidate(double threshold);

  // Removes patterns not updated for `max_age` cycles whose confidence or quality is below the
  // given minimums. Returns how many were removed.
  std::size_t prune(std::uint64_t now_cycle, std::uint64_t max_age, double min_confidence,
                    double min_quality);

  // Rewrites pattern i's centroid row after its centroid changed.
  void refresh_row(std::size_t i);

 private:
  void erase(std::size_t i);

  std::size_t dim_;
  std::size_t capacity_;
  std::uint64_t next_id_ = 1;
  std::vector<Pattern> patterns_;
  std::vector<float> matrix_;
};

}  // namespace augur::sona
