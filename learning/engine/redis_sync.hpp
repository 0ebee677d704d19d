// How the learning thread shares with other replicas through Redis (DESIGN.md, Redis): it flushes
// its own accumulator state, appends closed runs to the capped stream, and — while it holds the
// rebuild lock — merges every replica's state into the trie it publishes. Published versions
// arrive through a subscriber thread; the merged trie is then read, validated (a trie that fails
// to parse is rejected and the last good one kept) and handed to the proxy. Redis being away
// only delays all this: learning keeps accumulating in memory and everything is flushed on return.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "learning/engine/options.hpp"
#include "learning/engine/stats.hpp"
#include "learning/trie/builder.hpp"
#include "learning/trie/trie.hpp"

namespace augur::store {
class RedisStore;
class TrieSubscriber;
}  // namespace augur::store

namespace augur::learning {

class RedisSync {
 public:
  using Clock = std::chrono::system_clock;

  // Throws std::invalid_argument for an unusable store.url. Does not connect yet.
  RedisSync(const StoreOptions& store, const LearnerOptions& learning,
            trie::SensitivityConfig sensitivity, trie::BuilderLimits limits, LearnerStats& stats);
  ~RedisSync();
  RedisSync(const RedisSync&) = delete;
  RedisSync& operator=(const RedisSync&) = delete;

  const std::string& replica() const { return replica_; }

  // At start: this replica's earlier state (merged into `builder`) and the published trie (returned
  // when it parses). Bounded by the connect/command timeouts; Redis down just returns nullptr and
  // the resume is retried before the first flush (so a restart never overwrites the replica's
  // stored state with less).
  std::shared_ptr<const trie::Trie> start(trie::Builder& builder);

  // Keeps a closed run's record for the runs stream (bounded; the oldest is dropped beyond it).
  void queue_run(std::string json_line);

  // The periodic exchange: flush, append runs, and when leader merge and publish. Returns the trie
  // the proxy should now serve, or nullptr to keep the current one.
  std::shared_ptr<const trie::Trie> sync(trie::Builder& builder, Clock::time_point now);

  // A newer version was announced: reads and validates it. Cheap when nothing is new. Returns the
  // trie to serve, or nullptr.
  std::shared_ptr<const trie::Trie> poll_updates();

  // Final flush and lock release (at shutdown).
  void stop(trie::Builder& builder);

  // True when no merged trie was ever obtained from Redis (the learner then serves its own).
  bool never_loaded() const { return loaded_version_ == 0; }

  // The version of the last trie start(), sync() or poll_updates() returned (0: none yet).
  std::uint64_t loaded_version() const { return loaded_version_; }

  // Paths the leader dropped from merged states (reasons merge and trie_bytes), counted at every
  // publish: the replicas' own states keep them.
  const trie::EvictionCounts& leader_evictions() const { return leader_evicted_; }

 private:
  bool resume(trie::Builder& builder);
  std::shared_ptr<const trie::Trie> load_version();
  void note(bool ok, const std::string& what, const std::string& error = {});

  LearnerStats& stats_;
  trie::SensitivityConfig sensitivity_;
  trie::BuilderLimits limits_;
  std::size_t max_trie_bytes_;
  std::size_t max_state_bytes_;
  trie::EvictionCounts leader_evicted_{};
  std::string replica_;
  std::chrono::milliseconds lock_ttl_;
  std::unique_ptr<store::RedisStore> store_;
  std::unique_ptr<store::TrieSubscriber> subscriber_;
  std::atomic<std::uint64_t> announced_{0};  // highest version the subscriber saw
  std::uint64_t loaded_version_ = 0;         // version now served (0: none from Redis)
  std::uint64_t rejected_version_ = 0;       // last version that failed to parse
  bool resumed_ = false;
  bool dirty_ = true;  // state changed since the last successful flush
  bool was_up_ = true;
  std::deque<std::string> pending_runs_;
  std::string published_fingerprint_;  // replicas and run counts behind the last publish
};

}  // namespace augur::learning
