// Counters the learning thread keeps for metrics and /v1/augur/stats. Written by the learning
// thread (and, for the queue counters, by io threads with relaxed atomics); read by any thread.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/single_writer_histogram.hpp"
#include "learning/trie/builder.hpp"
#include "learning/trie/prediction.hpp"

namespace augur::learning {

// The hints whose prediction error is measured.
enum class Hint : std::uint8_t { remaining_calls, output_tokens, interarrival_ms };
inline constexpr std::size_t kHints = 3;
inline constexpr std::size_t kSources = 6;  // trie::Source values

constexpr std::string_view to_string(Hint h) {
  switch (h) {
    case Hint::remaining_calls:
      return "remaining_calls";
    case Hint::output_tokens:
      return "output_tokens";
    case Hint::interarrival_ms:
      return "interarrival_ms";
  }
  return "remaining_calls";
}

// |log((predicted + 1) / (actual + 1))|: 0 is exact, 0.69 is a factor of two off.
inline constexpr std::array<double, 11> kErrorBuckets{0.05, 0.1, 0.2, 0.3, 0.5, 0.75,
                                                      1.0,  1.5, 2.0, 3.0, 5.0};

// Single writer: the learning thread.
using ErrorHistogram = SingleWriterHistogram<kErrorBuckets>;

struct LearnerStats {
  std::atomic<std::uint64_t> observations{0};          // accepted into the queue
  std::atomic<std::uint64_t> observations_dropped{0};  // queue full
  std::atomic<std::uint64_t> runs_completed{0};
  std::atomic<std::uint64_t> runs_evicted{0};  // closed early because too many runs were open
  std::atomic<std::uint64_t> open_runs{0};
  std::atomic<std::uint64_t> calls_learned{0};
  std::atomic<std::uint64_t> trajectories{0};
  std::atomic<double> trajectory_quality_sum{0};  // mean quality = sum / trajectories
  std::atomic<std::uint64_t> rebuilds{0};
  std::atomic<std::uint64_t> trie_version{0};
  std::atomic<std::uint64_t> trie_nodes{0};
  std::atomic<std::uint64_t> trie_bytes{0};       // NAT JSON of the trie learning serves now
  std::atomic<std::uint64_t> trie_paths{0};       // paths this replica's learning state holds
  std::atomic<std::uint64_t> path_candidates{0};  // new paths waiting for admission
  std::atomic<std::uint64_t> state_bytes{0};      // this replica's state JSON, last measured
  std::array<std::atomic<std::uint64_t>, trie::kEvictionReasons> evicted{};  // by trie::Eviction
  std::atomic<std::uint64_t> snapshot_saves{0};
  std::atomic<std::uint64_t> snapshot_errors{0};
  std::atomic<std::uint64_t> tries_rejected{0};  // a shared trie that failed to parse
  std::atomic<int> redis_up{-1};                 // -1: no Redis store configured
  std::atomic<std::uint64_t> redis_errors{0};
  std::atomic<std::uint64_t> runs_pending_redis{0};  // run records waiting for Redis
  // What the Dynamo hints bought, measured when runs close: speculative prefills a later call of
  // the run used (followed) or that the run never needed (wasted); predicted session ends the run
  // then outlived (premature).
  std::atomic<std::uint64_t> speculative_prefill_followed{0};
  std::atomic<std::uint64_t> speculative_prefill_wasted{0};
  std::atomic<std::uint64_t> session_final_premature{0};

  std::array<std::array<ErrorHistogram, kSources>, kHints> prediction_error;

  ErrorHistogram& error(Hint h, trie::Source s) {
    return prediction_error[static_cast<std::size_t>(h)][static_cast<std::size_t>(s)];
  }
};

}  // namespace augur::learning
