// The SONA engine: embeds a call's context, suggests hints from learned patterns plus two low-rank
// adapters, and learns from what each call then did. Request threads call embed()/suggest()
// concurrently and only read what the learning thread publishes (an immutable pattern snapshot
// swapped once per background cycle, and per-trajectory values in relaxed atomics). The learning
// thread alone calls learn() (instant loop) and background_cycle().
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "learning/sona/embedding.hpp"
#include "learning/sona/ewc.hpp"
#include "learning/sona/hints.hpp"
#include "learning/sona/lora.hpp"
#include "learning/sona/reasoning_bank.hpp"
#include "learning/sona/sona_config.hpp"
#include "learning/sona/trajectory_buffer.hpp"

namespace augur::sona {

// The seed's to_json counters, plus what the instant loop did.
struct Stats {
  std::uint64_t queries_processed = 0;  // suggest() calls
  std::uint64_t pattern_hits = 0;       // ... that returned a suggestion
  double pattern_hit_rate = 0;
  std::uint64_t trajectories_seen = 0;     // learn() calls
  std::uint64_t trajectories_dropped = 0;  // buffer full: learnt from instantly, not clustered
  std::uint64_t instant_updates = 0;       // MicroLoRA steps taken
  std::uint64_t pattern_updates = 0;       // instant-loop nudges of the nearest pattern
  std::uint64_t background_cycles = 0;
  std::uint64_t patterns_stored = 0;
  std::uint64_t ewc_tasks = 0;
};

class Engine {
 public:
  using Clock = std::chrono::steady_clock;

  // The Engine seeds every RNG from config.seed. Throws std::invalid_argument for a dimension of 0.
  explicit Engine(const SonaConfig& config, Clock::time_point now = Clock::now());
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  const SonaConfig& config() const noexcept { return config_; }

  // ---- Request path: thread-safe, lock-free, no allocation beyond the embedding's vector.
  Embedding embed(const CallFeatures& f) const;
  void embed(const CallFeatures& f, Embedding& out) const;
  // Hints for a call, or nullopt when no pattern is similar and confident enough
  // (config().min_confidence, or the given threshold: a caller whose other source is weak, such
  // as a trie answering from an ancestor, may accept less).
  std::optional<Suggestion> suggest(const Embedding& e) const;
  std::optional<Suggestion> suggest(const Embedding& e, double min_confidence) const;
  // embed() then suggest() for a call, except that each thread reuses its previous answer for the
  // same context (path, model, call-index and shape buckets, threshold) for up to
  // config().suggest_reuse, and only while no background cycle has published since. Counted in
  // stats() like suggest(). Bounded per-thread memory (emptied when full).
  std::optional<Suggestion> suggest_call(const CallFeatures& f, double min_confidence,
                                         Clock::time_point now) const;

  // ---- Learning thread only.
  // Instant loop: one MicroLoRA step on the log error of the hints SONA would give now (so a
  // single trajectory learns), the nearest pattern's statistics nudged toward what happened, and
  // the trajectory buffered for the next background cycle. `injected` is what was sent (it sets
  // the trajectory's quality). A failed call is buffered but teaches nothing.
  void learn(const Embedding& e, const HintValues& injected, const Observed& actual);
  // Whether a background cycle should run now: enough buffered trajectories and the interval
  // passed, or the buffer is half full, or many recent calls matched no pattern (novel contexts).
  bool background_due(Clock::time_point now) const;
  // Background loop: k-means++ over the trajectories buffered since the last cycle, patterns
  // merged into the ReasoningBank (consolidated, pruned), BaseLoRA trained under EWC++, a new
  // snapshot published. Fewer than min_trajectories are kept for the next cycle.
  void background_cycle(Clock::time_point now = Clock::now());

  // Thread-safe.
  Stats stats() const;
  std::string stats_json() const;

  // ---- Introspection for tests and the evaluation (learning thread only).
  // The adapters' current correction (MicroLoRA + BaseLoRA) for e, in log space.
  HintVector adapter_output(const Embedding& e) const;
  const ReasoningBank& bank() const noexcept { return bank_; }
  const LowRankAdapter& micro_lora() const noexcept { return micro_; }
  const Ewc& ewc() const noexcept { return ewc_; }

 private:
  struct Snapshot;
  struct Candidate;
  struct Blend;

  // Whether the best pattern is this very context (similarity >= instant_pattern_similarity):
  // then that pattern adapts to it in the instant loop and MicroLoRA stays out.
  bool owns_context(const Blend& b) const noexcept;
  void publish_snapshot();
  Blend blend_from_bank(std::span<const float> x, std::vector<Match>& scratch) const;
  void train_base(const std::vector<Trajectory>& batch);

  SonaConfig config_;
  ReasoningBank bank_;
  LowRankAdapter micro_;
  LowRankAdapter base_;
  Ewc ewc_;
  TrajectoryBuffer buffer_;
  PublishedAdapter published_micro_;
  std::atomic<std::shared_ptr<const Snapshot>> snapshot_;
  std::shared_ptr<const Snapshot> current_;  // the learner's reference to what it published
  std::vector<Trajectory> pending_;          // too few for a cycle: kept for the next one
  std::vector<Match> matches_;               // learn()'s scratch
  std::uint64_t cycle_ = 0;
  Clock::time_point last_cycle_;
  std::uint64_t unmatched_ = 0;  // learn() calls since the last cycle that matched no pattern
  const std::uint64_t id_;       // process-unique, so per-thread caches never mix two engines
  std::atomic<std::uint64_t> published_{0};  // snapshots published (suggest_call's epoch)

  mutable std::atomic<std::uint64_t> queries_{0};
  mutable std::atomic<std::uint64_t> hits_{0};
  std::atomic<std::uint64_t> seen_{0};
  std::atomic<std::uint64_t> instant_updates_{0};
  std::atomic<std::uint64_t> pattern_updates_{0};
  std::atomic<std::uint64_t> cycles_{0};
  std::atomic<std::uint64_t> patterns_{0};
  std::atomic<std::uint64_t> ewc_tasks_{0};
};

}  // namespace augur::sona
