// The learning thread: takes call observations from the proxy through a bounded queue, groups them
// into runs, feeds closed runs to the trie builder's accumulators, measures how wrong the injected
// hints were, rebuilds the trie periodically and publishes it to the proxy, and keeps what it
// learned in its store (a snapshot file for the embedded memory store).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "learning/bounded_queue.hpp"
#include "learning/engine/observation.hpp"
#include "learning/engine/options.hpp"
#include "learning/engine/run_tracker.hpp"
#include "learning/engine/stats.hpp"
#include "learning/engine/trajectory.hpp"
#include "learning/trie/builder.hpp"
#include "learning/trie/trie.hpp"

namespace augur::learning {

class RedisSync;

class Learner {
 public:
  // Receives every new trie (on the learning thread, or on the caller of start()).
  using Publish = std::function<void(std::shared_ptr<const trie::Trie>)>;
  // Receives every closed run's trajectory with the run it came from (learning thread).
  using OnTrajectory =
      std::function<void(const Trajectory&, const ClosedRun&, const std::vector<HintErrors>&)>;
  using Clock = std::chrono::system_clock;

  // Its settings are fixed at start (a config reload does not change them).
  Learner(LearnerOptions options, Publish publish);
  ~Learner();
  Learner(const Learner&) = delete;
  Learner& operator=(const Learner&) = delete;

  // Loads what the store kept (publishing its trie when there is one) and starts the thread. A
  // corrupt snapshot file is moved aside (logged) and learning starts empty. Call once.
  void start();
  // Stops the thread: pending observations are processed, the store saved. Idempotent.
  void stop();

  // Hands one observation to learning. Never blocks; returns false, and counts the drop, when the
  // queue is full. Thread-safe.
  bool submit(CallObservation&& call) noexcept;

  const LearnerStats& stats() const { return stats_; }
  // The learning settings in force (read at construction; reloads do not change them).
  const LearnerOptions& settings() const { return cfg_; }

  // Set before start(): who learns from trajectories next (SONA).
  void on_trajectory(OnTrajectory f) { on_trajectory_ = std::move(f); }
  // The last trie learning published (null before the first). Thread-safe.
  std::shared_ptr<const trie::Trie> trie() const { return std::atomic_load(&trie_); }

  // One pass of the thread's loop at `now`: drain the queue, expire idle runs, rebuild and save
  // when due. Exposed so tests can drive learning without the thread (do not call both).
  void step(Clock::time_point now);
  // Rebuilds now if anything was learned since the last rebuild.
  void rebuild(Clock::time_point now);

 private:
  void on_closed(ClosedRun&& run);
  // Serves `trie`; a nonzero `version` is then reported as the one served.
  void adopt(std::shared_ptr<const trie::Trie> trie, std::uint64_t version);
  std::vector<HintErrors> measure(const ClosedRun& run,
                                  const std::vector<trie::CallContext>& contexts);
  void load_snapshot();
  void save_snapshot();
  void publish_bounds();
  void run();

  const LearnerOptions cfg_;
  const StoreOptions& store_cfg_;  // cfg_.store
  const int sensitivity_scale_;
  const trie::BuilderLimits limits_;
  Publish publish_;
  OnTrajectory on_trajectory_;
  BoundedQueue<CallObservation> queue_;
  LearnerStats stats_;
  trie::Builder builder_;
  RunTracker tracker_;
  std::shared_ptr<const trie::Trie> trie_;
  std::unique_ptr<RedisSync> redis_;  // store.kind redis

  std::uint64_t runs_since_rebuild_ = 0;
  std::uint64_t runs_since_snapshot_ = 0;
  Clock::time_point last_rebuild_{};
  Clock::time_point last_snapshot_{};
  Clock::time_point last_state_check_{};

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  bool started_ = false;
};

}  // namespace augur::learning
