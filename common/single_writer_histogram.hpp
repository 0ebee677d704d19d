// A fixed-bucket histogram with one writer thread and readers on any thread, for metrics updated
// on hot paths (an io thread's latencies, the learning thread's prediction errors) and read at
// scrape time.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace augur {

// One writer thread, readers on any thread. Single-writer increments are a relaxed load and store
// (no locked instruction); a reader sees each field atomically but may see the count a sample
// ahead of the buckets, which Prometheus tolerates.
template <const auto& Bounds>
class SingleWriterHistogram {
 public:
  static constexpr std::size_t kBuckets = Bounds.size();
  static constexpr const auto& bounds = Bounds;

  void observe(double v) {
    std::size_t i = 0;
    while (i < kBuckets && v > Bounds[i]) ++i;
    bump(buckets_[i]);
    sum_.store(sum_.load(std::memory_order_relaxed) + v, std::memory_order_relaxed);
    bump(count_);
  }
  // Non-cumulative count of bucket i; i == kBuckets is the +Inf bucket.
  std::uint64_t bucket(std::size_t i) const { return buckets_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const { return count_.load(std::memory_order_relaxed); }
  double sum() const { return sum_.load(std::memory_order_relaxed); }

 private:
  static void bump(std::atomic<std::uint64_t>& a) {
    a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  std::array<std::atomic<std::uint64_t>, kBuckets + 1> buckets_{};
  std::atomic<double> sum_{0};
  std::atomic<std::uint64_t> count_{0};
};

}  // namespace augur
